"""Readers for definition options: each checks one JSON value and returns it cleaned.

A reader is ``(value, path) -> cleaned`` and raises ``invalid_definition`` naming ``path``. The
same readers check property options and validator definitions, so both report alike.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from opencortex import faults
from opencortex.model.acl_shape import AclKind, access_level, check_acl
from opencortex.model.problems import Problems

Reader = Callable[[Any, str], Any]
REQUIRED = object()  # an Option default meaning "must be given"


@dataclass(frozen=True)
class Option:
    """One named option of a property type, with its reader and default."""

    key: str
    read: Reader
    default: Any
    array_only: bool = False  # meaningful only on array properties


def boolean(value: Any, path: str) -> bool:
    if not isinstance(value, bool):
        raise faults.invalid_definition("A boolean (true or false) is expected.", path=path)
    return value


def integer(low: int | None = None, high: int | None = None) -> Reader:
    def read(value: Any, path: str) -> int:
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise faults.invalid_definition("An integer is expected.", path=path)
        if (low is not None and value < low) or (high is not None and value > high):
            raise faults.invalid_definition(f"An integer between {low} and {high} is expected.", path=path)
        return value

    return read


def number(value: Any, path: str) -> int | float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise faults.invalid_definition("A finite number is expected.", path=path)
    return value


def text(low: int = 0, high: int = 1024) -> Reader:
    def read(value: Any, path: str) -> str:
        if not isinstance(value, str):
            raise faults.invalid_definition("A string is expected.", path=path)
        if not low <= len(value) <= high:
            raise faults.invalid_definition(f"A string of {low} to {high} characters is expected.", path=path)
        return value

    return read


def choice(*allowed: Any) -> Reader:
    def read(value: Any, path: str) -> Any:
        if isinstance(value, bool) or value not in allowed:
            raise faults.invalid_definition(
                "One of " + ", ".join(map(str, allowed)) + " is expected.", path=path
            )
        return value

    return read


def string_list(max_items: int, item: Reader | None = None, unique: bool = True) -> Reader:
    read_item = item or text(1, 512)

    def read(value: Any, path: str) -> list[Any]:
        if not isinstance(value, list) or len(value) > max_items:
            raise faults.invalid_definition(f"A list of at most {max_items} entries is expected.", path=path)
        cleaned = [read_item(entry, f"{path}[{index}]") for index, entry in enumerate(value)]
        if unique and len({repr(entry) for entry in cleaned}) != len(cleaned):
            raise faults.invalid_definition("List entries must be unique.", path=path)
        return cleaned

    return read


def sized_list(low: int, high: int, item: Reader) -> Reader:
    """1-100 enum values and the like: a list with a size range, each entry read by ``item``."""

    def read(value: Any, path: str) -> list[Any]:
        if not isinstance(value, list) or not low <= len(value) <= high:
            raise faults.invalid_definition(f"A list of {low} to {high} entries is expected.", path=path)
        return [item(entry, f"{path}[{index}]") for index, entry in enumerate(value)]

    return read


def level(value: Any, path: str) -> int:
    found = access_level(value)
    if found is None:
        raise faults.invalid_definition("An access level 1-8 (or its name) is expected.", path=path)
    return found


def acl(kind: AclKind) -> Reader:
    def read(value: Any, path: str) -> list[Any]:
        problems = Problems()
        entries = check_acl(value, path, kind, problems)
        problems.raise_if_any()
        return entries

    return read


def json_object(keys: Sequence[str] | None = None) -> Reader:
    """A JSON object stored as given; with ``keys``, only those keys are allowed."""

    def read(value: Any, path: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise faults.invalid_definition("An object is expected.", path=path)
        if keys is not None:
            for key in value:
                if key not in keys:
                    raise faults.invalid_definition(f"Unknown option {key!r}.", path=f"{path}.{key}")
        return value

    return read


def any_json(value: Any, path: str) -> Any:
    return value
