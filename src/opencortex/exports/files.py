"""``exportFiles``: the files that File properties hold, copied into or beside the archive.

While documents are serialised, every ready facet gets the next 10-digit number and its
``path`` is rewritten: to its archive entry (``zipFiles: true``) or to
``/exports/<id>/files/<number>`` (``zipFiles: false``). The copies themselves happen after the
data entry is written, from a spill file of references, so memory does not grow with the number
of files; bytes stream from the encrypted store chunk by chunk either way.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any

import orjson

from opencortex import faults
from opencortex.attachments.facets import READY, file_values, storage_key
from opencortex.exports.archive import ZipStreamWriter
from opencortex.exports.manifest import ManifestEntry
from opencortex.exports.naming import file_entry_name, is_precompressed, original_path
from opencortex.files import EncryptedFileStore
from opencortex.model.definitions import ObjectDefinition

FILE_NUMBER_DIGITS = 10


def export_file_key(prefix: str, number: int, api_path: str) -> str:
    return f"{prefix}files/{number:0{FILE_NUMBER_DIGITS}d}{original_path(api_path)}"


@dataclass
class FileCollector:
    """Numbers ready facets as documents pass, rewrites their paths, and remembers what to copy."""

    export_id: str
    org_id: str
    plural: str
    definition: ObjectDefinition
    zip_files: bool
    count: int = 0
    _spill: IO[bytes] = field(default_factory=lambda: tempfile.TemporaryFile())  # noqa: SIM115

    def rewrite(self, documents: list[dict[str, Any]]) -> None:
        """Number the ready facets of serialised documents and rewrite their paths, in place."""
        for document in documents:
            for path, value in file_values(self.definition, document):
                for facet in [value, *(value.get("facets") or [])]:
                    if isinstance(facet, dict):
                        self._facet(document["_id"], path, facet)

    def _facet(self, instance_id: str, property_path: str, facet: dict[str, Any]) -> None:
        facet.pop("uploads", None)
        if facet.get("state") != READY or not isinstance(facet.get("storageId"), str):
            return
        number = self.count
        self.count += 1
        name = facet.get("name") or "content"
        api_path = f"/{self.plural}/{instance_id}/{property_path.replace('.', '/')}/{name}"
        reference = {"n": number, "key": storage_key(self.org_id, facet["storageId"]), "api": api_path,
                     "mime": facet.get("mime"), "size": facet.get("size")}
        self._spill.write(orjson.dumps(reference) + b"\n")
        if self.zip_files:
            facet["path"] = "/" + file_entry_name(number, api_path, facet.get("mime"))
        else:
            facet["path"] = f"/exports/{self.export_id}/files/{number:0{FILE_NUMBER_DIGITS}d}"
        facet.pop("storageId", None)

    def references(self) -> Iterator[dict[str, Any]]:
        self._spill.flush()
        self._spill.seek(0)
        for line in self._spill:
            yield orjson.loads(line)

    def close(self) -> None:
        self._spill.close()


@dataclass
class CopyResult:
    entries: list[ManifestEntry] = field(default_factory=list)  # zipFiles: true
    stored: list[dict[str, Any]] = field(default_factory=list)  # zipFiles: false: facets listed as `files`
    count: int = 0
    size: int = 0
    skipped: list[str] = field(default_factory=list)  # API paths whose bytes were missing


def copy_files(collector: FileCollector, store: EncryptedFileStore, zip_writer: ZipStreamWriter, prefix: str,
               beat: Callable[[], None]) -> CopyResult:
    """Copy every collected file into the archive, or beside it under ``prefix``."""
    result = CopyResult()
    for reference in collector.references():
        try:
            reader = store.open_reader(reference["key"])
        except faults.Fault as fault:
            if fault.kind is not faults.file_not_found:
                raise
            result.skipped.append(reference["api"])
            continue
        with reader:
            if collector.zip_files:
                name = file_entry_name(reference["n"], reference["api"], reference["mime"])
                entry = zip_writer.open_entry(name, compress=not is_precompressed(reference["mime"]),
                                              size_hint=reference["size"])
                for chunk in reader:
                    entry.write(chunk)
                    beat()
                info = entry.close()
                result.entries.append(ManifestEntry.from_info(
                    info, "file", details={"source": reference["api"], "mime": reference["mime"]}))
            else:
                key = export_file_key(prefix, reference["n"], reference["api"])
                with store.open_writer(key) as writer:
                    for chunk in reader:
                        writer.write(chunk)
                        beat()
                    stored = writer.commit()
                result.size += stored.size
                result.stored.append({
                    "object": "facet", "name": f"{reference['n']:0{FILE_NUMBER_DIGITS}d}",
                    "path": f"/exports/{collector.export_id}/files/{reference['n']:0{FILE_NUMBER_DIGITS}d}",
                    "mime": reference["mime"], "size": stored.size, "ETag": stored.md5, "sha256": stored.sha256,
                    "originalPath": original_path(reference["api"]), "key": key,
                })
        result.count += 1
    return result


__all__ = ["CopyResult", "FileCollector", "copy_files", "export_file_key"]
