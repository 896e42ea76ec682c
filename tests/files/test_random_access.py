"""Byte ranges are decrypted segment by segment (``SegmentOpener``): the same bytes as Tink's own
decryption, only the covered segments read, and every served byte authenticated, on the local
folder and on S3."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from opencortex.faults import Fault
from opencortex.files import ChunkReader, EncryptedFileStore
from opencortex.files.crypto import FIRST_SEGMENT_PLAINTEXT, HEADER_BYTES, SEGMENT_BYTES, SEGMENT_PLAINTEXT

from .conftest import MIB, PseudoRandomStream, pseudo_random_bytes

FIRST = FIRST_SEGMENT_PLAINTEXT
SIZE = FIRST + 3 * SEGMENT_PLAINTEXT + 1000  # five segments, the last one short


@pytest.fixture(params=["local", "s3"])
def any_store(request: pytest.FixtureRequest) -> EncryptedFileStore:
    store: EncryptedFileStore = request.getfixturevalue("store" if request.param == "local" else "s3_store")
    return store


class CountingBackend:
    """A backend that records the byte ranges asked of it and the bytes it delivered."""

    def __init__(self, backend: Any) -> None:
        self._backend = backend
        self.ranges: list[tuple[int, int | None]] = []
        self.delivered = 0

    def open_reader(self, key: str, start: int = 0, end: int | None = None) -> ChunkReader:
        self.ranges.append((start, end))
        reader = self._backend.open_reader(key, start, end)

        def counted() -> Iterator[bytes]:
            for chunk in reader:
                self.delivered += len(chunk)
                yield chunk

        return ChunkReader(counted(), reader.close)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._backend, name)


def read(store: EncryptedFileStore, key: str, start: int, end: int | None) -> bytes:
    with store.open_reader(key, start, end) as reader:
        return b"".join(reader)


def counting(store: EncryptedFileStore) -> CountingBackend:
    spy = CountingBackend(store.backend)
    store.backend = spy  # type: ignore[assignment]
    return spy


@pytest.mark.parametrize(
    ("start", "end"),
    [
        (0, 0),  # the first byte: segment 0, its header read with it
        (FIRST - 1, FIRST),  # across the boundary of segments 0 and 1
        (FIRST, FIRST),  # the first byte of segment 1
        (FIRST + 1, FIRST + SEGMENT_PLAINTEXT),  # across the boundary of segments 1 and 2
        (FIRST + SEGMENT_PLAINTEXT - 1, FIRST + 2 * SEGMENT_PLAINTEXT + 5),  # three segments
        (2 * MIB, None),  # to the end: the final segment, sealed as last, is checked
        (SIZE - 1000, SIZE - 1),  # exactly the short final segment
        (SIZE - 1, SIZE + 10**9),  # the last byte; the end clamped
        (SIZE, None),  # at the end: nothing
        (SIZE + 5, SIZE + 9),  # past the end: nothing
    ],
)
def test_ranges_past_the_first_segment_match_the_plaintext(any_store: EncryptedFileStore, start: int,
                                                           end: int | None) -> None:
    any_store.write_chunks("k", PseudoRandomStream(SIZE))
    assert read(any_store, "k", start, end) == pseudo_random_bytes(SIZE)[start : None if end is None else end + 1]


def test_a_final_segment_of_full_size(store: EncryptedFileStore) -> None:
    size = FIRST + 2 * SEGMENT_PLAINTEXT  # the ciphertext is exactly three full segments
    data = pseudo_random_bytes(size)
    store.write_chunks("k", [data])
    assert store.stored_size("k") == 3 * SEGMENT_BYTES
    assert read(store, "k", size - 10, None) == data[-10:]
    assert read(store, "k", FIRST, None) == data[FIRST:]


def test_a_range_at_the_end_reads_the_header_and_its_segments_only(any_store: EncryptedFileStore) -> None:
    size = 12 * MIB
    any_store.write_chunks("k", PseudoRandomStream(size, seed=3))
    spy = counting(any_store)
    tail = read(any_store, "k", size - 100, None)
    assert tail == pseudo_random_bytes(size, seed=3)[-100:]
    stored = any_store.stored_size("k")
    assert spy.ranges == [(0, HEADER_BYTES - 1), (12 * SEGMENT_BYTES, stored - 1)]
    assert spy.delivered == HEADER_BYTES + stored - 12 * SEGMENT_BYTES  # 40 bytes and one short segment


def test_a_range_in_the_first_segment_reads_from_the_start_and_no_further(store: EncryptedFileStore) -> None:
    store.write_chunks("k", PseudoRandomStream(3 * MIB))
    spy = counting(store)
    assert read(store, "k", 10, FIRST + 10) == pseudo_random_bytes(3 * MIB)[10 : FIRST + 11]
    assert spy.ranges == [(0, 2 * SEGMENT_BYTES - 1)]  # segments 0 and 1, the header with segment 0
    assert read(store, "k", 0, 99) == pseudo_random_bytes(3 * MIB)[:100]
    assert spy.ranges[-1] == (0, SEGMENT_BYTES - 1)


def test_the_whole_file_streams_through_tink(store: EncryptedFileStore) -> None:
    store.write_chunks("k", PseudoRandomStream(3 * MIB))
    spy = counting(store)
    assert read(store, "k", 0, None) == pseudo_random_bytes(3 * MIB)
    assert spy.ranges == [(0, None)]


def damage(store: EncryptedFileStore, key: str, change: Any) -> None:
    """Replace the ciphertext under ``key`` by ``change(ciphertext)``, through the backend."""
    with store.backend.open_reader(key) as reader:
        ciphertext = bytearray(b"".join(reader))
    with store.backend.open_writer(key) as writer:
        writer.write(bytes(change(ciphertext)))
        writer.commit()


def flipped(offset: int) -> Any:
    def change(ciphertext: bytearray) -> bytearray:
        ciphertext[offset] ^= 1
        return ciphertext

    return change


def read_fault(store: EncryptedFileStore, key: str, start: int, end: int | None) -> Fault:
    with pytest.raises(Fault) as raised:
        read(store, key, start, end)
    return raised.value


def test_damage_inside_the_range_is_detected_and_damage_outside_is_not_served(any_store: EncryptedFileStore
                                                                              ) -> None:
    data = pseudo_random_bytes(SIZE)
    any_store.write_chunks("k", [data])
    damage(any_store, "k", flipped(2 * SEGMENT_BYTES + 500))  # inside segment 2
    assert read_fault(any_store, "k", FIRST + SEGMENT_PLAINTEXT, None).err_code == "cortex.error.fileIntegrity"
    assert read(any_store, "k", FIRST, FIRST + 100) == data[FIRST : FIRST + 101]  # segment 1 is intact
    assert read(any_store, "k", SIZE - 10, None) == data[-10:]  # and so is the last one


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(flipped(5), id="salt"),  # a changed header derives another key
        pytest.param(flipped(HEADER_BYTES - 1), id="nonce-prefix"),
        pytest.param(lambda c: c[:0] + bytes([41]) + c[1:], id="header-length"),
        # segment 2's ciphertext in segment 1's place: sealed under another index
        pytest.param(lambda c: c[:SEGMENT_BYTES] + c[2 * SEGMENT_BYTES : 3 * SEGMENT_BYTES] + c[2 * SEGMENT_BYTES :],
                     id="reordered"),
        # cut at a segment boundary: the new last segment was not sealed as the last one
        pytest.param(lambda c: c[: 3 * SEGMENT_BYTES], id="truncated"),
    ],
)
def test_a_changed_header_moved_segments_and_truncation_are_detected(store: EncryptedFileStore, change: Any
                                                                     ) -> None:
    store.write_chunks("k", PseudoRandomStream(SIZE))
    damage(store, "k", change)
    assert read_fault(store, "k", FIRST + 10, None).err_code == "cortex.error.fileIntegrity"


@pytest.mark.parametrize("offset", [0, 5, HEADER_BYTES - 1, HEADER_BYTES + 10])
def test_a_range_in_segment_0_checks_the_header_it_reads_with_it(store: EncryptedFileStore, offset: int) -> None:
    store.write_chunks("k", PseudoRandomStream(SIZE))
    damage(store, "k", flipped(offset))  # the length byte, the salt, the nonce prefix, the data
    assert read_fault(store, "k", 10, 20).err_code == "cortex.error.fileIntegrity"


def test_ciphertext_copied_to_another_key_does_not_open(store: EncryptedFileStore) -> None:
    store.write_chunks("a", PseudoRandomStream(SIZE))
    with store.backend.open_reader("a") as reader, store.backend.open_writer("b") as writer:
        for chunk in reader:
            writer.write(chunk)
        writer.commit()
    assert read_fault(store, "b", FIRST + 10, FIRST + 20).err_code == "cortex.error.fileIntegrity"


def test_an_object_shorter_than_its_size_said_is_detected(store: EncryptedFileStore,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    store.write_chunks("k", PseudoRandomStream(SIZE))
    stored = store.stored_size("k")
    # Replaced by a shorter object between the size and the read: the read ends at a boundary.
    monkeypatch.setattr(store.backend, "size", lambda key: stored + SEGMENT_BYTES)
    assert read_fault(store, "k", FIRST, None).err_code == "cortex.error.fileIntegrity"


def test_a_missing_key_is_not_found_before_the_first_chunk(any_store: EncryptedFileStore) -> None:
    with pytest.raises(Fault) as raised:
        any_store.open_reader("no/such/key", 5 * MIB, None)
    assert raised.value.err_code == "cortex.notFound.file"
