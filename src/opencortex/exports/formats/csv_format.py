"""CSV as an export format: its registry entry, its ``csv`` options and its data dictionary entry.

The writer itself is ``csv_writer`` (with ``csv_cells``); the dictionary file is ``dictionary``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from opencortex import faults
from opencortex.exports.counting import CsvCounter
from opencortex.exports.formats.csv_writer import MEDIA_TYPE, CsvOptions, CsvWriter
from opencortex.exports.formats.dictionary import DICTIONARY_NAME, write_dictionary
from opencortex.exports.formats.format import DescribeColumn, ExportFormat, ExtraEntry, FormatContext, FormatWriter

OPTIONS_KEY = "csv"
_FLAGS = {"bom": "bom", "formulaGuard": "formula_guard", "dictionary": "dictionary"}


def parse_csv_options(value: Any, chosen: bool) -> CsvOptions:
    """The create request's ``csv``: ``{bom, formulaGuard, dictionary}`` booleans, all optional.

    ``chosen`` is whether the export's format is CSV; options for another format are refused.
    """
    if value is None:
        return CsvOptions()
    if not isinstance(value, dict) or any(key not in _FLAGS for key in value):
        raise faults.invalid_argument("csv takes {bom, formulaGuard, dictionary} booleans.", path=OPTIONS_KEY)
    if not chosen:
        raise faults.invalid_argument(f"csv options need format {MEDIA_TYPE}.", path=OPTIONS_KEY)
    flags: dict[str, bool] = {}
    for key, flag in value.items():
        if not isinstance(flag, bool):
            raise faults.invalid_argument(f"csv.{key} is true or false.", path=f"csv.{key}")
        flags[_FLAGS[key]] = flag
    return CsvOptions(**flags)


def dictionary_entries(writer: FormatWriter, options: Any, describe: DescribeColumn) -> list[ExtraEntry]:
    """``dictionary.csv`` when the options ask for it; the writer knows the columns once finished."""
    if not isinstance(options, CsvOptions) or not options.dictionary:
        return []
    if not isinstance(writer, CsvWriter) or writer.columns is None:
        return []
    return [ExtraEntry(DICTIONARY_NAME, "dictionary", write_dictionary(writer.columns, describe, options))]


def _open_writer(options: Any, spill_dir: str | Path | None, context: FormatContext | None = None) -> FormatWriter:
    return CsvWriter(options if isinstance(options, CsvOptions) else None, spill_dir=spill_dir)


CSV_FORMAT = ExportFormat(
    MEDIA_TYPE,
    "csv",
    _open_writer,
    CsvCounter,
    accepts_encoded=False,
    options_key=OPTIONS_KEY,
    parse_options=parse_csv_options,
    read_options=CsvOptions.from_json,
    option_flags=tuple(_FLAGS),
    extra_entries=dictionary_entries,
    finish_event="csv",
)
