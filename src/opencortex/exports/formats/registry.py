"""The export formats, by media type. Adding a format: one module with its ``ExportFormat``, one line here."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from opencortex.exports.formats.csv_format import CSV_FORMAT
from opencortex.exports.formats.csv_writer import CsvOptions
from opencortex.exports.formats.format import ExportFormat, FormatContext, FormatWriter, RecordCounter
from opencortex.exports.formats.json_array import JSON_FORMAT
from opencortex.exports.formats.ndjson import NDJSON_FORMAT
from opencortex.exports.formats.odm import ODM_FORMAT

FORMATS: tuple[ExportFormat, ...] = (
    NDJSON_FORMAT,
    JSON_FORMAT,
    CSV_FORMAT,
    ODM_FORMAT,
)
DEFAULT_FORMAT = NDJSON_FORMAT
_BY_MEDIA_TYPE = {export_format.media_type: export_format for export_format in FORMATS}


def find_format(media_type: object) -> ExportFormat | None:
    """The format of ``media_type``; None when there is none (or ``media_type`` is not a string)."""
    return _BY_MEDIA_TYPE.get(media_type) if isinstance(media_type, str) else None


def format_for(media_type: str) -> ExportFormat:
    """The format of ``media_type``; a ``ValueError`` naming the known ones when there is none."""
    export_format = find_format(media_type)
    if export_format is None:
        raise ValueError(f"{media_type!r} is not an export format: expected one of {', '.join(_BY_MEDIA_TYPE)}")
    return export_format


def open_format_writer(
    media_type: str,
    *,
    csv_options: CsvOptions | None = None,
    spill_dir: str | Path | None = None,
    options: Any = None,
    context: FormatContext | None = None,
) -> FormatWriter:
    """A fresh writer for ``media_type``; ``csv_options`` and ``spill_dir`` (where CSV's temporary
    rows go; use a private folder on a disk with room for the export) only matter for CSV;
    ``options`` are another format's own, ``context`` what ODM needs (the object definition)."""
    return format_for(media_type).open_writer(csv_options if options is None else options, spill_dir, context)


def counter_for(media_type: str) -> RecordCounter:
    """A record counter for a data entry of ``media_type`` (``ValueError`` for an unknown one)."""
    return format_for(media_type).count_records()
