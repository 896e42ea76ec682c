"""Streaming authenticated encryption of stored files (Tink ``StreamingAead``), and its keyset.

Scheme: AES256-GCM-HKDF with 1 MiB ciphertext segments (Tink's ``AES256_GCM_HKDF_1MB``). Every
object gets its own key, derived with HKDF from the keyset key and a random salt in the object's
header; each segment is sealed by AES-GCM under a nonce that encodes its index and whether it is
the last one, so reordered, dropped, tampered or truncated segments all fail authentication.

Why 1 MiB and not 4 KiB segments: each segment costs a 16-byte tag, 0.0015% at 1 MiB against
0.4% at 4 KiB, and every segment is one round trip between Tink's C++ and Python. The price is
memory: Tink holds about one segment per open stream on each side (~2 MiB per concurrent upload
or download), which stays flat however large the file is.

Random access. Tink's Python API decrypts only from the start, so a byte range is decrypted
here instead, one segment at a time (``SegmentOpener``), following Tink's documented format: the
object's key is HKDF-SHA256 of the keyset key, salted by the header's salt, with the associated
data as info; segment ``i``'s nonce is the header's 7-byte prefix, ``i`` as 4 big-endian bytes,
and 1 for the last segment (0 otherwise). So a range reads the header and the segments it covers,
never the bytes before them (on S3, never downloads them), and every byte it serves has been
authenticated as segment ``i`` of this object; a range that reaches the end authenticates the end
too. ``tests/files/test_random_access.py`` checks it against Tink's own encryption.

The keyset is generated once, sealed by the master key for the purpose ``files-keyset``, and kept
beside the files it protects: ``<data_dir>/keyset.sealed`` for the local folder, an object in the
bucket for S3 (``files/s3.py``), so every process that has the master key and reaches the bucket
reads every file. Key material never leaves this module: ``FileCipher`` holds the Tink primitive
and, for random access, the raw keys in a ``SegmentKeys`` that never shows or pickles them; reprs
and faults name no key bytes (only sealed keysets go to storage).
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
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from tink import secret_key_access, streaming_aead
from tink.proto import aes_gcm_hkdf_streaming_pb2, common_pb2, tink_pb2

from opencortex import faults
from opencortex.keys import MasterKey

KEYSET_FILE = "keyset.sealed"
KEYSET_PURPOSE = "files-keyset"
_TEMPLATE_NAME = "AES256_GCM_HKDF_1MB"

# Tink's documented wire format for AES-GCM-HKDF streaming with 32-byte keys: a header of
# [length byte][32-byte salt][7-byte nonce prefix], then segments of SEGMENT_BYTES of ciphertext
# (the first one including the header), each ending in a 16-byte GCM tag.
SEGMENT_BYTES = 1024 * 1024
DERIVED_KEY_BYTES = 32
NONCE_PREFIX_BYTES = 7
HEADER_BYTES = 1 + DERIVED_KEY_BYTES + NONCE_PREFIX_BYTES
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


def segment_of(offset: int) -> int:
    """The index of the segment that holds plaintext byte ``offset``."""
    if offset < FIRST_SEGMENT_PLAINTEXT:
        return 0
    return 1 + (offset - FIRST_SEGMENT_PLAINTEXT) // SEGMENT_PLAINTEXT


def segment_start(index: int) -> int:
    """The plaintext offset of segment ``index``'s first byte (its ciphertext starts at
    ``index * SEGMENT_BYTES``, the header included in segment 0's)."""
    return 0 if index == 0 else FIRST_SEGMENT_PLAINTEXT + (index - 1) * SEGMENT_PLAINTEXT


def segment_count(ciphertext_size: int) -> int:
    return max(1, -(-ciphertext_size // SEGMENT_BYTES))


class FileCipher:
    """Encrypts and decrypts stored files as streams, with the data folder's keyset."""

    def __init__(self, primitive: streaming_aead.StreamingAead, segment_keys: SegmentKeys | None = None) -> None:
        self._primitive = primitive
        self._segment_keys = segment_keys or SegmentKeys(())

    def __repr__(self) -> str:
        return f"FileCipher({_TEMPLATE_NAME})"

    @classmethod
    def load_or_create(cls, data_dir: Path, master_key: MasterKey) -> FileCipher:
        """The data folder's keyset (``keyset.sealed``), generated on first use."""
        path = data_dir / KEYSET_FILE
        try:
            sealed = path.read_bytes()
        except FileNotFoundError:
            sealed = _create_keyset(path, master_key)
        return cls.from_sealed(sealed, master_key, str(path))

    @classmethod
    def from_sealed(cls, sealed: bytes, master_key: MasterKey, where: str) -> FileCipher:
        """Open a keyset sealed by ``new_sealed_keyset``; ``where`` names its place in faults."""
        return cls(*_open_keyset(sealed, master_key, where))

    @property
    def random_access(self) -> bool:
        """Whether ``segment_opener`` works: the keyset holds keys of this module's scheme."""
        return bool(self._segment_keys.values)

    def segment_opener(self, key: str, header: bytes) -> SegmentOpener:
        """Decrypts the segments of the object under ``key`` one at a time, in any order, given its
        header (the first ``HEADER_BYTES`` of its ciphertext)."""
        return SegmentOpener(key, header, self._segment_keys.values)

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


class SegmentKeys:
    """The keyset's raw keys, for ``SegmentOpener``: held, never shown (no repr of the bytes, no
    pickling), as Tink holds its own."""

    __slots__ = ("values",)

    def __init__(self, values: tuple[bytes, ...]) -> None:
        self.values = values

    def __repr__(self) -> str:
        return f"SegmentKeys(count={len(self.values)})"

    def __reduce__(self) -> str | tuple[object, ...]:
        raise TypeError("key material is not pickled")


class SegmentOpener:
    """The segments of one stored object, decrypted and authenticated one by one (see the module)."""

    def __init__(self, key: str, header: bytes, segment_keys: tuple[bytes, ...]) -> None:
        self._key = key
        if len(header) != HEADER_BYTES or header[0] != HEADER_BYTES:
            raise faults.file_corrupt(f"the stored ciphertext of {key!r} does not start with a Tink header")
        salt, self._nonce_prefix = header[1 : 1 + DERIVED_KEY_BYTES], header[1 + DERIVED_KEY_BYTES :]
        info = associated_data(key)
        # One candidate per key of the keyset (there is one, unless keys were ever rotated in).
        self._candidates = [
            AESGCM(HKDF(hashes.SHA256(), DERIVED_KEY_BYTES, salt, info).derive(segment_key))
            for segment_key in segment_keys
        ]

    def open(self, index: int, ciphertext: bytes | bytearray, last: bool) -> bytes:
        """Segment ``index``'s plaintext (segment 0's ciphertext without the header); ``last`` says
        whether it is the object's final segment, which its nonce must agree with."""
        nonce = self._nonce_prefix + index.to_bytes(4, "big") + (b"\x01" if last else b"\x00")
        for candidate in self._candidates:
            try:
                plaintext = candidate.decrypt(nonce, bytes(ciphertext), None)
            except InvalidTag:
                continue
            self._candidates = [candidate]  # the key that opened one segment is this object's
            return plaintext
        raise faults.file_corrupt(
            f"segment {index} of the stored ciphertext of {self._key!r} failed authentication "
            "(tampered with, truncated, or written under another key or keyset)"
        )


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


def new_sealed_keyset(master_key: MasterKey) -> bytes:
    """A fresh keyset, sealed by the master key: the only form in which a keyset is ever stored."""
    handle = tink.new_keyset_handle(getattr(streaming_aead.streaming_aead_key_templates, _TEMPLATE_NAME))
    serialized = tink.proto_keyset_format.serialize(handle, secret_key_access.TOKEN)
    return master_key.seal(serialized, KEYSET_PURPOSE)


def _create_keyset(path: Path, master_key: MasterKey) -> bytes:
    """Generate and seal a keyset, publishing it only if no other process got there first."""
    sealed = new_sealed_keyset(master_key)
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


def _open_keyset(sealed: bytes, master_key: MasterKey, where: str
                 ) -> tuple[streaming_aead.StreamingAead, SegmentKeys]:
    """The keyset's streaming primitive, and its raw keys of this module's scheme."""
    try:
        serialized = master_key.open(sealed, KEYSET_PURPOSE)
    except (InvalidTag, ValueError) as error:
        raise faults.files_keyset_unreadable(
            f"{where} was sealed with another master key, or is damaged"
        ) from error
    try:
        handle = tink.proto_keyset_format.parse(serialized, secret_key_access.TOKEN)
        return handle.primitive(streaming_aead.StreamingAead), _segment_keys(serialized)
    except tink.TinkError as error:
        raise faults.files_keyset_unreadable(f"{where} does not hold a streaming-encryption keyset") from error


def _segment_keys(serialized: bytes) -> SegmentKeys:
    """The enabled AES-GCM-HKDF keys with 1 MiB segments, 32-byte derived keys and SHA-256: those
    ``SegmentOpener`` can use (a keyset of other keys only reads from the start, through Tink)."""
    found = []
    for entry in tink_pb2.Keyset.FromString(serialized).key:
        if entry.status != tink_pb2.ENABLED or not entry.key_data.type_url.endswith(".AesGcmHkdfStreamingKey"):
            continue
        key = aes_gcm_hkdf_streaming_pb2.AesGcmHkdfStreamingKey.FromString(entry.key_data.value)
        if (key.params.ciphertext_segment_size, key.params.derived_key_size, key.params.hkdf_hash_type) == (
            SEGMENT_BYTES, DERIVED_KEY_BYTES, common_pb2.SHA256,
        ) and len(key.key_value) == DERIVED_KEY_BYTES:
            found.append(bytes(key.key_value))
    return SegmentKeys(tuple(found))
