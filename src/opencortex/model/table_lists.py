"""Lists of an org's rows in a table of its own (accounts, object definitions), with the instance
lists' ``where`` and ``sort``, ``skip``, ``limit``, keyset paging and ``total``.

Such a table is described to the query layer once, as a ``TableList``: a ``QuerySchema`` of the
properties a caller may name (each a column, or a path into a JSON document the table gives as
its ``QueryTarget`` body), and the default order. The query layer then parses, checks and
compiles exactly as for instances: the same operators, limits, type coercion and faults
(``cortex.invalidArgument.query`` naming the path), and the org's ``allowedRestrictedMatchOps``
for ``$ne``/``$nin``/``$type``. A property left out of the schema (a password hash) cannot be
named: it is "Unknown property", whatever the operator.

Every statement here is scoped to the org (``org_id``), the cursor row's lookup included.

Paging: ``startingAfter``/``endingBefore`` are row ``_id``s, and they work together with
``where`` and ``sort`` (Cortex refuses the combination): the page continues from the cursor
row's position in the sort (``query.keyset``), so pages neither skip nor repeat rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection
from sqlalchemy.sql.elements import ColumnElement

from opencortex import faults
from opencortex.model.orgs import org_allowed_restricted_operators
from opencortex.query.compile import QueryTarget, compile_where, sort_terms
from opencortex.query.keyset import after_position, ordered, reversed_terms
from opencortex.query.parse import parse_sort, parse_where
from opencortex.query.schema import QueryableProperty, QuerySchema

DEFAULT_LIMIT = 100


@dataclass(frozen=True)
class TableList:
    """An org-scoped table as a list: what ``where``/``sort`` may name, and the default order."""

    noun: str  # what a row is, for faults: "account"
    target: QueryTarget  # the table (with ``org_id`` and ``id`` columns) and its JSON body
    schema: QuerySchema
    default_sort: dict[str, int] = field(default_factory=lambda: {"_id": -1})


@dataclass(frozen=True)
class TableQuery:
    """A list read's arguments, as the route received them (``where``/``sort`` still JSON text)."""

    where: str | None = None
    sort: str | None = None
    skip: int = 0
    limit: int = DEFAULT_LIMIT
    starting_after: str | None = None
    ending_before: str | None = None


def table_schema(name: str, properties: tuple[QueryableProperty, ...]) -> QuerySchema:
    schema = QuerySchema(name)
    for prop in properties:
        schema.add(prop)
    return schema


def list_page(connection: Connection, org_id: str, listed: TableList, query: TableQuery
              ) -> tuple[list[dict[str, Any]], bool]:
    """One page of the org's rows: (rows as stored, whether more follow in that direction)."""
    schema = _schema_for(connection, org_id, listed)
    condition = _condition(connection, org_id, listed, schema, query.where)
    keys = parse_sort(query.sort, schema) or parse_sort(listed.default_sort, listed.schema)
    terms = sort_terms(keys, connection.dialect.name, listed.target)
    table = listed.target.table
    statement = sa.select(table).where(condition)
    reading = terms
    if query.starting_after:
        position = _position(connection, org_id, listed, terms, query.starting_after, "startingAfter")
        statement = statement.where(after_position(terms, position))
    if query.ending_before:
        # Read away from the cursor (nearest first), then turn the page into the list's order.
        reading = reversed_terms(terms)
        position = _position(connection, org_id, listed, terms, query.ending_before, "endingBefore")
        statement = statement.where(after_position(reading, position))
    statement = statement.order_by(*ordered(reading)).offset(query.skip or None).limit(query.limit + 1)
    rows = [dict(row) for row in connection.execute(statement).mappings()]
    has_more = len(rows) > query.limit
    rows = rows[: query.limit]
    if query.ending_before:
        rows.reverse()
    return rows, has_more


def count_rows(connection: Connection, org_id: str, listed: TableList, where: str | None) -> int:
    """How many of the org's rows match ``where`` (``total=true``: every page together)."""
    schema = _schema_for(connection, org_id, listed)
    condition = _condition(connection, org_id, listed, schema, where)
    statement = sa.select(sa.func.count()).select_from(listed.target.table).where(condition)
    return int(connection.execute(statement).scalar_one())


def _schema_for(connection: Connection, org_id: str, listed: TableList) -> QuerySchema:
    return listed.schema.allowing(org_allowed_restricted_operators(connection, org_id))


def _condition(connection: Connection, org_id: str, listed: TableList, schema: QuerySchema,
               where: str | None) -> ColumnElement[bool]:
    table = listed.target.table
    return sa.and_(table.c.org_id == org_id,
                   compile_where(parse_where(where, schema), connection.dialect.name, listed.target))


def _position(connection: Connection, org_id: str, listed: TableList,
              terms: list[tuple[ColumnElement[Any], int]], cursor: str, name: str) -> list[Any]:
    """The cursor row's value of each sort term. Ordered by ``_id`` alone, that is the cursor
    itself, which need not be a row still there (as before sorts existed); under any other sort
    the row must be one of the org's."""
    table = listed.target.table
    if len(terms) == 1 and terms[0][0] is table.c.id:
        return [cursor]
    statement = sa.select(*(expression for expression, _ in terms)).where(table.c.org_id == org_id,
                                                                           table.c.id == cursor)
    row = connection.execute(statement).first()
    if row is None:
        raise faults.invalid_argument(f"{name} names no {listed.noun} of this org.", path=name)
    return list(row)
