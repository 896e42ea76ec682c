"""Encryption at rest: round trips, hashes, tamper and truncation detection, ranges, publication.

Each test of the encrypted store runs on the local folder and on S3 (the run's moto server); the
ciphertext is read and damaged through the backend below it (``Ciphertext``), whichever it is."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from opencortex.faults import Fault
from opencortex.files import ChunkReader, EncryptedFileStore, FileCipher, LocalFileStore, open_file_store
from opencortex.files.crypto import FIRST_SEGMENT_PLAINTEXT, SEGMENT_BYTES, SEGMENT_PLAINTEXT
from opencortex.files.local import LocalObjectWriter
from opencortex.files.store import FileStore
from opencortex.keys import MasterKey
from opencortex.settings import Settings

from .conftest import MIB, PseudoRandomStream, pseudo_random_bytes


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, data_dir: Path, master_key: MasterKey) -> EncryptedFileStore:
    if request.param == "local":
        return open_file_store(Settings(data_dir=data_dir), master_key)
    store: EncryptedFileStore = request.getfixturevalue("s3_store")
    return store


class Ciphertext:
    """The stored bytes of a key, read and replaced through the store's backend (below the
    encryption), for tests that look at or damage them on purpose."""

    def __init__(self, backend: FileStore) -> None:
        self.backend = backend

    def read(self, key: str) -> bytes:
        with self.backend.open_reader(key) as reader:
            return b"".join(reader)

    def replace(self, key: str, data: bytes) -> None:
        with self.backend.open_writer(key) as writer:
            writer.write(data)
            writer.commit()

    def flip_byte(self, key: str, offset: int) -> None:
        """Flip the lowest bit of the byte at ``offset`` (from the end when negative)."""
        data = bytearray(self.read(key))
        data[offset] ^= 0x01
        self.replace(key, bytes(data))

    def truncate(self, key: str, cut: Callable[[int], int]) -> None:
        data = self.read(key)
        self.replace(key, data[:cut(len(data))])


@pytest.fixture
def ciphertext(store: EncryptedFileStore) -> Ciphertext:
    return Ciphertext(store.backend)


# Sizes around the encryption segment boundaries, where off-by-one mistakes live.
FIRST = FIRST_SEGMENT_PLAINTEXT
SECOND_END = FIRST_SEGMENT_PLAINTEXT + SEGMENT_PLAINTEXT


def read_all(store: EncryptedFileStore, key: str, start: int = 0, end: int | None = None) -> bytes:
    with store.open_reader(key, start, end) as reader:
        return b"".join(reader)


def read_until_fault(store: EncryptedFileStore, key: str) -> tuple[bytes, Fault]:
    """Everything the reader yields before it fails, and the fault it fails with."""
    received = bytearray()
    with pytest.raises(Fault) as raised, store.open_reader(key) as reader:
        for chunk in reader:
            received += chunk
    return bytes(received), raised.value


@pytest.mark.parametrize(
    "size", [0, 1, MIB, FIRST - 1, FIRST, FIRST + 1, SECOND_END, SECOND_END + 1, 3 * MIB]
)
def test_round_trip_hashes_and_sizes(store: EncryptedFileStore, ciphertext: Ciphertext, size: int) -> None:
    source = PseudoRandomStream(size)
    stored = store.write_chunks("orgs/1/file.bin", source)
    data = pseudo_random_bytes(size)
    assert stored.key == "orgs/1/file.bin"
    assert stored.size == size
    assert stored.md5 == hashlib.md5(data, usedforsecurity=False).hexdigest() == source.md5.hexdigest()
    assert stored.sha256 == hashlib.sha256(data).hexdigest()
    assert read_all(store, "orgs/1/file.bin") == data
    assert store.size("orgs/1/file.bin") == size
    ciphertext_size = len(ciphertext.read("orgs/1/file.bin"))
    assert store.stored_size("orgs/1/file.bin") == ciphertext_size
    assert ciphertext_size == size + 40 + 16 * max(1, -(-(size + 40) // SEGMENT_PLAINTEXT))


def test_chunks_of_any_size_and_empty_chunks(store: EncryptedFileStore) -> None:
    data = pseudo_random_bytes(2 * MIB + 3)
    with store.open_writer("k") as writer:
        writer.write(b"")
        writer.write(data[:1])
        writer.write(data[1 : 2 * MIB])  # one large chunk, fed to Tink in pieces
        writer.write(b"")
        writer.write(data[2 * MIB :])
        stored = writer.commit()
    assert stored.size == len(data)
    assert read_all(store, "k") == data


def test_backend_holds_only_ciphertext(store: EncryptedFileStore, ciphertext: Ciphertext) -> None:
    plaintext = b"patient 0042: glucose 5.4 mmol/L; " * 1000
    store.write_chunks("k", [plaintext])
    stored = ciphertext.read("k")
    assert b"patient" not in stored and b"glucose" not in stored
    store.write_chunks("k2", [plaintext])
    assert ciphertext.read("k2") != stored  # a fresh salt per object


@pytest.mark.parametrize(
    ("offset", "authentic_prefix"),
    [
        (0, 0),  # header length byte
        (5, 0),  # salt: every segment key changes
        (39, 0),  # nonce prefix
        (40, 0),  # first byte of the first segment
        (SEGMENT_BYTES + 100, FIRST),  # inside the second segment
        (-1, FIRST + 2 * SEGMENT_PLAINTEXT),  # the last tag byte
    ],
)
def test_tampering_is_detected_and_nothing_unauthenticated_is_served(
    store: EncryptedFileStore, ciphertext: Ciphertext, offset: int, authentic_prefix: int
) -> None:
    data = pseudo_random_bytes(3 * MIB)
    store.write_chunks("k", [data])
    ciphertext.flip_byte("k", offset)
    received, fault = read_until_fault(store, "k")
    assert fault.err_code == "cortex.error.fileIntegrity"
    assert fault.status == 500 and fault.code == "kError"
    # Only whole segments that authenticated came out, and they are the original bytes.
    assert received == data[:authentic_prefix]


def test_tampering_in_the_middle_of_a_file(store: EncryptedFileStore, ciphertext: Ciphertext) -> None:
    data = pseudo_random_bytes(5 * MIB)
    store.write_chunks("k", [data])
    ciphertext.flip_byte("k", len(ciphertext.read("k")) // 2)
    received, fault = read_until_fault(store, "k")
    assert fault.err_code == "cortex.error.fileIntegrity"
    assert len(received) < len(data) and received == data[: len(received)]


@pytest.mark.parametrize(
    "cut",
    [
        lambda size: size - 1,  # last bytes of the final tag
        lambda size: size - 17,  # a whole final segment's worth of data
        lambda size: 2 * SEGMENT_BYTES,  # exactly at a segment boundary
        lambda size: SEGMENT_BYTES,  # after the first segment
        lambda size: 40,  # header only
        lambda size: 20,  # inside the header
        lambda size: 0,  # nothing at all
    ],
)
def test_truncation_is_detected(store: EncryptedFileStore, ciphertext: Ciphertext, cut: Callable[[int], int]) -> None:
    data = pseudo_random_bytes(3 * MIB)
    store.write_chunks("k", [data])
    ciphertext.truncate("k", cut)
    received, fault = read_until_fault(store, "k")
    assert fault.err_code == "cortex.error.fileIntegrity"
    assert len(received) < len(data) and received == data[: len(received)]


def test_truncating_an_empty_file_is_detected(store: EncryptedFileStore, ciphertext: Ciphertext) -> None:
    store.write_chunks("empty", [])
    ciphertext.truncate("empty", lambda size: size - 1)
    received, fault = read_until_fault(store, "empty")
    assert received == b""
    assert fault.err_code == "cortex.error.fileIntegrity"


def test_ciphertext_copied_to_another_key_does_not_decrypt(store: EncryptedFileStore, ciphertext: Ciphertext
                                                           ) -> None:
    store.write_chunks("orgs/1/report.zip", [b"org one's data"])
    store.write_chunks("orgs/2/report.zip", [b"org two's data"])
    ciphertext.replace("orgs/2/report.zip", ciphertext.read("orgs/1/report.zip"))
    received, fault = read_until_fault(store, "orgs/2/report.zip")
    assert received == b""
    assert fault.err_code == "cortex.error.fileIntegrity"


RANGE_SIZE = 3 * MIB + 12_345


@pytest.mark.parametrize(
    ("start", "end"),
    [
        (0, 0),  # the first byte
        (0, 99),  # the first bytes
        (FIRST - 5, FIRST + 5),  # across the first segment boundary
        (MIB, 2 * MIB - 1),  # the middle
        (RANGE_SIZE - 100, None),  # a suffix
        (RANGE_SIZE - 100, RANGE_SIZE + 10**6),  # end past EOF is clamped
        (RANGE_SIZE - 50, RANGE_SIZE - 10),  # inside the last segment
        (RANGE_SIZE - 1, RANGE_SIZE - 1),  # the last byte
        (RANGE_SIZE, None),  # past the end: nothing
    ],
)
def test_range_reads(store: EncryptedFileStore, start: int, end: int | None) -> None:
    store.write_chunks("k", PseudoRandomStream(RANGE_SIZE))
    data = pseudo_random_bytes(RANGE_SIZE)
    assert read_all(store, "k", start, end) == data[start : None if end is None else end + 1]


def test_range_reads_of_an_empty_file(store: EncryptedFileStore) -> None:
    store.write_chunks("empty", [])
    assert read_all(store, "empty") == b""
    assert read_all(store, "empty", 0, 0) == b""
    assert read_all(store, "empty", 0, None) == b""
    assert store.size("empty") == 0


def test_an_early_range_stops_before_later_damage(store: EncryptedFileStore, ciphertext: Ciphertext) -> None:
    data = pseudo_random_bytes(3 * MIB)
    store.write_chunks("k", [data])
    ciphertext.flip_byte("k", -1)
    assert read_all(store, "k", 10, 20) == data[10:21]  # served bytes all authenticated


def test_malformed_range(store: EncryptedFileStore) -> None:
    store.write_chunks("k", [b"abc"])
    with pytest.raises(Fault) as raised:
        store.open_reader("k", 5, 4)
    assert raised.value.err_code == "cortex.invalidArgument.range"


def test_missing_file_faults_before_the_first_chunk(store: EncryptedFileStore) -> None:
    with pytest.raises(Fault) as raised:
        store.open_reader("no/such/file")
    assert raised.value.err_code == "cortex.notFound.file"
    with pytest.raises(Fault):
        store.size("no/such/file")


def test_aborted_or_failed_writes_publish_nothing(store: EncryptedFileStore) -> None:
    writer = store.open_writer("a")
    writer.write(b"x" * 3 * MIB)
    writer.abort()
    with pytest.raises(ValueError):
        writer.commit()

    def failing_source() -> Iterator[bytes]:
        yield b"y" * MIB
        raise RuntimeError("the export query failed")

    with pytest.raises(RuntimeError):
        store.write_chunks("b", failing_source())
    with store.open_writer("c") as forgotten:
        forgotten.write(b"never committed")
    assert list(store.list_keys()) == [] and list(store.list_partials()) == []


class _FullDiskStore(LocalFileStore):
    """A backend whose writers fail once they have taken ``capacity`` bytes."""

    capacity = MIB

    def open_writer(self, key: str) -> LocalObjectWriter:
        writer = super().open_writer(key)
        write, taken = writer.write, [0]

        def write_until_full(chunk: bytes) -> None:
            taken[0] += len(chunk)
            if taken[0] > self.capacity:
                raise OSError(28, "No space left on device")
            write(chunk)

        writer.write = write_until_full  # type: ignore[method-assign]
        return writer


def test_a_failing_backend_write_aborts_the_writer(tmp_path: Path, master_key: MasterKey) -> None:
    backend = _FullDiskStore(tmp_path / "full")
    store = EncryptedFileStore(backend, FileCipher.load_or_create(tmp_path, master_key))
    writer = store.open_writer("k")
    with pytest.raises(OSError, match="No space left"):
        writer.write(b"z" * 3 * MIB)  # the backend's own error, not a Tink error
    with pytest.raises(ValueError):
        writer.commit()
    assert not store.exists("k")
    assert not any(path.is_file() for path in backend.root.rglob("*"))


class _FlakyReadStore(LocalFileStore):
    """A backend whose readers fail after their first chunk, like a dropped connection."""

    def open_reader(self, key: str, start: int = 0, end: int | None = None) -> ChunkReader:
        inner = super().open_reader(key, start, end)

        def chunks() -> Iterator[bytes]:
            yield next(inner)
            raise ConnectionResetError("the object store went away")

        return ChunkReader(chunks(), inner.close)


def test_a_failing_backend_read_is_not_called_corruption(tmp_path: Path, master_key: MasterKey) -> None:
    cipher = FileCipher.load_or_create(tmp_path, master_key)
    store = EncryptedFileStore(_FlakyReadStore(tmp_path / "flaky"), cipher)
    store.write_chunks("k", [pseudo_random_bytes(3 * MIB)])
    with pytest.raises(ConnectionResetError), store.open_reader("k") as reader:
        list(reader)


def test_replacing_an_object(store: EncryptedFileStore) -> None:
    store.write_chunks("k", [b"first"])
    with store.open_writer("k") as writer:
        writer.write(b"second version")
        assert read_all(store, "k") == b"first"
        stored = writer.commit()
    assert stored.size == 14
    assert read_all(store, "k") == b"second version"


def test_listing_and_delete(store: EncryptedFileStore) -> None:
    for key in ["orgs/1/a", "orgs/1/b", "orgs/2/a"]:
        store.write_chunks(key, [key.encode()])
    assert list(store.list_keys("orgs/1/")) == ["orgs/1/a", "orgs/1/b"]
    store.delete("orgs/1/a")
    store.delete("orgs/1/a")
    assert not store.exists("orgs/1/a")
    assert list(store.list_keys()) == ["orgs/1/b", "orgs/2/a"]


def test_stored_object_is_small_and_printable(store: EncryptedFileStore) -> None:
    stored = store.write_chunks("k", [b"abc"])
    assert stored.md5 == "900150983cd24fb0d6963f7d28e17f72"
    assert stored.sha256 == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    assert "k" in repr(stored)
