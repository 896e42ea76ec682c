"""A file many parts long goes to S3 and back in flat memory: the writer holds one part, the reader
one segment, whatever the size (measured with tracemalloc, the test process's own allocations;
the S3 server runs in a process of its own)."""

from __future__ import annotations

import hashlib
import tracemalloc
from collections.abc import Callable, Iterator

import pytest

from opencortex.files import open_file_store
from opencortex.keys import MasterKey
from opencortex.settings import Settings
from tests.support.s3 import BUCKET, S3Server

from .conftest import MIB, PseudoRandomStream

PART = 5 * MIB
SIZE = 48 * MIB  # ten parts


@pytest.fixture
def tracing() -> Iterator[None]:
    tracemalloc.start()
    yield
    tracemalloc.stop()


def measure_peak() -> Callable[[], int]:
    """Start measuring; the returned function gives the peak of traced memory above the start."""
    tracemalloc.reset_peak()
    baseline = tracemalloc.get_traced_memory()[0]
    return lambda: tracemalloc.get_traced_memory()[1] - baseline


def test_a_multipart_upload_and_its_download_keep_memory_flat(
    s3_settings: Settings, master_key: MasterKey, s3_server: S3Server, s3_location: str, tracing: None
) -> None:
    store = open_file_store(s3_settings.with_changes(s3_part_size=PART), master_key)
    source = PseudoRandomStream(SIZE, seed=11)
    write_peak = measure_peak()
    stored = store.write_chunks("exports/e1/1/archive.zip", source)
    write_growth = write_peak()

    read_peak = measure_peak()
    digest, size = hashlib.sha256(), 0
    with store.open_reader("exports/e1/1/archive.zip") as reader:
        for chunk in reader:
            digest.update(chunk)
            size += len(chunk)
    read_growth = read_peak()

    print(f"\n{SIZE // MIB} MiB through S3: peak growth writing {write_growth / MIB:.1f} MiB, "
          f"reading {read_growth / MIB:.1f} MiB")
    assert stored.size == size == SIZE and stored.sha256 == digest.hexdigest() == source.sha256.hexdigest()
    # The measurement sees the part the writer fills (so it would see it hold more), and nothing
    # near the file: a part, the chunk that overfills it, Tink's segment and the source's chunk.
    assert PART < write_growth < PART + 6 * MIB, f"writing grew by {write_growth / MIB:.1f} MiB"
    assert read_growth < 5 * MIB, f"reading grew by {read_growth / MIB:.1f} MiB"
    object_key = s3_location.removeprefix(f"s3://{BUCKET}/") + "/exports/e1/1/archive.zip"
    etag = s3_server.client.head_object(Bucket=BUCKET, Key=object_key)["ETag"]
    assert etag.strip('"').endswith("-10")  # a multipart object of ten parts
