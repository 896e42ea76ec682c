"""``manifest.json``: the last entry of every archive, saying what was asked and what was written.

With it anyone holding the archive can check it is complete and unaltered (``verify.py``):
every other entry is listed with its size and SHA-256, the data entry with its record count. The
field names are documented in ``docs/exports.md`` ("The manifest"); a change to their meaning
bumps ``MANIFEST_VERSION``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson

import opencortex
from opencortex.clock import iso, utcnow
from opencortex.exports.archive import EntryInfo
from opencortex.exports.jobs import ExportParameters

MANIFEST_VERSION = 1
ENTRY_KINDS = ("data", "dictionary", "file", "deleted")  # deleted: an incremental export's deleted.ndjson
REDACTED = "[redacted: de-identified export]"
"""What a de-identified export's manifest shows for its ``where``, which may hold the very values
the profile removes from the data."""


@dataclass(frozen=True)
class ManifestEntry:
    name: str
    kind: str
    """``data`` (the exported documents, or one part of them), ``dictionary`` (CSV data
    dictionary) or ``file``."""
    size: int
    sha256: str
    records: int | None = None
    """Documents in a data entry; ``None`` for other kinds."""
    format: str | None = None
    """The media type of a data entry."""
    details: Mapping[str, Any] = field(default_factory=dict)
    """Anything else worth keeping about the entry, e.g. a file's ``source`` facet path and
    ``mime``, or a data part's ``part`` number."""

    @classmethod
    def from_info(cls, info: EntryInfo, kind: str, **extra: Any) -> ManifestEntry:
        return cls(info.name, kind, info.size, info.sha256, **extra)

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"name": self.name, "kind": self.kind}
        if self.format is not None:
            body["format"] = self.format
        if self.records is not None:
            body["records"] = self.records
        body["size"] = self.size
        body["sha256"] = self.sha256
        body.update(self.details)
        return body


def build_manifest(
    parameters: ExportParameters,
    entries: Sequence[ManifestEntry],
    *,
    as_of: datetime,
    export_id: str | None = None,
    created: datetime | None = None,
    generated: datetime | None = None,
    deidentification: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The manifest document. ``as_of`` is the moment the data was read as of (the snapshot
    cut-off), ``created`` the export record's creation time (it names the data entry),
    ``generated`` when the archive was finished (default: now), ``deidentification`` the
    profile applied (``{profile, version}``; never its key)."""
    for entry in entries:
        if entry.kind not in ENTRY_KINDS:
            raise ValueError(f"manifest entry {entry.name!r} has unknown kind {entry.kind!r}")
    manifest: dict[str, Any] = {
        "manifestVersion": MANIFEST_VERSION,
        "generator": {"name": "opencortex", "version": opencortex.__version__},
        "exportId": export_id,
        "created": iso(created),
        "asOf": iso(as_of),
        "generated": iso(generated or utcnow()),
        "parameters": parameters_json(parameters, redacted=deidentification is not None),
        "totals": {
            "records": sum(entry.records or 0 for entry in entries if entry.kind == "data"),
            "files": sum(1 for entry in entries if entry.kind == "file"),
            "entries": len(entries),
            "size": sum(entry.size for entry in entries),
        },
        "entries": [entry.to_json() for entry in entries],
    }
    if deidentification is not None:
        manifest["deidentification"] = {"profile": deidentification["profile"],
                                         "version": deidentification["version"]}
    return manifest


def parameters_json(parameters: ExportParameters, *, redacted: bool = False) -> dict[str, Any]:
    """What was asked, with the export's property names (``object`` is its ``objects``, the
    ``where`` JSON string as given, or ``REDACTED`` in a de-identified export; ``csv`` only for
    CSV, and only the options that shape the file; ``odm``, ``deidentify`` and ``maxEntryBytes``
    only when set)."""
    csv = parameters.csv
    where = parameters.where.text if parameters.where is not None else None
    asked: dict[str, Any] = {
        "object": parameters.objects,
        "format": parameters.format.media_type,
        "paths": list(parameters.paths),
        "include": list(parameters.include),
        "expand": list(parameters.expand),
        "where": REDACTED if redacted and where is not None else where,
        "principal": parameters.principal,
        "prefix": str(parameters.prefix) if parameters.prefix is not None else None,
        "exportFiles": parameters.export_files,
        "zipFiles": parameters.zip_files,
        "csv": {"bom": csv.bom, "formulaGuard": csv.formula_guard} if csv is not None else None,
    }
    # Options beyond Cortex, only when set (a manifest without them reads as it always did).
    extensions = {"odm": parameters.odm.to_json() if parameters.odm is not None else None,
                  "deidentify": parameters.deidentify, "maxEntryBytes": parameters.max_entry_bytes,
                  "since": str(parameters.since) if parameters.since is not None else None}
    asked.update((key, value) for key, value in extensions.items() if value is not None)
    return asked


def encode_manifest(manifest: Mapping[str, Any]) -> bytes:
    """Indented, so a person can read it with any text viewer; ends with a newline."""
    return orjson.dumps(manifest, option=orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE)
