"""The CSV writer against a plain reference written from the rules alone (csv_cells' docstring).

The writer compiles the shapes documents share and spills rows laid out under the header known
so far; none of that may show in the bytes. So: documents drawn from a few templates (shared
shapes, arrays of varying lengths, leaves whose types vary: text, null, numbers, booleans) mixed
with arbitrary JSON documents and hostile keys, in batches of every size, with each option, and
with the writer switching between its spill routes after a few documents rather than 64.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any
from unittest import mock

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from opencortex.exports.formats import csv_writer
from opencortex.exports.formats.csv_writer import CsvOptions, CsvWriter

# The reference.

FORMULA = "=+-@\t\r"


def reference(documents: Sequence[Any], options: CsvOptions) -> bytes:
    rows = []
    columns: set[str] = set()
    for document in documents:
        row: dict[str, str] = {}
        for path, value in leaves(document, ""):
            row[path] = cell(value, options.formula_guard)  # a later route to the path wins
        columns.update(row)
        rows.append(row)
    bom = "\ufeff" if options.bom else ""
    if not documents:
        return bom.encode()
    rest = sorted((column for column in columns if column != "_id"), key=lambda c: c.encode("utf-16-be"))
    header = (["_id"] if "_id" in columns else []) + rest
    lines = [",".join(text_cell(name, options.formula_guard) for name in header)]
    lines += [",".join(row.get(name, "") for name in header) for row in rows]
    return (bom + "".join(line + "\n" for line in lines)).encode()


def leaves(value: Any, path: str) -> list[tuple[str, Any]]:
    if isinstance(value, dict):
        return [pair for key, item in value.items() for pair in leaves(item, f"{path}.{key}" if path else str(key))]
    if isinstance(value, list | tuple):
        return [pair for index, item in enumerate(value) for pair in leaves(item, f"{path}[{index}]")]
    return [(path, value)]


def cell(value: Any, guard: bool) -> str:
    if value is None:
        return ""
    if value is True or value is False:
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return orjson.dumps(value).decode() if math.isfinite(value) else ""
    return text_cell(value, guard)


def text_cell(text: str, guard: bool) -> str:
    if guard and text[:1] and text[0] in FORMULA:
        text = "'" + text
    if any(special in text for special in ',"\r\n'):
        return '"' + text.replace('"', '""') + '"'
    return text


def written(documents: Sequence[Any], options: CsvOptions, batches: Sequence[int]) -> bytes:
    writer = CsvWriter(options)
    out = [writer.begin()]
    start = 0
    for size in batches:
        out.append(writer.write_documents(list(documents[start : start + size])))
        start += size
        if start >= len(documents):
            break
    if start < len(documents):
        out.append(writer.write_documents(list(documents[start:])))
    out.extend(writer.finish())
    assert writer.records == len(documents)
    return b"".join(out)


def check(documents: Sequence[Any], options: CsvOptions, batches: Sequence[int], settle: int = 2) -> None:
    with mock.patch.object(csv_writer, "_SETTLE", settle):
        assert written(documents, options, batches) == reference(documents, options)


# Documents.

TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=8)
HOSTILE_TEXT = st.sampled_from(["", "a,b", 'say "x"', "l\nf", "c\rr", "=1+1", "-5", "@x", "\tt", "ünï 😀", "'q"])
KEYS = st.sampled_from(["_id", "a", "b", "a.b", "a[0]", "", "Z", "z", "😀", "\uff21", "=k", "k,1", 'q"', "n\n"]) | TEXT
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(-(2**63), 2**64)
    | st.floats()
    | st.sampled_from([0.0, -0.0, 1e300, 1e21, 1e-7, 0.1, float("nan"), float("inf")])
    | TEXT
    | HOSTILE_TEXT
)
JSON = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(KEYS, inner, max_size=3),
    max_leaves=8,
)

# A template: ("leaf", kinds) | ("doc", {key: template}) | ("array", template, max length).
LEAF_KINDS = st.lists(
    st.sampled_from(["text", "hostile", "null", "int", "float", "bool", "json"]), min_size=1, max_size=3
)
TEMPLATES = st.recursive(
    LEAF_KINDS.map(lambda kinds: ("leaf", tuple(kinds))),
    lambda inner: (
        st.dictionaries(KEYS, inner, max_size=4).map(lambda fields: ("doc", fields))
        | st.tuples(st.just("array"), inner, st.integers(0, 3))
    ),
    max_leaves=10,
)
ROOT_TEMPLATES = st.dictionaries(KEYS, TEMPLATES, min_size=1, max_size=5).map(lambda fields: ("doc", fields))

KIND_VALUES = {
    "text": TEXT,
    "hostile": HOSTILE_TEXT,
    "null": st.none(),
    "int": st.integers(-(2**70), 2**70),
    "float": st.floats(),
    "bool": st.booleans(),
    "json": JSON,
}


@st.composite
def from_template(draw: st.DrawFn, template: tuple[Any, ...]) -> Any:
    if template[0] == "leaf":
        return draw(KIND_VALUES[draw(st.sampled_from(template[1]))])
    if template[0] == "doc":
        fields = template[1]
        present = [key for key in fields if draw(st.integers(0, 9))]  # now and then a key is missing
        return {key: draw(from_template(fields[key])) for key in present}
    return [draw(from_template(template[1])) for _ in range(draw(st.integers(0, template[2])))]


@st.composite
def exports(draw: st.DrawFn) -> list[Any]:
    templates = draw(st.lists(ROOT_TEMPLATES, min_size=1, max_size=3))
    documents = []
    for _ in range(draw(st.integers(0, 40))):
        if draw(st.integers(0, 9)):
            documents.append(draw(from_template(draw(st.sampled_from(templates)))))
        else:
            documents.append(draw(JSON))  # anything at all, a root array or scalar included
    return documents


OPTIONS = st.builds(CsvOptions, bom=st.booleans(), formula_guard=st.booleans())
BATCHES = st.lists(st.integers(1, 12), min_size=1, max_size=6)


@settings(deadline=None, max_examples=300, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(exports(), OPTIONS, BATCHES, st.sampled_from([1, 2, 5, 64]))
def test_the_writer_matches_the_reference(
    documents: list[Any], options: CsvOptions, batches: list[int], settle: int
) -> None:
    check(documents, options, batches, settle)


# The cases the writer takes apart, one by one.


def test_null_and_text_at_one_place_share_a_layout() -> None:
    documents = [
        {"_id": str(n), "a": None if n % 3 else "x,y", "b": [None, n % 2 == 0, "=s"][n % 3]} for n in range(300)
    ]
    for guard in (False, True):
        check(documents, CsvOptions(formula_guard=guard), [100])


def test_an_empty_array_first_then_arrays_of_documents() -> None:
    documents = [{"_id": "0", "v": []}, {"_id": "1", "v": []}]
    documents += [{"_id": str(n), "v": [{"k": n, "t": "x"}] * (n % 4)} for n in range(2, 200)]
    check(documents, CsvOptions(), [50], settle=3)


def test_rows_laid_out_early_are_laid_out_again_under_the_final_header() -> None:
    quoted = 'a "quoted", multi\nline\rcell'
    common = [{"_id": str(n), "m": quoted if n % 5 == 0 else "plain", "n": n} for n in range(300)]
    late = [{"_id": "late", "aaa": "first column", "m": "x", "zzz": {"deep": [1, 2]}}]
    check(common[:200] + late + common[200:], CsvOptions(), [64, 64, 100, 1, 100], settle=8)


def test_documents_whose_shapes_never_repeat() -> None:
    documents = [{"_id": str(n), "data": {f"k{n}": n, f"k{n + 1}": "x"}} for n in range(1500)]
    check(documents, CsvOptions(), [1000])


def test_two_routes_to_one_path_keep_the_later_value() -> None:
    documents = [{"a.b": n, "a": {"b": -n}, "c": [n], "c[0]": "later"} for n in range(100)]
    documents += [{"a": {"b": -n}, "a.b": n, "": {"x": 1}, "x": 2} for n in range(100)]
    check(documents, CsvOptions(), [30])


def test_other_values_and_keys() -> None:
    documents: list[Any] = [{1: "int key", "t": (1, (2, 3)), "big": 2**80, "huge": 10**30 * 1.0} for _ in range(80)]
    documents += [{"d": {"x": n}} if n % 2 else {"d": [n]} for n in range(80)]  # a document or an array under one key
    documents += [["root", "array"], "root text", 5, None, [], {}]
    check(documents, CsvOptions(formula_guard=True, bom=True), [7, 100])


@pytest.mark.parametrize(
    "shape",
    [
        lambda n: {"_id": str(n), "o": {"_id": "x", "object": "account"}, "v": [{"k": n, "t": "x"}] * (n % 3)},
        lambda n: {"_id": str(n), "m": [[n, 1.5], [True]] * (n % 2), "l": [{"tags": ["a"] * (n % 3)}] * (n % 4)},
        lambda n: {"_id": str(n), "t": ["x", n, None][n % 3], "f": [0.1, float("nan"), -0.0][n % 3], "b": n % 2 == 0},
    ],
)
def test_shared_shapes_take_the_compiled_way(shape: Any) -> None:
    # Not the bytes (the tests above see to those) but the speed: the plain walk would give them
    # too, only slower. Documents of a shared shape must not end up walked.
    documents = [shape(n) for n in range(600)]
    writer = CsvWriter()
    for start in range(0, 600, 100):
        writer.write_documents(documents[start : start + 100])
    assert writer._tree.misses <= 2 and writer._tree.hits == 600 - writer._tree.misses
    assert b"".join(writer.finish()) == reference(documents, CsvOptions())


@pytest.mark.parametrize("settle", [1, 64])
def test_text_that_cannot_be_encoded_fails_as_it_did(settle: int) -> None:
    documents = [{"_id": str(n), "t": "x"} for n in range(100)] + [{"_id": "bad", "t": "\ud800"}]
    with mock.patch.object(csv_writer, "_SETTLE", settle), pytest.raises(orjson.JSONEncodeError):
        written(documents, CsvOptions(), [101])
