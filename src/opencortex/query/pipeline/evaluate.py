"""Run a pipeline in Python, with the semantics of ``compile.py``: the oracle of the property tests.

Instances are in the stored form ``query.evaluate`` takes (body keys plus ``_id``, ``created``...).
The result is what a response lists: records (``records.render``), or, when the pipeline ends on
instances, ``DocumentOutput``s naming each instance and the element it holds of each ``$unwind``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from opencortex.query.evaluate import matches
from opencortex.query.pipeline.ast import (
    TEXT_KINDS,
    Accumulator,
    DocumentField,
    Expression,
    Group,
    Kind,
    Limit,
    Literal,
    Match,
    Operation,
    Pipeline,
    Project,
    RecordField,
    Skip,
    Sort,
    Unwind,
)
from opencortex.query.pipeline.records import order_key, render
from opencortex.query.values import format_iso, is_number, parse_iso_datetime

_MISSING = object()
DATE_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
DATE_ONLY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
# Where each part sits in "YYYY-MM-DDTHH:MM:SS.mmmZ" (start, length); time parts of a date alone are 0.
DATE_PART_SLICES = {"$year": (0, 4), "$month": (5, 2), "$dayOfMonth": (8, 2), "$hour": (11, 2),
                    "$minute": (14, 2), "$second": (17, 2), "$millisecond": (20, 3)}
ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
ASCII_UPPER = str.maketrans("abcdefghijklmnopqrstuvwxyz", "ABCDEFGHIJKLMNOPQRSTUVWXYZ")


@dataclass(frozen=True)
class DocumentOutput:
    id: str
    indexes: tuple[int, ...]  # the element of each $unwind, in order


@dataclass(frozen=True)
class _Row:
    """An instance, with the (element, index) it holds of each $unwind so far."""

    instance: dict[str, Any]
    elements: tuple[tuple[Any, int], ...] = ()


Record = dict[str, Any]


def run_pipeline(pipeline: Pipeline, instances: Iterable[dict[str, Any]]) -> list[Any]:
    rows: list[Any] = sorted((_Row(instance) for instance in instances),
                             key=lambda row: row.instance["_id"], reverse=True)
    kinds: dict[str, Kind] = {}
    for stage in pipeline.stages:
        if isinstance(stage, Match):
            rows = [row for row in rows if matches(stage.condition, row.instance)]
        elif isinstance(stage, Sort):
            for expression, direction in reversed(stage.keys):
                rows = sorted(rows, key=_sort_key(expression), reverse=direction < 0)
        elif isinstance(stage, Skip):
            rows = rows[stage.count:]
        elif isinstance(stage, Limit):
            rows = rows[: stage.count]
        elif isinstance(stage, Unwind):
            rows = [unwound for row in rows for unwound in _unwind(stage, row)]
        elif isinstance(stage, Group):
            rows, kinds = _group(stage, rows)
        elif isinstance(stage, Project):
            kinds = {name: expression.kind for name, expression in stage.fields}
            rows = [{name: value_of(expression, row) for name, expression in stage.fields} for row in rows]
    if pipeline.outputs_documents:
        return [DocumentOutput(row.instance["_id"], tuple(index for _, index in row.elements)) for row in rows]
    return [render(row, kinds) for row in rows]


def _sort_key(expression: Expression) -> Callable[[Any], tuple[int, Any]]:
    return lambda row: order_key(value_of(expression, row))


def _unwind(stage: Unwind, row: _Row) -> list[_Row]:
    base = row.elements[stage.parent][0] if stage.parent is not None else row.instance
    array = _follow(base, stage.keys)
    if not isinstance(array, list):
        return []
    return [_Row(row.instance, (*row.elements, (element, index))) for index, element in enumerate(array)]


def _group(stage: Group, rows: Sequence[Any]) -> tuple[list[Record], dict[str, Kind]]:
    groups: dict[tuple[Any, ...], list[Any]] = {}
    for row in rows:
        key = tuple(value_of(expression, row) for _, expression in stage.keys)
        groups.setdefault(key, []).append(row)
    records = []
    for key in sorted(groups, key=lambda values: tuple(order_key(value) for value in values)):
        members = groups[key]
        record = {name: value for (name, _), value in zip(stage.keys, key, strict=True)}
        for name, accumulator in stage.accumulators:
            record[name] = accumulate(accumulator, members)
        records.append(record)
    kinds = {name: expression.kind for name, expression in stage.keys}
    kinds.update({name: accumulator.kind for name, accumulator in stage.accumulators})
    return records, kinds


def accumulate(accumulator: Accumulator, rows: Sequence[Any]) -> Any:
    op = accumulator.op
    if op == "$count" and isinstance(accumulator.arg, Literal):
        return len(rows)
    values = [value_of(accumulator.arg, row) for row in rows]
    present = [value for value in values if value is not None]
    if op == "$count":
        return sum(len(value) for value in present)
    if op == "$sum":
        return _sum(present)
    if op == "$avg":
        return _sum(present) / len(present) if present else None
    if op in ("$min", "$max"):
        chosen = min if op == "$min" else max
        return chosen(present, key=order_key) if present else None
    if op == "$first":
        return values[0] if values else None
    if op == "$last":
        return values[-1] if values else None
    if op == "$pushAll":
        return values
    if op == "$push":
        return present
    distinct: list[Any] = []
    for value in present:
        if value not in distinct:
            distinct.append(value)
    return distinct  # $addToSet; canonical() puts a set in order


def _sum(values: Sequence[Any]) -> int | float:
    if all(isinstance(value, int) for value in values):
        return sum(values)
    return math.fsum(values)


def value_of(expression: Expression, row: Any) -> Any:
    """The value of ``expression`` for one instance row (``_Row``) or record (a dict)."""
    if isinstance(expression, Literal):
        return expression.value
    if isinstance(expression, RecordField):
        return row.get(expression.name)
    if isinstance(expression, DocumentField):
        return _typed(_read(expression, row), expression.kind)
    return OPERATIONS[expression.op](expression, [value_of(arg, row) for arg in expression.args])


def _read(field: DocumentField, row: _Row) -> Any:
    if field.column is not None:
        value = row.instance.get(field.path)
        if isinstance(value, datetime):
            return format_iso(value)
        if field.column in ("created", "updated") and isinstance(value, str):
            moment = parse_iso_datetime(value)
            return format_iso(moment) if moment is not None else None
        return value
    base = row.elements[field.unwind][0] if field.unwind is not None else row.instance
    value = _follow(base, field.keys)
    return None if value is _MISSING else value


def _follow(value: Any, keys: Sequence[str]) -> Any:
    for key in keys:
        if not isinstance(value, dict) or key not in value:
            return _MISSING
        value = value[key]
    return value


def _typed(value: Any, kind: Kind) -> Any:
    """The value if it is of ``kind``; otherwise missing (None)."""
    if kind.array:
        return value if isinstance(value, list) else None
    if kind.scalar in TEXT_KINDS:
        return value if isinstance(value, str) else None
    if kind.scalar == "Number":
        return value if is_number(value) else None
    if kind.scalar == "Boolean":
        return value if isinstance(value, bool) else None
    return None


# Operators: each takes its expression (for the kinds) and its arguments' values.


def truthy(value: Any) -> bool:
    if value is None or value is False:
        return False
    return not (is_number(value) and value == 0)


def _compare(left: Any, right: Any) -> int:
    first, second = order_key(left), order_key(right)
    return -1 if first < second else 1 if first > second else 0


def _null_if_any(function: Callable[..., Any]) -> Callable[[Expression, list[Any]], Any]:
    def apply(_expression: Expression, args: list[Any]) -> Any:
        return None if any(arg is None for arg in args) else function(*args)

    return apply


def _date_part(expression: Expression, args: list[Any]) -> Any:
    (text,) = args
    if not isinstance(text, str):
        return None
    start, length = DATE_PART_SLICES[expression.op if isinstance(expression, Operation) else ""]
    if DATE_TIME.match(text):
        return int(text[start:start + length])
    if DATE_ONLY.match(text):
        return int(text[start:start + length]) if start < 10 else 0
    return None


def _add(*values: Any) -> Any:
    total = values[0]
    for value in values[1:]:
        total = total + value
    return total


def _multiply(*values: Any) -> Any:
    product = values[0]
    for value in values[1:]:
        product = product * value
    return product


OPERATIONS: dict[str, Callable[[Expression, list[Any]], Any]] = {
    "$add": _null_if_any(_add),
    "$subtract": _null_if_any(lambda a, b: a - b),
    "$multiply": _null_if_any(_multiply),
    "$divide": _null_if_any(lambda a, b: None if b == 0 else a / b),
    "$abs": _null_if_any(abs),
    "$concat": _null_if_any(lambda *parts: "".join(parts)),
    "$toLower": _null_if_any(lambda text: text.translate(ASCII_LOWER)),
    "$toUpper": _null_if_any(lambda text: text.translate(ASCII_UPPER)),
    "$substr": _null_if_any(lambda text, start, length: text[start:start + length]),
    "$strcasecmp": _null_if_any(lambda a, b: _compare(a.translate(ASCII_LOWER), b.translate(ASCII_LOWER))),
    "$eq": lambda _e, args: _compare(*args) == 0,
    "$ne": lambda _e, args: _compare(*args) != 0,
    "$gt": lambda _e, args: _compare(*args) > 0,
    "$gte": lambda _e, args: _compare(*args) >= 0,
    "$lt": lambda _e, args: _compare(*args) < 0,
    "$lte": lambda _e, args: _compare(*args) <= 0,
    "$cmp": lambda _e, args: _compare(*args),
    "$and": lambda _e, args: all(truthy(arg) for arg in args),
    "$or": lambda _e, args: any(truthy(arg) for arg in args),
    "$not": lambda _e, args: not truthy(args[0]),
    "$cond": lambda _e, args: args[1] if truthy(args[0]) else args[2],
    "$ifNull": lambda _e, args: args[1] if args[0] is None else args[0],
    "$size": lambda _e, args: len(args[0]) if isinstance(args[0], list) else None,
    **dict.fromkeys(DATE_PART_SLICES, _date_part),
}
