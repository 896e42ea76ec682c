"""``S3ObjectWriter``: one object streamed into S3 as a multipart upload.

The upload is created when the writer opens, so that every writer, however small its object, has
an upload from its first moment: ``list_partials`` sees it, and ``delete_prefix`` aborts it, which
makes its ``commit()`` fail with ``FileNotFoundError`` (as a local writer whose partial was
removed) rather than bring a deleted folder back. Bytes collect in one buffer and go up as a part
as soon as it is full, so a writer holds about one part in memory whatever the object's size.
Parts start at ``s3_part_size`` (8 MiB) and double every ``PARTS_PER_SIZE`` parts, so S3's
10,000-part limit lies beyond its largest object (5 TiB): from 8 MiB, 10,000 parts hold 7.8 TiB.
``commit()`` sends the last part and completes the upload: that is the atomic publication, and
nothing is visible before it. ``abort()``, and any failure, aborts the upload.

S3 has no locks, so a sweep in another process knows a live upload only by its age: a writer
re-sends its unfinished part every ``keepalive_seconds`` while it is written to (the full part
replaces it later, under the same number), so that its upload never looks older than that plus
its longest pause between two writes.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from opencortex.files import s3_errors
from opencortex.files.s3_errors import error_code, log
from opencortex.files.store import AbortsOnExit
from opencortex.settings import S3_MAX_PART_SIZE

if TYPE_CHECKING:
    from opencortex.files.s3 import S3FileStore

MAX_PARTS = 10_000  # S3's limit per upload
PARTS_PER_SIZE = 1_000  # parts of one size before the part size doubles


class S3ObjectWriter(AbortsOnExit):
    def __init__(self, store: S3FileStore, key: str) -> None:
        self.key = key
        self._store = store
        self._client = store.client
        self._bucket = store.location.bucket
        self._object_key = store.object_key(key)
        try:
            created = self._client.create_multipart_upload(Bucket=self._bucket, Key=self._object_key)
        except ClientError as error:
            if error_code(error) in s3_errors.FULL:
                raise s3_errors.storage_full(key, error) from error
            raise
        self.upload_id: str = created["UploadId"]
        store.live_uploads.add(self.upload_id)
        self._buffer = bytearray()  # the part being filled
        self._parts: list[dict[str, Any]] = []
        self._last_sent = time.monotonic()
        self._open = True

    def __repr__(self) -> str:
        return f"S3ObjectWriter({self.key!r})"

    def write(self, chunk: bytes) -> None:
        self._require_open()
        if not chunk:
            return
        self._buffer += chunk
        try:
            if len(self._buffer) >= self._part_size():
                self._send_part()
            elif time.monotonic() - self._last_sent >= self._store.keepalive_seconds:
                # Keep the upload young in other processes' eyes: send the unfinished part now.
                self._upload_part(len(self._parts) + 1, self._buffer)
        except BaseException as error:
            self._fail(error)

    def commit(self) -> None:
        self._require_open()
        try:
            if self._buffer or not self._parts:
                self._send_part()  # the last part (an empty object is one empty part)
            self._client.complete_multipart_upload(
                Bucket=self._bucket, Key=self._object_key, UploadId=self.upload_id,
                MultipartUpload={"Parts": self._parts},  # type: ignore[typeddict-item]
            )
        except BaseException as error:
            self._fail(error)
        self._open = False
        self._store.live_uploads.discard(self.upload_id)

    def abort(self) -> None:
        if not self._open:
            return
        self._open = False
        self._buffer = bytearray()
        try:
            self._store.abort_upload(self._object_key, self.upload_id)
        except (ClientError, BotoCoreError) as error:
            # The bytes are thrown away either way; the sweep (or the bucket's lifecycle rule)
            # removes an upload that cannot be aborted now.
            log.warning("could not abort the upload of %r (%s); the stale-upload sweep will", self.key, error)
        finally:
            self._store.live_uploads.discard(self.upload_id)

    def _part_size(self) -> int:
        return min(self._store.part_size * 2 ** (len(self._parts) // PARTS_PER_SIZE), S3_MAX_PART_SIZE)

    def _send_part(self) -> None:
        number = len(self._parts) + 1
        if number > MAX_PARTS:
            raise OSError(f"{self.key!r} needs more than {MAX_PARTS} parts: raise OPENCORTEX_S3_PART_SIZE")
        etag = self._upload_part(number, self._buffer)
        self._parts.append({"ETag": etag, "PartNumber": number})
        self._buffer = bytearray()

    def _upload_part(self, number: int, data: bytearray) -> str:
        response = self._client.upload_part(
            Bucket=self._bucket, Key=self._object_key, UploadId=self.upload_id, PartNumber=number, Body=data
        )
        self._last_sent = time.monotonic()
        return str(response["ETag"])

    def _fail(self, error: BaseException) -> None:
        """Abort (a stream that broke halfway can never be committed), then raise what the caller
        should see: the store is full; the upload was aborted under us (as a local writer whose
        partial is gone); or the error itself."""
        translated = self._translated(error)  # before the abort, which ends the upload either way
        self.abort()
        if translated is error:
            raise error
        raise translated from error

    def _translated(self, error: BaseException) -> BaseException:
        if not isinstance(error, ClientError):
            return error
        code = error_code(error)
        if code in s3_errors.FULL:
            return s3_errors.storage_full(self.key, error)
        try:
            gone = code in s3_errors.NO_UPLOAD or not self._store.upload_exists(self._object_key, self.upload_id)
        except (ClientError, BotoCoreError):
            gone = False  # the store is failing: its own error says more
        if gone:
            return FileNotFoundError(
                f"the upload of {self.key!r} was aborted before it completed (its folder was deleted, or it was "
                "swept as stale)"
            )
        return error

    def _require_open(self) -> None:
        if not self._open:
            raise ValueError(f"the writer for {self.key!r} is already committed or aborted")

