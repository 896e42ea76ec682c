"""Listing an org's logs: ``where`` on the record's columns, ``sort`` by ``_id`` or ``created``,
``limit``, and keyset paging with ``startingAfter``/``endingBefore``.

``where`` is parsed by the query layer (``parse_where``), against a schema whose every property
is a column of the ``logs`` table, so it has the instance API's operators, limits and faults
(``cortex.invalidArgument.query`` naming the offending path). The query compiler targets the
``documents`` table, so the resulting tree is compiled here, onto ``logs``; a column condition
needs only comparisons, ``$in`` and ``$exists`` (the schema has no arrays, strings or documents,
so the parser refuses every other operator before it gets here).

Unlike the instance API, paging works together with ``where`` and ``sort``: the cursor is a log
``_id``, and with ``sort=created`` the page continues from that record's ``(created, _id)``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection
from sqlalchemy.sql.elements import ColumnElement

from opencortex import faults
from opencortex.logs.records import log_json
from opencortex.model.orgs import org_allowed_restricted_operators
from opencortex.query import parse_sort, parse_where
from opencortex.query.ast import And, Compare, Exists, Field, In, Node, Not, Or
from opencortex.query.schema import QueryableProperty, QuerySchema
from opencortex.query.values import parse_iso_datetime
from opencortex.store.tables import logs

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
SORTABLE = ("_id", "created")

# Every queryable property of a log record is one column: (path, type, column).
_PROPERTIES = (
    ("_id", "ObjectId", "id"),
    ("req", "ObjectId", "req"),
    ("pid", "ObjectId", "pid"),
    ("oid", "ObjectId", "oid"),
    ("src_id", "ObjectId", "src_id"),
    ("src", "Number", "src"),
    ("lvl", "Number", "lvl"),
    ("sts", "Number", "sts"),
    ("beg", "Date", "beg"),
    ("end", "Date", "end"),
    ("exp", "Date", "exp"),
    ("created", "Date", "created"),
)

Condition = ColumnElement[bool]


def log_query_schema() -> QuerySchema:
    schema = QuerySchema("log")
    for path, kind, column in _PROPERTIES:
        schema.add(QueryableProperty(path=path, type=kind, indexed=True, column=column))
    return schema


LOG_SCHEMA = log_query_schema()


@dataclass(frozen=True)
class LogQuery:
    where: str | None = None
    sort: str | None = None
    limit: int = DEFAULT_LIMIT
    starting_after: str | None = None
    ending_before: str | None = None


def list_logs(connection: Connection, org_id: str, query: LogQuery) -> tuple[list[dict[str, Any]], bool]:
    """One page of the org's logs, shown as Cortex does, and whether more follow in that direction."""
    schema = LOG_SCHEMA.allowing(org_allowed_restricted_operators(connection, org_id))  # $ne... as the org says
    condition = compile_log_where(parse_where(query.where, schema))
    key, direction = _sort_key(query.sort)
    statement = sa.select(logs).where(logs.c.org_id == org_id, condition)
    if query.starting_after:
        statement = statement.where(_beyond(connection, org_id, key, direction, query.starting_after,
                                            "startingAfter"))
    if query.ending_before:
        statement = statement.where(_beyond(connection, org_id, key, -direction, query.ending_before,
                                            "endingBefore"))
    # Before a cursor, read away from it (nearest first), then turn the page into the list's order.
    reading = -direction if query.ending_before else direction
    statement = statement.order_by(*_order(key, reading)).limit(query.limit + 1)
    rows = [dict(row) for row in connection.execute(statement).mappings()]
    has_more = len(rows) > query.limit
    rows = rows[: query.limit]
    if query.ending_before:
        rows.reverse()
    return [log_json(row) for row in rows], has_more


def scan_logs(connection: Connection, org_id: str, where: Node | None,
              batch_size: int = 1000) -> Iterator[list[dict[str, Any]]]:
    """Every record of the org matching ``where`` (``parse_where`` against ``LOG_SCHEMA``), oldest
    first, shown as the API shows them, in keyset-paged batches: what an export of the Logs reads."""
    condition = compile_log_where(where)
    last: str | None = None
    while True:
        statement = sa.select(logs).where(logs.c.org_id == org_id, condition)
        if last is not None:
            statement = statement.where(logs.c.id > last)
        rows = [dict(row) for row in connection.execute(statement.order_by(logs.c.id.asc()).limit(batch_size))
                .mappings()]
        if not rows:
            return
        yield [log_json(row) for row in rows]
        last = rows[-1]["id"]


def count_logs(connection: Connection, org_id: str, where: Node | None) -> int:
    statement = sa.select(sa.func.count()).select_from(logs).where(logs.c.org_id == org_id, compile_log_where(where))
    return int(connection.execute(statement).scalar_one())


def compile_log_where(node: Node | None) -> Condition:
    """``parse_where``'s tree for ``LOG_SCHEMA`` as a condition on the ``logs`` table."""
    if node is None:
        return sa.true()
    if isinstance(node, And):
        return sa.and_(sa.true(), *(compile_log_where(child) for child in node.children))
    if isinstance(node, Or):
        return sa.or_(sa.false(), *(compile_log_where(child) for child in node.children))
    if isinstance(node, Not):
        return sa.not_(sa.func.coalesce(compile_log_where(node.child), sa.false()))
    field = node.field
    if field.column is None:  # cannot happen: every property of LOG_SCHEMA is a column
        raise faults.query_invalid(f"{field.path} cannot be queried.", path=field.path)
    column = logs.c[field.column]
    if isinstance(node, Exists):
        return column.isnot(None)
    if isinstance(node, Compare):
        return _COMPARE[node.op](column, _param(field, node.value))
    if isinstance(node, In):
        return column.in_([_param(field, value) for value in node.values]) if node.values else sa.false()
    # $regex, $size, $elemMatch and $within need strings, arrays or geometry, which logs do not have.
    raise faults.query_invalid(f"This operator cannot be used on {field.path}.", path=field.path)


_COMPARE = {
    "$eq": lambda column, value: column == value,
    "$gt": lambda column, value: column > value,
    "$gte": lambda column, value: column >= value,
    "$lt": lambda column, value: column < value,
    "$lte": lambda column, value: column <= value,
}


def _param(field: Field, value: Any) -> Any:
    """Date columns hold datetimes; the parsed tree holds Dates as ISO text."""
    return parse_iso_datetime(str(value)) if field.type == "Date" else value


def _sort_key(sort: str | None) -> tuple[str, int]:
    """(column, direction); newest first by default."""
    keys = parse_sort(sort, LOG_SCHEMA)
    if not keys:
        return "id", -1
    if len(keys) > 1 or keys[0][0].path not in SORTABLE:
        path = next((prop.path for prop, _ in keys if prop.path not in SORTABLE), keys[-1][0].path)
        raise faults.query_invalid("Logs are sorted by one property: _id or created.", path=path)
    prop, direction = keys[0]
    assert prop.column is not None
    return prop.column, direction


def _order(key: str, direction: int) -> list[ColumnElement[Any]]:
    columns = [logs.c.created, logs.c.id] if key == "created" else [logs.c.id]
    return [column.asc() if direction > 0 else column.desc() for column in columns]


def _beyond(connection: Connection, org_id: str, key: str, direction: int, cursor: str,
            name: str) -> Condition:
    """Records after ``cursor`` in the order (``key``, ``direction``)."""
    after = _COMPARE["$gt"] if direction > 0 else _COMPARE["$lt"]
    if key == "id":
        return after(logs.c.id, cursor)
    created = connection.execute(
        sa.select(logs.c.created).where(logs.c.org_id == org_id, logs.c.id == cursor)
    ).scalar()
    if created is None:
        raise faults.invalid_argument(f"{name} names no log record of this org.", path=name)
    return sa.or_(after(logs.c.created, created),
                  sa.and_(logs.c.created == created, after(logs.c.id, cursor)))
