"""``EncryptedFileStore``: encryption at rest over any ``FileStore`` backend.

Writes encrypt on the way in and hash the plaintext as it passes (size, MD5 for the Cortex
``ETag``, SHA-256 for integrity); reads decrypt on the way out and raise ``file_corrupt`` for
ciphertext that fails authentication. Backends only ever see ciphertext.

There is deliberately no rename: each ciphertext is bound to its key, so "write elsewhere, then
move" would not decrypt. Atomic publication is the writer's ``commit()`` instead.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from opencortex import faults
from opencortex.files.crypto import (
    HEADER_BYTES,
    SEGMENT_BYTES,
    FileCipher,
    SegmentOpener,
    plaintext_size,
    segment_count,
    segment_of,
    segment_start,
)
from opencortex.files.store import (
    AbortsOnExit,
    ChunkReader,
    FileStore,
    ObjectWriter,
    PartialWrite,
    validate_key,
    validate_range,
)


@dataclass(frozen=True)
class StoredObject:
    """What a committed write stored, all measured over the plaintext."""

    key: str
    size: int
    md5: str  # hex; the Cortex facet ``ETag``
    sha256: str  # hex


class EncryptedFileStore:
    def __init__(self, backend: FileStore, cipher: FileCipher) -> None:
        self.backend = backend
        self._cipher = cipher

    def __repr__(self) -> str:
        return f"EncryptedFileStore({self.backend!r})"

    def open_writer(self, key: str) -> EncryptedWriter:
        validate_key(key)
        return EncryptedWriter(key, self.backend.open_writer(key), self._cipher)

    def write_chunks(self, key: str, chunks: Iterable[bytes]) -> StoredObject:
        """Store a whole stream; if the stream fails midway, nothing is published."""
        with self.open_writer(key) as writer:
            for chunk in chunks:
                writer.write(chunk)
            return writer.commit()

    def open_reader(self, key: str, start: int = 0, end: int | None = None) -> ChunkReader:
        """Plaintext bytes ``start..end`` (inclusive, clamped to the file; HTTP ``Range`` semantics).

        The whole file is decrypted by Tink's stream. A range reads only the 1 MiB segments it
        covers (and the 40-byte header), decrypting them one by one (``crypto.SegmentOpener``): a
        range at the end of a 10 GiB archive costs a megabyte or two of reading, from a folder or
        a bucket alike. Memory stays flat either way. ``file_not_found`` is raised here, before
        any chunk.
        """
        validate_key(key)
        validate_range(start, end)
        if (start or end is not None) and self._cipher.random_access:
            return self._open_segments(key, start, end)
        ciphertext = self.backend.open_reader(key)
        plaintext = self._cipher.decrypt(key, ciphertext)

        def release() -> None:
            try:
                plaintext.close()  # ends Tink's stream before the file under it
            finally:
                ciphertext.close()

        return ChunkReader(_byte_range(plaintext, start, end), release)

    def _open_segments(self, key: str, start: int, end: int | None) -> ChunkReader:
        """``open_reader`` of a range: the segments that hold it, and nothing before them."""
        stored_size = self.backend.size(key)
        size = plaintext_size(stored_size)
        if start >= size:
            return ChunkReader(iter(()))
        last_byte = size - 1 if end is None else min(end, size - 1)
        first, last = segment_of(start), segment_of(last_byte)
        opener = None  # from segment 0 on, the header comes with the segment's own bytes
        if first > 0:
            with self.backend.open_reader(key, 0, HEADER_BYTES - 1) as header_reader:
                opener = self._cipher.segment_opener(key, b"".join(header_reader))
        ciphertext = self.backend.open_reader(key, first * SEGMENT_BYTES,
                                              min((last + 1) * SEGMENT_BYTES, stored_size) - 1)
        segments = _decrypt_segments(key, self._cipher, opener, ciphertext, first, last,
                                     final=segment_count(stored_size) - 1)
        offset = segment_start(first)
        return ChunkReader(_byte_range(segments, start - offset, last_byte - offset), ciphertext.close)

    def delete(self, key: str) -> None:
        self.backend.delete(key)

    def exists(self, key: str) -> bool:
        return self.backend.exists(key)

    def size(self, key: str) -> int:
        """The plaintext size, computed from the stored size without reading the file."""
        return plaintext_size(self.backend.size(key))

    def stored_size(self, key: str) -> int:
        """Bytes the backend holds (plaintext plus 40 bytes of header and 16 per MiB)."""
        return self.backend.size(key)

    def list_keys(self, prefix: str = "") -> Iterator[str]:
        return self.backend.list_keys(prefix)

    def list_partials(self, prefix: str = "") -> Iterator[PartialWrite]:
        """Unfinished writes (sizes are the ciphertext written so far)."""
        return self.backend.list_partials(prefix)

    def delete_prefix(self, prefix: str) -> int:
        """Every object and partial write under the folder ``prefix``; see ``FileStore.delete_prefix``."""
        return self.backend.delete_prefix(prefix)

    def sweep_stale_partials(self, older_than_seconds: float) -> int:
        """See ``FileStore.sweep_stale_partials`` for the age that keeps writes in flight safe."""
        return self.backend.sweep_stale_partials(older_than_seconds)

    def remove_empty_folders(self, prefix: str) -> None:
        self.backend.remove_empty_folders(prefix)


class EncryptedWriter(AbortsOnExit):
    """Encrypts and hashes as it writes; ``commit()`` publishes and returns a ``StoredObject``.

    Any failure inside ``write`` or ``commit`` aborts the writer, so a stream that broke halfway
    can never be committed afterwards by mistake.
    """

    def __init__(self, key: str, inner: ObjectWriter, cipher: FileCipher) -> None:
        self.key = key
        self._inner = inner
        self._encryptor = cipher.encryptor(key, inner.write)
        self._md5 = hashlib.md5(usedforsecurity=False)  # an ETag, not a security control
        self._sha256 = hashlib.sha256()
        self._size = 0
        self._open = True

    def __repr__(self) -> str:
        return f"EncryptedWriter({self.key!r})"

    def write(self, chunk: bytes) -> None:
        self._require_open()
        try:
            self._encryptor.write(chunk)
        except BaseException:
            self.abort()
            raise
        self._md5.update(chunk)
        self._sha256.update(chunk)
        self._size += len(chunk)

    def commit(self) -> StoredObject:
        self._require_open()
        try:
            self._encryptor.finish()
            self._inner.commit()
        except BaseException:
            self.abort()
            raise
        self._open = False
        return StoredObject(self.key, self._size, self._md5.hexdigest(), self._sha256.hexdigest())

    def abort(self) -> None:
        if not self._open:
            return
        self._open = False
        try:
            self._encryptor.discard()
        finally:
            self._inner.abort()

    def _require_open(self) -> None:
        if not self._open:
            raise ValueError(f"the writer for {self.key!r} is already committed or aborted")



def _decrypt_segments(key: str, cipher: FileCipher, opener: SegmentOpener | None, ciphertext: Iterable[bytes],
                      first: int, last: int, final: int) -> Iterator[bytes]:
    """The plaintext of segments ``first..last`` from their ciphertext, one segment at a time.
    ``final`` is the object's last segment, the one sealed as last; ``opener`` is None when the
    ciphertext starts with segment 0, whose first bytes are the header it is made from."""
    index = first
    pending = bytearray()

    def opened(segment: bytearray) -> bytes:
        nonlocal opener
        if index == 0:
            opener = cipher.segment_opener(key, bytes(segment[:HEADER_BYTES]))
            segment = segment[HEADER_BYTES:]
        assert opener is not None
        return opener.open(index, segment, last=index == final)

    for chunk in ciphertext:
        pending += chunk
        while len(pending) >= SEGMENT_BYTES:
            yield opened(pending[:SEGMENT_BYTES])
            del pending[:SEGMENT_BYTES]
            index += 1
    if pending:
        yield opened(pending)
        index += 1
    if index <= last:  # the object is shorter than its size said: it changed, or was cut
        raise faults.file_corrupt(f"the stored ciphertext of {key!r} ended before segment {index}")


def _byte_range(chunks: Iterator[bytes], start: int, end: int | None) -> Iterator[bytes]:
    position = 0  # offset of the next byte ``chunks`` yields
    for chunk in chunks:
        chunk_start, position = position, position + len(chunk)
        if position <= start:
            continue
        low = max(start - chunk_start, 0)
        if end is not None and position > end:
            yield chunk[low : end - chunk_start + 1]
            return
        yield chunk[low:] if low else chunk
