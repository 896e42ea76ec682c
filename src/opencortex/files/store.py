"""The ``FileStore`` protocol every storage backend implements, and the key rules they share.

A store maps opaque string keys (``orgs/<id>/exports/<id>.zip``) to byte objects. The operations
are the ones an S3-compatible object store offers, so a remote backend fits behind the same
protocol: a streaming writer whose ``commit()`` publishes atomically, a streaming (optionally
ranged) reader, ``delete``, ``exists``, ``size`` and ``list_keys``. Backends hold whatever bytes
they are given; encryption at rest is layered on top by ``EncryptedFileStore``.

A writer that never commits (its process was killed) leaves a *partial write*: a temporary file
in a local folder, an unfinished multipart upload in S3. Partials are not objects: no listing of
keys, no reader and no storage quota sees them. ``list_partials`` shows them,
``delete_prefix`` removes them with the objects of a folder, and ``sweep_stale_partials``
removes the ones no writer has touched for a while, anywhere in the store.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from types import TracebackType
from typing import Protocol, Self

from opencortex import faults

# One segment: starts with a letter, digit or underscore (so never ".", ".." or a hidden name,
# which leaves every dot-name free for a backend's temporary files), then letters, digits and
# "._-". Keys are segments joined by "/": no leading "/", no empty segment, no NUL, nothing a
# filesystem or an S3 URL would read specially.
_SEGMENT = r"[A-Za-z0-9_][A-Za-z0-9._-]*"
_KEY = re.compile(rf"{_SEGMENT}(?:/{_SEGMENT})*")
_PREFIX = re.compile(rf"(?:{_SEGMENT}/)*(?:{_SEGMENT})?")
MAX_KEY_LENGTH = 1024  # S3's limit on object keys
MAX_SEGMENT_LENGTH = 200  # under NAME_MAX (255) with room for a backend's temporary-name affixes


def is_valid_key(key: str) -> bool:
    return isinstance(key, str) and _KEY.fullmatch(key) is not None and _lengths_ok(key)


def validate_key(key: str) -> str:
    """Return ``key`` if it is a legal store key; otherwise raise ``file_key_invalid``."""
    if not isinstance(key, str) or not _KEY.fullmatch(key):
        raise faults.file_key_invalid(
            f"{key!r} is not a file key: expected segments of letters, digits and '._-' joined by '/', "
            "each starting with a letter, digit or '_'"
        )
    if not _lengths_ok(key):
        raise faults.file_key_invalid(
            f"file key {key[:80]!r}... is too long: at most {MAX_KEY_LENGTH} characters, "
            f"{MAX_SEGMENT_LENGTH} per segment"
        )
    return key


def validate_prefix(prefix: str) -> str:
    """A listing prefix: empty, or the start of a legal key (it may end in '/' or mid-segment)."""
    if not isinstance(prefix, str) or not _PREFIX.fullmatch(prefix) or not _lengths_ok(prefix):
        raise faults.file_key_invalid(f"{prefix[:80]!r} is not a file key prefix")
    return prefix


def validate_folder_prefix(prefix: str) -> str:
    """A prefix that names a whole folder of keys: not empty, ending in '/' (what ``delete_prefix``
    takes, so that deleting ``exports/1/`` can never take ``exports/10/`` with it)."""
    validate_prefix(prefix)
    if not prefix.endswith("/"):
        raise faults.file_key_invalid(f"{prefix[:80]!r} is not a folder of keys: it must end in '/'")
    return prefix


def _lengths_ok(key: str) -> bool:
    return len(key) <= MAX_KEY_LENGTH and all(len(part) <= MAX_SEGMENT_LENGTH for part in key.split("/"))


def validate_range(start: int, end: int | None) -> None:
    """``start``/``end`` are inclusive byte offsets (HTTP ``Range`` semantics); ``end=None`` reads to EOF."""
    if start < 0 or (end is not None and end < start):
        raise faults.file_range_invalid(f"bytes {start}-{'' if end is None else end} is not a byte range")


@dataclass(frozen=True)
class PartialWrite:
    """An unfinished write: bytes a writer streamed under ``key`` but has not committed (yet, if
    it is still running; ever, if it died)."""

    key: str
    size: int
    """Bytes the backend holds so far (ciphertext, under ``EncryptedFileStore``)."""
    modified: float
    """When it was last written to (Unix seconds)."""


class ObjectReader(Protocol):
    """Streams one object out as chunks of bytes; ``close()`` (or a ``with`` block) releases it early."""

    def __iter__(self) -> Iterator[bytes]: ...

    def __next__(self) -> bytes: ...

    def close(self) -> None: ...

    def __enter__(self) -> Self: ...

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None: ...


class ChunkReader:
    """An ``ObjectReader`` over any chunk iterator, releasing its resource exactly once.

    The resource is released when iteration ends, when it raises, or on ``close()``; so a reader
    that is read to the end, fails, or is dropped halfway through never leaks an open file or
    connection.
    """

    def __init__(self, chunks: Iterator[bytes], release: Callable[[], None] = lambda: None) -> None:
        self._chunks = chunks
        self._release: Callable[[], None] | None = release

    def __iter__(self) -> Self:
        return self

    def __next__(self) -> bytes:
        if self._release is None:
            raise StopIteration
        try:
            return next(self._chunks)
        except BaseException:  # StopIteration included: the end is a release point too
            self.close()
            raise

    def close(self) -> None:
        release, self._release = self._release, None
        if release is None:
            return
        try:
            # A generator's own ``finally`` blocks run only if it is closed; do that first.
            close_chunks = getattr(self._chunks, "close", None)
            if close_chunks is not None:
                close_chunks()
        finally:
            release()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


class ObjectWriter(Protocol):
    """Streams one object in. Nothing is visible under the key until ``commit()`` returns.

    Use it as a context manager: leaving the block without ``commit()`` (an exception, an early
    return) aborts, so a half-written object is never published.
    """

    def write(self, chunk: bytes) -> None: ...

    def commit(self) -> None:
        """Publish the object atomically, replacing any object already under the key."""
        ...

    def abort(self) -> None:
        """Discard everything written. Safe to call more than once, and after ``commit()``."""
        ...

    def __enter__(self) -> Self: ...

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None: ...


class AbortsOnExit:
    """The context-manager half of ``ObjectWriter``, for its implementations: leaving the block
    aborts, which is a no-op once ``commit()`` has returned."""

    def abort(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.abort()


class FileStore(Protocol):
    """Opaque keys to byte objects.

    Every method validates its key first. Bad keys, bad ranges and missing objects are faults.
    Storage that is full (no space, a quota) is the fault ``storage_full``, which names no path,
    and the write is aborted; other failures of the storage itself (an I/O error, an unreachable
    bucket) propagate as they are, since they are the operator's problem, not the caller's.
    """

    def open_writer(self, key: str) -> ObjectWriter: ...

    def open_reader(self, key: str, start: int = 0, end: int | None = None) -> ObjectReader:
        """The object's bytes ``start..end`` (inclusive, clamped to the object) as chunks.

        Raises ``file_not_found`` at call time, not at the first chunk, so callers can answer 404
        before they start a response.
        """
        ...

    def delete(self, key: str) -> None:
        """Remove the object; deleting a missing key is not an error (as in S3)."""
        ...

    def exists(self, key: str) -> bool: ...

    def size(self, key: str) -> int:
        """The stored size in bytes; ``file_not_found`` if there is no such object."""
        ...

    def list_keys(self, prefix: str = "") -> Iterator[str]:
        """Keys starting with ``prefix`` (a plain string prefix, as in S3), in lexicographic order.

        Committed objects only: partial writes are never keys (see ``list_partials``).
        """
        ...

    def list_partials(self, prefix: str = "") -> Iterator[PartialWrite]:
        """The unfinished writes whose key starts with ``prefix``, in key order: running writers'
        and dead writers' alike. For callers that must see every byte a folder holds."""
        ...

    def delete_prefix(self, prefix: str) -> int:
        """Remove everything under the folder ``prefix`` (ending in '/'): its objects, its partial
        writes, and (where the store has folders) the folders they leave empty, up to the root.

        A writer still running under the prefix loses its bytes: its ``commit()`` fails, so a
        deleted folder is never brought back by a late writer. Returns how many objects and
        partials were removed. Storage accounting is the caller's: release the keys'
        ``stored_files`` rows first (``list_keys``), then delete.
        """
        ...

    def sweep_stale_partials(self, older_than_seconds: float) -> int:
        """Remove partial writes, anywhere in the store, that nobody has written to for more than
        ``older_than_seconds``, and the folders that leaves empty; returns how many were removed.

        The invariant that keeps it away from writes still in flight: ``older_than_seconds`` must
        exceed the longest pause a live writer can make between two writes. For an export that is
        more than its lease (a worker that does not renew its lease for that long has lost its job
        anyway), and a zip writer can hold a megabyte of compressed output before it writes, so
        use several leases and at least an hour (``MIN_SWEEP_AGE_SECONDS``). The local store also
        skips any partial whose writer is alive (it holds a lock on it), whatever its age.
        """
        ...

    def remove_empty_folders(self, prefix: str) -> None:
        """Remove what is left of folders under ``prefix`` (ending in ``/``) once their keys are
        deleted; a no-op for stores without folders (S3)."""
        ...


MIN_SWEEP_AGE_SECONDS = 3600
"""The youngest partial a periodic sweep should remove (see ``FileStore.sweep_stale_partials``)."""
