"""CSV: flattened columns, ``_id`` first and the rest sorted, in two passes over a spill file.

The header must name every column of every document, so it is only known after the last one.
Holding the documents (or their rows) until then would make memory grow with the export, so:

1. ``write_documents`` flattens each document at once into final, quoted cell text and appends
   it to an anonymous temporary file (unlinked on creation, so even a killed worker leaves no
   file behind) as one compact line ``[column number, cell, column number, cell, ...]``. Column
   numbers are handed out in first-seen order; the ``path -> number`` map is all that stays in
   memory.
2. ``finish`` sorts the column names into the header, then reads the spill file back line by
   line and places each row's cells under their header position.

Memory is therefore bounded by the number of distinct columns (plus one row), never by the number
of documents. Rows end in ``\\n``, including the last; an export without documents is empty.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import orjson

from opencortex.exports.formats import CSV
from opencortex.exports.formats.csv_cells import FORMULA_STARTS, ColumnTree, header_order, quote

BOM = b"\xef\xbb\xbf"
_CHUNK = 256 * 1024  # characters of CSV gathered before a chunk is handed to the zip entry


@dataclass(frozen=True)
class CsvOptions:
    """Options beyond Cortex; the defaults reproduce Cortex's output byte for byte."""

    bom: bool = False
    """Start with a UTF-8 byte-order mark, so Excel reads the file as UTF-8."""
    formula_guard: bool = False
    """Prefix ``'`` to text cells starting with ``= + - @``, tab or CR (OWASP CSV injection)."""

    def to_json(self) -> dict[str, bool]:
        return {"bom": self.bom, "formulaGuard": self.formula_guard}

    @classmethod
    def from_json(cls, value: Mapping[str, Any] | None) -> CsvOptions:
        value = value or {}
        return cls(bom=bool(value.get("bom", False)), formula_guard=bool(value.get("formulaGuard", False)))


def guard_text(text: str, options: CsvOptions) -> str:
    """A text cell (a header name, a dictionary label) with the formula guard applied and quoted."""
    if options.formula_guard and text and text[0] in FORMULA_STARTS:
        text = "'" + text
    return quote(text)


class CsvWriter:
    media_type = CSV
    extension = "csv"

    def __init__(self, options: CsvOptions | None = None, *, spill_dir: str | Path | None = None) -> None:
        self.options = options or CsvOptions()
        self.records = 0
        self.columns: list[str] | None = None
        """The header, in order; set once ``finish()`` starts (the data dictionary needs it)."""
        self._tree = ColumnTree(self.options.formula_guard)
        self._spill_dir = spill_dir
        self._spill: IO[bytes] | None = None

    def begin(self) -> bytes:
        return b""

    def write_documents(self, documents: Iterable[Mapping[str, Any]]) -> bytes:
        lines = [orjson.dumps(self._tree.record(document)) for document in documents]
        if lines:
            lines.append(b"")  # every spilled line ends with a newline
            self._spill_file().write(b"\n".join(lines))
            self.records += len(lines) - 1
        return b""  # nothing can be written before the header is known

    def write_encoded(self, documents: Iterable[bytes]) -> bytes:
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

    def _body(self) -> Iterator[bytes]:
        names = self._tree.paths
        self.columns = header_order(names)
        if self.options.bom:
            yield BOM
        if not self.records:
            return
        position = {name: index for index, name in enumerate(self.columns)}
        # spill column number -> header position: one list lookup per cell in the loop below.
        placement = [position[name] for name in names]
        width = len(self.columns)
        out = [",".join(guard_text(name, self.options) for name in self.columns), "\n"]
        size = 0
        spill = self._spill_file()
        spill.seek(0)
        for line in spill:
            record = orjson.loads(line)
            row = [""] * width
            for index in range(0, len(record), 2):
                row[placement[record[index]]] = record[index + 1]
            text = ",".join(row)
            out.append(text)
            out.append("\n")
            size += len(text)
            if size >= _CHUNK:
                yield "".join(out).encode()
                out.clear()
                size = 0
        if out:
            yield "".join(out).encode()

    def _spill_file(self) -> IO[bytes]:
        if self._spill is None:
            self._spill = tempfile.TemporaryFile(prefix="opencortex-csv-", dir=self._spill_dir)  # noqa: SIM115
        return self._spill
