"""What an export format is: one ``ExportFormat`` entry, and the writer and counter it provides.

Every format module (``ndjson``, ``json_array``, ``csv_format``) defines its entry; the registry
(``formats/registry.py``) lists them. Nothing else in the exports package asks which format it
has: it asks the entry (its writer, its record counter, whether it takes pre-encoded documents,
its options, its extra entries).

The pipeline hands a writer a batch of documents (about a thousand at a time) and gets back ONE
bytes chunk for the zip entry; per-document writes would cost a Python call and a zip write per
document. ``finish()`` is an iterator because CSV only knows its header once every document has
been seen, so its whole body comes out at the end, chunk by chunk.

    writer = export_format.open_writer(options, None, context)
    try:
        entry.write(writer.begin())
        for batch in batches:
            entry.write(writer.write_documents(batch))   # or write_encoded(raw_json_batch)
        for chunk in writer.finish():
            entry.write(chunk)
    finally:
        writer.close()

Every writer can also cut its data entry into parts that are each a valid file of the format
(``maxEntryBytes``, ``exports.data_entries``): it then hands over its records one by one
(``encode_documents``, ``encode_encoded``, ``finish_records``) and says what starts, separates
and ends a part (``head``, ``separator``, ``tail``, ``empty``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

import orjson

from opencortex.model.definitions import ObjectDefinition

# ``column -> (type, label)`` from the object definition, for a data dictionary.
DescribeColumn = Callable[[str], tuple[str, str] | None]


class FormatOptions(Protocol):
    """A format's own options (CSV's ``csv``, ODM's ``odm``), as validated at create."""

    def to_json(self) -> dict[str, Any]:
        """As stored on the export record and shown by the API."""
        ...


def keep_value(path: str) -> str | None:
    """No de-identification: every value is exported as it is."""
    return None


@dataclass(frozen=True)
class FormatContext:
    """What a writer may need beyond its documents: ODM writes metadata before the first one."""

    definition: ObjectDefinition | None = None
    """The object whose instances are exported; None when the documents are not instances."""
    paths: Sequence[str] = ()
    include: Sequence[str] = ()
    export_id: str = ""
    as_of: datetime | None = None
    value_rule: Callable[[str], str | None] = keep_value
    """The de-identification action applied at a dotted property path (``drop``, ``hash``,
    ``shiftDate``, ``dateToYear``, ``truncate``), or None: what the metadata must say about it."""


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

    # Cutting the data entry into parts, each a valid file of the format on its own.

    separator: bytes
    """Between two records of a part."""

    def head(self, part: int) -> bytes:
        """What starts part ``part`` (1, 2...); called once records are known to follow (CSV's
        header only exists once ``finish_records`` has begun)."""
        ...

    def tail(self) -> bytes:
        """What ends a part that holds records."""
        ...

    def empty(self) -> bytes:
        """The whole of the only part of an export without records."""
        ...

    def encode_documents(self, documents: Iterable[Mapping[str, Any]]) -> list[bytes]:
        """One piece per record (counted in ``records``), without separators; CSV spills its
        rows instead and returns none."""
        ...

    def encode_encoded(self, documents: Iterable[bytes], *, single_line: bool = False) -> list[bytes]:
        """``encode_documents`` for documents already encoded as compact JSON."""
        ...

    def finish_records(self) -> Iterator[list[bytes]]:
        """The records only known at the end (CSV's rows), a run at a time; call once."""
        ...


class RecordCounter(Protocol):
    """Counts a data entry's records as its bytes stream past (``verify``); ``result()`` raises
    ``counting.RecordCountError`` when the bytes are not the format they claim to be."""

    def feed(self, chunk: bytes) -> None: ...

    def result(self) -> int: ...


class WriterFactory(Protocol):
    def __call__(self, options: Any, spill_dir: str | Path | None,
                 context: FormatContext | None = None) -> FormatWriter:
        """A fresh writer; ``spill_dir`` is where a writer that spills (CSV) puts its temporary
        rows; ``context`` what it may need to know about the export (ODM's metadata)."""
        ...


@dataclass(frozen=True)
class ExtraEntry:
    """An archive entry a format adds after its data entry (CSV's ``dictionary.csv``)."""

    name: str
    kind: str
    """The manifest's ``kind`` of the entry."""
    content: bytes


ExtraEntries = Callable[[FormatWriter, Any, DescribeColumn], list[ExtraEntry]]
# (the format's options, the exported object's definition (None: not instances), the export's
# paths, include and expand): raises a fault naming the path of what the format cannot do.
RequestCheck = Callable[[Any, ObjectDefinition | None, Sequence[str], Sequence[str], Sequence[str]], None]


def no_extra_entries(writer: FormatWriter, options: Any, describe: DescribeColumn) -> list[ExtraEntry]:
    return []


@dataclass(frozen=True)
class ExportFormat:
    """One export format: everything the rest of the exports package needs to know about it."""

    media_type: str
    """The export's ``format`` (``application/x-ndjson``, ...)."""
    extension: str
    """Of the data entry's name (``export-<created>.<extension>``)."""
    open_writer: WriterFactory
    count_records: Callable[[], RecordCounter]
    accepts_encoded: bool
    """Whether documents encoded straight from the stored bodies (``instances.splice``, the fast
    path) can be written as they are. CSV must look inside each document, so it cannot."""
    options_key: str | None = None
    """The create request's property holding this format's options (``csv``), if it has any."""
    parse_options: Callable[[Any, bool], FormatOptions] | None = None
    """The request's options (``None`` when not given) and whether this is the export's format:
    validated (options for another format are refused), or a fault naming the path."""
    read_options: Callable[[Mapping[str, Any] | None], FormatOptions] | None = None
    """The options as stored on the export record (already validated)."""
    option_flags: tuple[str, ...] = ()
    """The options that are booleans (a form-encoded request sends them as ``"true"``/``"false"``)."""
    extra_entries: ExtraEntries = no_extra_entries
    """Entries written after the data entry, from the finished writer and the options."""
    finish_event: str | None = None
    """When ``finish()`` does real work (CSV writes its whole body there): the name of the
    ``<name>.started`` / ``<name>.completed`` events around it."""
    check_request: RequestCheck | None = None
    """At create, once what the export reads is known: what the format cannot write is refused."""

    def __repr__(self) -> str:
        return f"ExportFormat({self.media_type})"


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


class EncodedRecords:
    """What the JSON-document formats (NDJSON, JSON) share: a record count, and records encoded
    one compact JSON document each, for parts (``maxEntryBytes``) and shards to join."""

    def __init__(self) -> None:
        self.records = 0

    def close(self) -> None:
        pass

    def encode_documents(self, documents: Iterable[Mapping[str, Any]]) -> list[bytes]:
        encoded = list(map(encode_document, documents))
        self.records += len(encoded)
        return encoded

    def encode_encoded(self, documents: Iterable[bytes], *, single_line: bool = False) -> list[bytes]:
        encoded = list(documents) if single_line else list(map(compact_encoded, documents))
        self.records += len(encoded)
        return encoded

    def finish_records(self) -> Iterator[list[bytes]]:
        return iter(())
