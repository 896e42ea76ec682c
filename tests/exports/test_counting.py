"""Streaming record counters: the same answer whatever the chunk boundaries."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from opencortex.exports.counting import (
    CsvCounter,
    JsonArrayCounter,
    NdjsonCounter,
    RecordCountError,
)
from opencortex.exports.formats import counter_for

Counter = NdjsonCounter | JsonArrayCounter | CsvCounter


def count(counter: Counter, data: bytes, step: int) -> int:
    for start in range(0, len(data), step):
        counter.feed(data[start : start + step])
    return counter.result()


def all_splits(kind: Callable[[], Counter], data: bytes) -> set[int]:
    return {count(kind(), data, step) for step in (1, 2, 3, 7, len(data) or 1)}


# The JSON counter reduces whole lines; past ``max_line`` bytes without a line break it scans
# byte by byte instead. Both must agree, so every JSON case runs both ways.
JSON_COUNTERS = [JsonArrayCounter, lambda: JsonArrayCounter(max_line=4)]


@pytest.mark.parametrize(
    ("data", "records"),
    [
        (b"", 0),
        (b'{"a":1}', 1),
        (b'{"a":1}\n{"a":2}', 2),
        (b'{"a":1}\n{"a":2}\n', 2),  # a trailing newline is not a record
        (b'{"a":1}\n\n  \n{"a":"x\\ny"}\n', 2),
    ],
)
def test_ndjson(data: bytes, records: int) -> None:
    assert all_splits(NdjsonCounter, data) == {records}


@pytest.mark.parametrize(
    ("data", "records"),
    [
        (b"[]", 0),
        (b" [ \n ] \n", 0),
        (b'[\n{"a":1}\n]', 1),
        (b"[1,2.5,-3,true,null]", 5),
        (b'[\n{"a":[1,2,{"b":[3,4]}],"c":{"d":","}},\n{"s":"],[,{\\"\\\\"},\n[[],[]]\n]', 3),
        (b'["\\\\",",",""]', 3),
        (b'["a\\\\", "b\\\\\\"]", "c"]', 3),  # an escaped backslash, then one before a quote
        (b'[\n  {\n    "a": [\n      1,\n      2\n    ]\n  },\n  {"b": {}}\n]\n', 2),  # indented
        ('[{"emoji":"😀,שלום"}]'.encode(), 1),
    ],
)
@pytest.mark.parametrize("kind", JSON_COUNTERS, ids=["lines", "scanner"])
def test_json_array(data: bytes, records: int, kind: Callable[[], JsonArrayCounter]) -> None:
    assert all_splits(kind, data) == {records}


@pytest.mark.parametrize(
    "data", [b"", b"[", b'[{"a":1}', b'["abc', b'["abc]\n', b'{"a":1}', b"[1]x", b"[1][2]", b"1", b"[1]\n[2]"]
)
@pytest.mark.parametrize("kind", JSON_COUNTERS, ids=["lines", "scanner"])
def test_json_that_is_not_one_array_is_reported(data: bytes, kind: Callable[[], JsonArrayCounter]) -> None:
    for step in (1, 3, len(data) or 1):
        counter = kind()
        with pytest.raises(RecordCountError):
            count(counter, data, step)


@pytest.mark.parametrize(
    ("data", "records"),
    [
        (b"", 0),
        (b"\xef\xbb\xbf", 0),
        (b"_id,a\n", 0),
        (b"_id,a\n1,2\n", 1),
        (b"_id,a\n1,2", 1),  # no final line break
        (b'\xef\xbb\xbf_id,a\n1,"x\ny"\n2,"say ""hi"",\r\nok"\n3,\n', 3),
        ('_id,a\n1,"😀\nשלום"\n'.encode(), 1),
        (b"\n\n", 1),  # documents without any column still make rows
    ],
)
def test_csv(data: bytes, records: int) -> None:
    assert all_splits(CsvCounter, data) == {records}


def test_csv_problems_are_reported() -> None:
    with pytest.raises(RecordCountError, match="quoted cell"):
        count(CsvCounter(), b'_id\n"open\n', 4)
    with pytest.raises(RecordCountError, match="UTF-8"):
        count(CsvCounter(), b"_id\n\xff\xfe\n", 4)


def test_counter_for() -> None:
    assert isinstance(counter_for("text/csv"), CsvCounter)
    with pytest.raises(ValueError):
        counter_for("application/xml")
