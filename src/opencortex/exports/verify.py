"""Check an export archive against its own ``manifest.json`` (``opencortex export verify ARCHIVE``).

Every entry is read once, in chunks, through SHA-256, a size count, the zip CRC check and, for
the data entry, a record counter; nothing is held whole. Every problem found is reported, not
just the first, so one run tells the whole story of a damaged or altered archive.

That proves the archive consistent, not authentic: whoever alters an entry can rewrite the
manifest to match. With the server's master key the manifest's signature (``manifest.sig``) is
checked too, which no one without the key can forge; without it the report says the signature
was not checked. The archive's own SHA-256 is reported, to compare with the export's ``sha256``.
"""

from __future__ import annotations

import hashlib
import zipfile
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from opencortex.exports.counting import RecordCountError
from opencortex.exports.formats import RecordCounter, counter_for
from opencortex.exports.manifest import (
    MANIFEST_VERSION,
    SIGNATURE_NAME,
    SignatureCheck,
    check_manifest_signature,
)
from opencortex.exports.naming import MANIFEST_NAME
from opencortex.keys import MasterKey

_CHUNK = 1024 * 1024
_MAX_SIGNATURE_BYTES = 64 * 1024


@dataclass(frozen=True)
class Problem:
    entry: str | None
    """The entry concerned; ``None`` for the archive as a whole."""
    code: str
    """``unreadable``, ``manifest``, ``missing``, ``unlisted``, ``duplicate``, ``size``, ``sha256``,
    ``crc``, ``records``, ``format``, ``parts`` or ``signature``."""
    message: str


@dataclass
class VerifyReport:
    path: str
    manifest: dict[str, Any] | None = None
    entries_checked: int = 0
    records: int | None = None
    """Records counted in the data entry (when there is one and it could be counted)."""
    problems: list[Problem] = field(default_factory=list)
    sha256: str | None = None
    """Of the archive file itself: what the API shows as the export's ``sha256``."""
    signature: SignatureCheck = field(default_factory=lambda: SignatureCheck("unchecked"))

    @property
    def ok(self) -> bool:
        return not self.problems

    def add(self, entry: str | None, code: str, message: str) -> None:
        self.problems.append(Problem(entry, code, message))


def verify_archive(path: str | Path, master_key: MasterKey | None = None) -> VerifyReport:
    """Check the archive at ``path``; with the server's ``master_key``, its signature too."""
    report = VerifyReport(str(path))
    report.sha256 = _file_sha256(path)
    try:
        archive = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as error:
        report.add(None, "unreadable", f"not a readable zip archive: {error}")
        return report
    with archive:
        infos = archive.infolist()
        for name, count in Counter(info.filename for info in infos).items():
            if count > 1:
                report.add(name, "duplicate", f"the archive holds {count} entries named {name!r}")
        raw = _read_manifest_bytes(archive, report)
        manifest = None if raw is None else _parse_manifest(raw, report)
        if raw is not None:
            _check_signature(archive, raw, manifest, master_key, report)
        if manifest is None:
            return report
        report.manifest = manifest
        if infos[-1].filename != MANIFEST_NAME:
            report.add(MANIFEST_NAME, "manifest", "manifest.json is not the last entry of the archive")
        listed = {entry["name"]: entry for entry in manifest["entries"]}
        present = {info.filename: info for info in infos}
        for name in listed.keys() - present.keys():
            report.add(name, "missing", "listed in the manifest but not in the archive")
        for name in sorted(present.keys() - listed.keys() - {MANIFEST_NAME, SIGNATURE_NAME}):
            report.add(name, "unlisted", "in the archive but not listed in the manifest")
        for name, entry in listed.items():
            if name in present:
                _check_entry(archive, present[name], entry, report)
                report.entries_checked += 1
        _check_parts(manifest, report)
    return report


def _check_parts(manifest: Mapping[str, Any], report: VerifyReport) -> None:
    """A data entry cut into parts (``maxEntryBytes``) lists them numbered 1, 2, ... in archive
    order (each part's records are counted with the other entries)."""
    data = [entry for entry in manifest["entries"] if entry.get("kind") == "data"]
    numbers = [entry.get("part") for entry in data if entry.get("part") is not None]
    if numbers and numbers != list(range(1, len(data) + 1)):
        report.add(None, "parts", f"the data parts are numbered {numbers}, not 1 to {len(data)} in order")


def _check_signature(archive: zipfile.ZipFile, raw: bytes, manifest: Mapping[str, Any] | None,
                     master_key: MasterKey | None, report: VerifyReport) -> None:
    """``manifest.sig`` against the manifest's bytes. With a key, anything but a valid signature
    is a problem; without one, only a signature the manifest announces and the archive lacks."""
    signature: bytes | None = None
    try:
        info = archive.getinfo(SIGNATURE_NAME)
        # A few hundred bytes when the server wrote it; anything much larger is not a signature.
        signature = archive.read(info) if info.file_size <= _MAX_SIGNATURE_BYTES else b""
    except KeyError:
        pass
    except (OSError, zipfile.BadZipFile) as error:
        report.add(SIGNATURE_NAME, "unreadable", f"manifest.sig cannot be read: {error}")
        return
    check = report.signature = check_manifest_signature(signature, raw, master_key)
    announced = isinstance(manifest, dict) and manifest.get("signature") is not None
    problem = _SIGNATURE_PROBLEMS.get(check.status) if master_key is not None else None
    if check.status == "unsigned" and (announced or master_key is not None):
        problem = ("the archive has no manifest.sig, so it cannot be shown to be the server's"
                   + (": the manifest says it was signed" if announced else ""))
    if problem is not None:
        report.add(SIGNATURE_NAME, "signature", problem)


_SIGNATURE_PROBLEMS = {
    "invalid": "the signature does not match the manifest: the manifest (and so the archive) is not what the "
               "server wrote",
    "otherKey": "signed with a key this server does not hold (another server's, or an earlier master key)",
    "malformed": "manifest.sig is not a signature this server writes",
}


def _read_manifest_bytes(archive: zipfile.ZipFile, report: VerifyReport) -> bytes | None:
    try:
        return archive.read(MANIFEST_NAME)  # small: one line per entry, never the data itself
    except KeyError:
        report.add(MANIFEST_NAME, "missing", "the archive has no manifest.json, so it cannot be verified")
    except (OSError, zipfile.BadZipFile) as error:
        report.add(MANIFEST_NAME, "unreadable", f"manifest.json cannot be read: {error}")
    return None


def _parse_manifest(raw: bytes, report: VerifyReport) -> dict[str, Any] | None:
    try:
        manifest = orjson.loads(raw)
    except orjson.JSONDecodeError as error:
        report.add(MANIFEST_NAME, "manifest", f"manifest.json is not JSON: {error}")
        return None
    problem = _manifest_shape_problem(manifest)
    if problem:
        report.add(MANIFEST_NAME, "manifest", problem)
        return None
    return manifest


def _file_sha256(path: str | Path) -> str | None:
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as archive:
            while chunk := archive.read(_CHUNK):
                digest.update(chunk)
    except OSError:
        return None  # reported as unreadable by the zip check
    return digest.hexdigest()


def _manifest_shape_problem(manifest: Any) -> str | None:
    if not isinstance(manifest, dict):
        return "manifest.json is not a JSON object"
    version = manifest.get("manifestVersion")
    if version != MANIFEST_VERSION:
        return f"manifestVersion {version!r} is not one this server reads (expected {MANIFEST_VERSION})"
    entries = manifest.get("entries")
    if not isinstance(entries, list):
        return "manifest.json has no entries list"
    for entry in entries:
        if not (
            isinstance(entry, dict)
            and isinstance(entry.get("name"), str)
            and isinstance(entry.get("size"), int)
            and isinstance(entry.get("sha256"), str)
        ):
            return f"manifest entry {entry!r} needs a name, a size and a sha256"
    return None


def _check_entry(
    archive: zipfile.ZipFile, info: zipfile.ZipInfo, entry: Mapping[str, Any], report: VerifyReport
) -> None:
    name = info.filename
    digest = hashlib.sha256()
    size = 0
    counter: RecordCounter | None = None
    count_problem = None
    if entry.get("records") is not None:
        try:
            counter = counter_for(str(entry.get("format")))
        except ValueError:
            report.add(name, "format", f"cannot count records of format {entry.get('format')!r}")
    try:
        with archive.open(info) as stream:
            while chunk := stream.read(_CHUNK):
                digest.update(chunk)
                size += len(chunk)
                if counter is not None:
                    try:
                        counter.feed(chunk)
                    except RecordCountError as error:
                        count_problem, counter = str(error), None
    except zipfile.BadZipFile as error:  # zipfile checks each entry's CRC-32 as it reaches the end
        report.add(name, "crc", f"the entry is damaged: {error}")
        return
    except (OSError, EOFError, ValueError, RuntimeError, NotImplementedError) as error:
        report.add(name, "unreadable", f"the entry cannot be read: {error}")
        return
    if size != entry["size"]:
        report.add(name, "size", f"{size} bytes, the manifest says {entry['size']}")
    if digest.hexdigest() != entry["sha256"].lower():
        report.add(name, "sha256", f"SHA-256 {digest.hexdigest()}, the manifest says {entry['sha256']}")
    if count_problem is not None:
        report.add(name, "format", count_problem)
    if counter is None:
        return
    try:
        records = counter.result()
    except RecordCountError as error:
        report.add(name, "format", str(error))
        return
    report.records = (report.records or 0) + records
    if records != entry["records"]:
        report.add(name, "records", f"{records} records, the manifest says {entry['records']}")
