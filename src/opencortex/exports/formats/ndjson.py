"""NDJSON: one compact JSON document per line, ``\\n`` between lines, no trailing newline."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from opencortex.exports.counting import NdjsonCounter
from opencortex.exports.formats.format import (
    EncodedRecords,
    ExportFormat,
    FormatContext,
    FormatWriter,
    compact_encoded,
    encode_document,
)

MEDIA_TYPE = "application/x-ndjson"


class NdjsonWriter(EncodedRecords):
    media_type = MEDIA_TYPE
    extension = "ndjson"

    def begin(self) -> bytes:
        return b""

    def write_documents(self, documents: Iterable[Mapping[str, Any]]) -> bytes:
        return self._lines(list(map(encode_document, documents)))

    def write_encoded(self, documents: Iterable[bytes], *, single_line: bool = False) -> bytes:
        return self._lines(list(documents) if single_line else list(map(compact_encoded, documents)))

    def finish(self) -> Iterator[bytes]:
        # Cortex writes the separator *between* documents, so there is nothing left to close.
        return iter(())

    # Parts (``maxEntryBytes``): each part is a file of the format on its own.

    separator = b"\n"

    def head(self, part: int) -> bytes:
        return b""

    def tail(self) -> bytes:
        return b""

    def empty(self) -> bytes:
        return b""

    def _lines(self, encoded: list[bytes]) -> bytes:
        if not encoded:
            return b""
        count = len(encoded)
        if self.records:
            encoded.insert(0, b"")  # the newline that ends the previous batch's last line
        self.records += count
        return b"\n".join(encoded)


def _open_writer(options: Any, spill_dir: str | Path | None, context: FormatContext | None = None) -> FormatWriter:
    return NdjsonWriter()


NDJSON_FORMAT = ExportFormat(MEDIA_TYPE, "ndjson", _open_writer, NdjsonCounter, accepts_encoded=True)
