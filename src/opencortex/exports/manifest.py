"""``manifest.json``: the last entry of every archive, saying what was asked and what was written;
``manifest.sig``, just before it: the server's signature of the manifest.

With the manifest anyone holding the archive can check it is complete and consistent
(``verify.py``): every other entry is listed with its size and SHA-256, the data entry with its
record count. The field names are documented in ``docs/exports.md`` ("The manifest"); a change to
their meaning bumps ``MANIFEST_VERSION``.

A manifest can be rewritten to match altered entries, so the server signs it: an HMAC-SHA256 of
the manifest's exact bytes under a key of the export's org, derived from the master key
(``signing_key``). Only the server (or whoever holds its master key) can make or check one; a
changed byte anywhere in the archive then shows, as a wrong hash or as a wrong signature.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson

import opencortex
from opencortex.clock import iso, utcnow
from opencortex.exports.archive import EntryInfo
from opencortex.exports.jobs import ExportParameters
from opencortex.exports.naming import MANIFEST_NAME
from opencortex.keys import MasterKey

MANIFEST_VERSION = 1
ENTRY_KINDS = ("data", "dictionary", "file", "deleted")  # deleted: an incremental export's deleted.ndjson
SIGNATURE_NAME = "manifest.sig"
SIGNATURE_ALGORITHM = "HMAC-SHA256"
SIGNATURE_FIELD = {"entry": SIGNATURE_NAME, "algorithm": SIGNATURE_ALGORITHM}
"""The manifest's ``signature``: where its signature is, so a signature removed from the archive shows."""
_SIGNING_PURPOSE = "export-manifest-signature"
_KEY_ID_BYTES = 8
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


# The signature


def signing_key(master_key: MasterKey, org_id: str) -> bytes:
    """The org's manifest-signing key: derived from the master key for this purpose and org, so it
    signs nothing else and no other org's archives."""
    return master_key.derive(f"{_SIGNING_PURPOSE}:{org_id}")


def signing_key_id(master_key: MasterKey, org_id: str) -> str:
    """A name for that key that reveals nothing of it: tells "another server's key" from "altered"."""
    return master_key.derive(f"{_SIGNING_PURPOSE}-id:{org_id}", _KEY_ID_BYTES).hex()


def sign_manifest(master_key: MasterKey, org_id: str, manifest: bytes) -> bytes:
    """``manifest.sig``: JSON with the ``algorithm``, the ``entry`` signed, the ``org`` whose key
    signed, that key's ``keyId`` and the ``signature`` (hex HMAC-SHA256 of the manifest's bytes)."""
    signature = hmac.new(signing_key(master_key, org_id), manifest, hashlib.sha256).hexdigest()
    return orjson.dumps({"algorithm": SIGNATURE_ALGORITHM, "entry": MANIFEST_NAME, "org": org_id,
                         "keyId": signing_key_id(master_key, org_id), "signature": signature},
                        option=orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE)


@dataclass(frozen=True)
class SignatureCheck:
    """What checking ``manifest.sig`` found."""

    status: str
    """``valid``; ``unchecked`` (no server key to check with); ``unsigned`` (no ``manifest.sig``);
    ``invalid`` (the manifest is not what the server signed); ``otherKey`` (signed with a key
    this server does not hold: another server's, or an older master key); ``malformed``."""
    org: str | None = None
    """The org whose key signed, as the signature says (checked when ``valid``)."""
    key_id: str | None = None


def check_manifest_signature(signature: bytes | None, manifest: bytes, master_key: MasterKey | None
                             ) -> SignatureCheck:
    """Check ``manifest.sig`` (``signature``, None when the archive has none) against the manifest's
    bytes with the server's ``master_key``; without a key nothing is checked (``unchecked``)."""
    if signature is None:
        return SignatureCheck("unsigned")
    if master_key is None:
        return SignatureCheck("unchecked")
    try:
        signed = orjson.loads(signature)
    except orjson.JSONDecodeError:
        return SignatureCheck("malformed")
    if not isinstance(signed, dict) or (signed.get("algorithm"), signed.get("entry")) != (SIGNATURE_ALGORITHM,
                                                                                            MANIFEST_NAME):
        return SignatureCheck("malformed")
    org, key_id, given = signed.get("org"), signed.get("keyId"), signed.get("signature")
    if not (isinstance(org, str) and isinstance(key_id, str) and isinstance(given, str)):
        return SignatureCheck("malformed")
    if not hmac.compare_digest(key_id.encode(), signing_key_id(master_key, org).encode()):
        return SignatureCheck("otherKey", org, key_id)
    expected = hmac.new(signing_key(master_key, org), manifest, hashlib.sha256).hexdigest()
    matches = hmac.compare_digest(given.lower().encode(), expected.encode())
    return SignatureCheck("valid" if matches else "invalid", org, key_id)
