"""The index expressions that compiled queries can use, for the model layer's ``CREATE INDEX``.

A database uses an expression index only when the query holds the very same expression, so
these strings are produced by compiling the expressions that ``compile.py`` emits (one
source of truth), with the table name removed:

- String, Date, ObjectId, Boolean: ``((body -> 'c_a' ->> 'c_b') COLLATE "C")`` on PostgreSQL,
  ``json_extract(body, '$.c_a.c_b')`` on SQLite;
- Number: ``(NULLIF(body -> 'c_a' -> 'c_b', 'null'::jsonb))`` on PostgreSQL, the same
  ``json_extract`` on SQLite;
- a top-level array: ``(body -> 'c_tags')`` in a ``USING gin (... jsonb_path_ops)`` index on
  PostgreSQL (for ``$eq``/``$in``, compiled as ``@>``); nothing on SQLite;
- a path inside a document array: nothing (a row has no single value for it);
- a system property: its column (index it with a plain column index; only ``id`` and ``owner``
  have one today).

For sorting and keyset paging, build the B-tree as ``(<expression> NULLS FIRST, id)`` on
PostgreSQL (``compile_sort`` orders ascending NULLS FIRST; a backward scan serves descending)
and ``(<expression>, id)`` on SQLite, partial to one org's object (``WHERE org_id = '...' AND
object = '...'``). ``index_sql`` writes exactly that.
"""

from __future__ import annotations

import re

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from opencortex.query.compile import sort_expression
from opencortex.query.dialects import PostgresJson, json_dialect
from opencortex.query.schema import QueryableProperty

_INDEX_NAME = re.compile(r"^[A-Za-z0-9_]{1,63}$")
_SAFE_LITERAL = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def index_expression(prop: QueryableProperty, dialect: str) -> str | None:
    """The SQL expression an index on ``prop`` must be built on, or None if no index can help.

    Below a document array the model marks every path as an array, and only a top-level array
    gets an (inverted, PostgreSQL) index: the others have no single value per row.
    """
    json = json_dialect(dialect)
    if prop.column is not None:
        return prop.column
    if prop.array:
        if not isinstance(json, PostgresJson) or "." in prop.path:
            return None
        return "(" + _sql(json.jsonb(json.child(json.root(), (prop.path,))), dialect) + ")"
    expression = _sql(sort_expression(prop, dialect), dialect)
    return f"({expression})" if dialect == "postgresql" else expression


def index_sql(
    name: str, prop: QueryableProperty, dialect: str, *, org_id: str, object_name: str
) -> str | None:
    """``CREATE INDEX`` for ``prop`` of one org's object, or None when no index can serve it."""
    expression = index_expression(prop, dialect)
    if expression is None or prop.column is not None:
        return None
    if not _INDEX_NAME.match(name) or not _SAFE_LITERAL.match(org_id) or not _SAFE_LITERAL.match(object_name):
        raise ValueError("unsafe index name, org id or object name")
    where = f"WHERE org_id = '{org_id}' AND object = '{object_name}'"
    if prop.array:
        return (
            f"CREATE INDEX IF NOT EXISTS {name} ON documents USING gin ({expression} jsonb_path_ops) {where}"
        )
    nulls = " NULLS FIRST" if dialect == "postgresql" else ""
    return f"CREATE INDEX IF NOT EXISTS {name} ON documents ({expression}{nulls}, id) {where}"


def _sql(expression: sa.ColumnElement[object], dialect: str) -> str:
    compiled = expression.compile(
        dialect=postgresql.dialect() if dialect == "postgresql" else sqlite.dialect(),
        compile_kwargs={"literal_binds": True},
    )
    return str(compiled).replace("documents.", "")
