"""Export formats: one ``ExportFormat`` per media type (``format.py``), listed in ``registry.py``.

Each format module holds its writer and its registry entry: ``ndjson``, ``json_array``,
``csv_format`` (with ``csv_writer``, ``csv_cells`` and ``dictionary``), ``odm`` (with ``odm_metadata``).
"""

from opencortex.exports.formats.csv_format import CSV_FORMAT
from opencortex.exports.formats.format import (
    ExportFormat,
    ExtraEntry,
    FormatContext,
    FormatWriter,
    RecordCounter,
    compact_encoded,
    encode_document,
)
from opencortex.exports.formats.json_array import JSON_FORMAT
from opencortex.exports.formats.ndjson import NDJSON_FORMAT
from opencortex.exports.formats.odm import ODM_FORMAT
from opencortex.exports.formats.registry import (
    DEFAULT_FORMAT,
    FORMATS,
    counter_for,
    find_format,
    format_for,
    open_format_writer,
)

# The media types, for callers that name a format (tests, the bench).
NDJSON = NDJSON_FORMAT.media_type
JSON = JSON_FORMAT.media_type
CSV = CSV_FORMAT.media_type
ODM = ODM_FORMAT.media_type

__all__ = [
    "CSV",
    "DEFAULT_FORMAT",
    "FORMATS",
    "JSON",
    "NDJSON",
    "ODM",
    "ExportFormat",
    "ExtraEntry",
    "FormatContext",
    "FormatWriter",
    "RecordCounter",
    "compact_encoded",
    "counter_for",
    "encode_document",
    "find_format",
    "format_for",
    "open_format_writer",
]
