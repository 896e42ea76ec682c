"""How each database reads JSON: every SQL difference between SQLite and PostgreSQL lives here.

A ``Location`` is a place where a JSON value may be: keys below the instance body, or below
one array element. Each dialect turns a location into the SQL for its type, its text, its
number, its elements... ``compile.py`` builds conditions from these and never spells SQL
itself.

Expression forms (an expression index must use exactly these; see ``indexes.py``):

- SQLite: ``json_extract(body, '$.c_a.c_b')`` for every type.
- PostgreSQL, String/Date/ObjectId/Boolean: ``((body -> 'c_a' ->> 'c_b') COLLATE "C")``.
  Text compares in code-point order under "C", as SQLite and Python do; Booleans compare as
  'false' < 'true'.
- PostgreSQL, Number: ``NULLIF(body -> 'c_a' -> 'c_b', 'null'::jsonb)``: jsonb compares numbers
  numerically, and NULLIF makes a JSON null sort like a missing key, as on SQLite.

Keys are written into the SQL as literals, not bound parameters, so that the planner can match
them against an index expression. They are property names, checked against ``SAFE_KEY``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.selectable import FromClause

from opencortex.query.ast import Pattern
from opencortex.query.bson_types import INT32_MAX, INT32_MIN, INT64_MAX, INT64_MIN, StoredKind
from opencortex.store.tables import documents

SAFE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")
Key = str | int
Kind = str  # "string" | "number" | "boolean" | "array" | "null" | "object"
NUMBER_CLASSES = ("int", "long", "double")


@dataclass(frozen=True)
class Location:
    """``keys`` below ``base``. ``base`` is the body column, or an array element (``element``)."""

    base: Any  # ColumnElement (body, or the element's value) for PostgreSQL; see SqliteJson
    keys: tuple[Key, ...] = ()
    element: Any = None  # the json_each alias when ``base`` is one element (SQLite)


def _key_literal(key: Key) -> str:
    if isinstance(key, int):
        return str(key)
    if not SAFE_KEY.match(key):
        raise ValueError(f"unsafe JSON key {key!r}")  # a programming error: names are validated first
    return f"'{key}'"


def sqlite_path(keys: tuple[Key, ...]) -> str:
    return "$" + "".join(
        f"[{key}]" if isinstance(key, int) else "." + _key_literal(key)[1:-1] for key in keys
    )


def _literal(text: str) -> ColumnElement[Any]:
    return sa.literal_column(text)


def _texts(*names: str) -> list[ColumnElement[Any]]:
    """SQL string literals for JSON type names (constants, so the plan does not depend on them)."""
    return [sa.literal_column(f"'{name}'") for name in names]


def _number_class(is_number: ColumnElement[bool], whole_64: ColumnElement[bool],
                  value: ColumnElement[Any]) -> ColumnElement[Any]:
    """'int', 'long' or 'double' (``bson_types.number_class``) for a number; NULL otherwise."""
    int_32 = sa.and_(value >= _literal(str(INT32_MIN)), value <= _literal(str(INT32_MAX)))
    int_text, long_text, double_text = _texts(*NUMBER_CLASSES)
    return sa.case(
        (sa.and_(is_number, whole_64, int_32), int_text),
        (sa.and_(is_number, whole_64), long_text),
        (is_number, double_text),
    )


class SqliteJson:
    """SQLite's JSON1: ``json_extract``, ``json_type``, ``json_each``."""

    name = "sqlite"
    _KINDS = {
        "string": ("text",),
        "number": ("integer", "real"),
        "boolean": ("true", "false"),
        "array": ("array",),
        "null": ("null",),
        "object": ("object",),
    }

    def root(self) -> Location:
        return Location(documents.c.body)

    def child(self, location: Location, keys: tuple[Key, ...]) -> Location:
        if location.element is not None and not location.keys:
            # An element's value is JSON text only when it is an object or array (else a bare SQL value).
            element = location.element
            container = sa.case((element.c.type.in_(_texts("object", "array")), element.c.value))
            return Location(container, keys)
        return Location(location.base, location.keys + keys)

    def _json_type(self, location: Location) -> ColumnElement[Any]:
        if location.element is not None and not location.keys:
            return location.element.c.type
        return sa.func.json_type(location.base, _literal(f"'{sqlite_path(location.keys)}'"))

    def value(self, location: Location) -> ColumnElement[Any]:
        """The SQL value: text, integer or real; 0/1 for booleans; NULL for null or missing."""
        if location.element is not None and not location.keys:
            return location.element.c.value
        return sa.func.json_extract(location.base, _literal(f"'{sqlite_path(location.keys)}'"))

    def is_kind(self, location: Location, kind: Kind) -> ColumnElement[bool]:
        kinds = self._KINDS[kind]
        json_type = self._json_type(location)
        return json_type == _literal(f"'{kinds[0]}'") if len(kinds) == 1 else json_type.in_(_texts(*kinds))

    def present(self, location: Location) -> ColumnElement[bool]:
        return self._json_type(location) != _literal("'null'")

    def has_kind(self, location: Location, kind: StoredKind) -> ColumnElement[bool]:
        """The value is of ``kind`` (a JSON type, or a class of number: ``$type``)."""
        if kind in NUMBER_CLASSES:
            return self.number_class(location) == _literal(f"'{kind}'")
        return self.is_kind(location, kind)

    def number_class(self, location: Location) -> ColumnElement[Any]:
        """'int', 'long' or 'double' for a number, NULL for anything else.

        ``json_extract`` gives an integer within 64 bits and a real otherwise. A real is whole
        when it equals its integer part, which is exact below 2^63 in magnitude; the bounds are
        reals, so that reals compare with reals only, and strict (``bson_types.number_class``).
        """
        value = self.value(location)
        whole_64 = sa.or_(
            sa.func.typeof(value) == _literal("'integer'"),
            sa.and_(value > _literal(f"{float(INT64_MIN)!r}"), value < _literal(f"{float(-INT64_MIN)!r}"),
                    value == sa.cast(value, sa.Integer)),
        )
        return _number_class(self.is_kind(location, "number"), whole_64, value)

    def is_scalar_or_object(self, location: Location) -> ColumnElement[bool]:
        """Present, and neither null nor an array (NULL, so false, when missing)."""
        return self._json_type(location).notin_(_texts("null", "array"))

    def text(self, location: Location) -> ColumnElement[Any]:
        return self.value(location)

    def number(self, location: Location) -> ColumnElement[Any]:
        return self.value(location)

    def boolean(self, location: Location) -> ColumnElement[Any]:
        return self.value(location)

    def number_param(self, value: Any) -> Any:
        return value

    def boolean_param(self, value: bool) -> Any:
        return int(value)  # json_extract gives 0 and 1

    def regex(self, text: ColumnElement[Any], pattern: Pattern) -> ColumnElement[bool]:
        # X REGEXP Y calls regexp(Y, X): see sqlite_functions.install_sqlite_functions.
        return text.op("REGEXP", return_type=sa.Boolean)(sa.literal(pattern.re2))

    def array_length(self, location: Location) -> ColumnElement[Any]:
        json_type = self._json_type(location)
        length = sa.func.json_array_length(
            self._container(location), _literal(f"'{sqlite_path(location.keys)}'")
        )
        return sa.case((json_type == _literal("'array'"), length))

    def elements(self, location: Location) -> tuple[FromClause, Location, ColumnElement[bool]]:
        """The elements of the array at ``location``: a table, one element, and an "is an array" guard."""
        table = (
            sa.func.json_each(self._container(location), _literal(f"'{sqlite_path(location.keys)}'"))
            .table_valued("value", "type")
            .alias()
        )
        return table, Location(table.c.value, element=table), self.is_kind(location, "array")

    def coordinate(self, location: Location, index: int) -> ColumnElement[Any]:
        """``coordinates[index]`` of a GeoJSON value as a float, or NULL when it is not a number."""
        point = self.child(location, ("coordinates", index))
        return sa.case((self.is_kind(point, "number"), self.value(point)))

    def unwound(self, location: Location) -> tuple[FromClause, Location, ColumnElement[Any], ColumnElement[bool]]:
        """The array at ``location`` as a table to join, one row per element (a pipeline's
        ``$unwind``): the table, one element, its position, and an "is an array" guard."""
        table = (
            sa.func.json_each(self._container(location), _literal(f"'{sqlite_path(location.keys)}'"))
            .table_valued("value", "type", "key")
            .alias()
        )
        return table, Location(table.c.value, element=table), table.c.key, self.is_kind(location, "array")

    def _container(self, location: Location) -> Any:
        if location.element is not None and not location.keys:
            return self.child(location, ()).base
        return location.base

    def sort_expression(self, location: Location, _value_type: str) -> ColumnElement[Any]:
        return self.value(location)


class PostgresJson:
    """PostgreSQL's JSONB operators: ``->``, ``->>``, ``jsonb_typeof``, ``jsonb_array_elements``."""

    name = "postgresql"

    def root(self) -> Location:
        return Location(documents.c.body)

    def child(self, location: Location, keys: tuple[Key, ...]) -> Location:
        return Location(location.base, location.keys + keys)

    def jsonb(self, location: Location) -> ColumnElement[Any]:
        expression = location.base
        for key in location.keys:
            expression = expression.op("->", return_type=JSONB)(_literal(_key_literal(key)))
        return expression

    def _json_type(self, location: Location) -> ColumnElement[Any]:
        return sa.func.jsonb_typeof(self.jsonb(location))

    def is_kind(self, location: Location, kind: Kind) -> ColumnElement[bool]:
        return self._json_type(location) == _literal(f"'{kind}'")

    def present(self, location: Location) -> ColumnElement[bool]:
        return self._json_type(location) != _literal("'null'")

    def has_kind(self, location: Location, kind: StoredKind) -> ColumnElement[bool]:
        """The value is of ``kind`` (a JSON type, or a class of number: ``$type``)."""
        if kind in NUMBER_CLASSES:
            return self.number_class(location) == _literal(f"'{kind}'")
        return self.is_kind(location, kind)

    def number_class(self, location: Location) -> ColumnElement[Any]:
        """'int', 'long' or 'double' for a number, NULL for anything else: jsonb numbers are
        exact decimals, so wholeness and range are exact tests."""
        is_number = self.is_kind(location, "number")
        value = sa.case((is_number, sa.cast(self.jsonb(location), sa.Numeric)))
        whole_64 = sa.and_(value == sa.func.trunc(value), value >= _literal(str(INT64_MIN)),
                           value <= _literal(str(INT64_MAX)))
        return _number_class(is_number, whole_64, value)

    def is_scalar_or_object(self, location: Location) -> ColumnElement[bool]:
        """Present, and neither null nor an array (NULL, so false, when missing)."""
        return self._json_type(location).notin_(_texts("null", "array"))

    def text(self, location: Location) -> ColumnElement[Any]:
        if location.keys:
            parent = self.jsonb(Location(location.base, location.keys[:-1]))
            raw = parent.op("->>", return_type=sa.Text)(_literal(_key_literal(location.keys[-1])))
        else:
            raw = location.base.op("#>>", return_type=sa.Text)(_literal("'{}'"))
        return sa.collate(raw, "C")

    def number(self, location: Location) -> ColumnElement[Any]:
        return sa.func.nullif(self.jsonb(location), _literal("'null'::jsonb"), type_=JSONB)

    def boolean(self, location: Location) -> ColumnElement[Any]:
        return self.text(location)  # 'false' < 'true'

    def number_param(self, value: Any) -> Any:
        return _jsonb_value(value)

    def boolean_param(self, value: bool) -> Any:
        return "true" if value else "false"

    def regex(self, text: ColumnElement[Any], pattern: Pattern) -> ColumnElement[bool]:
        return text.op("~", return_type=sa.Boolean)(sa.literal(pattern.postgres))

    def array_length(self, location: Location) -> ColumnElement[Any]:
        value = self.jsonb(location)
        return sa.func.jsonb_array_length(sa.case((self.is_kind(location, "array"), value)))

    def elements(self, location: Location) -> tuple[FromClause, Location, ColumnElement[bool]]:
        value = self.jsonb(location)
        # jsonb_array_elements raises on a non-array, so give it an empty array instead.
        array = sa.case((self.is_kind(location, "array"), value), else_=_literal("'[]'::jsonb"))
        table = sa.func.jsonb_array_elements(array).table_valued("value").render_derived().alias()
        return table, Location(table.c.value), sa.true()

    def unwound(self, location: Location) -> tuple[FromClause, Location, ColumnElement[Any], ColumnElement[bool]]:
        """``SqliteJson.unwound``: ``jsonb_array_elements`` numbered ``WITH ORDINALITY``."""
        value = self.jsonb(location)
        array = sa.case((self.is_kind(location, "array"), value), else_=_literal("'[]'::jsonb"))
        table = (
            sa.func.jsonb_array_elements(array)
            .table_valued("value", with_ordinality="ordinality")
            .render_derived()
            .alias()
        )
        return table, Location(table.c.value), table.c.ordinality, sa.true()

    def contains(self, location: Location, value: Any) -> ColumnElement[bool]:
        """``jsonb @> '[value]'``: the array holds an element equal to ``value`` (a GIN index can answer)."""
        return self.jsonb(location).op("@>", return_type=sa.Boolean)(_jsonb_value([value]))

    def coordinate(self, location: Location, index: int) -> ColumnElement[Any]:
        point = self.child(location, ("coordinates", index))
        as_float = sa.cast(self.text(point), sa.Double)
        return sa.case((self.is_kind(point, "number"), as_float))

    def sort_expression(self, location: Location, value_type: str) -> ColumnElement[Any]:
        return self.number(location) if value_type == "Number" else self.text(location)


def _jsonb_value(value: Any) -> ColumnElement[Any]:
    """A jsonb constant, bound as JSON text and cast (so it also renders as a literal)."""
    return sa.cast(sa.literal(orjson.dumps(value).decode()), JSONB)


JsonDialect = SqliteJson | PostgresJson


def json_dialect(dialect: str) -> JsonDialect:
    if dialect == "sqlite":
        return SqliteJson()
    if dialect == "postgresql":
        return PostgresJson()
    raise ValueError(f"unsupported dialect {dialect!r}")
