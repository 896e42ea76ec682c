"""Streaming authenticated encryption of stored files (Tink ``StreamingAead``), and its keyset.

Scheme: AES256-GCM-HKDF with 1 MiB ciphertext segments (Tink's ``AES256_GCM_HKDF_1MB``). Every
object gets its own key, derived with HKDF from the keyset key and a random salt in the object's
header; each segment is sealed by AES-GCM under a nonce that encodes its index and whether it is
the last one, so reordered, dropped, tampered or truncated segments all fail authentication.

Why 1 MiB and not 4 KiB segments: each segment costs a 16-byte tag, 0.0015% at 1 MiB against
0.4% at 4 KiB, and every segment is one round trip between Tink's C++ and Python. The price is
memory: Tink holds about one segment per open stream on each side (~2 MiB per concurrent upload
or download), which stays flat however large the file is. Smaller segments would only pay off
with random-access decryption, which Tink's Python API does not offer (range reads decrypt from
the start and discard).

The keyset is generated once into ``<data_dir>/keyset.sealed``, sealed by the master key for the
purpose ``files-keyset``. Key material never leaves this module: ``FileCipher`` holds only the
Tink primitive, and its repr and faults name no key bytes.
"""

from __future__ import annotations

import contextlib
import io
import os
import secrets
from collections.abc import Callable, Generator, Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

import tink
from cryptography.exceptions import InvalidTag
from tink import secret_key_access, streaming_aead

from opencortex import faults
from opencortex.keys import MasterKey

KEYSET_FILE = "keyset.sealed"
KEYSET_PURPOSE = "files-keyset"
_TEMPLATE_NAME = "AES256_GCM_HKDF_1MB"

# Tink's documented wire format for AES-GCM-HKDF streaming with 32-byte keys: a header of
# [length byte][32-byte salt][7-byte nonce prefix], then segments of SEGMENT_BYTES of ciphertext
# (the first one including the header), each ending in a 16-byte GCM tag.
SEGMENT_BYTES = 1024 * 1024
HEADER_BYTES = 1 + 32 + 7
TAG_BYTES = 16
FIRST_SEGMENT_PLAINTEXT = SEGMENT_BYTES - HEADER_BYTES - TAG_BYTES
SEGMENT_PLAINTEXT = SEGMENT_BYTES - TAG_BYTES

# Large writes are fed to Tink in pieces of this size, so the ciphertext waiting to be handed on
# never grows beyond about one piece whatever chunk size a caller uses.
_FEED_BYTES = 1024 * 1024
_AD_CONTEXT = b"opencortex.files.v1\x00"

streaming_aead.register()


def associated_data(key: str) -> bytes:
    """Binds a ciphertext to its store key: bytes copied to another key fail to decrypt."""
    return _AD_CONTEXT + key.encode()


def plaintext_size(ciphertext_size: int) -> int:
    """The plaintext length behind a ciphertext of this length (Tink never writes an empty last
    segment, except for an empty plaintext, so the mapping is exact)."""
    segments = max(1, -(-ciphertext_size // SEGMENT_BYTES))
    last = ciphertext_size - (segments - 1) * SEGMENT_BYTES
    smallest_last = HEADER_BYTES + TAG_BYTES if segments == 1 else TAG_BYTES + 1
    if last < smallest_last:
        raise faults.file_corrupt(f"a ciphertext of {ciphertext_size} bytes cannot have been written by Tink")
    return ciphertext_size - HEADER_BYTES - segments * TAG_BYTES


class FileCipher:
    """Encrypts and decrypts stored files as streams, with the data folder's keyset."""

    def __init__(self, primitive: streaming_aead.StreamingAead) -> None:
        self._primitive = primitive

    def __repr__(self) -> str:
        return f"FileCipher({_TEMPLATE_NAME})"

    @classmethod
    def load_or_create(cls, data_dir: Path, master_key: MasterKey) -> FileCipher:
        path = data_dir / KEYSET_FILE
        try:
            sealed = path.read_bytes()
        except FileNotFoundError:
            sealed = _create_keyset(path, master_key)
        return cls(_open_keyset(sealed, master_key, path))

    def encryptor(self, key: str, emit: Callable[[bytes], None]) -> Encryptor:
        return Encryptor(self._primitive, associated_data(key), emit)

    def decrypt(self, key: str, ciphertext: Iterable[bytes]) -> Generator[bytes, None, None]:
        """Plaintext chunks, each from segments that authenticated; ``file_corrupt`` otherwise.

        Tink decrypts a whole segment before it returns any of its bytes, and the last segment is
        sealed as "last", so tampering anywhere and truncation anywhere (including at a segment
        boundary) raise before a single unauthenticated byte is yielded.
        """
        source = _ChunkSource(iter(ciphertext))
        offset = 0
        try:
            with self._primitive.new_decrypting_stream(source, associated_data(key)) as stream:
                while True:
                    # read1: at most one segment per call, so a failure never discards plaintext
                    # that already authenticated, and chunks follow segment boundaries.
                    block = stream.read1(SEGMENT_BYTES)
                    if not block:
                        return
                    offset += len(block)
                    yield block
        except tink.TinkError as error:
            if source.error is not None:
                raise source.error  # noqa: B904 -- the storage error itself, cause and all, not corruption
            raise faults.file_corrupt(
                f"the stored ciphertext of {key!r} failed authentication after {offset} good bytes "
                "(tampered with, truncated, or written under another key or keyset)"
            ) from error


class Encryptor:
    """Push plaintext in with ``write``; ciphertext comes out through ``emit`` as it is sealed."""

    def __init__(
        self, primitive: streaming_aead.StreamingAead, ad: bytes, emit: Callable[[bytes], None]
    ) -> None:
        # Tink writes ciphertext into a buffer and this class hands it to ``emit`` itself, rather
        # than letting Tink's C++ call ``emit``: an error in ``emit`` (a full disk, a network
        # failure) then reaches the caller as itself, not flattened into a TinkError.
        self._buffer = _CiphertextBuffer()
        self._emit = emit
        self._stream: BinaryIO | None = primitive.new_encrypting_stream(self._buffer, ad)

    def write(self, chunk: bytes) -> None:
        if self._stream is None:
            raise ValueError("the encryptor is already finished")
        view = memoryview(chunk)
        for offset in range(0, len(view), _FEED_BYTES):
            self._stream.write(view[offset : offset + _FEED_BYTES])
            self._drain()

    def finish(self) -> None:
        """Seal the last segment (marked as last, which is what makes truncation detectable)."""
        stream, self._stream = self._stream, None
        if stream is None:
            raise ValueError("the encryptor is already finished")
        stream.close()
        self._drain()

    def discard(self) -> None:
        stream, self._stream = self._stream, None
        if stream is not None:
            # Closing seals a last segment into the buffer, which is then thrown away. Errors are
            # irrelevant here: nothing of this stream will ever be read.
            with contextlib.suppress(tink.TinkError, OSError, ValueError):
                stream.close()
        self._buffer.take()

    def _drain(self) -> None:
        ciphertext = self._buffer.take()
        if ciphertext:
            self._emit(ciphertext)


class _CiphertextBuffer(io.RawIOBase):
    """The writable file object Tink's encrypting stream writes into."""

    def __init__(self) -> None:
        super().__init__()
        self._pending = bytearray()

    def writable(self) -> bool:
        return True

    def write(self, data: bytes | bytearray | memoryview) -> int:  # type: ignore[override]
        self._pending += data
        return len(data)

    def take(self) -> bytes:
        data = bytes(self._pending)
        self._pending.clear()
        return data


class _ChunkSource(io.RawIOBase):
    """The readable file object Tink's decrypting stream pulls ciphertext from, over an iterator.

    An error raised by the iterator (a missing file, a dropped connection) would reach us from
    inside Tink as a TinkError; it is kept here so ``decrypt`` can raise the original instead of
    calling a storage failure corruption.
    """

    def __init__(self, chunks: Iterator[bytes]) -> None:
        super().__init__()
        self._chunks = chunks
        self._pending = memoryview(b"")
        self.error: BaseException | None = None

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        while not self._pending:
            try:
                self._pending = memoryview(next(self._chunks))
            except StopIteration:
                return 0
            except BaseException as error:
                self.error = error
                raise
        count = min(len(buffer), len(self._pending))
        buffer[:count] = self._pending[:count]
        self._pending = self._pending[count:]
        return count


def _create_keyset(path: Path, master_key: MasterKey) -> bytes:
    """Generate and seal a keyset, publishing it only if no other process got there first."""
    handle = tink.new_keyset_handle(getattr(streaming_aead.streaming_aead_key_templates, _TEMPLATE_NAME))
    serialized = tink.proto_keyset_format.serialize(handle, secret_key_access.TOKEN)
    sealed = master_key.seal(serialized, KEYSET_PURPOSE)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(8)}.part")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    try:
        with os.fdopen(descriptor, "wb") as handle_file:
            handle_file.write(sealed)
            handle_file.flush()
            os.fsync(handle_file.fileno())
        # link() fails if the name exists, unlike rename(): two processes starting at once both
        # end up with the one keyset that won, never with files encrypted under a lost one.
        os.link(temporary, path)
    except FileExistsError:
        return path.read_bytes()
    finally:
        temporary.unlink(missing_ok=True)
    folder = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)
    return sealed


def _open_keyset(sealed: bytes, master_key: MasterKey, path: Path) -> streaming_aead.StreamingAead:
    try:
        serialized = master_key.open(sealed, KEYSET_PURPOSE)
    except (InvalidTag, ValueError) as error:
        raise faults.files_keyset_unreadable(
            f"{path} was sealed with another master key, or is damaged"
        ) from error
    try:
        handle = tink.proto_keyset_format.parse(serialized, secret_key_access.TOKEN)
        return handle.primitive(streaming_aead.StreamingAead)
    except tink.TinkError as error:
        raise faults.files_keyset_unreadable(f"{path} does not hold a streaming-encryption keyset") from error
