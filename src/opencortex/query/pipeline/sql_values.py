"""Pipeline values in SQL: typed reads, literals, expression operators and accumulators.

Each value is SQL of its kind: text for String, Date and ObjectId (in the "C" collation on
PostgreSQL, so that it compares by code point as SQLite and Python do), a number (``numeric``
on PostgreSQL, exact; SQLite's integers and doubles), a boolean (0/1 on SQLite), or the JSON of
an array (text on SQLite, ``jsonb`` on PostgreSQL). Null is SQL NULL, and never leaks into the
logic: comparisons order null first, as sorting does, and are never NULL themselves.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement, Null

from opencortex.query.dialects import Location, PostgresJson, json_dialect
from opencortex.query.pipeline.ast import (
    TEXT_KINDS,
    Accumulator,
    DocumentField,
    Expression,
    Kind,
    Literal,
    Operation,
    RecordField,
)

SQL = ColumnElement[Any]
Resolve = Callable[[DocumentField | RecordField], SQL]
UPPER, LOWER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz"
DATE_PART_SLICES = {"$year": (1, 4), "$month": (6, 2), "$dayOfMonth": (9, 2), "$hour": (12, 2),
                    "$minute": (15, 2), "$second": (18, 2), "$millisecond": (21, 3)}  # 1-based, for substr
_DIGITS = "[0-9]"
SQLITE_DATE_ONLY = f"{_DIGITS * 4}-{_DIGITS * 2}-{_DIGITS * 2}"
SQLITE_DATE_TIME = f"{SQLITE_DATE_ONLY}T{_DIGITS * 2}:{_DIGITS * 2}:{_DIGITS * 2}.{_DIGITS * 3}Z"
POSTGRES_DATE_ONLY = "^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
POSTGRES_DATE_TIME = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z$"


class SqlValues:
    def __init__(self, dialect: str) -> None:
        self.json = json_dialect(dialect)
        self.postgres = isinstance(self.json, PostgresJson)

    # Reading instances

    def typed(self, location: Location, kind: Kind) -> SQL:
        """The value at ``location`` if it is of ``kind``, else NULL."""
        json = self.json
        if kind.array:
            raw = json.jsonb(location) if isinstance(json, PostgresJson) else json.value(location)
            return sa.case((json.is_kind(location, "array"), raw))
        if kind.scalar in TEXT_KINDS:
            return sa.case((json.is_kind(location, "string"), json.text(location)))
        if kind.scalar == "Number":
            raw = sa.cast(json.jsonb(location), sa.Numeric) if isinstance(json, PostgresJson) else json.value(location)
            return sa.case((json.is_kind(location, "number"), raw))
        raw = sa.cast(json.jsonb(location), sa.Boolean) if isinstance(json, PostgresJson) else json.value(location)
        return sa.case((json.is_kind(location, "boolean"), raw))

    def column(self, column: SQL, name: str) -> SQL:
        """A system property: text, and Dates as the ISO text the body stores."""
        if name in ("created", "updated"):
            if self.postgres:
                text = sa.func.to_char(sa.func.timezone("UTC", column), 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
                return sa.collate(text, "C")
            # SQLite holds 'YYYY-MM-DD HH:MM:SS.ffffff' (SQLAlchemy's format): cut to milliseconds.
            return sa.func.substr(column, 1, 10).op("||")("T").op("||")(sa.func.substr(column, 12, 12)).op("||")("Z")
        return sa.collate(column, "C") if self.postgres else column

    def literal(self, value: Any, kind: Kind) -> SQL:
        if value is None:
            return sa.null()
        if kind.scalar in TEXT_KINDS:
            return sa.collate(sa.literal(value, sa.Text), "C") if self.postgres else sa.literal(value, sa.Text)
        if kind.scalar == "Number":
            if self.postgres:  # numeric, exact: a float parameter would turn the arithmetic into doubles
                exact = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
                return sa.cast(sa.literal(exact, sa.Numeric), sa.Numeric)
            return sa.literal(value)
        return sa.cast(sa.literal(bool(value)), sa.Boolean) if self.postgres else sa.literal(int(bool(value)))

    # Expressions

    def expression(self, expression: Expression, resolve: Resolve) -> SQL:
        if isinstance(expression, Literal):
            return self.literal(expression.value, expression.kind)
        if isinstance(expression, DocumentField | RecordField):
            return resolve(expression)
        args = [self.expression(arg, resolve) for arg in expression.args]
        return self._operation(expression, args)

    def _operation(self, expression: Operation, args: list[SQL]) -> SQL:
        op = expression.op
        if op in ("$add", "$subtract", "$multiply"):
            symbol = {"$add": "+", "$subtract": "-", "$multiply": "*"}[op]
            result = args[0]
            for arg in args[1:]:
                result = result.op(symbol)(arg)
            return result
        if op == "$divide":
            dividend = args[0] if self.postgres else sa.cast(args[0], sa.Float)
            return dividend.op("/")(sa.func.nullif(args[1], 0))
        if op == "$abs":
            return sa.func.abs(args[0])
        if op == "$concat":
            result = args[0]
            for arg in args[1:]:
                result = result.op("||")(arg)
            return self._text(result)
        if op in ("$toLower", "$toUpper"):
            return self._case(args[0], lower=op == "$toLower")
        if op == "$substr":
            start, length = (int(cast(int, arg.value)) for arg in expression.args[1:] if isinstance(arg, Literal))
            return self._text(sa.func.substr(args[0], sa.literal_column(str(start + 1)),
                                             sa.literal_column(str(length))))
        if op == "$strcasecmp":
            either = sa.or_(args[0].is_(None), args[1].is_(None))
            return sa.case((either, sa.null()), else_=self.compare(self._case(args[0], lower=True),
                                                                    self._case(args[1], lower=True)))
        if op in ("$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$cmp"):
            return self._comparison(op, args[0], args[1])
        if op in ("$and", "$or"):
            tests = [self.truthy(arg, sub.kind) for arg, sub in zip(args, expression.args, strict=True)]
            return sa.and_(sa.true(), *tests) if op == "$and" else sa.or_(sa.false(), *tests)
        if op == "$not":
            return sa.not_(self.truthy(args[0], expression.args[0].kind))
        if op == "$cond":
            return sa.case((self.truthy(args[0], expression.args[0].kind), args[1]), else_=args[2])
        if op == "$ifNull":
            return sa.func.coalesce(args[0], args[1])
        if op == "$size":
            return self.array_length(args[0])
        return self._date_part(op, args[0])

    def truthy(self, value: SQL, kind: Kind) -> ColumnElement[bool]:
        """Mongo's truth: null and false are false, and so is 0; everything else is true."""
        if kind.scalar == "Null":
            return sa.false()
        if kind.array or kind.scalar in TEXT_KINDS:
            return value.isnot(None)
        if kind.scalar == "Number":
            return sa.func.coalesce(value != 0, sa.false())
        return sa.func.coalesce(value, sa.false()) if self.postgres else sa.func.coalesce(value, 0) != 0

    def _comparison(self, op: str, left: SQL, right: SQL) -> SQL:
        if op == "$cmp":
            return self.compare(left, right)
        if op in ("$eq", "$ne"):
            equal = self.equal(left, right)
            return equal if op == "$eq" else sa.not_(equal)
        if op == "$lt":
            return self.less(left, right)
        if op == "$gt":
            return self.less(right, left)
        return sa.not_(self.less(right, left) if op == "$lte" else self.less(left, right))

    @staticmethod
    def equal(left: SQL, right: SQL) -> ColumnElement[bool]:
        if _is_null(left) or _is_null(right):
            return sa.and_(left.is_(None), right.is_(None))
        either = sa.or_(left.is_(None), right.is_(None))
        return sa.case((either, sa.and_(left.is_(None), right.is_(None))), else_=left == right)

    @staticmethod
    def less(left: SQL, right: SQL) -> ColumnElement[bool]:
        """``left`` before ``right``: null before any value (never NULL itself)."""
        if _is_null(right):
            return sa.false()
        if _is_null(left):
            return right.isnot(None)
        return sa.case((left.is_(None), right.isnot(None)), (right.is_(None), sa.false()), else_=left < right)

    def compare(self, left: SQL, right: SQL) -> SQL:
        return sa.case((self.less(left, right), -1), (self.equal(left, right), 0), else_=1)

    def _case(self, text: SQL, *, lower: bool) -> SQL:
        """ASCII letters only, on both databases (SQLite's lower/upper; PostgreSQL's depend on the locale)."""
        if self.postgres:
            source, target = (UPPER, LOWER) if lower else (LOWER, UPPER)
            return self._text(sa.func.translate(text, source, target))
        return sa.func.lower(text) if lower else sa.func.upper(text)

    def _text(self, value: SQL) -> SQL:
        return sa.collate(value, "C") if self.postgres else value

    def _date_part(self, op: str, text: SQL) -> SQL:
        """A part of a Date in its stored form: ``YYYY-MM-DDTHH:MM:SS.mmmZ``, or ``YYYY-MM-DD`` (time 0)."""
        start, length = DATE_PART_SLICES[op]
        part = sa.cast(sa.func.substr(text, start, length), sa.Integer)
        if self.postgres:
            date_time, date_only = (text.op("~")(sa.literal(pattern, sa.Text))
                                    for pattern in (POSTGRES_DATE_TIME, POSTGRES_DATE_ONLY))
        else:
            date_time, date_only = (text.op("GLOB")(sa.literal(pattern, sa.Text))
                                    for pattern in (SQLITE_DATE_TIME, SQLITE_DATE_ONLY))
        return sa.case((date_time, part), (date_only, part if start < 10 else sa.literal(0)))

    def array_length(self, array: SQL) -> SQL:
        return sa.func.jsonb_array_length(array) if self.postgres else sa.func.json_array_length(array)

    # Accumulators

    def accumulator(self, accumulator: Accumulator, value: SQL, window: dict[str, Any] | None) -> SQL:
        """The SQL of one accumulator over a group: an aggregate, or (``window`` given) the same
        aggregate as a window function over the group's partition."""

        def over(function: Any) -> SQL:
            return function.over(**window) if window is not None else function

        op = accumulator.op
        kind = accumulator.arg.kind
        if op == "$count":
            if isinstance(accumulator.arg, Literal):
                return over(sa.func.count())
            return sa.func.coalesce(over(sa.func.sum(self.array_length(value))), 0)
        if op == "$sum":
            return sa.func.coalesce(over(sa.func.sum(value)), 0)
        if op == "$avg":
            return over(sa.func.avg(value))
        if op in ("$min", "$max"):
            if self.postgres and kind.scalar == "Boolean":
                return over(sa.func.bool_and(value) if op == "$min" else sa.func.bool_or(value))
            return over(sa.func.min(value) if op == "$min" else sa.func.max(value))
        if op in ("$first", "$last"):
            return over(sa.func.first_value(value) if op == "$first" else sa.func.last_value(value))
        element = self.json_element(value, kind)
        collected: Any = sa.func.jsonb_agg(element) if self.postgres else sa.func.json_group_array(element)
        if op != "$pushAll":
            collected = collected.filter(value.isnot(None))
        return sa.func.coalesce(over(collected), self.empty_array())

    def json_element(self, value: SQL, kind: Kind) -> SQL:
        """A value as an element of a JSON array built in SQL (SQLite's booleans are 0 and 1)."""
        if self.postgres or kind.scalar != "Boolean":
            return value
        return sa.case((value == 1, sa.func.json("true")), (value == 0, sa.func.json("false")))

    def empty_array(self) -> SQL:
        return sa.literal_column("'[]'::jsonb") if self.postgres else sa.literal_column("'[]'")

    def distinct(self, array: SQL, kind: Kind) -> SQL:
        """The distinct elements of a JSON array (a set; ``records.canonical`` orders it)."""
        if self.postgres:
            elements = sa.func.jsonb_array_elements(array).table_valued("value").render_derived().alias()
            collected = sa.func.coalesce(sa.func.jsonb_agg(sa.distinct(elements.c.value)), self.empty_array())
            return sa.select(collected).select_from(elements).scalar_subquery()
        items = sa.func.json_each(array).table_valued("value", "type").alias()
        element: SQL = items.c.value
        if kind.scalar == "Boolean":
            element = sa.case((items.c.type == "true", sa.func.json("true")),
                              (items.c.type == "false", sa.func.json("false")))
        return sa.select(sa.func.json_group_array(sa.distinct(element))).select_from(items).scalar_subquery()

    def ordered(self, keys: Sequence[tuple[SQL, int]]) -> list[Any]:
        """ORDER BY clauses: null first ascending, last descending, on both databases."""
        clauses = []
        for expression, direction in keys:
            clause = expression.asc() if direction > 0 else expression.desc()
            if self.postgres:
                clause = clause.nulls_first() if direction > 0 else clause.nulls_last()
            clauses.append(clause)
        return clauses


def _is_null(value: SQL) -> bool:
    """The literal null (``$cmp: [x, null]``), which SQL can only test with IS NULL."""
    return isinstance(value, Null)
