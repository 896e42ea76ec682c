"""Build complete export archives the way the pipeline will: data entry, extras, manifest last."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from opencortex.exports.archive import ZipStreamWriter
from opencortex.exports.formats import CSV, format_for, open_format_writer
from opencortex.exports.formats.csv_writer import CsvOptions, CsvWriter
from opencortex.exports.formats.dictionary import DICTIONARY_NAME, write_dictionary
from opencortex.exports.jobs import ExportParameters
from opencortex.exports.manifest import ManifestEntry, build_manifest, encode_manifest
from opencortex.exports.naming import MANIFEST_NAME, data_entry_name

CREATED = datetime(2024, 4, 1, 12, 0, 0, 512000, tzinfo=UTC)
AS_OF = datetime(2024, 4, 1, 12, 0, 1, tzinfo=UTC)


def build_archive(
    path: Path,
    documents: Sequence[dict[str, Any]],
    media_type: str,
    *,
    files: dict[str, bytes] | None = None,
    batch: int = 1000,
) -> dict[str, Any]:
    """Write the archive to ``path``; return its manifest."""
    options = CsvOptions(bom=True, formula_guard=True) if media_type == CSV else None
    parameters = ExportParameters(
        objects="c_patients", object="c_patient", format=format_for(media_type), paths=["c_name"], csv=options
    )
    listed: list[ManifestEntry] = []
    with path.open("wb") as sink:
        archive = ZipStreamWriter(sink, modified=AS_OF)
        writer = open_format_writer(media_type, csv_options=options)
        entry = archive.open_entry(data_entry_name(CREATED, media_type))
        entry.write(writer.begin())
        for start in range(0, len(documents), batch):
            entry.write(writer.write_documents(documents[start : start + batch]))
        for chunk in writer.finish():
            entry.write(chunk)
        info = entry.close()
        listed.append(ManifestEntry.from_info(info, "data", records=writer.records, format=media_type))
        if isinstance(writer, CsvWriter):
            dictionary = write_dictionary(writer.columns or [], {"_id": ("ObjectId", "Id")}, options)
            listed.append(
                ManifestEntry.from_info(archive.write_entry(DICTIONARY_NAME, [dictionary]), "dictionary")
            )
        for name, data in (files or {}).items():
            info = archive.write_entry(name, [data], compress=False)
            listed.append(ManifestEntry.from_info(info, "file", details={"mime": "image/png"}))
        manifest = build_manifest(
            parameters, listed, as_of=AS_OF, export_id="65f0c0ffee0000000000aa01", created=CREATED
        )
        archive.write_entry(MANIFEST_NAME, [encode_manifest(manifest)])
        archive.close()
    return manifest
