"""JSON: ``[``, newline, documents joined by ``,\\n``, newline, ``]``; no documents give ``[]``."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from opencortex.exports.counting import JsonArrayCounter
from opencortex.exports.formats.format import (
    EncodedRecords,
    ExportFormat,
    FormatContext,
    FormatWriter,
    compact_encoded,
    encode_document,
)

MEDIA_TYPE = "application/json"


class JsonArrayWriter(EncodedRecords):
    media_type = MEDIA_TYPE
    extension = "json"

    def begin(self) -> bytes:
        # The opening bracket waits for the first document: an empty export is "[]", not "[\n".
        return b""

    def write_documents(self, documents: Iterable[Mapping[str, Any]]) -> bytes:
        return self._elements(list(map(encode_document, documents)))

    def write_encoded(self, documents: Iterable[bytes], *, single_line: bool = False) -> bytes:
        return self._elements(list(documents) if single_line else list(map(compact_encoded, documents)))

    def finish(self) -> Iterator[bytes]:
        yield b"\n]" if self.records else b"[]"

    # Parts (``maxEntryBytes``): each part is a file of the format on its own.

    separator = b",\n"

    def head(self, part: int) -> bytes:
        return b"[\n"

    def tail(self) -> bytes:
        return b"\n]"

    def empty(self) -> bytes:
        return b"[]"

    def _elements(self, encoded: list[bytes]) -> bytes:
        if not encoded:
            return b""
        lead = b",\n" if self.records else b"[\n"
        self.records += len(encoded)
        return lead + b",\n".join(encoded)


def _open_writer(options: Any, spill_dir: str | Path | None, context: FormatContext | None = None) -> FormatWriter:
    return JsonArrayWriter()


JSON_FORMAT = ExportFormat(MEDIA_TYPE, "json", _open_writer, JsonArrayCounter, accepts_encoded=True)
