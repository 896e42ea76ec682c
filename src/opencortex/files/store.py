"""The ``FileStore`` protocol every storage backend implements, and the key rules they share.

A store maps opaque string keys (``orgs/<id>/exports/<id>.zip``) to byte objects. The operations
are the ones an S3-compatible object store offers, so a remote backend fits behind the same
protocol: a streaming writer whose ``commit()`` publishes atomically, a streaming (optionally
ranged) reader, ``delete``, ``exists``, ``size`` and ``list_keys``. Backends hold whatever bytes
they are given; encryption at rest is layered on top by ``EncryptedFileStore``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
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


def _lengths_ok(key: str) -> bool:
    return len(key) <= MAX_KEY_LENGTH and all(len(part) <= MAX_SEGMENT_LENGTH for part in key.split("/"))


def validate_range(start: int, end: int | None) -> None:
    """``start``/``end`` are inclusive byte offsets (HTTP ``Range`` semantics); ``end=None`` reads to EOF."""
    if start < 0 or (end is not None and end < start):
        raise faults.file_range_invalid(f"bytes {start}-{'' if end is None else end} is not a byte range")


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


class FileStore(Protocol):
    """Opaque keys to byte objects.

    Every method validates its key first. Bad keys, bad ranges and missing objects are faults;
    failures of the storage itself (a full disk, an unreachable bucket) propagate as they are,
    since they are the operator's problem, not the caller's.
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
        """Keys starting with ``prefix`` (a plain string prefix, as in S3), in lexicographic order."""
        ...
