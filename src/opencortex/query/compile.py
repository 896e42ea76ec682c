"""Compile a ``where`` AST and sort keys to SQLAlchemy expressions over ``documents``.

``compile_where`` returns a condition to put in a ``WHERE``, next to the caller's own
``org_id``/``object`` (and ACL) conditions; ``compile_sort`` returns ``ORDER BY`` clauses.

Semantics (``evaluate.py`` implements the same in Python, and the tests hold them equal):

- Arrays: a condition on an array matches when any element matches (MongoDB). ``$ne`` and
  ``$nin`` are negations, so they match when no element equals (and when the property is
  absent). ``$exists``, ``$size`` and ``$type: "array"`` look at the array itself, not its
  elements (``ast.tests_arrays_whole``).
- ``$type`` reads each value's BSON type from its JSON type and its property's type
  (``bson_types.py``); numbers are told apart by value (``dialects.number_class``).
- Null is absent: ``$exists: true`` needs a non-null value; ``{"p": null}`` matches a missing
  or null ``p``. (Cortex unsets a property written as null, so the two are the same thing.)
- Types are bracketed: a Number condition never matches a string, a String condition never
  a number. Strings compare by code point on both databases.
- SQL's NULL never leaks into the logic: a condition that cannot be decided is false, and
  ``Not`` turns NULL into false before negating, so ``$not`` means "does not match".

Sorting: by each key, then by ``_id`` in the direction of the last key (so a descending sort
is exactly the reverse of an ascending one, and one index on ``(value, _id)`` serves both).
Missing and null values come first in ascending order and last in descending order, on both
databases (SQLite's natural order, and MongoDB's; PostgreSQL is told ``NULLS FIRST``/``LAST``).
Sort properties are single values of their declared type (``parse_sort`` checks).

Other tables: by default conditions and sort keys read ``documents`` (its columns and its
``body``). A ``QueryTarget`` names another table with an ``id`` column, and the JSON document
its body properties are read from, so that tables of fixed columns (accounts, object
definitions) get the same language, checks and SQL; the caller still adds its own org scope.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement

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
from opencortex.query.bson_types import stored_kind
from opencortex.query.dialects import JsonDialect, Location, PostgresJson, json_dialect
from opencortex.query.geo import DEGREES, HALF, circle_terms
from opencortex.query.schema import QueryableProperty
from opencortex.query.values import ORDERED_TEXT_TYPES, parse_iso_datetime
from opencortex.store.tables import documents

Condition = ColumnElement[bool]
Predicate = Callable[[Location], Condition]

# Above this many $in values, one IN over the elements beats an OR of containments.
MAX_CONTAINMENT_VALUES = 32



@dataclass(frozen=True)
class QueryTarget:
    """The table a query reads: ``QueryableProperty.column`` names its columns, and ``body``
    gives, per dialect (``"sqlite"``/``"postgresql"``), the JSON document that the other
    properties are paths into (jsonb on PostgreSQL). The table must have an ``id`` column: the
    sort's tiebreaker."""

    table: sa.Table
    body: Callable[[str], ColumnElement[Any]]

    def root(self, dialect: str) -> Location:
        return Location(self.body(dialect))


DOCUMENTS = QueryTarget(documents, lambda _dialect: documents.c.body)

_OPERATORS: dict[str, Callable[[Any, Any], Condition]] = {
    "$eq": lambda left, right: left == right,
    "$gt": lambda left, right: left > right,
    "$gte": lambda left, right: left >= right,
    "$lt": lambda left, right: left < right,
    "$lte": lambda left, right: left <= right,
}


def compile_where(node: Node | None, dialect: str, target: QueryTarget = DOCUMENTS) -> Condition:
    """The SQL condition for ``node`` (``parse_where``'s result) on ``"sqlite"`` or ``"postgresql"``."""
    if node is None:
        return sa.true()
    compiler = _WhereCompiler(json_dialect(dialect), target.table)
    return compiler.condition(node, target.root(dialect))


def compile_sort(keys: Sequence[tuple[QueryableProperty, int]], dialect: str,
                 target: QueryTarget = DOCUMENTS) -> list[ColumnElement[Any]]:
    """``ORDER BY`` clauses for ``parse_sort``'s keys, ending with ``_id`` as the tiebreaker."""
    json = json_dialect(dialect)
    terms = sort_terms(keys, dialect, target)
    clauses = [_ordered(expression, direction, json) for expression, direction in terms[: len(keys)]]
    # The tiebreaker id is never null: a plain ASC/DESC, which the (value NULLS FIRST, id) index matches.
    clauses += [expression.asc() if direction > 0 else expression.desc() for expression, direction in terms[len(keys):]]
    return clauses


def sort_terms(keys: Sequence[tuple[QueryableProperty, int]], dialect: str,
               target: QueryTarget = DOCUMENTS) -> list[tuple[ColumnElement[Any], int]]:
    """What ``compile_sort`` orders by, before ``ASC``/``DESC``: (expression, 1 or -1) for each
    key, then ``id`` (unless a key is ``_id``) in the direction of the last key. Keyset paging
    compares these with a cursor's values (``query.keyset``)."""
    terms = [(sort_expression(prop, dialect, target), direction) for prop, direction in keys]
    if not any(prop.column == "id" for prop, _ in keys):
        terms.append((target.table.c.id, keys[-1][1] if keys else 1))
    return terms


def sort_expression(prop: QueryableProperty, dialect: str, target: QueryTarget = DOCUMENTS) -> ColumnElement[Any]:
    """The expression a sort on ``prop`` orders by (also what an index on ``prop`` must hold)."""
    json = json_dialect(dialect)
    value_type = "ObjectId" if prop.type == "Reference" else prop.type
    if prop.column is not None:
        column = target.table.c[prop.column]
        return (
            sa.collate(column, "C") if isinstance(json, PostgresJson) and value_type == "String" else column
        )
    location = json.child(target.root(dialect), tuple(prop.path.split(".")))
    return json.sort_expression(location, value_type)


def _ordered(expression: ColumnElement[Any], direction: int, json: JsonDialect) -> ColumnElement[Any]:
    if direction > 0:
        clause = expression.asc()
        return clause.nulls_first() if isinstance(json, PostgresJson) else clause
    clause = expression.desc()
    return clause.nulls_last() if isinstance(json, PostgresJson) else clause


class _WhereCompiler:
    def __init__(self, json: JsonDialect, table: sa.Table = documents) -> None:
        self.json = json
        self.table = table  # whose columns system properties name

    def condition(self, node: Node, root: Location) -> Condition:
        """``node`` as SQL; its fields are relative to ``root`` (the body, or an array element)."""
        if isinstance(node, And):
            return sa.and_(sa.true(), *(self.condition(child, root) for child in node.children))
        if isinstance(node, Or):
            return sa.or_(sa.false(), *(self.condition(child, root) for child in node.children))
        if isinstance(node, Not):
            return sa.not_(sa.func.coalesce(self.condition(node.child, root), sa.false()))
        if node.field.column is not None:
            return self.column_condition(node)
        predicate: Predicate
        if isinstance(node, ElemMatch):
            inner = node.condition
            predicate = partial(self.condition, inner)  # each element is the root of the inner condition
        else:
            predicate = partial(self.leaf, node)
        through_last = not tests_arrays_whole(node)
        contained = self.postgres_containment(node, root) if through_last else None
        if contained is not None:
            return contained
        return self.any_of(root, node.field.steps, predicate, through_last)

    def any_of(
        self, location: Location, steps: tuple[Step, ...], predicate: Predicate, through_last: bool
    ) -> Condition:
        """``predicate`` holds at some value reached by ``steps``: through arrays, any element will do."""
        for index, step in enumerate(steps):
            location = self.json.child(location, (step.key,))
            last = index == len(steps) - 1
            if step.traversal is Traversal.VALUE or (last and not through_last):
                continue
            rest = steps[index + 1 :]
            table, element, is_array = self.json.elements(location)
            inner = self.any_of(element, rest, predicate, through_last)
            through_elements = sa.and_(is_array, sa.exists().select_from(table).where(inner))
            if step.traversal is Traversal.ARRAY:
                return through_elements
            # LENIENT: a value that is neither an array nor null counts as its own single element.
            itself = sa.and_(
                self.json.is_scalar_or_object(location), self.any_of(location, rest, predicate, through_last)
            )
            return sa.or_(through_elements, itself)
        return predicate(location)

    def postgres_containment(self, node: Node, root: Location) -> Condition | None:
        """``body -> 'c_tags' @> '["x"]'`` for $eq/$in on a top-level array, which a GIN index can serve.

        Containment compares like the element-wise test (type-strict, numbers by value), so it
        is only a faster spelling of the same condition.
        """
        if not isinstance(self.json, PostgresJson) or not isinstance(node, Compare | In):
            return None
        steps = node.field.steps
        top_level_array = (
            bool(steps)
            and steps[-1].traversal is Traversal.ARRAY
            and all(step.traversal is Traversal.VALUE for step in steps[:-1])
        )
        if not top_level_array or (isinstance(node, Compare) and node.op != "$eq"):
            return None
        if isinstance(node, In) and (node.patterns or len(node.values) > MAX_CONTAINMENT_VALUES):
            return None
        values = [node.value] if isinstance(node, Compare) else list(node.values)
        location = self.json.child(root, tuple(step.key for step in steps))
        return sa.or_(sa.false(), *(self.json.contains(location, value) for value in values))

    def column_condition(self, node: Node) -> Condition:
        """A condition on a system property, which is a column (indexed, never an array)."""
        assert not isinstance(node, And | Or | Not) and node.field.column is not None
        column = self.table.c[node.field.column]
        value = (
            sa.collate(column, "C")
            if isinstance(self.json, PostgresJson) and node.field.type == "String"
            else column
        )
        if isinstance(node, Exists):
            return column.isnot(None)
        if isinstance(node, Compare):
            return _OPERATORS[node.op](value, _column_param(node.field, node.value))
        if isinstance(node, In):
            options: list[Condition] = [value.in_([_column_param(node.field, item) for item in node.values])]
            options += [self.json.regex(value, pattern) for pattern in node.patterns]
            return sa.or_(sa.false(), *options)
        if isinstance(node, Regex):
            return self.json.regex(value, node.pattern)
        # $size, $within and $elemMatch never apply to a column (the parser refuses them), and
        # the parser turns $type on a column into Exists, comparisons or Or().
        return sa.false()

    def leaf(self, node: Node, location: Location) -> Condition:
        """The test of one value at ``location`` for a leaf node."""
        json = self.json
        if isinstance(node, Compare):
            return self.compare(location, node.field.type, node.op, node.value)
        if isinstance(node, In):
            return self.member(location, node)
        if isinstance(node, Exists):
            return json.present(location)
        if isinstance(node, Regex):
            return sa.and_(json.is_kind(location, "string"), json.regex(json.text(location), node.pattern))
        if isinstance(node, Size):
            return json.array_length(location) == node.size
        if isinstance(node, Within):
            return self.within(location, node)
        if isinstance(node, TypeIs):
            kind = stored_kind(node.name, node.field.type)
            return sa.false() if kind is None else json.has_kind(location, kind)
        raise TypeError(f"not a leaf condition: {node!r}")

    def compare(self, location: Location, value_type: str, op: str, value: Scalar) -> Condition:
        json = self.json
        if value_type in ORDERED_TEXT_TYPES:
            return sa.and_(json.is_kind(location, "string"), _OPERATORS[op](json.text(location), value))
        if value_type == "Number":
            right = json.number_param(value)
            return sa.and_(json.is_kind(location, "number"), _OPERATORS[op](json.number(location), right))
        right = json.boolean_param(bool(value))
        return sa.and_(json.is_kind(location, "boolean"), _OPERATORS[op](json.boolean(location), right))

    def member(self, location: Location, node: In) -> Condition:
        json = self.json
        value_type = node.field.type
        options: list[Condition] = []
        if node.values and value_type in ORDERED_TEXT_TYPES:
            options.append(sa.and_(json.is_kind(location, "string"), json.text(location).in_(node.values)))
        elif node.values and value_type == "Number":
            params = [json.number_param(value) for value in node.values]
            options.append(sa.and_(json.is_kind(location, "number"), json.number(location).in_(params)))
        elif node.values:
            params = [json.boolean_param(bool(value)) for value in node.values]
            options.append(sa.and_(json.is_kind(location, "boolean"), json.boolean(location).in_(params)))
        for pattern in node.patterns:
            options.append(
                sa.and_(json.is_kind(location, "string"), json.regex(json.text(location), pattern))
            )
        return sa.or_(sa.false(), *options)

    def within(self, location: Location, node: Within) -> Condition:
        """The haversine test of ``geo.py``, operation for operation."""
        json = self.json
        terms = circle_terms(node.circle)
        lng, lat = json.coordinate(location, 0), json.coordinate(location, 1)
        type_location = json.child(location, ("type",))
        is_point = sa.and_(
            json.is_kind(type_location, "string"),
            json.text(type_location) == "Point",
            lng.isnot(None),
            lat.isnot(None),
        )
        if terms.threshold is None:
            return is_point

        def number(value: float) -> Any:
            return sa.literal(value, sa.Double)

        a = sa.func.sin((lat * number(DEGREES) - number(terms.lat)) * number(HALF))
        b = sa.func.sin((lng * number(DEGREES) - number(terms.lng)) * number(HALF))
        term = a * a + sa.func.cos(lat * number(DEGREES)) * number(terms.cos_lat) * (b * b)
        return sa.and_(is_point, term <= number(terms.threshold))


def _column_param(field: Field, value: Scalar) -> Any:
    """Date columns hold datetimes; the AST holds Dates as ISO strings."""
    return parse_iso_datetime(str(value)) if field.type == "Date" else value
