"""The database handle: one engine per process, SQLite or PostgreSQL, migrated on open."""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson
from alembic import command
from alembic.config import Config
from psycopg.types.json import set_json_loads
from sqlalchemy import Connection, Engine, RootTransaction, create_engine, event
from sqlalchemy.exc import DBAPIError

from opencortex.faults import Fault

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"
MIN_SQLITE = (3, 35, 0)
# How long a SQLite writer waits for the write lock before "database is locked" (the driver's
# ``timeout`` sets SQLite's busy timeout). Every write transaction is short (the bulk import
# commits at least every half second and then lets waiting writers in), so waits are normally
# under a second and a wait this long means a writer is stuck; waiting longer would only hold requests
# (and an export's lease renewal, due every 0.5 s of a 30 s lease) longer. A request that runs out
# of it gets the 503 fault database_busy with Retry-After (api/errors.py), never a 500.
SQLITE_BUSY_TIMEOUT_SECONDS = 30
# SQLite result codes (the low byte of an extended code): the lock is held, the disk is full.
_SQLITE_BUSY, _SQLITE_LOCKED, _SQLITE_FULL = 5, 6, 13
# PostgreSQL SQLSTATEs that mean "try again": serialization failure, deadlock, lock not available.
_PG_RETRY_STATES = frozenset({"40001", "40P01", "55P03"})
_PG_DISK_FULL = "53100"
log = logging.getLogger("opencortex.store")
PRIVATE_FILE_MODE = 0o600


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

    def begin_writing(self, connection: Connection) -> RootTransaction:
        """Begin a write transaction on a connection the caller keeps across several of them
        (the bulk import's); the caller commits or rolls it back. A transaction the connection
        began on its own (a read, or one a failed commit left behind) is rolled back first."""
        if connection.in_transaction():
            connection.rollback()
        _mark_writer(connection)
        return connection.begin()

    @contextmanager
    def transaction(self, connection: Connection) -> Iterator[Connection]:
        """``begin_writing`` as a block: committed on success, rolled back on error."""
        with self.begin_writing(connection):
            yield connection

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


def is_database_busy(error: BaseException) -> bool:
    """Did the database refuse for a lock, so that the same work may succeed if tried again?
    SQLite's ``database is locked`` (after the busy timeout, or at once when a read transaction
    cannot become a write one); PostgreSQL's deadlocks, lock timeouts and serialization failures."""
    cause = _driver_error(error)
    if isinstance(cause, sqlite3.OperationalError):
        code = getattr(cause, "sqlite_errorcode", None)
        if code is not None:
            return code & 0xFF in (_SQLITE_BUSY, _SQLITE_LOCKED)
        return "locked" in str(cause)
    return getattr(cause, "sqlstate", None) in _PG_RETRY_STATES


def is_storage_full(error: BaseException) -> bool:
    """Did the database fail because its disk is full (SQLITE_FULL, PostgreSQL's disk_full)?"""
    cause = _driver_error(error)
    if isinstance(cause, sqlite3.OperationalError):
        return getattr(cause, "sqlite_errorcode", 0) & 0xFF == _SQLITE_FULL
    return getattr(cause, "sqlstate", None) == _PG_DISK_FULL


def _driver_error(error: BaseException) -> BaseException:
    """The driver's own exception behind SQLAlchemy's wrapper."""
    return error.orig if isinstance(error, DBAPIError) and isinstance(error.orig, BaseException) else error


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
        _require_sqlite_version()
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            _prepare_private_file(Path(path))
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_SECONDS}, **codecs
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        # We issue BEGIN ourselves: IMMEDIATE for writers (``Database.begin``), so that a write
        # transaction holds the write lock from its first statement and never fails to upgrade;
        # DEFERRED for readers, which in WAL mode never block writers or each other.
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    # psycopg parses json/jsonb itself before SQLAlchemy sees it; give it orjson too.
    set_json_loads(orjson.loads)
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20, **codecs)


def _require_sqlite_version() -> None:
    # Failed logins are counted with INSERT ... ON CONFLICT ... RETURNING (auth/lockout.py).
    if sqlite3.sqlite_version_info < MIN_SQLITE:
        wanted = ".".join(map(str, MIN_SQLITE))
        raise RuntimeError(f"OpenCortex needs SQLite {wanted} or newer; this Python has {sqlite3.sqlite_version}")


def _prepare_private_file(path: Path) -> None:
    """Create the database file owner-only (0600) before SQLite opens it, and tighten one that is not.

    SQLite gives its ``-wal`` and ``-shm`` files the database file's permissions, so they follow.
    """
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):  # an existing database: only its mode is checked below
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, PRIVATE_FILE_MODE))
    for candidate in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        try:
            mode = candidate.stat().st_mode
            if mode & 0o077:
                candidate.chmod(PRIVATE_FILE_MODE)
                log.warning("%s was readable by other users (mode %o); it is now 0600", candidate, mode & 0o777)
        except FileNotFoundError:
            continue
        except PermissionError:
            log.warning("%s is readable by other users and cannot be made private (not its owner)", candidate)


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
    cursor.close()
