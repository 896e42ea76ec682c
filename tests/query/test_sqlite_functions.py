"""The SQL functions the query layer registers on SQLite."""

from __future__ import annotations

import math
import sqlite3
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from opencortex.query import install_sqlite_functions
from opencortex.query.regex import parse_regex
from opencortex.query.sqlite_functions import register_functions


def test_regexp_follows_the_re2_rendering() -> None:
    connection = sqlite3.connect(":memory:")
    register_functions(connection)
    pattern = parse_regex("/^sm/i", max_length=255, path="c_str").re2
    rows = connection.execute(
        "SELECT value REGEXP ? FROM (SELECT 'Smith' AS value UNION ALL SELECT 'asm' UNION ALL SELECT NULL "
        "UNION ALL SELECT 5)",
        (pattern,),
    ).fetchall()
    assert [row[0] for row in rows] == [1, 0, 0, 0]


def test_install_covers_pooled_connections_and_is_idempotent(tmp_path: Path) -> None:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'functions.db'}")
    with engine.connect() as connection:  # a connection already in the pool before the install
        connection.exec_driver_sql("SELECT 1")
    install_sqlite_functions(engine)
    install_sqlite_functions(engine)
    with engine.connect() as connection:
        assert connection.exec_driver_sql("SELECT 'abc' REGEXP '[bB]'").scalar() == 1
        assert round(connection.exec_driver_sql("SELECT sin(0.5) + cos(0.5)").scalar(), 6) == 1.357008
    engine.dispose()


def test_install_ignores_other_databases() -> None:
    engine = sa.create_engine("postgresql+psycopg://nobody@127.0.0.1:1/none")
    install_sqlite_functions(engine)  # no connection is made, nothing is registered
    engine.dispose()


class _WithoutMaths:
    """A connection whose SQLite was built without the math functions."""

    def __init__(self) -> None:
        self.inner = sqlite3.connect(":memory:")
        self.registered: list[str] = []

    def create_function(self, name: str, *args: Any, **options: Any) -> None:
        self.registered.append(name)
        self.inner.create_function(name, *args, **options)

    def execute(self, _sql: str) -> Any:
        raise sqlite3.OperationalError("no such function: sin")


def test_maths_fall_back_to_python() -> None:
    connection = _WithoutMaths()
    register_functions(connection)  # type: ignore[arg-type]
    assert connection.registered == ["regexp", "sin", "cos"]
    assert connection.inner.execute("SELECT sin(0.5), cos(NULL)").fetchone() == (math.sin(0.5), None)
