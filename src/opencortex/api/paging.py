"""Query arguments shared by list routes: ``limit`` and keyset paging by ``_id``."""

from __future__ import annotations

from opencortex import faults
from opencortex.ids import is_object_id

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000


def parse_limit(raw: str | None) -> int:
    if raw is None or raw == "":
        return DEFAULT_LIMIT
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_LIMIT:
        raise faults.invalid_argument(f"limit must be an integer from 1 to {MAX_LIMIT}.", path="limit")
    return int(raw)


def parse_cursor(raw: str | None, name: str) -> str | None:
    if raw is None or raw == "":
        return None
    if not is_object_id(raw):
        raise faults.invalid_argument(f"{name} must be an ObjectId.", path=name)
    return raw
