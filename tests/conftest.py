"""Shared fixtures. ``database`` runs each storage test on SQLite and on PostgreSQL.

Each test gets its own database: a copy of a migrated SQLite file, or a PostgreSQL database
cloned from a migrated template that this test run created (and drops at the end). Under
``CI=true`` an unreachable PostgreSQL fails the run instead of skipping its half.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from opencortex.store.database import Database

PG_ADMIN_URL = os.environ.get(
    "OPENCORTEX_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
IN_CI = os.environ.get("CI", "").lower() == "true"
_skipped_postgres: list[str] = []


def _pg_url(database_name: str) -> str:
    return PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + database_name


class _PostgresTemplates:
    def __init__(self) -> None:
        self.admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        self.template = f"oc_tpl_{uuid.uuid4().hex[:12]}"
        self.created: list[str] = []
        with self.admin.connect() as connection:
            connection.exec_driver_sql(f'CREATE DATABASE "{self.template}"')
        self.created.append(self.template)
        template_db = Database(_pg_url(self.template))
        template_db.migrate()
        template_db.dispose()

    def clone(self) -> str:
        name = f"oc_test_{uuid.uuid4().hex[:12]}"
        with self.admin.connect() as connection:
            connection.exec_driver_sql(f'CREATE DATABASE "{name}" TEMPLATE "{self.template}"')
        self.created.append(name)
        return name

    def drop(self, name: str) -> None:
        with self.admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if name in self.created:
            self.created.remove(name)

    def close(self) -> None:
        for name in list(reversed(self.created)):
            self.drop(name)
        self.admin.dispose()


@pytest.fixture(scope="session")
def postgres_templates() -> Iterator[_PostgresTemplates | None]:
    try:
        templates = _PostgresTemplates()
    except sa.exc.OperationalError as error:
        if IN_CI:
            pytest.fail(f"PostgreSQL is required under CI=true and is unreachable: {error}", pytrace=False)
        yield None
        return
    yield templates
    templates.close()


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
    postgres_templates: _PostgresTemplates | None,
) -> Iterator[str]:
    """A URL of a freshly migrated, empty database of each kind."""
    if request.param == "sqlite":
        path = tmp_path / "opencortex.db"
        shutil.copyfile(sqlite_template, path)
        yield f"sqlite:///{path}"
        return
    if postgres_templates is None:
        _skipped_postgres.append(request.node.nodeid)
        pytest.skip("PostgreSQL is not reachable on 127.0.0.1:5432 (set CI=true to make this an error)")
    name = postgres_templates.clone()
    yield _pg_url(name)
    postgres_templates.drop(name)


@pytest.fixture
def database(database_url: str) -> Iterator[Database]:
    db = Database(database_url)
    yield db
    db.dispose()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if IN_CI and _skipped_postgres:
        session.exitstatus = 1
