"""Parse Cortex's expressions (``$project`` values, ``$group`` keys, accumulator arguments).

As in Cortex, a string is a property (or field) name, a number or boolean is itself, and other
literals are written ``{"$string": "x"}``, ``{"$number": 1.5}``, ``{"$integer": 2}``,
``{"$boolean": true}``, ``{"$date": "2024-01-01T00:00:00.000Z"}``, ``{"$objectId": "…"}`` or
``{"$literal": <scalar>}``. Operators are ``{"$op": argument}`` or ``{"$op": [arguments]}``.

The operators are those of Cortex's expression families that compile to plain SQL on both
databases; any other ``$`` key is refused, naming it. Each operator checks the kinds of its
arguments, so SQL and Python never meet a value of an unexpected type.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from opencortex import faults
from opencortex.query.limits import QueryLimits
from opencortex.query.pipeline.ast import (
    BOOLEAN,
    NULL,
    NUMBER,
    STRING,
    TEXT_KINDS,
    Accumulator,
    Expression,
    Kind,
    Literal,
    Operation,
)
from opencortex.query.pipeline.scope import DocumentScope, RecordScope
from opencortex.query.values import checked_text, coerce, iso_date

_INT64 = 2**63
NUMERIC_OPERATORS = {"$add": (2, None), "$subtract": (2, 2), "$multiply": (2, None), "$divide": (2, 2), "$abs": (1, 1)}
COMPARISONS = frozenset({"$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$cmp"})
DATE_PARTS = frozenset({"$year", "$month", "$dayOfMonth", "$hour", "$minute", "$second", "$millisecond"})
LOGICAL = frozenset({"$and", "$or", "$not"})
STRING_OPERATORS = frozenset({"$concat", "$toLower", "$toUpper", "$substr", "$strcasecmp"})
CONDITIONALS = frozenset({"$cond", "$ifNull"})
LITERALS = frozenset({"$string", "$number", "$integer", "$boolean", "$date", "$objectId", "$literal"})
ACCUMULATORS = frozenset(
    {"$sum", "$avg", "$min", "$max", "$count", "$first", "$last", "$push", "$pushAll", "$addToSet"}
)
# Documented by Cortex, refused by name here: their results cannot be computed the same way by
# SQL on both databases (rounding, JavaScript), or they need values pipelines do not carry.
UNSUPPORTED = frozenset({
    "$stdDevPop", "$stdDevSamp", "$mergeObjects", "$accumulator", "$mod", "$pow", "$log", "$log10", "$ln",
    "$exp", "$sqrt", "$floor", "$ceil", "$trunc", "$dayOfWeek", "$dayOfYear", "$week", "$dateToString",
    "$array", "$object", "$arrayElemAt", "$slice", "$setUnion", "$setIntersection", "$setDifference",
    "$setEquals", "$setIsSubset", "$anyElementTrue", "$allElementsTrue", "$in", "$map", "$filter", "$let",
    "$type", "$regex",
})

Scope = DocumentScope | RecordScope


class ExpressionParser:
    def __init__(self, scope: Scope, limits: QueryLimits) -> None:
        self.scope = scope
        self.limits = limits

    def value(self, raw: Any, at: str, depth: int = 1) -> Expression:
        if depth > self.limits.max_depth:
            raise faults.query_invalid(f"The expression is nested deeper than {self.limits.max_depth} levels.",
                                       path=at)
        if isinstance(raw, str):
            return self.scope.field(raw, at)
        if raw is None:
            return Literal(None, NULL)
        if isinstance(raw, bool):
            return Literal(raw, BOOLEAN)
        if isinstance(raw, int | float):
            return Literal(_number(raw, at), NUMBER)
        if isinstance(raw, list):
            raise faults.query_invalid("An array is not a value here.", path=at)
        if not isinstance(raw, dict) or len(raw) != 1 or not str(next(iter(raw))).startswith("$"):
            raise faults.query_invalid("An expression object has exactly one key, its $operator.", path=at)
        op, argument = next(iter(raw.items()))
        where = f"{at}.{op}"
        if op in LITERALS:
            return _literal(op, argument, where)
        handler = self._operators().get(op)
        if handler is None:
            state = "is not supported" if op in UNSUPPORTED or op in ACCUMULATORS else "is not an expression operator"
            raise faults.query_invalid(f"{op} {state}.", path=where)
        return handler(op, argument, where, depth)

    def accumulator(self, raw: Any, at: str) -> Accumulator:
        if not isinstance(raw, dict) or len(raw) != 1:
            raise faults.query_invalid("An accumulator is an object with one key, e.g. {\"$sum\": \"c_score\"}.",
                                       path=at)
        op, argument = next(iter(raw.items()))
        where = f"{at}.{op}"
        if op not in ACCUMULATORS:
            state = "is not supported" if op in UNSUPPORTED else "is not an accumulator"
            raise faults.query_invalid(f"{op} {state}.", path=where)
        if op == "$count":
            if not isinstance(argument, str):
                raise faults.query_invalid("$count expects a property name.", path=where)
            counted = self.scope.count_argument(argument, where)
            return Accumulator(op, counted if counted is not None else Literal(1, NUMBER), NUMBER)
        value = self.value(argument, where, 2)
        kind = value.kind
        if op in ("$sum", "$avg"):
            _expect(value, {"Number"}, op, where)
            return Accumulator(op, value, NUMBER)
        if kind.scalar == "Null" or (kind.array and op not in ("$first", "$last")):
            raise faults.query_invalid(f"{op} expects a single value, not {kind}.", path=where)
        if op in ("$push", "$pushAll", "$addToSet"):
            return Accumulator(op, value, Kind(kind.scalar, array=True, unique=op == "$addToSet"))
        return Accumulator(op, value, kind)

    # Operators

    def _operators(self) -> dict[str, Callable[[str, Any, str, int], Expression]]:
        table: dict[str, Callable[[str, Any, str, int], Expression]] = {}
        for name in NUMERIC_OPERATORS:
            table[name] = self._numeric
        for name in COMPARISONS:
            table[name] = self._comparison
        for name in DATE_PARTS:
            table[name] = self._date_part
        for name in LOGICAL:
            table[name] = self._logical
        for name in STRING_OPERATORS:
            table[name] = self._string
        table["$cond"] = self._cond
        table["$ifNull"] = self._if_null
        table["$size"] = self._size
        return table

    def _arguments(self, op: str, raw: Any, at: str, depth: int, low: int, high: int | None) -> list[Expression]:
        items = raw if isinstance(raw, list) else [raw]
        maximum = high if high is not None else self.limits.max_logical_conditions
        if not low <= len(items) <= maximum:
            count = f"{low}" if low == maximum else f"{low} to {maximum}"
            raise faults.query_invalid(f"{op} takes {count} arguments.", path=at)
        return [self.value(item, f"{at}[{index}]", depth + 1) for index, item in enumerate(items)]

    def _numeric(self, op: str, raw: Any, at: str, depth: int) -> Expression:
        low, high = NUMERIC_OPERATORS[op]
        args = self._arguments(op, raw, at, depth, low, high)
        for arg in args:
            _expect(arg, {"Number"}, op, at)
        return Operation(op, tuple(args), NUMBER)

    def _comparison(self, op: str, raw: Any, at: str, depth: int) -> Expression:
        left, right = self._arguments(op, raw, at, depth, 2, 2)
        _comparable(left, right, op, at)
        return Operation(op, (left, right), NUMBER if op == "$cmp" else BOOLEAN)

    def _date_part(self, op: str, raw: Any, at: str, depth: int) -> Expression:
        (value,) = self._arguments(op, raw, at, depth, 1, 1)
        _expect(value, {"Date"}, op, at)
        return Operation(op, (value,), NUMBER)

    def _logical(self, op: str, raw: Any, at: str, depth: int) -> Expression:
        args = self._arguments(op, raw, at, depth, 1, 1 if op == "$not" else None)
        return Operation(op, tuple(args), BOOLEAN)

    def _string(self, op: str, raw: Any, at: str, depth: int) -> Expression:
        if op == "$substr":
            if not isinstance(raw, list) or len(raw) != 3:
                raise faults.query_invalid("$substr takes [string, start, length].", path=at)
            text = self.value(raw[0], f"{at}[0]", depth + 1)
            _expect(text, {"String"}, op, at)
            bounds = []
            for index in (1, 2):
                given = raw[index]
                if isinstance(given, bool) or not isinstance(given, int) or not 0 <= given < 2**31:
                    raise faults.query_invalid("$substr's start and length are integers of at least 0.",
                                               path=f"{at}[{index}]")
                bounds.append(Literal(given, NUMBER))
            return Operation(op, (text, *bounds), STRING)
        if op == "$concat":
            args = self._arguments(op, raw, at, depth, 1, None)
            for arg in args:
                _expect(arg, TEXT_KINDS, op, at)
            return Operation(op, tuple(args), STRING)
        if op == "$strcasecmp":
            args = self._arguments(op, raw, at, depth, 2, 2)
            for arg in args:
                _expect(arg, {"String"}, op, at)
            return Operation(op, tuple(args), NUMBER)
        (value,) = self._arguments(op, raw, at, depth, 1, 1)
        _expect(value, {"String"}, op, at)
        return Operation(op, (value,), STRING)

    def _cond(self, op: str, raw: Any, at: str, depth: int) -> Expression:
        if isinstance(raw, dict):
            if set(raw) != {"if", "then", "else"}:
                raise faults.query_invalid("$cond takes {if, then, else} or [if, then, else].", path=at)
            raw = [raw["if"], raw["then"], raw["else"]]
        if not isinstance(raw, list) or len(raw) != 3:
            raise faults.query_invalid("$cond takes {if, then, else} or [if, then, else].", path=at)
        condition, then, otherwise = (self.value(item, f"{at}[{i}]", depth + 1) for i, item in enumerate(raw))
        return Operation(op, (condition, then, otherwise), _common(then, otherwise, op, at))

    def _if_null(self, op: str, raw: Any, at: str, depth: int) -> Expression:
        value, replacement = self._arguments(op, raw, at, depth, 2, 2)
        return Operation(op, (value, replacement), _common(value, replacement, op, at))

    def _size(self, op: str, raw: Any, at: str, depth: int) -> Expression:
        (value,) = self._arguments(op, raw, at, depth, 1, 1)
        if not value.kind.array and value.kind != NULL:
            raise faults.query_invalid(f"$size expects an array, not {value.kind}.", path=at)
        return Operation(op, (value,), NUMBER)


def _expect(value: Expression, kinds: set[str] | frozenset[str], op: str, at: str) -> None:
    if value.kind != NULL and (value.kind.array or value.kind.scalar not in kinds):
        wanted = " or ".join(sorted(kinds))
        raise faults.query_invalid(f"{op} expects {wanted} values, not {value.kind}.", path=at)


def _comparable(left: Expression, right: Expression, op: str, at: str) -> None:
    for side in (left, right):
        if side.kind.array:
            raise faults.query_invalid(f"{op} compares single values, not {side.kind}.", path=at)
    if NULL not in (left.kind, right.kind) and left.kind != right.kind:
        raise faults.query_invalid(f"{op} compares values of one kind, not {left.kind} and {right.kind}.",
                                   path=at)


def _common(first: Expression, second: Expression, op: str, at: str) -> Kind:
    if first.kind == NULL:
        return second.kind
    if second.kind == NULL or second.kind == first.kind:
        return first.kind
    raise faults.query_invalid(f"{op}'s results must be of one kind, not {first.kind} and {second.kind}.", path=at)


def _number(value: int | float, at: str) -> int | float:
    if isinstance(value, float) and not math.isfinite(value):
        raise faults.query_invalid("Numbers must be finite.", path=at)
    if isinstance(value, int) and not -_INT64 <= value < _INT64:
        raise faults.query_invalid("Numbers must fit in 64 bits.", path=at)
    return value


def _literal(op: str, value: Any, at: str) -> Literal:
    if op == "$literal":
        if isinstance(value, bool):
            return Literal(value, BOOLEAN)
        if isinstance(value, int | float):
            return Literal(_number(value, at), NUMBER)
        if isinstance(value, str):
            return Literal(checked_text(value, at), STRING)
        if value is None:
            return Literal(None, NULL)
        raise faults.query_invalid("$literal takes a string, number, boolean or null.", path=at)
    if op == "$integer":
        if isinstance(value, bool) or not isinstance(value, int):
            raise faults.query_invalid("$integer takes an integer.", path=at)
        return Literal(_number(value, at), NUMBER)
    if op == "$number":
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise faults.query_invalid("$number takes a number.", path=at)
        return Literal(_number(value, at), NUMBER)
    if op == "$boolean":
        if not isinstance(value, bool):
            raise faults.query_invalid("$boolean takes true or false.", path=at)
        return Literal(value, BOOLEAN)
    if not isinstance(value, str):
        raise faults.query_invalid(f"{op} takes a string.", path=at)
    if op == "$string":
        return Literal(checked_text(value, at), STRING)
    if op == "$date":
        return Literal(iso_date(value, at), Kind("Date"))
    return Literal(coerce(value, "ObjectId", at), Kind("ObjectId"))

