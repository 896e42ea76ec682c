"""CSV flattening and cell text: the rules Cortex's CSV export follows, plus an opt-in guard.

Flattening (Cortex): walk the document; object keys join with ``.`` (``name.first``), array items
append ``[i]`` (``roles[0]``, ``c_list[1].c_x``; a root-level array is ``[0]``). Every *leaf*
reached that way is a column, ``null`` included. An empty array or empty document has no leaf,
so it adds no column and leaves no trace in the row (as in Cortex). Two routes to the same path
(a key ``"a.b"`` beside ``{"a": {"b": …}}``) share one column; the later value wins.

Cell text: strings as they are; numbers as the JSON output writes them; ``true``/``false``;
``null`` as an empty cell. Quoting follows RFC 4180: a cell containing ``,``, ``"``, CR or LF is
wrapped in double quotes, with inner quotes doubled; nothing else is quoted.

Speed. The documents of one export share their shape, so most are not walked. The second time
a list of top-level keys is met, the document's shape is compiled into an *extractor* (one
``itemgetter`` call per document or array in it, a loop per array of documents) that checks a
later document has that very shape while it gathers the leaf values in a fixed order, and into a
*row function* that goes on to the row itself. The array lengths met, and the types of the values
that are not text, pick a :class:`Layout` (made once: the column of every value and how to write
the numbers and booleans; the writer adds where each cell goes in the header), so a document
costs a few C-level operations per leaf. Where text and null mix in too many ways, null is taken
as ``""`` (the same empty cell) and one layout takes them all. What the compiled shapes do not
cover (keys that vary from document to document, types that vary too much, two routes to one
path, a root that is not a document, other value types) takes :meth:`ColumnTree.record`, the
plain walk. Both give the same cells: ``tests/exports/test_csv_reference.py`` checks the bytes
against a reference written from the rules above.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from operator import itemgetter
from typing import Any

import orjson

# The OWASP CSV-injection rule: spreadsheet programs evaluate a cell starting with one of these.
FORMULA_STARTS = frozenset("=+-@\t\r")
_NEEDS_QUOTES = re.compile(r'[,"\r\n]')
# Cells of one document joined by NUL, with a NUL in front: a hit means some cell may start a
# formula (or holds a NUL before one of those characters); each cell is then looked at alone.
_MAY_START_FORMULA = re.compile("\x00[=+\\-@\t\r]").search

_TEXT_KINDS = frozenset({str, int, float, bool, type(None)})
_CONTAINERS = frozenset({dict, list, tuple})
_MAX_EXTRACTORS = 32  # compiled shapes per tree; later shapes take the plain walk
_MAX_PER_LENGTH = 4  # compiled shapes tried for one number of top-level keys
_MAX_CANDIDATES = 8  # layouts tried in turn for one compiled shape and array lengths
_MAX_SHAPE_NODES = 4000  # a larger document is not compiled
_MAX_LAYOUTS = 4096  # layouts per tree (array lengths x leaf types seen)
_MAX_VARIANTS = 16  # layouts per compiled shape and array lengths (leaf types seen)
_MAX_COMPILED_LAYOUTS = 256  # layouts with a compiled converter (the others have a slower closure)
_MAX_DEPTH = 16  # nested arrays in a compiled shape (Python allows 20 nested blocks)
_MAX_SIGHTINGS = 4096  # top-level key lists remembered until one is seen twice (then compiled)
_GIVE_UP = 512  # documents the compiled shapes missed before they may be given up


class _Node:
    """One path. Documents share most of their shape, so each path string is built once, when
    first seen, and later documents only follow ``fields``/``items`` links to reach it."""

    __slots__ = ("path", "column", "fields", "items")

    def __init__(self, path: str) -> None:
        self.path = path
        self.column = -1  # numbered when first reached as a leaf
        self.fields: dict[Any, _Node] = {}
        self.items: list[_Node] = []


class Layout:
    """The cells of every document with one compiled shape, array lengths and leaf types.

    ``convert(values)`` turns the gathered values into cell texts, in place: text values stay
    where they are, the text of every other value is appended, then ``""``, the cell of null and
    of every column the document lacks. ``slots`` pairs the column of each leaf that is not null
    with the index of its text, ``empty`` is the index of ``""``. ``strings`` lists the indices of the text values,
    the only cells that can need the formula guard or quotes; ``typed`` those of the others,
    whose types ``types`` are compared at once (text values are checked by ``str.join``)."""

    __slots__ = (
        "catch_all",
        "convert",
        "slots",
        "empty",
        "strings",
        "pick_strings",
        "typed",
        "pick_typed",
        "types",
        "_quoted",
        "_others",
        "_pick_others",
    )

    def __init__(
        self, columns: Sequence[int], kinds: Sequence[type], catch_all: bool = False, compiled: bool = True
    ) -> None:
        self.catch_all = catch_all
        self.convert, self.slots, self.empty = _converter(columns, kinds, compiled)
        self.strings = tuple(at for at, kind in enumerate(kinds) if kind is str)
        self.pick_strings = picker(self.strings)
        self.typed = tuple(at for at, kind in enumerate(kinds) if kind is not str)
        self.pick_typed = picker(self.typed)
        self.types = tuple(kinds[at] for at in self.typed)
        # Text cells that needed quotes in an earlier document (a free-text property, usually),
        # and the others: a document with a cell to quote most likely has it among the former.
        self._quoted: tuple[int, ...] = ()
        self._others = self.strings
        self._pick_others = self.pick_strings

    def texts(self, values: list[Any]) -> str | None:
        """The text values joined by NUL, if those of this layout are all text (null taken as
        ``""``: the same empty cell), else ``None``."""
        try:
            return "\x00".join(self.pick_strings(values))
        except TypeError:
            pass
        nulls = [at for at in self.strings if values[at] is None]
        if not nulls:
            return None
        for at in nulls:
            values[at] = ""
        try:
            return "\x00".join(self.pick_strings(values))
        except TypeError:
            return None

    def guard(self, values: list[Any]) -> None:
        """Prefixes ``'`` (in place) to each text value that starts a formula."""
        for at in self.strings:
            text = values[at]
            if text and text[0] in FORMULA_STARTS:
                values[at] = "'" + text

    def quote(self, cells: list[str]) -> None:
        """Quotes (in place) each text cell that needs it."""
        for at in self._quoted:
            cells[at] = quote(cells[at])
        others = "".join(self._pick_others(cells))
        if '"' in others or "," in others or "\n" in others or "\r" in others:
            found = tuple(at for at in self._others if _NEEDS_QUOTES.search(cells[at]))
            for at in found:
                cells[at] = quote(cells[at])
            self._quoted += found
            self._others = tuple(at for at in self._others if at not in found)
            self._pick_others = picker(self._others)


class _Extractor:
    __slots__ = ("function", "row", "block", "layouts", "typed_layouts", "variants")

    def __init__(self, shape: tuple[Any, ...], guard: bool) -> None:
        # array lengths -> the layouts met with them, tried in turn; (lengths, types) -> layout,
        # or None for the plain walk.
        self.layouts: dict[tuple[int, ...], list[Layout]] = {}
        self.typed_layouts: dict[tuple[Any, ...], Layout | None] = {}
        self.variants: dict[tuple[int, ...], int] = {}
        self.function, self.row, self.block = _generate(shape, self.layouts, guard)


class ColumnTree:
    """Flattens documents into ``[column, cell, column, cell, ...]`` records, numbering each
    distinct path in first-seen order. Its size is the number of distinct paths (plus a bounded
    number of compiled shapes), never the number of documents."""

    def __init__(self, formula_guard: bool = False) -> None:
        self.paths: list[str] = []
        """Column number -> path."""
        self._numbers: dict[str, int] = {}
        self._root = _Node("")
        self._guard = formula_guard
        self._extractors: dict[int, list[_Extractor]] = {}
        self.row_functions: dict[int, Callable[[dict[str, Any], dict[Layout, Any]], str | None]] = {}
        """Number of top-level keys -> the row function of the latest compiled shape with as
        many: ``row(document, pickers)``, see ``_generate``."""
        self._compiled = 0
        self._layouts = 0
        self._sightings: dict[tuple[Any, ...], int] = {}
        self.hits = 0
        """Documents the compiled shapes took (a caller using ``row_functions`` adds its own)."""
        self.misses = 0
        """Documents (objects) none of them took; when they are most, they are given up."""

    def record(self, document: Any) -> list[int | str]:
        cells: list[int | str] = []
        if isinstance(document, dict | list | tuple):
            self._walk(document, self._root, cells)
        else:
            cells += [self._number(self._root), self._cell(document)]
        return cells

    def cells(self, document: Any, again: bool = True) -> tuple[Layout | None, list[Any]]:
        """One document's cell texts, guarded and quoted: ``(layout, cells)`` with the cells as
        :class:`Layout` describes them, or ``(None, record)`` with the record as :meth:`record`
        returns it."""
        found = None
        if type(document) is dict and self._compiled >= 0:
            candidates = self._extractors.get(len(document))
            if candidates is not None:
                for extractor in candidates:
                    try:
                        found = extractor.function(document)
                    except Exception:  # a value of another shape; the walk below decides
                        found = None
                    if found is not None:
                        break
            if found is None:
                extractor, found = self._compile(document)  # type: ignore[assignment]
            if found is None:
                self._missed()
        if found is None:
            return None, self.record(document)
        values, lengths = found
        for layout in extractor.layouts.get(lengths, ()):
            if layout.typed and layout.types != (*map(type, layout.pick_typed(values)),):
                continue
            joined = layout.texts(values)
            if joined is not None:
                break
        else:
            layout = self._layout(extractor, lengths, values)  # type: ignore[assignment]
            if layout is None:
                # An array compiled from an empty one (or of leaves) may hold documents here: a
                # shape compiled from this document says more, and is tried first from now on.
                if (
                    again
                    and any(type(value) in _CONTAINERS for value in values)
                    and self._compile(document, seen=True)[1] is not None
                ):
                    return self.cells(document, again=False)
                return None, self.record(document)
            joined = "\x00".join(layout.pick_strings(values))
        self.hits += 1
        if self._guard and _MAY_START_FORMULA("\x00" + joined):
            layout.guard(values)
        cells = layout.convert(values)
        if '"' in joined or "," in joined or "\n" in joined or "\r" in joined:
            layout.quote(cells)
        return layout, cells

    def _missed(self) -> None:
        self.misses += 1
        if self.misses >= _GIVE_UP and self.misses > self.hits:
            # Most documents have shapes of their own: trying compiled ones costs more than it saves.
            self._compiled = -1
            self._extractors.clear()
            self.row_functions.clear()

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

    # Compiled shapes.

    def _compile(self, document: dict[Any, Any], seen: bool = False) -> tuple[_Extractor | None, Any]:
        """An extractor for this document's shape, and what it gathered from the document; or
        ``(None, None)`` when the plain walk should take it (the first time a list of top-level
        keys is met, unless ``seen``)."""
        if self._compiled >= _MAX_EXTRACTORS:
            return None, None
        candidates = self._extractors.setdefault(len(document), [])
        if len(candidates) >= _MAX_PER_LENGTH:
            return None, None
        # Compiled only when seen again: documents whose keys vary are not worth compiling.
        keys = tuple(document)
        if keys in self._sightings:
            del self._sightings[keys]
        elif not seen:
            if len(self._sightings) >= _MAX_SIGHTINGS:
                self._sightings.clear()
            self._sightings[keys] = 1
            return None, None
        self._compiled += 1  # counted even when it fails, so a failing shape is not retried forever
        try:
            shape = _shape(document, [0], 0)
            if shape is None:
                return None, None
            extractor = _Extractor(shape, self._guard)
            found = extractor.function(document)
        except Exception:  # too deep or too large for Python to compile: the walk will do
            return None, None
        if found is None:
            return None, None
        candidates.insert(0, extractor)
        self.row_functions[len(document)] = extractor.row
        return extractor, found

    def _layout(self, extractor: _Extractor, lengths: tuple[int, ...], values: list[Any]) -> Layout | None:
        kinds = tuple(map(type, values))
        layout = extractor.typed_layouts.get((lengths, kinds), _UNKNOWN)
        catch_all = False
        if layout is _UNKNOWN and extractor.variants.get(lengths, 0) >= _MAX_VARIANTS and type(None) in kinds:
            # The types vary too much: with null taken as "" (the same empty cell), one layout
            # takes every mix of text and null (see Layout.texts).
            values[:] = ["" if value is None else value for value in values]  # by identity, not ==
            kinds = tuple(map(type, values))
            layout = extractor.typed_layouts.get((lengths, kinds), _UNKNOWN)
            catch_all = True
        if layout is _UNKNOWN:
            variants = extractor.variants.get(lengths, 0)
            if self._layouts >= _MAX_LAYOUTS or variants >= _MAX_VARIANTS * (2 if catch_all else 1):
                return None  # not kept: the walk takes these documents
            extractor.variants[lengths] = variants + 1
            self._layouts += 1
            nodes: list[_Node] = []
            _place(extractor.block, self._root, iter(lengths), nodes)
            layout = None
            if len(kinds) == len(nodes) and all(kind in _TEXT_KINDS for kind in kinds):
                # Every value is a leaf the walk would make a column of: number them as it would.
                columns = [node.column if node.column >= 0 else self._number(node) for node in nodes]
                if len(set(columns)) == len(columns):  # else two routes reach one path: the walk orders them
                    layout = Layout(columns, kinds, catch_all, self._layouts <= _MAX_COMPILED_LAYOUTS)
            extractor.typed_layouts[(lengths, kinds)] = layout
        if layout is not None:
            layout.catch_all |= catch_all
            candidates = extractor.layouts.setdefault(lengths, [])
            if catch_all and layout in candidates:
                candidates.remove(layout)  # to be sorted again
            if layout not in candidates:
                # A catch-all first (the types vary too much to pick), else the most specific
                # first: a layout with text where another has null is picked for null only if
                # that other one is not known (Layout.texts takes it then, more slowly).
                candidates.append(layout)
                candidates.sort(key=lambda known: (not known.catch_all, -len(known.typed)))
                del candidates[_MAX_CANDIDATES:]
        return layout


_UNKNOWN: Any = object()
_SCALAR = ("v",)


def _shape(value: Any, count: list[int], depth: int) -> tuple[Any, ...] | None:
    """``("v",)`` a leaf; ``("d", keys, children)`` a document with exactly these keys;
    ``("s", type)`` an array of leaves, any length; ``("u", type, element)`` an array of one
    container shape, any length; ``("f", type, children)`` any other array, this length.
    ``None``: not compiled (keys that are not strings, subclasses, too large)."""
    count[0] += 1
    if count[0] > _MAX_SHAPE_NODES or depth > _MAX_DEPTH:
        return None
    kind = type(value)
    if kind is dict:
        keys = tuple(value)
        if any(type(key) is not str for key in keys):
            return None
        children = []
        for item in value.values():
            child = _shape(item, count, depth)
            if child is None:
                return None
            children.append(child)
        return ("d", keys, tuple(children))
    if kind is list or kind is tuple:
        shapes = []
        for item in value:
            child = _shape(item, count, depth + 1)
            if child is None:
                return None
            shapes.append(child)
        if all(child is _SCALAR for child in shapes):
            return ("s", kind)
        first = shapes[0]
        if first is not _SCALAR and all(child == first for child in shapes):
            return ("u", kind, first)
        return ("f", kind, tuple(shapes))
    if isinstance(value, dict | list | tuple):
        return None
    return _SCALAR


class _Codegen:
    """Writes an extractor: each container's leaves fetched with one ``itemgetter`` call, the
    containers found on the way checked together (types, and lengths where fixed)."""

    def __init__(self, inline_lengths: bool) -> None:
        self.lines: list[str] = []
        self.names = 0
        # Array lengths go into the key in the order met: straight into its tuple when all are
        # met outside loops, else through a list ``s``.
        self.inline_lengths = inline_lengths
        self.lengths: list[str] = []
        self.in_loops = False
        # Keys are the sample's own key objects, as globals: later documents usually share them
        # (orjson's key cache, a schema's names), and a dict finds an identical key at once.
        self.constants: dict[str, Any] = {}
        self.keys: dict[Any, str] = {}

    def constant(self, value: Any) -> str:
        name = f"c{len(self.constants)}"
        self.constants[name] = value
        return name

    def key(self, key: Any) -> str:
        if type(key) is int:
            return str(key)
        name = self.keys.get(key)
        if name is None:
            name = self.keys[key] = self.constant(key)
        return name

    def emit(self, indent: int, line: str) -> None:
        self.lines.append("    " * indent + line)

    def name(self) -> str:
        self.names += 1
        return f"x{self.names}"

    def check(self, name: str, shape: tuple[Any, ...], indent: int) -> None:
        self.emit(indent, f"if type({name}) is not {self.constant(_kind(shape))}{_length_check(name, shape)}:")
        self.emit(indent + 1, "return None")

    def check_all(self, containers: list[tuple[str, tuple[Any, ...]]], indent: int) -> None:
        if len(containers) < 3:
            for name, shape in containers:
                self.check(name, shape, indent)
            return
        names = ", ".join(name for name, _ in containers)
        kinds = self.constant(tuple(_kind(shape) for _, shape in containers))
        condition = f"(*map(type, ({names},)),) != {kinds}"
        sized = [(name, _size(shape)) for name, shape in containers if _size(shape) >= 0]
        if sized:
            lengths = tuple(size for _, size in sized)
            condition += f" or (*map(len, ({', '.join(name for name, _ in sized)},)),) != {lengths!r}"
        self.emit(indent, f"if {condition}:")
        self.emit(indent + 1, "return None")

    def block(self, shape: tuple[Any, ...], name: str, indent: int, top: bool) -> tuple[Any, ...]:
        """Code appending the leaves under ``name`` (a checked container of ``shape``) to ``v``;
        returns how to find their paths again (see ``_place``)."""
        groups: list[tuple[str, list[Any]]] = []
        fixed: list[tuple[Any, ...]] = []
        containers: list[tuple[str, tuple[Any, ...]]] = []
        parts: list[tuple[tuple[Any, ...], tuple[Any, ...], str]] = []
        self.collect(shape, name, (), indent, groups, fixed, containers, parts)
        self.check_all(containers, indent)
        pieces = [
            f"{owner}[{self.key(keys[0])}]" if len(keys) == 1 else f"*{self.constant(itemgetter(*keys))}({owner})"
            for owner, keys in groups
        ]
        if top:
            self.emit(indent, f"v = [{', '.join(pieces)}]")
        elif len(pieces) == 1:
            piece = pieces[0]
            self.emit(indent, f"v += {piece[1:]}" if piece[0] == "*" else f"v.append({piece})")
        elif pieces:
            self.emit(indent, f"v += ({', '.join(pieces)},)")
        variable: list[tuple[Any, ...]] = []
        for steps, part, part_name in parts:
            if self.inline_lengths and indent == 1:
                self.lengths.append(f"len({part_name}), ")
            else:
                self.in_loops |= indent > 1
                self.lengths = ["*s, "]
                self.emit(indent, f"s.append(len({part_name}))")
            if part[0] == "s":
                self.emit(indent, f"v += {part_name}")
                variable.append(("s", steps))
            else:
                element = self.name()
                self.emit(indent, f"for {element} in {part_name}:")
                self.check(element, part[2], indent + 1)
                variable.append(("u", steps, self.block(part[2], element, indent + 1, top=False)))
        return (tuple(fixed), tuple(variable))

    def collect(
        self,
        shape: tuple[Any, ...],
        name: str,
        steps: tuple[Any, ...],
        indent: int,
        groups: list[tuple[str, list[Any]]],
        fixed: list[tuple[Any, ...]],
        containers: list[tuple[str, tuple[Any, ...]]],
        parts: list[tuple[tuple[Any, ...], tuple[Any, ...], str]],
    ) -> None:
        if shape[0] in ("s", "u"):
            parts.append((steps, shape, name))
            return
        keys = shape[1] if shape[0] == "d" else range(len(shape[2]))
        leaves = [key for key, child in zip(keys, shape[2], strict=True) if child is _SCALAR]
        if leaves:
            groups.append((name, leaves))
            fixed.extend((*steps, key) for key in leaves)
        inner = [(key, child) for key, child in zip(keys, shape[2], strict=True) if child is not _SCALAR]
        if not inner:
            return
        names = [self.name() for _ in inner]
        if len(inner) == 1:
            self.emit(indent, f"{names[0]} = {name}[{self.key(inner[0][0])}]")
        else:
            getter = self.constant(itemgetter(*(key for key, _ in inner)))
            self.emit(indent, f"{', '.join(names)} = {getter}({name})")
        # Checked together once the block's containers are all bound: until then a value of
        # another shape can only raise (caught by the caller) or fetch something unused.
        for child_name, (key, child) in zip(names, inner, strict=True):
            containers.append((child_name, child))
            self.collect(child, child_name, (*steps, key), indent, groups, fixed, containers, parts)


def _kind(shape: tuple[Any, ...]) -> type:
    return dict if shape[0] == "d" else shape[1]  # type: ignore[no-any-return]


def _size(shape: tuple[Any, ...]) -> int:
    """The length a container of this shape must have, or -1 (arrays of any length)."""
    return len(shape[2]) if shape[0] in ("d", "f") else -1


def _length_check(name: str, shape: tuple[Any, ...]) -> str:
    size = _size(shape)
    return f" or len({name}) != {size}" if size >= 0 else ""


def _generate(
    shape: tuple[Any, ...], layouts: dict[tuple[int, ...], list[Layout]], guard: bool
) -> tuple[Callable[[dict[str, Any]], Any], Callable[[dict[str, Any], dict[Layout, Any]], str | None], tuple[Any, ...]]:
    """The extractor of a root document shape: ``None`` for a document of another shape, else
    its leaf values (fixed ones first, then each array's, in the order ``_place`` follows) and
    the array lengths met on the way. And its row function: the same, then a layout already
    known from ``layouts`` and the picker ``pickers[layout]`` of its cells in header order, to
    return the row itself, or ``None`` when anything is missing (the caller takes the long way:
    :meth:`ColumnTree.cells`)."""
    code = _Codegen(inline_lengths=True)
    block, lengths = _extractor_body(code, shape)
    if code.in_loops:
        code = _Codegen(inline_lengths=False)
        block, lengths = _extractor_body(code, shape)
    body = "\n".join(code.lines)
    guarded = "        if M(N + j):\n            a.guard(v)\n" if guard else ""
    source = (
        f"def extract(r):\n{body}\n    return v, {lengths}\n\n\n"
        f"def row(r, P):\n{body}\n"
        f"    for a in L.get({lengths}, ()):\n"
        "        if a.typed and a.types != (*map(type, a.pick_typed(v)),):\n"
        "            continue\n"
        "        p = P.get(a)\n"
        "        if p is None:\n"
        "            return None\n"
        "        try:\n"
        "            j = N.join(a.pick_strings(v))\n"
        "        except TypeError:\n"  # a value that is not text where this layout has text
        "            j = a.texts(v)\n"  # (null is: taken as "")
        "            if j is None:\n"
        "                return None\n"
        f"{guarded}"
        "        c = a.convert(v)\n"
        """        if '"' in j or "," in j or "\\n" in j or "\\r" in j:\n"""
        "            a.quote(c)\n"
        "        return J(p(c))\n"
        "    return None\n"
    )
    namespace: dict[str, Any] = {
        "__builtins__": {},
        "type": type,
        "len": len,
        "map": map,
        "tuple": tuple,
        "TypeError": TypeError,
        "L": layouts,
        "N": "\x00",
        "J": ",".join,
        "M": _MAY_START_FORMULA,
        **code.constants,
    }
    exec(compile(source, "<csv shape>", "exec"), namespace)  # noqa: S102 - source made above, keys as names
    return namespace["extract"], namespace["row"], block


def _extractor_body(code: _Codegen, shape: tuple[Any, ...]) -> tuple[tuple[Any, ...], str]:
    """The code gathering ``v``; how to find its values' paths; the expression of its lengths."""
    code.emit(1, f"if len(r) != {len(shape[1])}:")
    code.emit(2, "return None")
    body_at = len(code.lines)
    block = code.block(shape, "r", 1, top=True)
    if code.inline_lengths:
        return block, f"({''.join(code.lengths)})"
    if code.lengths:
        code.lines.insert(body_at, "    s = []")
    return block, "tuple(s)"


def _place(block: tuple[Any, ...], node: _Node, lengths: Any, nodes: list[_Node]) -> None:
    """The node of every value an extractor gathers, in its order; reads the array lengths."""
    fixed, variable = block
    for steps in fixed:
        nodes.append(_at(node, steps))
    for part in variable:
        count = next(lengths)
        base = _at(node, part[1])
        if part[0] == "s":
            nodes.extend(_item(base, index) for index in range(count))
        else:
            for index in range(count):
                _place(part[2], _item(base, index), lengths, nodes)


def _at(node: _Node, steps: tuple[Any, ...]) -> _Node:
    for step in steps:
        if type(step) is str:
            child = node.fields.get(step)
            if child is None:
                child = node.fields[step] = _Node(f"{node.path}.{step}" if node.path else step)
            node = child
        else:
            node = _item(node, step)
    return node


_BOOLEANS = ("false", "true")


def _converter(
    columns: Sequence[int], kinds: Sequence[type], compiled: bool
) -> tuple[Callable[[list[Any]], list[str]], tuple[tuple[int, int], ...], int]:
    """The converter of one list of leaf types (compiled: faster, but the compiling costs as much
    as some hundred documents; else a closure), the slots of the cells it makes, and the index
    of its empty cell."""
    count = len(kinds)
    leaves = list(enumerate(zip(columns, kinds, strict=True)))
    texts, ints, bools, floats = (
        [(column, at) for at, (column, kind) in leaves if kind is wanted] for wanted in (str, int, bool, float)
    )
    appended = ints + bools + floats  # null: no cell of its own, the empty one
    slots = tuple(texts) + tuple((column, count + number) for number, (column, _) in enumerate(appended))
    empty = count + len(appended)
    dumps = orjson.dumps
    if compiled:
        lines = ["def convert(v):"]
        if ints or bools:
            # An f-string writes an int as str() does.
            numbers = "".join([*(f'f"{{v[{at}]}}", ' for _, at in ints), *(f"B[v[{at}]], " for _, at in bools)])
            lines.append(f"    v += ({numbers})")
        if floats:
            # orjson writes the numbers (non-finite ones as null: an empty cell); "n" only in null.
            lines.append(f"    f = D(({''.join(f'v[{at}], ' for _, at in floats)}))")
            lines.append("    if 110 in f:")
            lines.append('        f = f.replace(b"null", b"")')
            lines.append('    v += f.decode()[1:-1].split(",")')
        lines += ['    v.append("")', "    return v"]
        namespace: dict[str, Any] = {"__builtins__": {}, "B": _BOOLEANS, "D": dumps}
        exec(compile("\n".join(lines) + "\n", "<csv cells>", "exec"), namespace)  # noqa: S102 - made above
        return namespace["convert"], slots, empty

    pick_ints = picker([at for _, at in ints])
    pick_bools = picker([at for _, at in bools])
    pick_floats = picker([at for _, at in floats])
    text_of_bool: Callable[[Any], str] = _BOOLEANS.__getitem__

    def convert(v: list[Any]) -> list[str]:
        if ints:
            v += map(str, pick_ints(v))
        if bools:
            v += map(text_of_bool, pick_bools(v))
        if floats:
            written = dumps(pick_floats(v))
            if 110 in written:
                written = written.replace(b"null", b"")
            v += written.decode()[1:-1].split(",")
        v.append("")
        return v

    return convert, slots, empty


def picker(indices: Sequence[int]) -> Callable[[Sequence[str]], Sequence[str]]:
    """``cells -> [cells[i] for i in indices]``, at C speed (``itemgetter`` returns a bare item
    for one index, so that case is wrapped)."""
    if len(indices) > 1:
        return itemgetter(*indices)
    if indices:
        only = indices[0]
        return lambda cells: (cells[only],)
    return lambda cells: ()


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
