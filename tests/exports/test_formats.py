"""The three formats, byte for byte, as Cortex lays them out."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import orjson
import pytest

from opencortex.exports.formats import CSV, JSON, NDJSON, FormatWriter, open_format_writer
from opencortex.exports.formats.csv_writer import CsvOptions

from .dataset import FIXTURE

LINE_1 = (
    r'{"_id":"65f0c0ffee0000000000aa01","object":"c_patient","created":"2024-04-01T12:00:00.512Z",'
    r'"c_name":{"first":"Ada","last":"Lovelace"},"c_tags":["a","b"],'
    r'"c_visits":[{"c_day":1,"c_ok":true},{"c_day":2,"c_ok":false,"c_note":null}],'
    r'"c_score":-12.5,"c_big":9007199254740993,"c_empty":"","c_none":[],"c_blank":{},"c_null":null}'
)
LINE_2 = (
    r'{"_id":"65f0c0ffee0000000000aa02","object":"c_patient","created":"2024-04-02T08:30:00.000Z",'
    r'"c_name":{"first":"Zoë 😀","last":"שלום עולם"},"c_note":"He said \"hi\", then left\nnext line",'
    r'"c_ratio":0.1,"c_tiny":1e-7,"c_tags":["=1+1","-5","@x"],"c_score":3,"c_flags":[true,null,2]}'
)
LINE_3 = (
    r'{"_id":"65f0c0ffee0000000000aa03","object":"c_patient","c_matrix":[[1,2],[3]],'
    r'"c_name":{"first":"\tindent","last":"cr\rin"}}'
)

NDJSON_BYTES = (LINE_1 + "\n" + LINE_2 + "\n" + LINE_3).encode()
JSON_BYTES = ("[\n" + LINE_1 + ",\n" + LINE_2 + ",\n" + LINE_3 + "\n]").encode()

CSV_HEADER = (
    "_id,c_big,c_empty,c_flags[0],c_flags[1],c_flags[2],c_matrix[0][0],c_matrix[0][1],c_matrix[1][0],"
    "c_name.first,c_name.last,c_note,c_null,c_ratio,c_score,c_tags[0],c_tags[1],c_tags[2],c_tiny,"
    "c_visits[0].c_day,c_visits[0].c_ok,c_visits[1].c_day,c_visits[1].c_note,c_visits[1].c_ok,created,object\n"
)
CSV_ROW_1 = (
    "65f0c0ffee0000000000aa01,9007199254740993,,,,,,,,Ada,Lovelace,,,,-12.5,a,b,,,"
    "1,true,2,,false,2024-04-01T12:00:00.512Z,c_patient\n"
)
CSV_ROW_2 = (
    '65f0c0ffee0000000000aa02,,,true,,2,,,,Zoë 😀,שלום עולם,"He said ""hi"", then left\nnext line",,'
    "0.1,3,=1+1,-5,@x,1e-7,,,,,,2024-04-02T08:30:00.000Z,c_patient\n"
)
CSV_ROW_3 = '65f0c0ffee0000000000aa03,,,,,,1,2,3,\tindent,"cr\rin",,,,,,,,,,,,,,,c_patient\n'
CSV_BYTES = (CSV_HEADER + CSV_ROW_1 + CSV_ROW_2 + CSV_ROW_3).encode()


def run(writer: FormatWriter, batches: Iterable[Sequence[Any]], *, encoded: bool = False) -> bytes:
    try:
        out = [writer.begin()]
        for batch in batches:
            out.append(writer.write_encoded(batch) if encoded else writer.write_documents(batch))
        out.extend(writer.finish())
        return b"".join(out)
    finally:
        writer.close()


@pytest.mark.parametrize(
    ("media_type", "expected"), [(NDJSON, NDJSON_BYTES), (JSON, JSON_BYTES), (CSV, CSV_BYTES)]
)
def test_fixture_bytes(media_type: str, expected: bytes) -> None:
    writer = open_format_writer(media_type)
    assert run(writer, [FIXTURE]) == expected
    assert writer.records == 3


@pytest.mark.parametrize("media_type", [NDJSON, JSON, CSV])
def test_batching_does_not_change_the_bytes(media_type: str) -> None:
    whole = run(open_format_writer(media_type), [FIXTURE])
    one_by_one = run(open_format_writer(media_type), [[], FIXTURE[:1], [], FIXTURE[1:2], FIXTURE[2:], []])
    assert one_by_one == whole


@pytest.mark.parametrize(("media_type", "expected"), [(NDJSON, b""), (JSON, b"[]"), (CSV, b"")])
def test_empty_export(media_type: str, expected: bytes) -> None:
    writer = open_format_writer(media_type)
    assert run(writer, []) == expected
    assert writer.records == 0
    assert run(open_format_writer(media_type), [[], []]) == expected


def test_single_document_layouts() -> None:
    document = [{"_id": "x"}]
    assert run(open_format_writer(NDJSON), [document]) == b'{"_id":"x"}'
    assert run(open_format_writer(JSON), [document]) == b'[\n{"_id":"x"}\n]'
    assert run(open_format_writer(CSV), [document]) == b"_id\nx\n"


@pytest.mark.parametrize(
    ("media_type", "expected"), [(NDJSON, NDJSON_BYTES), (JSON, JSON_BYTES), (CSV, CSV_BYTES)]
)
def test_pre_encoded_documents_give_the_same_bytes(media_type: str, expected: bytes) -> None:
    raw = [orjson.dumps(document) for document in FIXTURE]
    assert run(open_format_writer(media_type), [raw[:2], raw[2:]], encoded=True) == expected


@pytest.mark.parametrize("media_type", [NDJSON, JSON])
def test_pre_encoded_json_passes_through_untouched(media_type: str) -> None:
    # Text straight from the database is not re-encoded: spacing and key order are kept.
    raw = b'{"b": 1, "a": "x"}'
    out = run(open_format_writer(media_type), [[raw]], encoded=True)
    assert raw in out


def test_pre_encoded_json_over_several_lines_is_made_one_line() -> None:
    raw = b'{\n  "_id": "x",\r\n  "n": "a\\nb"\n}'
    assert run(open_format_writer(NDJSON), [[raw, b'{"_id":"y"}']], encoded=True) == (
        b'{"_id":"x","n":"a\\nb"}\n{"_id":"y"}'
    )


def test_csv_options_are_off_by_default_and_change_only_what_they_say() -> None:
    guarded = run(open_format_writer(CSV, csv_options=CsvOptions(bom=True, formula_guard=True)), [FIXTURE])
    expected = (
        CSV_HEADER
        + CSV_ROW_1
        + CSV_ROW_2.replace("=1+1,-5,@x", "'=1+1,'-5,'@x")
        + CSV_ROW_3.replace("\tindent", "'\tindent")
    )
    assert guarded == b"\xef\xbb\xbf" + expected.encode()


def test_unknown_format_is_refused() -> None:
    with pytest.raises(ValueError, match="not an export format"):
        open_format_writer("application/xml")
