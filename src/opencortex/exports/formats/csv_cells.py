"""CSV flattening and cell text: the rules Cortex's CSV export follows, plus an opt-in guard.

Flattening (Cortex): walk the document; object keys join with ``.`` (``name.first``), array items
append ``[i]`` (``roles[0]``, ``c_list[1].c_x``; a root-level array is ``[0]``). Every *leaf*
reached that way is a column, ``null`` included. An empty array or empty document has no leaf,
so it adds no column and leaves no trace in the row (as in Cortex). Two routes to the same path
(a key ``"a.b"`` beside ``{"a": {"b": …}}``) share one column; the later value wins.

Cell text: strings as they are; numbers as the JSON output writes them; ``true``/``false``;
``null`` as an empty cell. Quoting follows RFC 4180: a cell containing ``,``, ``"``, CR or LF is
wrapped in double quotes, with inner quotes doubled; nothing else is quoted.
"""

from __future__ import annotations

import math
import re
from typing import Any

import orjson

# The OWASP CSV-injection rule: spreadsheet programs evaluate a cell starting with one of these.
FORMULA_STARTS = frozenset("=+-@\t\r")
_NEEDS_QUOTES = re.compile(r'[,"\r\n]')


class _Node:
    """One path. Documents share most of their shape, so each path string is built once, when
    first seen, and later documents only follow ``fields``/``items`` links to reach it."""

    __slots__ = ("path", "column", "fields", "items")

    def __init__(self, path: str) -> None:
        self.path = path
        self.column = -1  # numbered when first reached as a leaf
        self.fields: dict[Any, _Node] = {}
        self.items: list[_Node] = []


class ColumnTree:
    """Flattens documents into ``[column, cell, column, cell, ...]`` records, numbering each
    distinct path in first-seen order. Its size is the number of distinct paths, never the
    number of documents."""

    def __init__(self, formula_guard: bool = False) -> None:
        self.paths: list[str] = []
        """Column number -> path."""
        self._numbers: dict[str, int] = {}
        self._root = _Node("")
        self._guard = formula_guard

    def record(self, document: Any) -> list[int | str]:
        cells: list[int | str] = []
        if isinstance(document, dict | list | tuple):
            self._walk(document, self._root, cells)
        else:
            cells += [self._number(self._root), self._cell(document)]
        return cells

    def _walk(
        self, value: dict[Any, Any] | list[Any] | tuple[Any, ...], node: _Node, cells: list[int | str]
    ) -> None:
        guard = self._guard
        is_document = isinstance(value, dict)
        for key, item in value.items() if is_document else enumerate(value):  # type: ignore[union-attr]
            if is_document:
                child = node.fields.get(key)
                if child is None:
                    child = node.fields[key] = _Node(f"{node.path}.{key}" if node.path else str(key))
            else:
                child = _item(node, key)
            kind = type(item)
            if kind is str:  # the common case first, inline
                if guard and item and item[0] in FORMULA_STARTS:
                    item = "'" + item
                text = quote(item)
            elif kind is dict or kind is list or isinstance(item, dict | list | tuple):
                if item:
                    self._walk(item, child, cells)
                continue
            else:
                text = self._cell(item)
            column = child.column
            if column < 0:
                column = self._number(child)
            cells.append(column)
            cells.append(text)

    def _number(self, node: _Node) -> int:
        column = self._numbers.get(node.path)
        if column is None:
            column = self._numbers[node.path] = len(self.paths)
            self.paths.append(node.path)
        node.column = column
        return column

    def _cell(self, value: Any) -> str:
        text = scalar_text(value)
        # Numbers, booleans and null cannot start a formula (a negative number stays a number),
        # nor contain a character that needs quotes.
        if not isinstance(value, int | float | None):
            if self._guard and text and text[0] in FORMULA_STARTS:
                text = "'" + text
            text = quote(text)
        return text


def _item(node: _Node, index: int) -> _Node:
    items = node.items
    while len(items) <= index:
        items.append(_Node(f"{node.path}[{len(items)}]"))
    return items[index]


def scalar_text(value: Any) -> str:
    if value is None:
        return ""
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        # Non-finite numbers have no JSON form; the JSON writers emit null, so CSV shows empty.
        return orjson.dumps(value).decode() if math.isfinite(value) else ""
    if isinstance(value, str):
        return value
    # Anything else (a datetime the caller did not serialise): its JSON form, unquoted if a string.
    encoded = orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS)
    decoded = orjson.loads(encoded)
    return decoded if isinstance(decoded, str) else encoded.decode()


def quote(text: str) -> str:
    if _NEEDS_QUOTES.search(text):
        return '"' + text.replace('"', '""') + '"'
    return text


def flatten(document: Any, formula_guard: bool = False) -> list[tuple[str, str]]:
    """``(path, cell)`` for every leaf of one document, in document order."""
    tree = ColumnTree(formula_guard)
    record = tree.record(document)
    return [(tree.paths[int(record[at])], str(record[at + 1])) for at in range(0, len(record), 2)]


def header_order(columns: list[str]) -> list[str]:
    """``_id`` first (when present), then every other column sorted as JavaScript's default sort
    does: by UTF-16 code units, which differs from code-point order only between characters
    beyond the BMP (emoji) and those in U+E000..U+FFFF."""
    rest = sorted((column for column in columns if column != "_id"), key=utf16_sort_key)
    return ["_id", *rest] if "_id" in columns else rest


def utf16_sort_key(text: str) -> bytes:
    # Big-endian UTF-16 bytes compare exactly like the sequence of 16-bit code units.
    return text.encode("utf-16-be", "surrogatepass")
