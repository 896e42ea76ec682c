"""Parsing dates written by clients into the one stored form.

Instants are stored as ISO 8601 UTC with milliseconds and ``Z`` (the form ``clock.iso`` writes),
so stored dates sort as strings and compare equal when they are the same instant. ``dateOnly``
values are stored as ``YYYY-MM-DD``.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

_DATE_ONLY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
# Require at least a full calendar date: fromisoformat alone would accept "2024" or week dates.
_INSTANT = re.compile(r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?)?(Z|[+-]\d{2}(:?\d{2})?)?$")


def parse_instant(text: str) -> str:
    """An ISO 8601 date-time (or date) as stored: UTC, milliseconds, ``Z``. Naive means UTC."""
    if not _INSTANT.match(text):
        raise ValueError("not an ISO 8601 date")
    cleaned = text[:-1] + "+00:00" if text.endswith("Z") else text
    fraction = re.search(r"\.(\d+)", cleaned)
    if fraction and len(fraction.group(1)) > 6:  # Python parses at most microseconds
        cleaned = cleaned.replace(fraction.group(0), "." + fraction.group(1)[:6], 1)
    moment = datetime.fromisoformat(cleaned)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    try:
        moment = moment.astimezone(UTC)
    except OverflowError as error:  # 9999-12-31T23:00-01:00 is past the last representable instant
        raise ValueError("date out of range") from error
    return format_instant(moment)


def format_instant(moment: datetime) -> str:
    """Like ``clock.iso`` but with the year always 4 digits (strftime drops zeros before 1000)."""
    moment = moment.astimezone(UTC)
    return (
        f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}T{moment.hour:02d}:{moment.minute:02d}:"
        f"{moment.second:02d}.{moment.microsecond // 1000:03d}Z"
    )


def parse_date_only(text: str) -> str:
    """A ``YYYY-MM-DD`` calendar date, checked to exist."""
    if not _DATE_ONLY.match(text):
        raise ValueError("String expected in YYYY-MM-DD format")
    return date.fromisoformat(text).isoformat()


def comparable(stored: str) -> str:
    """Stored dates of either form as one sortable string (a date-only value is its midnight)."""
    return stored + "T00:00:00.000Z" if len(stored) == 10 else stored
