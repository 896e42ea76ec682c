"""CSV flattening, column order, quoting, the opt-in guards and the data dictionary."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from opencortex.exports.formats.csv_cells import flatten, header_order
from opencortex.exports.formats.csv_writer import CsvOptions, CsvWriter
from opencortex.exports.formats.dictionary import write_dictionary


def csv_of(documents: list[dict[str, Any]], options: CsvOptions | None = None) -> str:
    writer = CsvWriter(options)
    writer.write_documents(documents)
    return b"".join(writer.finish()).decode()


def paths(document: Any) -> list[str]:
    return [path for path, _cell in flatten(document)]


def test_flattening_paths() -> None:
    document = {
        "name": {"first": "a", "inner": {"deep": 1}},
        "roles": ["x", "y"],
        "c_list": [{"c_x": 1}, {"c_x": 2, "c_y": [True]}],
        "grid": [[1], [2, 3]],
        "nothing": None,
        "no_items": [],
        "no_keys": {},
        "holder": {"empty": [], "also": {}},
    }
    assert paths(document) == [
        "name.first",
        "name.inner.deep",
        "roles[0]",
        "roles[1]",
        "c_list[0].c_x",
        "c_list[1].c_x",
        "c_list[1].c_y[0]",
        "grid[0][0]",
        "grid[1][0]",
        "grid[1][1]",
        "nothing",  # null is a leaf and makes a column; empty arrays and documents do not
    ]


def test_a_root_level_array_starts_with_an_index() -> None:
    assert paths([{"a": 1}, 2]) == ["[0].a", "[1]"]


def test_header_is_id_then_the_rest_in_javascript_sort_order() -> None:
    # JavaScript compares UTF-16 code units: U+1F600 (D83D DE00) sorts before U+FF21, although
    # its code point is larger; and "Z" < "_" < "a" as in ASCII.
    columns = ["b", "\uff21", "_id", "a", "😀", "Z", "_x", "a.b", "a[0]"]
    assert header_order(columns) == ["_id", "Z", "_x", "a", "a.b", "a[0]", "b", "😀", "\uff21"]
    assert header_order(["b", "a"]) == ["a", "b"]  # no _id column unless a document has one


def test_columns_are_the_union_of_every_document() -> None:
    text = csv_of([{"_id": "1", "b": 1}, {"_id": "2", "a": {"x": None}}, {"c": [1, 2]}])
    assert text == "_id,a.x,b,c[0],c[1]\n1,,1,,\n2,,,,\n,,,1,2\n"


def test_cell_values() -> None:
    document = {
        "_id": "i",
        "big": 2**70,
        "negative": -3,
        "float": 2.5,
        "huge": 1e21,
        "zero": -0.0,
        "nan": float("nan"),
        "yes": True,
        "no": False,
        "null": None,
        "empty": "",
        "date": "2024-04-01T12:00:00.000Z",
    }
    assert csv_of([document]) == (
        "_id,big,date,empty,float,huge,nan,negative,no,null,yes,zero\n"
        "i,1180591620717411303424,2024-04-01T12:00:00.000Z,,2.5,1e+21,,-3,false,,true,-0.0\n"
    )


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        ("plain", "plain"),
        ("with space ", "with space "),
        ("semi;colon\ttab", "semi;colon\ttab"),
        ("a,b", '"a,b"'),
        ('say "x"', '"say ""x"""'),
        ("line\nbreak", '"line\nbreak"'),
        ("carriage\rreturn", '"carriage\rreturn"'),
        ('"', '""""'),
        ("ünï 😀 שלום", "ünï 😀 שלום"),
    ],
)
def test_quoting_is_rfc_4180(value: str, cell: str) -> None:
    assert csv_of([{"v": value}]) == f"v\n{cell}\n"


@pytest.mark.parametrize("start", ["=", "+", "-", "@", "\t", "\r"])
def test_formula_guard_prefixes_every_dangerous_start(start: str) -> None:
    cell = f"{start}SUM(A1)"
    guarded, unguarded = f"'{cell}", cell
    if start == "\r":  # a CR still needs quotes
        guarded, unguarded = f'"{guarded}"', f'"{unguarded}"'
    assert csv_of([{"v": cell}], CsvOptions(formula_guard=True)) == f"v\n{guarded}\n"
    assert csv_of([{"v": cell}]) == f"v\n{unguarded}\n"


def test_formula_guard_leaves_numbers_and_safe_text_alone() -> None:
    text = csv_of(
        [{"n": -5, "f": -0.5, "s": "safe", "m": "a=b", "q": "'quoted"}], CsvOptions(formula_guard=True)
    )
    assert text == "f,m,n,q,s\n-0.5,a=b,-5,'quoted,safe\n"


def test_formula_guard_applies_to_header_names() -> None:
    assert csv_of([{"=cmd": 1}], CsvOptions(formula_guard=True)) == "'=cmd\n1\n"


def test_bom_comes_first_even_when_empty() -> None:
    writer = CsvWriter(CsvOptions(bom=True))
    assert b"".join(writer.finish()) == b"\xef\xbb\xbf"


def test_columns_are_known_after_finish() -> None:
    writer = CsvWriter()
    writer.write_documents([{"b": 1, "_id": "x"}])
    assert writer.columns is None
    b"".join(writer.finish())
    assert writer.columns == ["_id", "b"]


def test_spill_file_is_never_visible_and_is_released(tmp_path: Path) -> None:
    writer = CsvWriter(spill_dir=tmp_path)
    writer.write_documents([{"_id": str(number)} for number in range(1000)])
    assert os.listdir(tmp_path) == []  # anonymous: a crash cannot leave data behind
    chunks = writer.finish()
    next(chunks)
    writer.close()  # abandoning halfway releases the spill file
    assert writer._spill is None
    writer.close()  # and closing twice is harmless


def test_write_encoded_parses_for_csv() -> None:
    writer = CsvWriter()
    writer.write_encoded([b'{"_id":"x","a":{"b":[1]}}'])
    assert b"".join(writer.finish()) == b"_id,a.b[0]\nx,1\n"


def test_data_dictionary() -> None:
    lookup = {"_id": ("ObjectId", "Id"), "c_name.first": ("String", "First name, given")}
    assert write_dictionary(["_id", "c_name.first", "c_other"], lookup) == (
        b'column,type,label\n_id,ObjectId,Id\nc_name.first,String,"First name, given"\nc_other,,\n'
    )
    guarded = write_dictionary(
        ["c_x"], lambda column: ("String", "=label"), CsvOptions(bom=True, formula_guard=True)
    )
    assert guarded == b"\xef\xbb\xbfcolumn,type,label\nc_x,String,'=label\n"
