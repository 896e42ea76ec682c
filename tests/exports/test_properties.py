"""Property tests: JSON formats parse back to the input; CSV flattening loses nothing."""

from __future__ import annotations

import csv
import io
import re
from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from opencortex.exports.formats import CSV, JSON, NDJSON, open_format_writer

TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)  # orjson refuses lone surrogates
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | TEXT
)
JSON_VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4),
    max_leaves=12,
)
DOCUMENTS = st.lists(st.dictionaries(TEXT, JSON_VALUES, max_size=6), max_size=8)
BATCH_SIZES = st.integers(1, 4)


def write(media_type: str, documents: list[dict[str, Any]], batch: int) -> bytes:
    writer = open_format_writer(media_type)
    out = [writer.begin()]
    for start in range(0, len(documents), batch):
        out.append(writer.write_documents(documents[start : start + batch]))
    out.extend(writer.finish())
    writer.close()
    assert writer.records == len(documents)
    return b"".join(out)


@settings(deadline=None)
@given(DOCUMENTS, BATCH_SIZES)
def test_ndjson_parses_back(documents: list[dict[str, Any]], batch: int) -> None:
    data = write(NDJSON, documents, batch)
    if not documents:
        assert data == b""
        return
    assert not data.endswith(b"\n")
    assert [orjson.loads(line) for line in data.split(b"\n")] == documents


@settings(deadline=None)
@given(DOCUMENTS, BATCH_SIZES)
def test_json_parses_back(documents: list[dict[str, Any]], batch: int) -> None:
    assert orjson.loads(write(JSON, documents, batch)) == documents


# For the CSV round trip: keys without the path syntax characters (".", "[", "]"), and leaves that
# leave a visible cell (no null or "" - both are empty cells) inside non-empty containers (an
# empty array or document has no leaf, so no column).
KEYS = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters=".[]"), min_size=1, max_size=8
)
LEAVES = (
    st.booleans()
    | st.integers(-(2**63), 2**63)
    | st.floats(allow_nan=False, allow_infinity=False)
    | TEXT.filter(bool)
)
VALUES = st.recursive(
    LEAVES,
    lambda inner: (
        st.lists(inner, min_size=1, max_size=3) | st.dictionaries(KEYS, inner, min_size=1, max_size=3)
    ),
    max_leaves=10,
)
FLAT_DOCUMENTS = st.lists(st.dictionaries(KEYS, VALUES, min_size=1, max_size=5), max_size=6)
_STEP = re.compile(r"\[(\d+)\]|([^.\[\]]+)")


def as_cells(value: Any) -> Any:
    """The document as CSV shows it: every leaf as its cell text."""
    if isinstance(value, dict):
        return {key: as_cells(item) for key, item in value.items()}
    if isinstance(value, list):
        return [as_cells(item) for item in value]
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else orjson.dumps(value).decode()


def unflatten(row: dict[str, str]) -> dict[str, Any]:
    root: dict[Any, Any] = {}
    for path, cell in row.items():
        steps = [int(index) if index else key for index, key in _STEP.findall(path)]
        node = root
        for step in steps[:-1]:
            node = node.setdefault(step, {})
        node[steps[-1]] = cell
    return _lists(root)


def _lists(node: Any) -> Any:
    # Array items were gathered under int keys (columns sort "a[10]" before "a[2]"); order them now.
    if not isinstance(node, dict):
        return node
    if node and all(isinstance(key, int) for key in node):
        return [_lists(node[index]) for index in sorted(node)]
    return {key: _lists(item) for key, item in node.items()}


@settings(deadline=None)
@given(FLAT_DOCUMENTS, BATCH_SIZES)
def test_csv_flattening_is_lossless(documents: list[dict[str, Any]], batch: int) -> None:
    text = write(CSV, documents, batch).decode()
    rows = list(csv.reader(io.StringIO(text, newline="")))
    if not documents:
        assert rows == []
        return
    header, body = rows[0], rows[1:]
    assert len(body) == len(documents)
    for cells, document in zip(body, documents, strict=True):
        present = {column: cell for column, cell in zip(header, cells, strict=True) if cell != ""}
        assert unflatten(present) == as_cells(document)
