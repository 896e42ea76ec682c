"""A 200 MiB round trip streams: memory stays flat, whatever the file size."""

from __future__ import annotations

import hashlib
import time

from opencortex.files import EncryptedFileStore
from tests.support.memory import growth_of_holding_in_a_fresh_process, measure_peak_growth

from .conftest import MIB, PseudoRandomStream

LARGE = 200 * MIB
MAX_GROWTH = 60 * MIB


def test_the_measurement_would_see_a_regression() -> None:
    # What holding a file in memory would cost.
    assert growth_of_holding_in_a_fresh_process(80 * MIB) > MAX_GROWTH


def test_200_mib_round_trip_keeps_memory_flat(store: EncryptedFileStore) -> None:
    source = PseudoRandomStream(LARGE, seed=2024)
    peak_growth = measure_peak_growth()

    started = time.perf_counter()
    stored = store.write_chunks("exports/large.bin", source)
    written = time.perf_counter()
    md5 = hashlib.md5(usedforsecurity=False)
    sha256 = hashlib.sha256()
    size = 0
    with store.open_reader("exports/large.bin") as reader:
        for chunk in reader:
            md5.update(chunk)
            sha256.update(chunk)
            size += len(chunk)
    read = time.perf_counter()

    growth = peak_growth()
    print(
        f"\n200 MiB round trip: write {LARGE / MIB / (written - started):.0f} MiB/s, "
        f"read {LARGE / MIB / (read - written):.0f} MiB/s, peak RSS growth {growth / MIB:.1f} MiB"
    )
    assert stored.size == size == LARGE
    assert stored.md5 == md5.hexdigest() == source.md5.hexdigest()
    assert stored.sha256 == sha256.hexdigest() == source.sha256.hexdigest()
    assert growth < MAX_GROWTH, f"peak RSS grew by {growth / MIB:.1f} MiB"


def test_a_range_at_the_end_of_a_large_file_streams_too(store: EncryptedFileStore) -> None:
    size = 64 * MIB
    store.write_chunks("k", PseudoRandomStream(size, seed=5))
    peak_growth = measure_peak_growth()
    with store.open_reader("k", size - 10, None) as reader:
        tail = b"".join(reader)
    assert peak_growth() < MAX_GROWTH
    last = b""
    for chunk in PseudoRandomStream(size, seed=5):
        last = (last + chunk)[-10:]
    assert tail == last
