"""Coerce a ``where`` value to the type of the property it is compared with.

Cortex casts query values to the property type (ISO strings become Dates, hex strings become
ObjectIds). We cast the same way, but strictly: a value that does not fit is a fault naming
the property, never a silent non-match. The results are in the form the body stores, so
SQL can compare them directly:

- String: any string (NUL and lone surrogates are refused: PostgreSQL text cannot hold them);
- Number: a JSON number (int, or finite float); booleans and numeric strings are refused;
- Boolean: true or false only;
- Date: an ISO 8601 string (a date, or a date-time with an optional offset), normalised to
  UTC with milliseconds and ``Z``: ``2024-01-02T03:04:05.000Z``; naive times are UTC;
- ObjectId (and Reference, stored as its target's id): 24 hex digits, lower-cased.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime
from typing import Any

from opencortex import faults
from opencortex.query.ast import Scalar

COMPARABLE_TYPES = frozenset({"String", "Number", "Boolean", "Date", "ObjectId", "Reference"})
ORDERED_TEXT_TYPES = frozenset({"String", "Date", "ObjectId", "Reference"})  # stored as JSON strings

_OBJECT_ID = re.compile(r"^[0-9a-fA-F]{24}$")
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?)?(Z|[+-]\d{2}:?\d{2})?$")


def coerce(value: Any, prop_type: str, path: str) -> Scalar:
    """``value`` as the property type stores it, or a ``query_invalid`` fault naming ``path``."""
    if prop_type == "String" and isinstance(value, str):
        return checked_text(value, path)
    if prop_type == "Number" and is_number(value):
        return value
    if prop_type == "Boolean" and isinstance(value, bool):
        return value
    if prop_type == "Date" and isinstance(value, str):
        return iso_date(value, path)
    if prop_type in ("ObjectId", "Reference") and isinstance(value, str) and _OBJECT_ID.match(value):
        return value.lower()
    expected = {"Reference": "an ObjectId", "ObjectId": "an ObjectId", "Date": "an ISO 8601 Date"}
    raise faults.query_invalid(
        f"Expected {expected.get(prop_type, 'a ' + prop_type)} value for {path}.", path=path
    )


def is_number(value: Any) -> bool:
    """A JSON number: an int or a finite float, but not a bool (which Python counts as an int)."""
    if isinstance(value, bool):
        return False
    return isinstance(value, int) or (isinstance(value, float) and math.isfinite(value))


def checked_text(value: str, path: str) -> str:
    if "\x00" in value:
        raise faults.query_invalid(f"Strings may not contain NUL characters ({path}).", path=path)
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as error:
        raise faults.query_invalid(f"Strings must be valid Unicode ({path}).", path=path) from error
    return value


def iso_date(text: str, path: str) -> str:
    """An ISO 8601 date or date-time, as the body stores Dates (UTC, milliseconds, ``Z``)."""
    parsed = parse_iso_datetime(text)
    if parsed is None:
        raise faults.query_invalid(f"Expected an ISO 8601 Date value for {path}.", path=path)
    return format_iso(parsed)


def parse_iso_datetime(text: str) -> datetime | None:
    """An aware UTC datetime from ISO 8601 text, or None if it is not one."""
    if not _ISO_DATE.match(text):
        return None
    # fromisoformat takes at most microseconds; drop digits beyond them first.
    text = re.sub(r"(\.\d{6})\d+", r"\1", text)
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    try:
        return parsed.astimezone(UTC)
    except OverflowError:  # e.g. 0001-01-01T00:00:00+01:00 falls before year 1
        return None


def format_iso(moment: datetime) -> str:
    """``2024-01-02T03:04:05.000Z``: the stored form of a Date (truncated to milliseconds)."""
    moment = moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
    return (
        f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}T{moment.hour:02d}:{moment.minute:02d}:"
        f"{moment.second:02d}.{moment.microsecond // 1000:03d}Z"
    )
