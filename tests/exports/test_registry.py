"""The format registry: every format's entry holds together (its writer's output is what its own
counter counts), and each format's options and extra entries."""

from __future__ import annotations

import pytest

from opencortex import faults
from opencortex.exports.formats import FORMATS, counter_for, find_format, format_for, open_format_writer
from opencortex.exports.formats.csv_format import CSV_FORMAT, parse_csv_options
from opencortex.exports.formats.csv_writer import CsvOptions
from opencortex.exports.formats.dictionary import DICTIONARY_NAME

from .dataset import FIXTURE
from .odm_support import FIXTURE_CONTEXT


def written(export_format, documents, options=None):
    writer = export_format.open_writer(options, None, FIXTURE_CONTEXT)  # ODM writes metadata from a definition
    chunks = [writer.begin(), writer.write_documents(documents)]
    chunks += writer.finish()
    writer.close()
    return writer, b"".join(chunks)


@pytest.mark.parametrize("export_format", FORMATS, ids=lambda export_format: export_format.extension)
def test_each_format_counts_what_it_writes(export_format):
    for documents in (FIXTURE, FIXTURE[:1], []):
        writer, data = written(export_format, documents)
        assert writer.records == len(documents)
        assert (writer.media_type, writer.extension) == (export_format.media_type, export_format.extension)
        counter = export_format.count_records()
        for start in range(0, len(data), 7):
            counter.feed(data[start:start + 7])
        assert counter.result() == len(documents)


def test_lookups():
    assert len({export_format.media_type for export_format in FORMATS}) == len(FORMATS)
    assert [find_format(media_type) for media_type in ("text/csv", "application/xml", None, 3)] == [
        CSV_FORMAT, None, None, None,
    ]  # fmt: skip
    with pytest.raises(ValueError, match="application/xml"):
        format_for("application/xml")
    with pytest.raises(ValueError):
        open_format_writer("application/xml")
    with pytest.raises(ValueError):
        counter_for("application/xml")


def test_only_csv_takes_encoded_documents_the_long_way():
    assert {export_format.extension: export_format.accepts_encoded for export_format in FORMATS} == {
        "ndjson": True, "json": True, "csv": False, "xml": False,
    }  # fmt: skip


@pytest.mark.parametrize(("value", "path"), [
    ("yes", "csv"), ({"bogus": True}, "csv"), ({"bom": "yes"}, "csv.bom"), ({"dictionary": 1}, "csv.dictionary"),
])  # fmt: skip
def test_csv_options_are_checked(value, path):
    with pytest.raises(faults.Fault) as raised:
        parse_csv_options(value, True)
    assert raised.value.path == path


def test_csv_options():
    assert parse_csv_options(None, True) == CsvOptions()
    assert parse_csv_options({"formulaGuard": True, "dictionary": True}, True) == CsvOptions(
        formula_guard=True, dictionary=True
    )
    assert parse_csv_options(None, False) == CsvOptions()  # not given: nothing to refuse
    with pytest.raises(faults.Fault, match="need format text/csv") as raised:
        parse_csv_options({"bom": True}, False)
    assert raised.value.path == "csv"


def test_the_csv_dictionary_is_an_extra_entry_when_asked_for():
    def describe(column):
        return ("Number", "Score") if column == "c_score" else None

    asked = CsvOptions(dictionary=True)
    writer, _data = written(CSV_FORMAT, FIXTURE[:1], asked)
    [entry] = CSV_FORMAT.extra_entries(writer, asked, describe)
    assert (entry.name, entry.kind) == (DICTIONARY_NAME, "dictionary")
    lines = entry.content.decode().splitlines()
    assert lines[0] == "column,type,label" and "c_score,Number,Score" in lines and len(lines) == 1 + len(
        writer.columns or []
    )
    assert CSV_FORMAT.extra_entries(writer, CsvOptions(), describe) == []
    for other in FORMATS:
        if other is not CSV_FORMAT:
            writer, _data = written(other, FIXTURE[:1])
            assert other.extra_entries(writer, None, describe) == []
