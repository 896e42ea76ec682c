"""Streams, not lists: memory stays flat however many documents go through format + zip."""

from __future__ import annotations

import itertools
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from opencortex.exports.archive import ZipStreamWriter
from opencortex.exports.formats import CSV, NDJSON, open_format_writer
from opencortex.exports.verify import verify_archive
from tests.support.memory import growth_of_holding_in_a_fresh_process, measure_peak_growth

from .building import build_archive
from .dataset import realistic_documents

MIB = 1024 * 1024
MAX_GROWTH = 30 * MIB


class DiscardingSink:
    def __init__(self) -> None:
        self.size = 0

    def write(self, data: bytes) -> None:
        self.size += len(data)


def batches(documents: Iterator[dict[str, Any]], size: int = 1000) -> Iterator[list[dict[str, Any]]]:
    while batch := list(itertools.islice(documents, size)):
        yield batch


def export(media_type: str, count: int) -> tuple[int, int, int]:
    sink = DiscardingSink()
    archive = ZipStreamWriter(sink)
    writer = open_format_writer(media_type)
    entry = archive.open_entry(f"export.{writer.extension}")
    entry.write(writer.begin())
    for batch in batches(realistic_documents(count)):
        entry.write(writer.write_documents(batch))
    for chunk in writer.finish():
        entry.write(chunk)
    info = entry.close()
    archive.close()
    return writer.records, info.size, sink.size


def test_the_measurement_would_see_a_regression() -> None:
    # What holding ~60k documents in memory would cost.
    assert growth_of_holding_in_a_fresh_process(2 * MAX_GROWTH) > MAX_GROWTH


def test_200k_documents_through_ndjson_and_zip_keep_memory_flat() -> None:
    peak_growth = measure_peak_growth()
    records, size, archived = export(NDJSON, 200_000)
    growth = peak_growth()
    assert records == 200_000
    assert size > 190 * MIB  # ~1 KB a document went through
    assert archived < size // 3  # and was compressed
    assert growth < MAX_GROWTH, f"peak RSS grew by {growth / MIB:.1f} MiB"


def test_csv_holds_columns_not_documents() -> None:
    peak_growth = measure_peak_growth()
    records, size, _archived = export(CSV, 60_000)  # ~60 MB of documents, spilled to disk
    growth = peak_growth()
    assert records == 60_000 and size > 25 * MIB  # CSV names each column once, not per document
    assert growth < MAX_GROWTH, f"peak RSS grew by {growth / MIB:.1f} MiB"


def test_verify_streams_too(tmp_path: Path) -> None:
    path = tmp_path / "export.zip"
    build_archive(path, list(realistic_documents(40_000)), NDJSON)
    with zipfile.ZipFile(path) as read:
        assert read.infolist()[0].file_size > 35 * MIB
    peak_growth = measure_peak_growth()
    report = verify_archive(path)
    growth = peak_growth()
    assert report.ok and report.records == 40_000
    assert growth < 10 * MIB, f"peak RSS grew by {growth / MIB:.1f} MiB"
