"""The S3 backend: keys are objects in a bucket, under an optional prefix (``s3://bucket/prefix``).

Any S3-compatible store works (AWS S3, MinIO, Ceph RGW, Garage, ...), through boto3. With an
endpoint URL (``OPENCORTEX_S3_ENDPOINT_URL``) requests use path-style addressing
(``http://minio:9000/bucket/key``), which every S3-compatible server answers without DNS set-up.

**Writes** are multipart uploads, a part in memory at a time (``s3_writer.py``); **reads** are
GETs, ranged when asked, resumed when the connection breaks (``s3_reader.py``).

**Partials.** An upload never completed nor aborted (its process was killed) is a partial write:
``list_partials`` lists them, ``delete_prefix`` aborts those under a folder along with deleting
its objects, and ``sweep_stale_partials`` aborts the ones nobody has uploaded a part to for longer
than its age. Writers of this process are never swept; those of other processes keep their
uploads young while they write (``s3_writer.py``). A bucket lifecycle rule
``AbortIncompleteMultipartUpload`` is a good second line (docs/production.md).

**The keyset** of encryption at rest lives in the bucket, beside the files it encrypts
(``load_or_create_cipher``), under a dot-name that no key can have, so no listing, delete or
sweep of keys ever touches it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

from opencortex import faults
from opencortex.files import s3_errors
from opencortex.files.crypto import FileCipher, new_sealed_keyset
from opencortex.files.s3_errors import error_code, log
from opencortex.files.s3_reader import ResumingStream, get_object
from opencortex.files.s3_writer import S3ObjectWriter
from opencortex.files.store import (
    ChunkReader,
    PartialWrite,
    is_valid_key,
    validate_folder_prefix,
    validate_key,
    validate_prefix,
    validate_range,
)
from opencortex.keys import MasterKey
from opencortex.settings import S3_DEFAULT_PART_SIZE, S3Location, Settings, parse_storage_url

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

KEEPALIVE_SECONDS = 600.0
PAGE_SIZE = 1_000  # keys per listing page and per DeleteObjects request (S3's most for both)
KEYSET_NAME = ".opencortex/keyset.sealed"

# One boto3 session for the process: a client made from a fresh session loads botocore's service
# models again (a third of a second); clients of one session share them. Sessions are not
# thread-safe, so clients are made under a lock (clients themselves are).
_session: boto3.session.Session | None = None
_session_lock = threading.Lock()


def open_s3_store(settings: Settings) -> S3FileStore:
    """The store ``OPENCORTEX_STORAGE_URL`` names, after checking that its bucket answers
    (``storage_unavailable``, with one line saying why, otherwise)."""
    location = parse_storage_url(settings.storage_url)
    config = Config(
        # Custom endpoints (MinIO, Ceph...) rarely have per-bucket DNS names; AWS picks for itself.
        s3={"addressing_style": "path" if settings.s3_endpoint_url else "auto"},
        retries={"mode": "standard", "max_attempts": 3},
        connect_timeout=10,
        read_timeout=60,
        max_pool_connections=32,  # server threads streaming downloads at once, plus export workers
        # Tink authenticates every stored byte, and S3-compatible servers differ in which of the
        # newer checksum headers they accept: send checksums only where the API requires them.
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
        user_agent_extra="opencortex",
    )
    try:
        client = _new_client(
            endpoint_url=settings.s3_endpoint_url or None,
            # An endpoint that is not AWS still wants a region in its signatures: MinIO's default.
            region_name=settings.s3_region or ("us-east-1" if settings.s3_endpoint_url else None),
            aws_access_key_id=settings.s3_access_key_id or None,
            aws_secret_access_key=settings.s3_secret_access_key or None,
            config=config,
        )
    except BotoCoreError as error:
        raise faults.storage_unavailable(f"OPENCORTEX_STORAGE_URL {location}: {error}") from error
    store = S3FileStore(client, location, settings.s3_part_size, settings.s3_endpoint_url)
    store.check()
    return store


def _new_client(**arguments: Any) -> S3Client:
    global _session
    with _session_lock:
        if _session is None:
            _session = boto3.session.Session()
        return _session.client("s3", **arguments)


@dataclass(frozen=True)
class _Upload:
    key: str  # the store key its writer would publish
    object_key: str
    upload_id: str
    initiated: float  # Unix seconds


class LiveUploads:
    """The upload ids of this process's open writers, which its sweeps never abort."""

    def __init__(self) -> None:
        self._ids: set[str] = set()
        self._lock = threading.Lock()

    def add(self, upload_id: str) -> None:
        with self._lock:
            self._ids.add(upload_id)

    def discard(self, upload_id: str) -> None:
        with self._lock:
            self._ids.discard(upload_id)

    def __contains__(self, upload_id: object) -> bool:
        with self._lock:
            return upload_id in self._ids


class S3FileStore:
    """The ``FileStore`` of one bucket and prefix (see the module); ``open_s3_store`` makes one."""

    def __init__(self, client: S3Client, location: S3Location, part_size: int = S3_DEFAULT_PART_SIZE,
                 endpoint: str = "") -> None:
        self.client = client
        self.location = location
        self.part_size = part_size
        self.endpoint = endpoint
        self.live_uploads = LiveUploads()
        self.keepalive_seconds = KEEPALIVE_SECONDS
        self.clock: Callable[[], float] = time.time  # what "now" is to a sweep (tests move it)

    def __repr__(self) -> str:
        return f"S3FileStore({str(self.location)!r})"

    def check(self) -> None:
        """Raise ``storage_unavailable`` with one line saying why, unless the bucket answers."""
        where = f"OPENCORTEX_STORAGE_URL {self.location}" + (f" at {self.endpoint}" if self.endpoint else "")
        try:
            self.client.head_bucket(Bucket=self.location.bucket)
        except ClientError as error:
            code = error_code(error)
            reason = (
                f"the bucket {self.location.bucket!r} does not exist" if code in ("404", *s3_errors.NO_BUCKET)
                else "access is denied (check OPENCORTEX_S3_ACCESS_KEY_ID and OPENCORTEX_S3_SECRET_ACCESS_KEY, "
                     "and the bucket's policy)" if code in s3_errors.DENIED
                else f"the server answered {code}"
            )
            raise faults.storage_unavailable(f"{where}: {reason}") from error
        except NoCredentialsError as error:
            raise faults.storage_unavailable(
                f"{where}: no S3 credentials (set OPENCORTEX_S3_ACCESS_KEY_ID and OPENCORTEX_S3_SECRET_ACCESS_KEY, "
                "or give the process an AWS role)"
            ) from error
        except BotoCoreError as error:
            raise faults.storage_unavailable(f"{where}: {error}") from error

    # -- objects

    def open_writer(self, key: str) -> S3ObjectWriter:
        return S3ObjectWriter(self, key)

    def open_reader(self, key: str, start: int = 0, end: int | None = None) -> ChunkReader:
        validate_range(start, end)
        object_key = self.object_key(key)
        try:
            response = get_object(self.client, self.location.bucket, object_key, start, end)
        except ClientError as error:
            code = error_code(error)
            if code in s3_errors.MISSING:
                raise faults.file_not_found(f"no file under key {key!r}") from error
            if code in s3_errors.BAD_RANGE:  # it exists, and the range starts at or past its end
                return ChunkReader(iter(()))
            raise
        stream = ResumingStream(self.client, self.location.bucket, object_key, start, end, response)
        return ChunkReader(stream.chunks(), stream.close)

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.location.bucket, Key=self.object_key(key))

    def exists(self, key: str) -> bool:
        return self._head(self.object_key(key)) is not None

    def size(self, key: str) -> int:
        head = self._head(self.object_key(key))
        if head is None:
            raise faults.file_not_found(f"no file under key {key!r}")
        return int(head["ContentLength"])

    def list_keys(self, prefix: str = "") -> Iterator[str]:
        validate_prefix(prefix)
        return (key for page in self._key_pages(prefix) for key in page)

    # -- partial writes

    def list_partials(self, prefix: str = "") -> Iterator[PartialWrite]:
        validate_prefix(prefix)
        found = []
        for upload in list(self._uploads(prefix)):
            progress = self._progress(upload)
            if progress is not None:  # None: completed or aborted while we looked
                found.append(PartialWrite(key=upload.key, size=progress[0], modified=progress[1]))
        return iter(sorted(found, key=lambda partial: partial.key))

    def delete_prefix(self, prefix: str) -> int:
        validate_folder_prefix(prefix)
        removed = 0
        # Uploads first: a writer that completes just before its abort has made an object, which
        # the listing below then finds. Objects first could leave such a late object behind.
        for upload in list(self._uploads(prefix)):
            removed += self.abort_upload(upload.object_key, upload.upload_id)
        for page in self._key_pages(prefix):
            removed += self._delete_objects([self.location.prefix + key for key in page])
        return removed

    def sweep_stale_partials(self, older_than_seconds: float) -> int:
        """See ``FileStore.sweep_stale_partials``. Here an upload's age is the time since its last
        part arrived (or since it began, before any part); this process's writers are skipped."""
        cutoff = self.clock() - older_than_seconds
        removed = 0
        for upload in list(self._uploads("")):
            if upload.upload_id in self.live_uploads or upload.initiated >= cutoff:
                continue  # ours, or too young to have been idle that long
            progress = self._progress(upload)
            if progress is None or progress[1] >= cutoff:
                continue
            removed += self.abort_upload(upload.object_key, upload.upload_id)
        if removed:
            log.info("aborted %d stale multipart uploads in %s", removed, self.location)
        return removed

    def remove_empty_folders(self, prefix: str) -> None:
        """Object stores have no folders: nothing is left once the keys are gone."""
        validate_prefix(prefix)

    # -- for the writer, and the keyset

    def object_key(self, key: str) -> str:
        """The bucket's name for a store key: the URL's prefix, then the key."""
        return self.location.prefix + validate_key(key)

    def abort_upload(self, object_key: str, upload_id: str) -> int:
        """Abort one upload; 1 if this call ended it, 0 if it had ended already."""
        try:
            self.client.abort_multipart_upload(Bucket=self.location.bucket, Key=object_key, UploadId=upload_id)
        except ClientError as error:
            if error_code(error) in s3_errors.NO_UPLOAD:
                return 0
            raise
        return 1

    def upload_exists(self, object_key: str, upload_id: str) -> bool:
        paginator = self.client.get_paginator("list_multipart_uploads")
        for page in paginator.paginate(Bucket=self.location.bucket, Prefix=object_key):
            if any(upload["UploadId"] == upload_id for upload in page.get("Uploads", [])):
                return True
        return False

    def read_private(self, name: str) -> bytes | None:
        """A small object of the store itself (``KEYSET_NAME``), or None if there is none."""
        try:
            response = self.client.get_object(Bucket=self.location.bucket, Key=self.location.prefix + name)
        except ClientError as error:
            if error_code(error) in s3_errors.MISSING:
                return None
            raise
        body = response["Body"]
        try:
            return bytes(body.read())
        finally:
            body.close()

    def create_private(self, name: str, data: bytes) -> bool:
        """Store ``data`` under ``name`` unless an object is there already (a conditional PUT);
        False when another process got there first."""
        arguments: dict[str, Any] = {"Bucket": self.location.bucket, "Key": self.location.prefix + name, "Body": data}
        try:
            self.client.put_object(IfNoneMatch="*", **arguments)
        except ClientError as error:
            code = error_code(error)
            if code in s3_errors.TAKEN:
                return False
            if code not in s3_errors.UNSUPPORTED:
                raise
            # A server without conditional writes: two first starts at once could each write a
            # keyset (docs/production.md: run `opencortex init` once before starting many).
            log.warning("the object store does not support conditional writes; writing %s unconditionally", name)
            self.client.put_object(**arguments)
        return True

    # -- internals

    def _head(self, object_key: str) -> Any:
        try:
            return self.client.head_object(Bucket=self.location.bucket, Key=object_key)
        except ClientError as error:
            if error_code(error) in s3_errors.MISSING:
                return None
            raise

    def _key_pages(self, prefix: str) -> Iterator[list[str]]:
        """The keys starting with ``prefix``, a listing page at a time, in S3's order (UTF-8 binary,
        which for keys of ASCII is the lexicographic order ``list_keys`` promises). Objects whose
        names are no keys (the keyset's) are left out."""
        paginator = self.client.get_paginator("list_objects_v2")
        skip = len(self.location.prefix)
        for page in paginator.paginate(Bucket=self.location.bucket, Prefix=self.location.prefix + prefix,
                                       PaginationConfig={"PageSize": PAGE_SIZE}):
            keys = [item["Key"][skip:] for item in page.get("Contents", [])]
            keys = [key for key in keys if is_valid_key(key)]
            if keys:
                yield keys

    def _delete_objects(self, names: list[str]) -> int:
        """Delete one page of a listing (at most ``PAGE_SIZE`` objects) in one request."""
        response = self.client.delete_objects(
            Bucket=self.location.bucket, Delete={"Objects": [{"Key": name} for name in names], "Quiet": True}
        )
        errors = response.get("Errors", [])
        if errors:
            first = errors[0]
            raise OSError(
                f"{len(errors)} of {len(names)} objects under {self.location} could not be deleted "
                f"(first: {first.get('Key')!r}: {first.get('Code')} {first.get('Message')})"
            )
        return len(names)

    def _uploads(self, prefix: str) -> Iterator[_Upload]:
        paginator = self.client.get_paginator("list_multipart_uploads")
        skip = len(self.location.prefix)
        for page in paginator.paginate(Bucket=self.location.bucket, Prefix=self.location.prefix + prefix):
            for upload in page.get("Uploads", []):
                key = upload["Key"][skip:]
                if is_valid_key(key):
                    yield _Upload(key, upload["Key"], upload["UploadId"], upload["Initiated"].timestamp())

    def _progress(self, upload: _Upload) -> tuple[int, float] | None:
        """Bytes uploaded so far and when the last part arrived (its start, before any part);
        None once it is completed or aborted."""
        size, modified = 0, upload.initiated
        paginator = self.client.get_paginator("list_parts")
        try:
            for page in paginator.paginate(Bucket=self.location.bucket, Key=upload.object_key,
                                           UploadId=upload.upload_id):
                for part in page.get("Parts", []):
                    size += part["Size"]
                    modified = max(modified, part["LastModified"].timestamp())
        except ClientError as error:
            if error_code(error) in s3_errors.NO_UPLOAD:
                return None
            raise
        return size, modified


def load_or_create_cipher(store: S3FileStore, master_key: MasterKey) -> FileCipher:
    """The keyset that encrypts every file in this bucket and prefix, sealed by the master key and
    stored beside them (``KEYSET_NAME``); generated by the first process that finds none.

    So every process with the master key that reaches the bucket (a worker on another machine
    that shares only the database URL, the storage settings and the master key) reads every file,
    and a copy of the bucket carries its keyset. Two first starts at once both keep the keyset
    written first: the write is conditional (``If-None-Match: *``), and each process uses what it
    reads back.
    """
    where = f"{store.location}{KEYSET_NAME}"
    try:
        sealed = store.read_private(KEYSET_NAME)
        if sealed is None:
            store.create_private(KEYSET_NAME, new_sealed_keyset(master_key))
            sealed = store.read_private(KEYSET_NAME)
    except (ClientError, BotoCoreError) as error:
        raise faults.storage_unavailable(f"the files keyset {where} cannot be read or written: {error}") from error
    if sealed is None:
        raise faults.storage_unavailable(f"the files keyset {where} was written but cannot be read back")
    return FileCipher.from_sealed(sealed, master_key, where)
