"""Run a ``where`` AST and sort keys in Python, with the semantics of ``compile.py``.

It exists as the oracle of the property tests (SQLite, PostgreSQL and this must agree) and
is usable wherever instances are already in memory.

An instance here is the stored form: the body's keys, plus the system properties by name
(``_id``, ``created``, ``updated``, ``owner``, ``creator``, ``updater``, ``type``). Body Dates
are ISO strings; ``created``/``updated`` may be datetimes or ISO strings.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from functools import total_ordering
from typing import Any

from opencortex.query.ast import (
    And,
    Compare,
    ElemMatch,
    Exists,
    Field,
    In,
    Node,
    Not,
    Or,
    Regex,
    Scalar,
    Size,
    Step,
    Traversal,
    TypeIs,
    Within,
    tests_arrays_whole,
)
from opencortex.query.bson_types import python_kind, stored_kind
from opencortex.query.geo import point_within
from opencortex.query.regex.matching import search
from opencortex.query.schema import QueryableProperty
from opencortex.query.values import ORDERED_TEXT_TYPES, is_number, parse_iso_datetime

_MISSING = object()


def matches(node: Node | None, instance: dict[str, Any]) -> bool:
    """True when ``instance`` satisfies ``node`` (None matches everything)."""
    return True if node is None else _holds(node, instance)


def sort_key(keys: Sequence[tuple[QueryableProperty, int]], instance: dict[str, Any]) -> tuple[Any, ...]:
    """A key for ``sorted`` that orders instances as ``compile_sort`` does."""
    parts: list[Any] = []
    for prop, direction in keys:
        parts.append(_SortValue(_sort_value(prop, instance), direction))
    if not any(prop.column == "id" for prop, _ in keys):
        parts.append(_SortValue(instance.get("_id"), keys[-1][1] if keys else 1))
    return tuple(parts)


def _holds(node: Node, root: Any) -> bool:
    if isinstance(node, And):
        return all(_holds(child, root) for child in node.children)
    if isinstance(node, Or):
        return any(_holds(child, root) for child in node.children)
    if isinstance(node, Not):
        return not _holds(node.child, root)
    through_last = not tests_arrays_whole(node)
    if node.field.column is not None:
        values: Iterator[Any] = iter([_column_value(node.field, root)])
    else:
        values = _reach(root, node.field.steps, through_last)
    if isinstance(node, ElemMatch):
        return any(_holds(node.condition, element) for element in values)
    return any(_leaf(node, value) for value in values)


def _reach(value: Any, steps: tuple[Step, ...], through_last: bool) -> Iterator[Any]:
    """Every value found by following ``steps`` from ``value``, through arrays (see ``ast.Traversal``)."""
    if not steps:
        yield value
        return
    step, rest = steps[0], steps[1:]
    child = _get(value, step.key)
    if child is _MISSING:
        return
    if step.traversal is Traversal.VALUE or (not rest and not through_last):
        yield from _reach(child, rest, through_last)
    elif isinstance(child, list):
        for element in child:
            yield from _reach(element, rest, through_last)
    elif step.traversal is Traversal.LENIENT and child is not None:
        yield from _reach(child, rest, through_last)  # not an array: its own single element


def _get(value: Any, key: str | int) -> Any:
    if isinstance(key, int):
        return value[key] if isinstance(value, list) and 0 <= key < len(value) else _MISSING
    return value.get(key, _MISSING) if isinstance(value, dict) else _MISSING


def _leaf(node: Node, value: Any) -> bool:
    if isinstance(node, Exists):
        return value is not None
    if isinstance(node, Compare):
        return _compare(node.field, node.op, value, node.value)
    if isinstance(node, In):
        return any(_compare(node.field, "$eq", value, option) for option in node.values) or (
            isinstance(value, str) and any(search(pattern.re2, value) for pattern in node.patterns)
        )
    if isinstance(node, Regex):
        return isinstance(value, str) and search(node.pattern.re2, value)
    if isinstance(node, Size):
        return isinstance(value, list) and len(value) == node.size
    if isinstance(node, Within):
        return _is_point(value) and point_within(
            value["coordinates"][0], value["coordinates"][1], node.circle
        )
    if isinstance(node, TypeIs):
        kind = stored_kind(node.name, node.field.type)
        return kind is not None and python_kind(value) == kind
    raise TypeError(f"not a leaf condition: {node!r}")


def _compare(field: Field, op: str, value: Any, target: Scalar) -> bool:
    """Type-bracketed comparison: a value of another type never matches."""
    if field.column is not None and field.type == "Date":
        left: Any = _as_datetime(value)
        right: Any = _as_datetime(target)
        if left is None or right is None:
            return False
    elif field.type in ORDERED_TEXT_TYPES:
        if not isinstance(value, str):
            return False
        left, right = value, target
    elif field.type == "Number":
        if not is_number(value):
            return False
        left, right = value, target
    elif isinstance(value, bool):
        left, right = value, target
    else:
        return False
    if op == "$eq":
        return bool(left == right)
    if op == "$gt":
        return bool(left > right)
    if op == "$gte":
        return bool(left >= right)
    if op == "$lt":
        return bool(left < right)
    return bool(left <= right)


def _column_value(field: Field, instance: Any) -> Any:
    return instance.get(field.path) if isinstance(instance, dict) else None


def _as_datetime(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    return parse_iso_datetime(value) if isinstance(value, str) else None


def _is_point(value: Any) -> bool:
    if not isinstance(value, dict) or value.get("type") != "Point":
        return False
    coordinates = value.get("coordinates")
    return (
        isinstance(coordinates, list) and len(coordinates) >= 2 and all(is_number(c) for c in coordinates[:2])
    )


def _sort_value(prop: QueryableProperty, instance: dict[str, Any]) -> Any:
    """The value sorted on; None for missing and null alike."""
    if prop.column is not None:
        stored = instance.get(prop.path)
        return _as_datetime(stored) if prop.type == "Date" and stored is not None else stored
    value: Any = instance
    for key in prop.path.split("."):
        value = _get(value, key)
        if value is _MISSING:
            return None
    return value


@total_ordering
class _SortValue:
    """One sort component: None first when ascending, last when descending."""

    def __init__(self, value: Any, direction: int) -> None:
        self.value, self.direction = value, direction

    def _rank(self) -> tuple[int, Any]:
        value = self.value
        if value is None:
            return (0, 0)
        if isinstance(value, bool):
            return (1, int(value))
        if isinstance(value, int | float):
            return (1, value)  # numbers before text, as SQLite orders mixed values
        if isinstance(value, str | datetime):
            return (2, value)
        return (3, repr(value))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _SortValue) and self._rank() == other._rank()

    def __lt__(self, other: _SortValue) -> bool:
        mine, theirs = self._rank(), other._rank()
        if mine[0] == theirs[0] == 2 and type(mine[1]) is not type(theirs[1]):
            mine, theirs = (2, str(mine[1])), (2, str(theirs[1]))
        return mine < theirs if self.direction > 0 else theirs < mine

    def __hash__(self) -> int:
        return hash(self._rank())
