"""Access-control tests: the permission matrix, exact paging under ACL, org isolation, entries.

The scenarios here are built once per module and database (SQLite and PostgreSQL), not once per
test: ``scenario_runtime`` gives a module its own migrated database, so that no other test's
clean-up (the shared PostgreSQL database is emptied after every function-scoped test) can
touch it.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from opencortex.runtime import Runtime
from tests.support.platform import CortexClient, OrgFixture, make_runtime, open_test_client

DATABASES = ["sqlite", "postgresql"]


@contextmanager
def scenario_runtime(kind: str, folder: Path, sqlite_template: Path, postgres_run: Any) -> Iterator[Runtime]:
    """A runtime over a database of its own: a copy of the migrated SQLite template, or a new
    PostgreSQL database next to the test run's (dropped afterwards)."""
    if kind == "sqlite":
        path = folder / "opencortex.db"
        shutil.copyfile(sqlite_template, path)
        runtime = make_runtime(f"sqlite:///{path}", folder / "var")
        try:
            yield runtime
        finally:
            runtime.close()
        return
    if postgres_run is None:
        pytest.skip("PostgreSQL is not reachable on 127.0.0.1:5432 (set CI=true to make this an error)")
    name = f"oc_acl_{uuid.uuid4().hex[:12]}"
    with postgres_run.admin.connect() as connection:
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        runtime = make_runtime(postgres_run.url.rsplit("/", 1)[0] + "/" + name, folder / "var")
        try:
            yield runtime
        finally:
            runtime.close()
    finally:
        with postgres_run.admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def logged_in(stack: ExitStack, fixture: OrgFixture, email: str) -> CortexClient:
    """A client with a session of its own (its own cookie jar) for the account ``email``.

    Sessions rather than bearer tokens: verifying a token costs ~0.1 s a request here."""
    http = stack.enter_context(open_test_client(fixture.runtime))
    client = CortexClient(http, fixture.code, fixture.session_app.key)
    response = client.login(email)
    assert response.status_code == 200, response.text
    return client


def table_rows(runtime: Runtime, table: sa.Table, **where: Any) -> list[dict[str, Any]]:
    """Rows of ``table`` matching ``where`` (column = value), straight from the database."""
    statement = sa.select(table).where(*(table.c[key] == value for key, value in where.items()))
    with runtime.database.connect() as connection:
        return [dict(row) for row in connection.execute(statement).mappings()]
