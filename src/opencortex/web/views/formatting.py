"""How values read on a page: times in UTC, byte sizes, counts, JSON."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson

from opencortex.clock import as_utc, iso

_UNITS = ("bytes", "KiB", "MiB", "GiB", "TiB")


def moment(value: datetime | str | None) -> str:
    """``2026-12-06 20:31:05 UTC``; an empty string for none."""
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return as_utc(value).strftime("%Y-%m-%d %H:%M:%S UTC")


def short_moment(value: datetime | str | None) -> str:
    """``2026-12-06 20:31 UTC``: to the minute, for lists."""
    shown = moment(value)
    return shown[:16] + " UTC" if shown else ""


def machine_moment(value: datetime | str | None) -> str:
    """The ISO 8601 form, for ``<time datetime>``."""
    if value is None or isinstance(value, str):
        return value or ""
    return iso(value) or ""


def byte_size(size: int | None) -> str:
    """``1.5 MiB``; exact below 1 KiB."""
    if size is None:
        return ""
    amount = float(size)
    for unit in _UNITS:
        if amount < 1024 or unit == _UNITS[-1]:
            return f"{size:,} bytes" if unit == "bytes" else f"{amount:,.1f} {unit}"
        amount /= 1024
    raise AssertionError("unreachable")


def count(value: int | None) -> str:
    return "" if value is None else f"{value:,}"


def pretty_json(value: Any) -> str:
    """Indented JSON, for documents and conditions shown in full."""
    return orjson.dumps(value, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS).decode()


def compact_json(value: Any, limit: int | None = None) -> str:
    """One line of JSON (strings without their quotes), cut at ``limit`` characters."""
    text = value if isinstance(value, str) else orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()
    if limit is not None and len(text) > limit:
        return text[: limit - 1] + "…"
    return text
