"""Change marks: what a read transaction saw of the changes to ``documents``, and "changed after".

Every insert and update stamps its row's ``change_seq``, and every delete leaves a tombstone
stamped the same way (``store.change_triggers``). A *change mark* is the point a read
transaction stands at, as text:

- PostgreSQL: its snapshot (``pg_current_snapshot()``: ``xmin:xmax:in-progress ids``). A row
  changed after the mark is one whose writing transaction the snapshot does not see, which is
  exact even when transactions commit out of the order they started in;
- SQLite: the change counter as the transaction reads it (a single writer at a time, so the
  counter follows commit order).

So "changed after mark M" means "committed after the transaction that recorded M took its
snapshot", with no clock involved.
"""

from __future__ import annotations

import re
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from opencortex.store.tables import change_sequence

_POSTGRESQL_MARK = re.compile(r"^(\d+):(\d+):(\d+(?:,\d+)*)?$")
_SQLITE_MARK = re.compile(r"^\d+$")


class _PostgresType(sa.types.UserDefinedType[Any]):
    """A PostgreSQL type named only in casts (``xid8``, ``pg_snapshot``)."""

    cache_ok = True

    def __init__(self, name: str) -> None:
        self.name = name

    def get_col_spec(self, **_kw: Any) -> str:
        return self.name


_XID8, _SNAPSHOT = _PostgresType("xid8"), _PostgresType("pg_snapshot")


def current_change_mark(connection: Connection, dialect: str) -> str:
    """The change mark of the connection's transaction (call it inside the read transaction whose
    data it describes: on PostgreSQL a ``REPEATABLE READ`` one, so that its snapshot is fixed)."""
    if dialect == "postgresql":
        return str(connection.execute(sa.text("SELECT pg_current_snapshot()::text")).scalar_one())
    value = connection.execute(sa.select(change_sequence.c.value).where(change_sequence.c.id == 1)).scalar()
    return str(int(value or 0))


def is_change_mark(mark: object, dialect: str) -> bool:
    """Whether ``mark`` is a change mark this kind of database made."""
    pattern = _POSTGRESQL_MARK if dialect == "postgresql" else _SQLITE_MARK
    return isinstance(mark, str) and pattern.match(mark) is not None


def changed_after(column: Any, mark: str, dialect: str) -> Any:
    """The condition "``column`` (a ``change_seq``) was written after ``mark``"."""
    if not is_change_mark(mark, dialect):
        raise ValueError(f"{mark!r} is not a change mark of this {dialect} database")
    if dialect == "sqlite":
        return column > int(mark)
    low = int(mark.split(":", 1)[0])  # every id below xmin was visible to the snapshot
    visible = sa.func.pg_visible_in_snapshot(sa.cast(sa.cast(column, sa.Text), _XID8),
                                             sa.cast(sa.literal(mark, sa.Text), _SNAPSHOT))
    return sa.and_(column >= low, sa.not_(visible))
