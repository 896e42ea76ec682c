"""The data dictionary beside a CSV export: ``dictionary.csv``, one row per column.

Rows are ``column,type,label``. The caller knows the object definition, so it supplies the
lookup ``column -> (type, label)`` (for ``c_list[0].c_x`` that is the type of ``c_x`` in the
list's documents); a column the lookup does not know gets empty type and label cells. The file
uses the same CSV options as the data entry, so the formula guard and BOM apply to it too.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

from opencortex.exports.formats.csv_writer import BOM, CsvOptions, guard_text

DICTIONARY_NAME = "dictionary.csv"
DICTIONARY_HEADER = ("column", "type", "label")

Describe = Callable[[str], tuple[str, str] | None] | Mapping[str, tuple[str, str]]


def write_dictionary(columns: Iterable[str], describe: Describe, options: CsvOptions | None = None) -> bytes:
    """The whole ``dictionary.csv``; it is as small as the header of the data entry."""
    options = options or CsvOptions()
    lookup = describe.get if isinstance(describe, Mapping) else describe
    lines = [",".join(DICTIONARY_HEADER)]
    for column in columns:
        kind, label = lookup(column) or ("", "")
        lines.append(",".join(guard_text(text, options) for text in (column, kind, label)))
    body = "\n".join(lines) + "\n"
    return (BOM if options.bom else b"") + body.encode()
