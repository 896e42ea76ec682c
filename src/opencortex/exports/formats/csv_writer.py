"""CSV: flattened columns, ``_id`` first and the rest sorted, in two passes over a spill file.

The header must name every column of every document, so it is only known after the last one.
Holding the documents (or their rows) until then would make memory grow with the export, so:

1. ``write_documents`` turns each document at once into final, quoted cell text
   (``ColumnTree``) and appends it to an anonymous temporary file (unlinked on creation, so even
   a killed worker leaves no file behind). Column numbers are handed out in first-seen order;
   the ``path -> number`` map (and the compiled shapes) is all that stays in memory. Documents
   are spilled, in runs of one kind or the other, as

   * *rows*: once ``_SETTLE`` documents in a row found no new column, the columns are most
     likely all known, so rows are laid out under the header known so far, as final CSV text
     (plus the length of each row), most by a compiled row function in one call;
   * *cells*: until then, and again from a document with a new column, one JSON array per
     document, ``[column, ..., cell, ...]``.

2. ``finish`` sorts the column names into the header, then reads the spill file back one run at
   a time. Rows laid out under the final header are copied as they are; rows laid out under an
   older, narrower header are split into their cells again and placed under the final one;
   cells are placed under their header position.

Memory is therefore bounded by the number of distinct columns (plus one batch of documents),
never by the number of documents. Rows end in ``\\n``, including the last; an export without documents is
empty.
"""

from __future__ import annotations

import re
import struct
import tempfile
from array import array
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import orjson

from opencortex.exports.formats.csv_cells import FORMULA_STARTS, ColumnTree, Layout, header_order, picker, quote

MEDIA_TYPE = "text/csv"
BOM = b"\xef\xbb\xbf"
_CHUNK = 256 * 1024  # bytes of CSV gathered before a chunk is handed to the zip entry

# A spilled run: its kind, the header width its rows were laid out for, its number of
# documents, the size of its data; rows are followed by their lengths (characters, "Q" each).
_BATCH = struct.Struct("<BIIQ")
_CELLS = 0
_ROWS = 1
_SETTLE = 64  # documents in a row without a new column before rows are laid out
_MAX_PICKERS = 1024  # layouts' pickers for the current header kept at once
# One cell of a row this writer made, with the comma after it (one is added after the last).
_FIELD = re.compile(r'("[^"]*(?:""[^"]*)*"|[^,"]*),')


@dataclass(frozen=True)
class CsvOptions:
    """Options beyond Cortex; the defaults reproduce Cortex's output byte for byte."""

    bom: bool = False
    """Start with a UTF-8 byte-order mark, so Excel reads the file as UTF-8."""
    formula_guard: bool = False
    """Prefix ``'`` to text cells starting with ``= + - @``, tab or CR (OWASP CSV injection)."""
    dictionary: bool = False
    """Add ``dictionary.csv`` (column, type, label) after the data entry."""

    def to_json(self) -> dict[str, bool]:
        """The export's ``csv`` property (``{bom, formulaGuard, dictionary}``), as stored and shown."""
        return {"bom": self.bom, "formulaGuard": self.formula_guard, "dictionary": self.dictionary}

    @classmethod
    def from_json(cls, value: Mapping[str, Any] | None) -> CsvOptions:
        value = value or {}
        return cls(bom=bool(value.get("bom", False)), formula_guard=bool(value.get("formulaGuard", False)),
                   dictionary=bool(value.get("dictionary", False)))


def guard_text(text: str, options: CsvOptions) -> str:
    """A text cell (a header name, a dictionary label) with the formula guard applied and quoted."""
    if options.formula_guard and text and text[0] in FORMULA_STARTS:
        text = "'" + text
    return quote(text)


class CsvWriter:
    media_type = MEDIA_TYPE
    extension = "csv"

    def __init__(self, options: CsvOptions | None = None, *, spill_dir: str | Path | None = None) -> None:
        self.options = options or CsvOptions()
        self.records = 0
        self.columns: list[str] | None = None
        """The header, in order; set once ``finish()`` starts (the data dictionary needs it)."""
        self._tree = ColumnTree(self.options.formula_guard)
        self._spill_dir = spill_dir
        self._spill: IO[bytes] | None = None
        # Rows are laid out (rather than cells spilled) once _SETTLE documents in a row found no
        # new column, under the header of the columns known then: ``_width`` of them, column
        # number -> header position in ``_placement``, each layout's picker in ``_pickers``.
        self._laying_rows = False
        self._quiet = 0
        self._seen = 0
        self._width = -1
        self._placement: list[int] = []
        self._pickers: dict[Layout, Any] = {}
        self._sparse: dict[Layout, tuple[list[int], Any]] = {}

    def begin(self) -> bytes:
        return b""

    def write_documents(self, documents: Iterable[Mapping[str, Any]]) -> bytes:
        # Each document goes all the way to its row (or cells) before the next, while its objects
        # are still in the processor's cache; most in one call, to a compiled row function.
        paths = self._tree.paths
        cells_of = self._tree.cells
        spilled: list[bytes] = []
        rows: list[str] = []
        records: list[list[Any]] = []
        laying_rows = self._laying_rows
        width = self._width
        pickers = self._pickers
        row_functions = self._tree.row_functions
        count = slow = 0
        for document in documents:
            count += 1
            if laying_rows:
                if type(document) is dict:
                    row = row_functions.get(len(document))
                    if row is not None:
                        try:
                            text = row(document, pickers)
                        except Exception:  # a value of another shape: the long way decides
                            text = None
                        if text is not None:
                            rows.append(text)
                            continue
                slow += 1
                layout, cells = cells_of(document)
                if len(paths) == width:
                    rows.append(self._row(layout, cells))
                    continue
                # A new column: the rows so far stay laid out for the columns known before it.
                if rows:
                    spilled += _rows_batch(rows, width)
                    rows = []
                laying_rows = False
                self._quiet = 0
                self._seen = len(paths)
            else:
                slow += 1
                layout, cells = cells_of(document)
            records.append(self._cells(layout, cells))
            if len(paths) != self._seen:
                self._seen = len(paths)
                self._quiet = 0
            else:
                self._quiet += 1
                if self._quiet >= _SETTLE:
                    spilled += _cells_batch(records)
                    records = []
                    width = self._lay_out(len(paths))
                    laying_rows = True
        if rows:
            spilled += _rows_batch(rows, width)
        if records:
            spilled += _cells_batch(records)
        self._laying_rows = laying_rows
        self._tree.hits += count - slow  # rows made by the compiled shapes' row functions
        if spilled:
            self._spill_file().writelines(spilled)
        self.records += count
        return b""  # nothing can be written before the header is known

    def write_encoded(self, documents: Iterable[bytes], *, single_line: bool = False) -> bytes:
        return self.write_documents(map(orjson.loads, documents))

    def finish(self) -> Iterator[bytes]:
        try:
            yield from self._body()
        finally:
            self.close()

    def close(self) -> None:
        spill, self._spill = self._spill, None
        if spill is not None:
            spill.close()

    # A shard of a sharded export (``exports.sharding``): the header is the union of every
    # shard's columns, so each shard lays its rows out under a header it did not make alone.

    def seen_columns(self) -> list[str]:
        """The columns of the documents written so far (what a shard adds to the shared header)."""
        return list(self._tree.paths)

    def finish_body(self, columns: list[str]) -> Iterator[bytes]:
        """``finish()`` without the BOM and the header line: the rows alone, laid out under
        ``columns``, which must hold every column of ``seen_columns()``; call once."""
        try:
            yield from self._body(columns, header=False)
        finally:
            self.close()

    # Parts (``maxEntryBytes``): each part has the header; rows can only be cut at the end, once
    # the header is known, so every row is spilled first and handed over by ``finish_records``.

    separator = b""  # every row ends with its own newline

    def head(self, part: int) -> bytes:
        if self.columns is None:
            raise RuntimeError("the CSV header is only known once finish_records has begun")
        line = ",".join(guard_text(name, self.options) for name in self.columns) + "\n"
        return (BOM if self.options.bom else b"") + line.encode()

    def tail(self) -> bytes:
        return b""

    def empty(self) -> bytes:
        return BOM if self.options.bom else b""

    def encode_documents(self, documents: Iterable[Mapping[str, Any]]) -> list[bytes]:
        self.write_documents(documents)
        return []

    def encode_encoded(self, documents: Iterable[bytes], *, single_line: bool = False) -> list[bytes]:
        self.write_encoded(documents)
        return []

    def finish_records(self) -> Iterator[list[bytes]]:
        try:
            yield from self._rows()
        finally:
            self.close()

    def _lay_out(self, width: int) -> int:
        """Rows from now on are laid out under the header of the first ``width`` columns."""
        if width != self._width:
            position = {name: index for index, name in enumerate(header_order(self._tree.paths[:width]))}
            self._placement = [position[name] for name in self._tree.paths[:width]]
            self._pickers.clear()
            self._width = width
        return width

    def _picker(self, layout: Layout) -> Any:
        if len(self._pickers) >= _MAX_PICKERS:
            self._pickers.clear()
        indices = [layout.empty] * self._width
        placement = self._placement
        for column, index in layout.slots:
            indices[placement[column]] = index
        pick = self._pickers[layout] = picker(indices)
        return pick

    def _row(self, layout: Layout | None, cells: list[Any]) -> str:
        if layout is None:
            row = [""] * self._width
            placement = self._placement
            for at in range(0, len(cells), 2):
                row[placement[cells[at]]] = cells[at + 1]
            return ",".join(row)
        pick = self._pickers.get(layout) or self._picker(layout)
        return ",".join(pick(cells))

    def _cells(self, layout: Layout | None, cells: list[Any]) -> list[Any]:
        """``[column, ..., cell, ...]``: the columns, then their cells in the same order."""
        if layout is None:
            return cells[0::2] + cells[1::2]
        sparse = self._sparse.get(layout)
        if sparse is None:
            sparse = self._sparse[layout] = (
                [column for column, _ in layout.slots],
                picker([index for _, index in layout.slots]),
            )
        columns, pick = sparse
        return [*columns, *pick(cells)]

    def _body(self, columns: list[str] | None = None, *, header: bool = True) -> Iterator[bytes]:
        names = self._tree.paths
        self.columns = header_order(names) if columns is None else columns
        if header and self.options.bom:
            yield BOM
        if not self.records:
            return
        position = {name: index for index, name in enumerate(self.columns)}
        # spill column number -> header position: one list lookup per cell in the loops below.
        placement = [position[name] for name in names]
        width = len(self.columns)
        out = [(",".join(guard_text(name, self.options) for name in self.columns) + "\n").encode()] if header else []
        size = len(out[0]) if out else 0
        pickers: dict[int, Any] = {}  # header width a batch was laid out for -> its cells in the final order
        spill = self._spill_file()
        spill.seek(0)
        while head := spill.read(_BATCH.size):
            kind, laid_for, count, length = _BATCH.unpack(head)
            data = spill.read(length)
            if kind == _CELLS:
                pieces: Iterable[bytes] = _place_cells(orjson.loads(data), placement, width)
            else:
                lengths = array("Q")
                lengths.frombytes(spill.read(count * lengths.itemsize))
                if laid_for == width:
                    pieces = (data,)
                else:
                    pick = pickers.get(laid_for)
                    if pick is None:
                        old = {name: index for index, name in enumerate(header_order(names[:laid_for]))}
                        pick = pickers[laid_for] = picker([old.get(name, laid_for) for name in self.columns])
                    pieces = _relayout(data.decode(), lengths, laid_for, pick)
            for piece in pieces:
                out.append(piece)
                size += len(piece)
                if size >= _CHUNK:
                    yield b"".join(out)
                    out.clear()
                    size = 0
        if out:
            yield b"".join(out)

    def _rows(self) -> Iterator[list[bytes]]:
        """``_body`` row by row: each row on its own, with its newline, a spill run at a time."""
        names = self._tree.paths
        self.columns = header_order(names)
        if not self.records:
            return
        position = {name: index for index, name in enumerate(self.columns)}
        placement = [position[name] for name in names]
        width = len(self.columns)
        pickers: dict[int, Any] = {}
        spill = self._spill_file()
        spill.seek(0)
        while head := spill.read(_BATCH.size):
            kind, laid_for, count, length = _BATCH.unpack(head)
            data = spill.read(length)
            if kind == _CELLS:
                texts = list(_cell_rows(orjson.loads(data), placement, width))
            else:
                lengths = array("Q")
                lengths.frombytes(spill.read(count * lengths.itemsize))
                text, at, texts = data.decode(), 0, []
                for size in lengths:
                    texts.append(text[at : at + size])
                    at += size + 1
                if laid_for != width:
                    pick = pickers.get(laid_for)
                    if pick is None:
                        old = {name: index for index, name in enumerate(header_order(names[:laid_for]))}
                        pick = pickers[laid_for] = picker([old.get(name, laid_for) for name in self.columns])
                    texts = [_relaid_row(row, laid_for, pick) for row in texts]
            yield [row.encode() + b"\n" for row in texts]

    def _spill_file(self) -> IO[bytes]:
        if self._spill is None:
            self._spill = tempfile.TemporaryFile(prefix="opencortex-csv-", dir=self._spill_dir)  # noqa: SIM115
        return self._spill


def _rows_batch(rows: list[str], width: int) -> list[bytes]:
    rows.append("")
    try:
        text = "\n".join(rows).encode()
    except UnicodeEncodeError:
        orjson.dumps(rows)  # raises what the JSON writers raise for the same text
        raise
    rows.pop()
    return [_BATCH.pack(_ROWS, width, len(rows), len(text)), text, array("Q", map(len, rows)).tobytes()]


def _cells_batch(records: list[list[Any]]) -> list[bytes]:
    data = orjson.dumps(records)
    return [_BATCH.pack(_CELLS, 0, len(records), len(data)), data]


def _place_cells(records: list[list[Any]], placement: list[int], width: int) -> Iterator[bytes]:
    rows = []
    size = 0
    for record in records:
        row = [""] * width
        half = len(record) >> 1
        for at in range(half):
            row[placement[record[at]]] = record[half + at]  # in document order: the later value wins
        text = ",".join(row)
        rows.append(text)
        size += len(text)
        if size >= _CHUNK:  # chunks small enough to stay in the processor's cache
            rows.append("")
            yield "\n".join(rows).encode()
            rows.clear()
            size = 0
    if rows:
        rows.append("")
        yield "\n".join(rows).encode()


def _cell_rows(records: list[list[Any]], placement: list[int], width: int) -> Iterator[str]:
    """``_place_cells``, one row (without its newline) at a time."""
    for record in records:
        row = [""] * width
        half = len(record) >> 1
        for at in range(half):
            row[placement[record[at]]] = record[half + at]
        yield ",".join(row)


def _relaid_row(row: str, width: int, pick: Any) -> str:
    """One row of ``_relayout``."""
    cells = (row.split(",") if '"' not in row else _FIELD.findall(row + ",")) if width else []
    if len(cells) != width:
        raise RuntimeError("CSV spill file: a row does not have the cells it was written with")
    cells.append("")
    return ",".join(pick(cells))


def _relayout(text: str, lengths: array[int], width: int, pick: Any) -> Iterator[bytes]:
    """Rows laid out under a narrower header, under the final one: each row split into its cells
    (at every comma when nothing is quoted), ``""`` added for the columns it did not know."""
    rows = []
    size = 0
    at = 0
    for length in lengths:
        row = text[at : at + length]
        at += length + 1
        cells = (row.split(",") if '"' not in row else _FIELD.findall(row + ",")) if width else []
        if len(cells) != width:
            raise RuntimeError("CSV spill file: a row does not have the cells it was written with")
        cells.append("")
        row = ",".join(pick(cells))
        rows.append(row)
        size += len(row)
        if size >= _CHUNK:
            rows.append("")
            yield "\n".join(rows).encode()
            rows.clear()
            size = 0
    if rows:
        rows.append("")
        yield "\n".join(rows).encode()
