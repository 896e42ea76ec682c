"""``paths[]``, ``include[]`` and ``expand[]``: which properties a read returns.

Arguments arrive repeated (``paths[]=a&paths[]=b``), as JSON strings (``paths=["a","b"]``) or
comma-free single values; all three forms parse to the same ``Selection``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson

from opencortex import faults

MAX_ENTRIES = 100
MAX_PATH_LENGTH = 200


@dataclass(frozen=True)
class Selection:
    """What to return: ``paths`` (None = every default property), optional ones to ``include``,
    references to ``expand``. Paths are dotted; each is a tuple of its parts."""

    paths: tuple[tuple[str, ...], ...] | None = None
    include: frozenset[str] = frozenset()
    expand: tuple[tuple[str, ...], ...] = field(default=())

    def for_child(self, name: str) -> Selection:
        """The selection inside property ``name`` (a Document or an expanded reference)."""
        child_paths = None
        if self.paths is not None:
            inner = [path[1:] for path in self.paths if path[0] == name and len(path) > 1]
            child_paths = tuple(inner) if inner else None
        child_expand = tuple(path[1:] for path in self.expand if path[0] == name and len(path) > 1)
        child_include = frozenset(
            item.split(".", 1)[1] for item in self.include if item.startswith(name + ".")
        )
        return Selection(child_paths, child_include, child_expand)

    def names_selected(self) -> set[str] | None:
        return None if self.paths is None else {path[0] for path in self.paths}

    def expands(self, name: str) -> bool:
        return any(path[0] == name for path in self.expand) or (
            self.paths is not None and any(path[0] == name and len(path) > 1 for path in self.paths)
        )


def parse_selection(
    paths: Iterable[str] | None, include: Iterable[str] | None, expand: Iterable[str] | None
) -> Selection:
    parsed_paths = _parse_list(paths, "paths")
    return Selection(
        paths=tuple(parsed_paths) if paths is not None and parsed_paths else None,
        include=frozenset(".".join(parts) for parts in _parse_list(include, "include")),
        expand=tuple(_parse_list(expand, "expand")),
    )


def query_list(raw_values: list[str]) -> list[str] | None:
    """Values of a repeatable query argument; one JSON-array value is accepted too."""
    if not raw_values:
        return None
    if len(raw_values) == 1 and raw_values[0].lstrip().startswith("["):
        try:
            decoded = orjson.loads(raw_values[0])
        except orjson.JSONDecodeError:
            raise faults.invalid_argument("Expected a JSON array of strings.") from None
        if not isinstance(decoded, list) or not all(isinstance(item, str) for item in decoded):
            raise faults.invalid_argument("Expected a JSON array of strings.")
        return decoded
    return raw_values


def _parse_list(values: Iterable[Any] | None, name: str) -> list[tuple[str, ...]]:
    if values is None:
        return []
    result: list[tuple[str, ...]] = []
    for index, value in enumerate(values):
        if index >= MAX_ENTRIES:
            raise faults.invalid_argument(f"At most {MAX_ENTRIES} {name} entries.", path=name)
        if not isinstance(value, str) or not value or len(value) > MAX_PATH_LENGTH:
            raise faults.invalid_argument(f"{name} entries are property paths.", path=f"{name}[{index}]")
        parts = tuple(value.split("."))
        if any(not part for part in parts):
            raise faults.invalid_argument(f"{value!r} is not a property path.", path=f"{name}[{index}]")
        if parts not in result:
            result.append(parts)
    return result
