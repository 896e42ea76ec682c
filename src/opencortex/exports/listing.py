"""``GET /exports``: which exports a principal may read, and the list's ``where``, ``sort`` and paging.

Access (Cortex's export ACL): an export's owner reads it (``defaultAcl``: Owner, Delete), and an
export created by an administrator is read by every administrator; creating one takes the
Administrator role. So an administrator reads every export of the org, anyone else only the
exports they own: none, unless they created some while they were an administrator.

``where`` and ``sort`` go through the query parser of instance lists (``parse_where``,
``parse_sort``: the same operators, limits and faults), against ``EXPORT_SCHEMA``, whose
properties are all indexed; the tree is compiled here onto the ``exports`` table (``objects``
and ``format`` live in its ``params`` JSON, ``fault.errCode`` in its ``fault``: a cancelled
export's is ``cortex.error.aborted``). Paging is as instance lists page: newest first by
default, ``skip``, ``limit``, and ``startingAfter``/``endingBefore`` (an export ``_id``), which
cannot be combined with ``where`` or ``sort``.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection
from sqlalchemy.sql.elements import ColumnElement

from opencortex import faults
from opencortex.exports.jobs import ExportJob
from opencortex.ids import ROLE_ADMINISTRATOR
from opencortex.model.orgs import org_allowed_restricted_operators
from opencortex.query.ast import And, Compare, Exists, In, Node, Not, Or, Regex
from opencortex.query.dialects import json_dialect
from opencortex.query.parse import parse_sort, parse_where
from opencortex.query.schema import QueryableProperty, QuerySchema
from opencortex.query.values import parse_iso_datetime
from opencortex.store.tables import exports

Condition = ColumnElement[bool]

# Every queryable (and sortable) property of an export: (path, type, expression).
_PROPERTIES: tuple[tuple[str, str, ColumnElement[Any]], ...] = (
    ("_id", "ObjectId", exports.c.id),
    ("state", "String", exports.c.state),
    ("label", "String", exports.c.label),
    ("description", "String", exports.c.description),
    ("objects", "String", exports.c.params["objects"].as_string()),
    ("format", "String", exports.c.params["format"].as_string()),
    ("creator", "ObjectId", exports.c.creator),
    ("owner", "ObjectId", exports.c.owner),
    ("created", "Date", exports.c.created),
    ("updated", "Date", exports.c.updated),
    ("started", "Date", exports.c.started),
    ("completed", "Date", exports.c.completed),
    ("expiresAt", "Date", exports.c.expires_at),
    ("fault.errCode", "String", exports.c.fault["errCode"].as_string()),
)
_EXPRESSIONS = {path: expression for path, _kind, expression in _PROPERTIES}


def export_query_schema() -> QuerySchema:
    schema = QuerySchema("export")
    for path, kind, _expression in _PROPERTIES:
        schema.add(QueryableProperty(path=path, type=kind, indexed=True, column=path))
    return schema


EXPORT_SCHEMA = export_query_schema()


@dataclass(frozen=True)
class ExportAccess:
    """Which of the org's exports a principal reads (see the module's docstring)."""

    account_id: str | None
    administrator: bool

    @classmethod
    def of(cls, account_id: str | None, roles: Collection[str]) -> ExportAccess:
        """``account_id`` None: the system (the command line), which reads every export."""
        return cls(account_id, account_id is None or ROLE_ADMINISTRATOR in roles)

    def can_read(self, job: ExportJob) -> bool:
        return self.administrator or job.owner == self.account_id

    def condition(self) -> Condition:
        return sa.true() if self.administrator else exports.c.owner == self.account_id


ADMINISTRATOR = ExportAccess(None, True)


@dataclass(frozen=True)
class ExportListQuery:
    where: str | None = None
    sort: str | None = None
    skip: int = 0
    limit: int = 100
    starting_after: str | None = None
    ending_before: str | None = None
    state: str | None = None
    """Beyond Cortex (kept from before ``where``): only exports in this state."""


def select_exports(connection: Connection, dialect: str, org_id: str, query: ExportListQuery,
                   access: ExportAccess) -> tuple[list[ExportJob], bool]:
    """One page of the org's exports that ``access`` reads, and whether more follow."""
    statement = _select(connection, dialect, org_id, query, access).limit(query.limit + 1)
    jobs = [ExportJob.from_row(row) for row in connection.execute(statement).mappings()]
    has_more = len(jobs) > query.limit
    jobs = jobs[: query.limit]
    if query.ending_before:
        jobs.reverse()
    return jobs, has_more


def count_exports(connection: Connection, dialect: str, org_id: str, query: ExportListQuery,
                  access: ExportAccess) -> int:
    """How many exports the list covers over all its pages (``total=true``)."""
    whole = ExportListQuery(where=query.where, sort=query.sort, state=query.state, limit=query.limit)
    counted = _select(connection, dialect, org_id, whole, access).order_by(None).subquery()
    return int(connection.execute(sa.select(sa.func.count()).select_from(counted)).scalar_one())


def _select(connection: Connection, dialect: str, org_id: str, query: ExportListQuery,
            access: ExportAccess) -> sa.Select[Any]:
    schema = EXPORT_SCHEMA.allowing(org_allowed_restricted_operators(connection, org_id))
    where = parse_where(query.where, schema)
    keys = parse_sort(query.sort, schema)
    if (query.starting_after or query.ending_before) and (where is not None or keys):
        raise faults.query_invalid("startingAfter/endingBefore is incompatible with where/sort.")
    statement = sa.select(exports).where(exports.c.org_id == org_id, access.condition(),
                                         compile_export_where(where, dialect))
    if query.state:
        statement = statement.where(exports.c.state == query.state)
    if query.starting_after:
        statement = statement.where(exports.c.id < query.starting_after)
    if query.ending_before:
        statement = statement.where(exports.c.id > query.ending_before)
    order = _order(keys, dialect)
    if query.ending_before:
        statement = statement.order_by(*order, exports.c.id.asc())
    else:
        statement = statement.order_by(*order, exports.c.id.desc() if not keys else _by_id(keys))
    if query.skip:
        statement = statement.offset(query.skip)
    return statement


def _by_id(keys: Sequence[tuple[QueryableProperty, int]]) -> ColumnElement[Any]:
    """Ties broken by ``_id`` in the direction of the last key, as instance lists do."""
    return exports.c.id.asc() if keys[-1][1] > 0 else exports.c.id.desc()


def _order(keys: Sequence[tuple[QueryableProperty, int]], dialect: str) -> list[ColumnElement[Any]]:
    """Missing values first ascending, last descending, on both databases."""
    order: list[ColumnElement[Any]] = []
    for prop, direction in keys:
        expression = _text(_EXPRESSIONS[prop.path], prop.type, dialect)
        if direction > 0:
            order.append(expression.asc().nulls_first() if dialect == "postgresql" else expression.asc())
        else:
            order.append(expression.desc().nulls_last() if dialect == "postgresql" else expression.desc())
    return order


def compile_export_where(node: Node | None, dialect: str) -> Condition:
    """``parse_where``'s tree for ``EXPORT_SCHEMA`` as a condition on the ``exports`` table."""
    if node is None:
        return sa.true()
    if isinstance(node, And):
        return sa.and_(sa.true(), *(compile_export_where(child, dialect) for child in node.children))
    if isinstance(node, Or):
        return sa.or_(sa.false(), *(compile_export_where(child, dialect) for child in node.children))
    if isinstance(node, Not):
        return sa.not_(sa.func.coalesce(compile_export_where(node.child, dialect), sa.false()))
    field = node.field
    expression = _EXPRESSIONS.get(field.path)
    if expression is None or field.column is None:  # cannot happen: the schema holds only these
        raise faults.query_invalid(f"{field.path} cannot be queried.", path=field.path)
    if isinstance(node, Exists):
        return expression.isnot(None)
    if isinstance(node, Compare):
        compared = _text(expression, field.type, dialect) if node.op != "$eq" else expression
        return _COMPARE[node.op](compared, _param(field.type, node.value))
    if isinstance(node, In):
        options: list[Condition] = []
        if node.values:
            options.append(expression.in_([_param(field.type, value) for value in node.values]))
        options += [json_dialect(dialect).regex(expression, pattern) for pattern in node.patterns]
        return sa.or_(sa.false(), *options)
    if isinstance(node, Regex):
        return sa.and_(expression.isnot(None), json_dialect(dialect).regex(expression, node.pattern))
    # $size, $elemMatch and $within need arrays or geometry, which exports' properties are not.
    raise faults.query_invalid(f"This operator cannot be used on {field.path}.", path=field.path)


_COMPARE = {
    "$eq": lambda left, right: left == right,
    "$gt": lambda left, right: left > right,
    "$gte": lambda left, right: left >= right,
    "$lt": lambda left, right: left < right,
    "$lte": lambda left, right: left <= right,
}


def _text(expression: ColumnElement[Any], kind: str, dialect: str) -> ColumnElement[Any]:
    """Strings order by code point on both databases (PostgreSQL: the "C" collation)."""
    return sa.collate(expression, "C") if dialect == "postgresql" and kind == "String" else expression


def _param(kind: str, value: Any) -> Any:
    """Date columns hold datetimes; the parsed tree holds Dates as ISO text."""
    return parse_iso_datetime(str(value)) if kind == "Date" else value
