"""One writer per export format, all behind the small ``FormatWriter`` protocol.

The pipeline hands a writer a batch of documents (about a thousand at a time) and gets back ONE
bytes chunk for the zip entry; per-document writes would cost a Python call and a zip write per
document. ``finish()`` is an iterator because CSV only knows its header once every document has
been seen, so its whole body comes out at the end, chunk by chunk.

    writer = open_format_writer(media_type, csv_options=options)
    try:
        entry.write(writer.begin())
        for batch in batches:
            entry.write(writer.write_documents(batch))   # or write_encoded(raw_json_batch)
        for chunk in writer.finish():
            entry.write(chunk)
    finally:
        writer.close()
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import orjson

if TYPE_CHECKING:
    from opencortex.exports.formats.csv_writer import CsvOptions

NDJSON = "application/x-ndjson"
JSON = "application/json"
CSV = "text/csv"
EXTENSIONS = {NDJSON: "ndjson", JSON: "json", CSV: "csv"}


class FormatWriter(Protocol):
    media_type: str
    extension: str
    records: int
    """Documents written so far (``stats.docs.count`` and the manifest's record count)."""

    def begin(self) -> bytes: ...

    def write_documents(self, documents: Iterable[Mapping[str, Any]]) -> bytes:
        """Documents as the read API serialises them (dates as ISO strings, ids as hex)."""
        ...

    def write_encoded(self, documents: Iterable[bytes], *, single_line: bool = False) -> bytes:
        """Documents already encoded as compact JSON (orjson output or the database's JSON text);
        ``single_line`` when the caller knows none holds a raw line break (orjson never writes
        one), which spares checking each."""
        ...

    def finish(self) -> Iterator[bytes]:
        """The rest of the entry, in chunks; call once, after the last batch."""
        ...

    def close(self) -> None:
        """Release temporary resources; safe to call at any point and more than once."""
        ...


def encode_document(document: Mapping[str, Any]) -> bytes:
    """The same compact JSON the read API sends, so an export matches what a client reads."""
    return orjson.dumps(document, option=orjson.OPT_NON_STR_KEYS)


def compact_encoded(raw: bytes) -> bytes:
    """``raw`` as one line. Raw newlines in valid JSON can only be whitespace between tokens, but a
    document spread over lines would break NDJSON's one-document-per-line rule, so re-encode those
    (rare) documents instead of trusting them."""
    if b"\n" in raw or b"\r" in raw:
        return encode_document(orjson.loads(raw))
    return raw


def open_format_writer(
    media_type: str,
    *,
    csv_options: CsvOptions | None = None,
    spill_dir: str | Path | None = None,
) -> FormatWriter:
    """A fresh writer for ``media_type``; ``csv_options`` and ``spill_dir`` (where CSV's temporary
    rows go; use a private folder on a disk with room for the export) only matter for CSV."""
    # Imported here: the writer modules import this one for the protocol helpers.
    from opencortex.exports.formats.csv_writer import CsvWriter
    from opencortex.exports.formats.json_array import JsonArrayWriter
    from opencortex.exports.formats.ndjson import NdjsonWriter

    if media_type == NDJSON:
        return NdjsonWriter()
    if media_type == JSON:
        return JsonArrayWriter()
    if media_type == CSV:
        return CsvWriter(csv_options, spill_dir=spill_dir)
    raise ValueError(f"{media_type!r} is not an export format: expected one of {', '.join(EXTENSIONS)}")
