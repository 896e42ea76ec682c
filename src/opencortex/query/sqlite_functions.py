"""SQL functions the compiled queries need on SQLite, registered on every connection.

- ``regexp(pattern, value)``: SQLite parses ``X REGEXP Y`` but ships no implementation. Ours
  runs RE2 on the RE2 rendering of a checked pattern (``query.regex``), which has the same
  meaning as the PostgreSQL rendering, so both databases match the same rows. RE2 matches in
  linear time and releases the GIL meanwhile: a query over long values cannot hold the server.
- ``sin``, ``cos``: used by ``$within``. SQLite has them when built with
  ``SQLITE_ENABLE_MATH_FUNCTIONS`` (most builds since 3.35); older builds get Python's.

Call ``install_sqlite_functions(engine)`` once, right after creating a SQLite engine. It listens
to connection checkouts, so connections already in the pool are covered too.
"""

from __future__ import annotations

import math
import sqlite3
from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy.pool import ConnectionPoolEntry

from opencortex.query.regex.matching import search

_INSTALLED = "opencortex_query_functions"


def install_sqlite_functions(engine: Engine) -> None:
    """Make ``REGEXP`` (and, if missing, ``sin``/``cos``) available on ``engine``'s connections."""
    if engine.dialect.name != "sqlite" or event.contains(engine, "checkout", _on_checkout):
        return
    event.listen(engine, "checkout", _on_checkout)


def register_functions(connection: sqlite3.Connection) -> None:
    """Register the functions on one DBAPI connection (also usable without SQLAlchemy)."""
    connection.create_function("regexp", 2, regexp, deterministic=True)
    try:
        connection.execute("SELECT sin(0), cos(0)").fetchall()
    except sqlite3.OperationalError:  # built without math functions
        connection.create_function("sin", 1, _math(math.sin), deterministic=True)
        connection.create_function("cos", 1, _math(math.cos), deterministic=True)


def regexp(pattern: str, value: Any) -> bool:
    """``value REGEXP pattern``: false for NULL and non-text values."""
    if not isinstance(value, str) or not isinstance(pattern, str):
        return False
    return search(pattern, value)


def _math(function: Any) -> Any:
    def apply(value: Any) -> float | None:
        return None if value is None else function(value)

    return apply


def _on_checkout(dbapi_connection: Any, record: ConnectionPoolEntry, _proxy: Any) -> None:
    if not record.info.get(_INSTALLED):
        register_functions(dbapi_connection)
        record.info[_INSTALLED] = True
