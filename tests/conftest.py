"""Shared fixtures. ``database`` runs each storage test on SQLite and on PostgreSQL.

Each test starts from an empty, migrated database: a copy of a migrated SQLite file, or the
PostgreSQL database this test run created (emptied after each test, dropped at the end). Under
``CI=true`` an unreachable PostgreSQL fails the run instead of skipping its half.

``s3_server`` is a real S3-protocol server for this run; the files and exports suites run their
``platform`` on the local folder and on S3 (``file_storage``, ``tests/support/s3.py``).
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from opencortex.store.database import Database
from tests.support.platform import OrgFixture, make_runtime, open_test_client, seed_org
from tests.support.s3 import S3Server

PG_ADMIN_URL = os.environ.get(
    "OPENCORTEX_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
IN_CI = os.environ.get("CI", "").lower() == "true"
_skipped_postgres: list[str] = []


def _pg_url(database_name: str) -> str:
    return PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + database_name


class _PostgresRun:
    """One PostgreSQL database for this test run (per xdist worker): created and migrated at the
    start, emptied after every test, dropped at the end."""

    def __init__(self) -> None:
        self.admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        self.name = f"oc_test_{uuid.uuid4().hex[:12]}"
        with self.admin.connect() as connection:
            connection.exec_driver_sql(f'CREATE DATABASE "{self.name}"')
        self.url = _pg_url(self.name)
        database = Database(self.url)
        database.migrate()
        with database.connect() as connection:
            self.tables = [
                name for name in sa.inspect(connection).get_table_names() if name != "alembic_version"
            ]
        database.dispose()
        self.cleaner = sa.create_engine(self.url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)

    def empty(self) -> None:
        with self.cleaner.connect() as connection:
            # A connection a test left open (a worker thread, a server process) would hold locks
            # that TRUNCATE waits on forever: end them, and never wait long for a lock.
            connection.exec_driver_sql(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            connection.exec_driver_sql("SET lock_timeout = '20s'")
            connection.exec_driver_sql(
                "TRUNCATE " + ", ".join(f'"{table}"' for table in self.tables) + " CASCADE"
            )
            # Indexes that the model creates for indexed properties belong to the data, too. (``_``
            # is escaped: as a LIKE wildcard it also matched the schema's ix_documents_owner.)
            for (index,) in connection.exec_driver_sql(
                "SELECT indexname FROM pg_indexes WHERE schemaname = 'public' AND indexname LIKE 'ix\\_doc\\_%%'"
            ):
                connection.exec_driver_sql(f'DROP INDEX IF EXISTS "{index}"')

    def close(self) -> None:
        self.cleaner.dispose()
        with self.admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
        self.admin.dispose()


@pytest.fixture(scope="session")
def postgres_run() -> Iterator[_PostgresRun | None]:
    try:
        run = _PostgresRun()
    except sa.exc.OperationalError as error:
        if IN_CI:
            pytest.fail(f"PostgreSQL is required under CI=true and is unreachable: {error}", pytrace=False)
        yield None
        return
    yield run
    run.close()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sqlite-template") / "template.db"
    template_db = Database(f"sqlite:///{path}")
    template_db.migrate()
    template_db.dispose()  # closing the last connection checkpoints the WAL into the file
    return path


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    sqlite_template: Path,
    postgres_run: _PostgresRun | None,
) -> Iterator[str]:
    """A URL of a freshly migrated, empty database of each kind."""
    if request.param == "sqlite":
        path = tmp_path / "opencortex.db"
        shutil.copyfile(sqlite_template, path)
        yield f"sqlite:///{path}"
        return
    if postgres_run is None:
        _skipped_postgres.append(request.node.nodeid)
        pytest.skip("PostgreSQL is not reachable on 127.0.0.1:5432 (set CI=true to make this an error)")
    yield postgres_run.url
    postgres_run.empty()


@pytest.fixture
def database(database_url: str) -> Iterator[Database]:
    db = Database(database_url)
    yield db
    db.dispose()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if IN_CI and _skipped_postgres:
        session.exitstatus = 1


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """A real S3-protocol server (moto's, in its own process) with a bucket, for this test run (per
    xdist worker). Under ``CI=true`` one that cannot start fails the run; elsewhere its tests skip."""
    try:
        server = S3Server.start(tmp_path_factory.mktemp("s3"))
    except RuntimeError as error:
        if IN_CI:
            pytest.fail(f"the S3 tests need moto's server under CI=true, and it did not start: {error}", pytrace=False)
        pytest.skip(f"moto's S3 server did not start ({error}); install the test extra (moto[server])")
    yield server
    server.stop()


@pytest.fixture
def file_storage() -> dict[str, Any]:
    """The file store settings of ``platform``'s runtime: none, the local folder. A suite that also
    runs on S3 overrides this fixture (``tests/support/s3.py: storage_settings``)."""
    return {}


@pytest.fixture
def platform(database_url: str, tmp_path: Path, file_storage: dict[str, Any]) -> Iterator[OrgFixture]:
    """A running runtime with one org ``acme``: an administrator, a provider and three apps."""
    runtime = make_runtime(database_url, tmp_path / "var", **file_storage)
    yield seed_org(runtime)
    runtime.close()


@pytest.fixture
def http(platform: OrgFixture) -> Iterator[TestClient]:
    """An in-process HTTP client of the API app over ``platform``'s runtime."""
    with open_test_client(platform.runtime) as client:
        yield client


@pytest.fixture(autouse=True, scope="session")
def fast_key_generation() -> Iterator[None]:
    """Every app gets an RSA key pair (~0.1-0.4 s each); in-process tests draw from a small pool."""
    import itertools

    from opencortex.model import apps

    real = apps.rsa.generate_private_key
    pool = itertools.cycle([real(public_exponent=65537, key_size=2048) for _ in range(6)])
    apps.rsa.generate_private_key = lambda **_kwargs: next(pool)  # type: ignore[assignment]
    yield
    apps.rsa.generate_private_key = real  # type: ignore[assignment]


@pytest.fixture(autouse=True, scope="session")
def cheap_password_hashing() -> Iterator[None]:
    """argon2 at production cost takes ~0.3 s a hash; in-process tests use a cheap argon2id."""
    from argon2 import PasswordHasher

    from opencortex.model import passwords

    saved = passwords._hasher, passwords._DUMMY_HASH
    passwords._hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    passwords._DUMMY_HASH = passwords._hasher.hash("opencortex-dummy-password")
    yield
    passwords._hasher, passwords._DUMMY_HASH = saved
