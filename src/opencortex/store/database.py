"""The database handle: one engine per process, SQLite or PostgreSQL, migrated on open."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson
from alembic import command
from alembic.config import Config
from psycopg.types.json import set_json_loads
from sqlalchemy import Connection, Engine, create_engine, event

from opencortex.faults import Fault

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


class Database:
    def __init__(self, url: str) -> None:
        self.url = url
        self.dialect = "sqlite" if url.startswith("sqlite") else "postgresql"
        self.engine = _create_engine(url)

    @contextmanager
    def begin(self) -> Iterator[Connection]:
        """A connection inside one write transaction: committed on success, rolled back on error."""
        with self.engine.connect() as connection:
            _mark_writer(connection)
            with connection.begin():
                yield connection

    @contextmanager
    def begin_keeping_faults(self) -> Iterator[Connection]:
        """Like ``begin``, but a ``Fault`` commits what was written before it was raised.

        For checks that must record their own failure: a failed login counts towards the
        lockout, and a session refused for CSRF or expiry is destroyed, even though the
        request itself fails.
        """
        with self.engine.connect() as connection:
            _mark_writer(connection)
            transaction = connection.begin()
            try:
                yield connection
            except Fault:
                transaction.commit()
                raise
            except BaseException:
                transaction.rollback()
                raise
            transaction.commit()

    @contextmanager
    def connect(self) -> Iterator[Connection]:
        with self.engine.connect() as connection:
            yield connection

    def migrate(self) -> None:
        """Apply every Alembic migration that has not run yet."""
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        with self.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "head")

    def dispose(self) -> None:
        self.engine.dispose()


def _json_text(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


def _json_value(stored: Any) -> Any:
    # SQLite gives a column declared JSON numeric affinity: a stored JSON number comes back as a
    # Python number, not as text.
    return stored if isinstance(stored, (int, float)) else orjson.loads(stored)


def _create_engine(url: str) -> Engine:
    # orjson for JSON columns: several times faster than the stdlib on the export hot path.
    codecs = {"json_serializer": _json_text, "json_deserializer": _json_value}
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, **codecs)
        event.listen(engine, "connect", _sqlite_pragmas)
        # We issue BEGIN ourselves: IMMEDIATE for writers (``Database.begin``), so that a write
        # transaction holds the write lock from its first statement and never fails to upgrade;
        # DEFERRED for readers, which in WAL mode never block writers or each other.
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    # psycopg parses json/jsonb itself before SQLAlchemy sees it; give it orjson too.
    set_json_loads(orjson.loads)
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20, **codecs)


def _mark_writer(connection: Connection) -> None:
    connection.info["sqlite_begin"] = "BEGIN IMMEDIATE"


def _sqlite_begin(connection: Connection) -> None:
    connection.exec_driver_sql(connection.info.pop("sqlite_begin", "BEGIN"))


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None  # we issue BEGIN ourselves (see above)
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()
