"""``maxEntryBytes``: the data entry cut into numbered parts, each a valid file of its format, each
at most the limit, together holding every record once, in order."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from opencortex.exports.archive import ZipStreamWriter
from opencortex.exports.data_entries import open_data_entries
from opencortex.exports.formats import CSV, JSON, NDJSON, ODM, format_for
from opencortex.exports.formats.csv_writer import CsvOptions
from opencortex.exports.jobs import ExportParameters
from opencortex.exports.manifest import build_manifest, encode_manifest
from opencortex.exports.naming import MANIFEST_NAME, data_part_name
from opencortex.exports.verify import verify_archive

from .dataset import FIXTURE, realistic_documents
from .odm_support import FIXTURE_CONTEXT, assert_valid_odm

CREATED = datetime(2024, 4, 1, 12, 0, 0, 512000, tzinfo=UTC)
FORMATS = [NDJSON, JSON, CSV, ODM]


def write_parts(path: Path, media_type: str, documents: list[dict[str, Any]], max_bytes: int, *,
                batch: int = 7, encoded: bool = False, options: Any = None) -> dict[str, Any]:
    """An archive whose data entry is cut into parts of ``max_bytes``, with its manifest."""
    export_format = format_for(media_type)
    with path.open("wb") as sink:
        archive = ZipStreamWriter(sink)
        writer = export_format.open_writer(options, None, FIXTURE_CONTEXT)
        output = open_data_entries(archive, writer, CREATED, media_type, max_bytes)
        output.begin()
        for start in range(0, len(documents), batch):
            chunk = documents[start:start + batch]
            if encoded:
                output.write_encoded([orjson.dumps(document) for document in chunk])
            else:
                output.write_documents(chunk)
        for _ in output.finish():
            pass
        entries = output.close()
        writer.close()
        parameters = ExportParameters(objects="c_patients", object="c_patient", format=export_format,
                                      max_entry_bytes=max_bytes)
        manifest = build_manifest(parameters, entries, as_of=CREATED, export_id="65f0c0ffee0000000000ee01",
                                  created=CREATED)
        archive.write_entry(MANIFEST_NAME, [encode_manifest(manifest)])
        archive.close()
    return manifest


def records_of(media_type: str, data: bytes) -> list[Any]:
    """The records of one part, read by an ordinary parser of the format (each part must parse alone)."""
    if media_type == NDJSON:
        return [json.loads(line) for line in data.decode().split("\n") if line]
    if media_type == JSON:
        return json.loads(data)
    if media_type == CSV:
        rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))
        return [dict(zip(rows[0], row, strict=True)) for row in rows[1:]]
    assert_valid_odm(data)
    return data.decode().split("<SubjectData ")[1:]


def many(count: int) -> list[dict[str, Any]]:
    documents = []
    for number, document in enumerate(realistic_documents(count)):
        document["c_score"] = number
        documents.append(document)
    return documents


@pytest.mark.parametrize("media_type", FORMATS)
def test_each_part_is_a_file_of_its_format_within_the_limit(tmp_path, media_type):
    documents = many(300)
    limit = 40_000
    path = tmp_path / "archive.zip"
    manifest = write_parts(path, media_type, documents, limit)
    parts = [entry for entry in manifest["entries"] if entry["kind"] == "data"]
    assert len(parts) > 3
    assert [entry["name"] for entry in parts] == [data_part_name(CREATED, media_type, n)
                                                  for n in range(1, len(parts) + 1)]
    assert parts[0]["name"].endswith(".part-0001." + format_for(media_type).extension)
    assert [entry["part"] for entry in parts] == list(range(1, len(parts) + 1))
    assert sum(entry["records"] for entry in parts) == manifest["totals"]["records"] == 300
    with zipfile.ZipFile(path) as archive:
        seen = []
        for entry in parts:
            data = archive.read(entry["name"])
            assert 0 < len(data) <= limit
            records = records_of(media_type, data)
            assert len(records) == entry["records"] > 0
            seen += records
    if media_type in (NDJSON, JSON):
        assert seen == documents  # every record once, in order
    elif media_type == CSV:
        assert [int(row["c_score"]) for row in seen] == list(range(300))
    assert verify_archive(path).ok


@pytest.mark.parametrize("media_type", FORMATS)
def test_the_fast_path_is_cut_the_same_way(tmp_path, media_type):
    documents = many(120)
    plain = write_parts(tmp_path / "plain.zip", media_type, documents, 25_000)
    encoded = write_parts(tmp_path / "encoded.zip", media_type, documents, 25_000, encoded=True)
    if media_type != ODM:  # ODM files carry the time they were made
        assert [entry["sha256"] for entry in plain["entries"]] == [entry["sha256"] for entry in encoded["entries"]]
    assert [entry["records"] for entry in plain["entries"]] == [entry["records"] for entry in encoded["entries"]]


def test_csv_parts_each_have_the_whole_header(tmp_path):
    # A column that only appears late must be in the header of the first part too: parts are cut
    # once the header is known.
    documents = many(200)
    documents[-1]["c_late"] = "only here"
    options = CsvOptions(bom=True, formula_guard=True)
    path = tmp_path / "archive.zip"
    manifest = write_parts(path, CSV, documents, 30_000, options=options)
    with zipfile.ZipFile(path) as archive:
        headers = set()
        for entry in manifest["entries"]:
            data = archive.read(entry["name"])
            assert data.startswith(b"\xef\xbb\xbf")
            headers.add(data.decode("utf-8-sig").split("\n", 1)[0])
    assert len(headers) == 1 and "c_late" in headers.pop()
    assert verify_archive(path).ok


def test_a_record_longer_than_the_limit_gets_a_part_of_its_own(tmp_path):
    documents = [{"_id": f"65f0c0ffee00000000000{n:03d}", "c_text": "x" * size}
                 for n, size in enumerate([10, 5_000, 10, 10])]
    path = tmp_path / "archive.zip"
    manifest = write_parts(path, NDJSON, documents, 1_000, batch=1)
    assert [(entry["records"], entry["size"] > 1_000) for entry in manifest["entries"]] == [
        (1, False), (1, True), (2, False)]
    assert verify_archive(path).ok


@pytest.mark.parametrize(("media_type", "content"), [
    (NDJSON, b""), (JSON, b"[]"), (CSV, b""),
])
def test_an_export_without_documents_has_one_empty_part(tmp_path, media_type, content):
    path = tmp_path / "archive.zip"
    manifest = write_parts(path, media_type, [], 1_000)
    [entry] = manifest["entries"]
    assert entry["name"] == data_part_name(CREATED, media_type, 1) and entry["records"] == 0
    with zipfile.ZipFile(path) as archive:
        assert archive.read(entry["name"]) == content
    assert verify_archive(path).ok


def test_an_odm_export_without_documents_is_one_valid_document(tmp_path):
    path = tmp_path / "archive.zip"
    manifest = write_parts(path, ODM, [], 1_000)
    with zipfile.ZipFile(path) as archive:
        data = archive.read(manifest["entries"][0]["name"])
    assert_valid_odm(data)
    assert b"<SubjectData" not in data and verify_archive(path).ok


def test_parts_fit_exactly_at_the_limit(tmp_path):
    # Three 9-byte records joined by "\n": 29 bytes fit a limit of 29 exactly, not one of 28.
    documents = [{"_id": "abcd"}] * 3  # {"_id":"abcd"} is 14 bytes
    at_limit = write_parts(tmp_path / "a.zip", NDJSON, documents, 14 * 3 + 2, batch=3)
    below = write_parts(tmp_path / "b.zip", NDJSON, documents, 14 * 3 + 1, batch=3)
    assert [entry["records"] for entry in at_limit["entries"]] == [3]
    assert [entry["records"] for entry in below["entries"]] == [2, 1]


def test_verify_notices_a_part_that_lost_records(tmp_path):
    path = tmp_path / "archive.zip"
    manifest = write_parts(path, JSON, FIXTURE * 20, 2_000)
    second = manifest["entries"][1]["name"]
    tampered = tmp_path / "tampered.zip"
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(tampered, "w") as target:
        for info in source.infolist():
            data = source.read(info.filename)
            if info.filename == second:
                data = json.dumps(json.loads(data)[:-1]).encode()
            target.writestr(info.filename, data)
    problems = {(problem.entry, problem.code) for problem in verify_archive(tampered).problems}
    assert (second, "records") in problems and (second, "sha256") in problems


def rewrite_manifest(path: Path, target: Path, change: Any) -> None:
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(target, "w") as archive:
        for info in source.infolist():
            data = source.read(info.filename)
            if info.filename == MANIFEST_NAME:
                manifest = json.loads(data)
                change(manifest)
                data = json.dumps(manifest).encode()
            archive.writestr(info.filename, data)


def test_verify_checks_the_numbering_of_parts(tmp_path):
    path = tmp_path / "archive.zip"
    write_parts(path, NDJSON, FIXTURE * 20, 1_000)
    renumbered = tmp_path / "renumbered.zip"
    rewrite_manifest(path, renumbered, lambda manifest: manifest["entries"][1].update(part=7))
    assert [problem.code for problem in verify_archive(renumbered).problems] == ["parts"]
