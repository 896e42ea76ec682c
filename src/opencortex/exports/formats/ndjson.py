"""NDJSON: one compact JSON document per line, ``\\n`` between lines, no trailing newline."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from opencortex.exports.formats import NDJSON, compact_encoded, encode_document


class NdjsonWriter:
    media_type = NDJSON
    extension = "ndjson"

    def __init__(self) -> None:
        self.records = 0

    def begin(self) -> bytes:
        return b""

    def write_documents(self, documents: Iterable[Mapping[str, Any]]) -> bytes:
        return self._lines(list(map(encode_document, documents)))

    def write_encoded(self, documents: Iterable[bytes], *, single_line: bool = False) -> bytes:
        return self._lines(list(documents) if single_line else list(map(compact_encoded, documents)))

    def finish(self) -> Iterator[bytes]:
        # Cortex writes the separator *between* documents, so there is nothing left to close.
        return iter(())

    def close(self) -> None:
        pass

    def _lines(self, encoded: list[bytes]) -> bytes:
        if not encoded:
            return b""
        count = len(encoded)
        if self.records:
            encoded.insert(0, b"")  # the newline that ends the previous batch's last line
        self.records += count
        return b"\n".join(encoded)
