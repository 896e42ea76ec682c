"""A database that stays locked is "busy, try again" (503 with Retry-After), never a 500."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import OperationalError, ProgrammingError

from opencortex.model.objects import create_object
from opencortex.store import database as database_module
from opencortex.store.database import Database, is_database_busy, is_storage_full
from tests.support.platform import CortexClient, assert_fault, make_runtime, open_test_client, seed_org


@pytest.fixture
def short_busy_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    """Engines made from here on give up on a held lock after 0.3 s instead of 30 s."""
    monkeypatch.setattr(database_module, "SQLITE_BUSY_TIMEOUT_SECONDS", 0.3)


def test_lock_errors_are_told_apart_from_other_errors(database_url: str, short_busy_timeout: None) -> None:
    database = Database(database_url)
    if database.dialect == "sqlite":
        holder = sqlite3.connect(database_url.split("///", 1)[1], isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")  # another process holds the write lock
        try:
            with pytest.raises(OperationalError) as raised, database.begin() as connection:
                connection.exec_driver_sql("SELECT 1")
        finally:
            holder.rollback()
            holder.close()
    else:
        with database.begin() as connection:
            connection.exec_driver_sql("CREATE TABLE busy_probe (id int)")
        with database.begin() as holding:
            holding.exec_driver_sql("LOCK TABLE busy_probe IN ACCESS EXCLUSIVE MODE")
            with pytest.raises(OperationalError) as raised, database.begin() as connection:
                connection.exec_driver_sql("SET LOCAL lock_timeout = '300ms'")
                connection.exec_driver_sql("SELECT * FROM busy_probe")
        with database.begin() as connection:
            connection.exec_driver_sql("DROP TABLE busy_probe")
    assert is_database_busy(raised.value) and not is_storage_full(raised.value)
    with pytest.raises((OperationalError, ProgrammingError)) as other, database.connect() as connection:
        connection.exec_driver_sql("SELECT * FROM no_such_table")
    assert not is_database_busy(other.value) and not is_storage_full(other.value)
    database.dispose()


def test_driver_errors_are_classified_without_sqlalchemy() -> None:
    busy = sqlite3.OperationalError("database is locked")
    busy.sqlite_errorcode = 5  # type: ignore[attr-defined]
    snapshot = sqlite3.OperationalError("database is locked")
    snapshot.sqlite_errorcode = 517  # type: ignore[attr-defined]  # SQLITE_BUSY_SNAPSHOT
    full = sqlite3.OperationalError("database or disk is full")
    full.sqlite_errorcode = 13  # type: ignore[attr-defined]
    assert is_database_busy(busy) and is_database_busy(snapshot) and not is_database_busy(full)
    assert is_storage_full(full) and not is_storage_full(busy)
    assert not is_database_busy(sqlite3.OperationalError("no such table: x"))


@pytest.fixture
def sqlite_api(tmp_path: Path, short_busy_timeout: None) -> Iterator[tuple[CortexClient, Path]]:
    path = tmp_path / "var" / "opencortex.db"
    runtime = make_runtime(f"sqlite:///{path}", tmp_path / "var")
    platform = seed_org(runtime)
    with runtime.database.begin() as connection:
        create_object(connection, platform.org["id"], {
            "name": "c_widget", "label": "Widget", "createAcl": ["account.public"],
            "defaultAcl": [{"type": 4, "allow": 7}],
            "properties": [{"name": "c_name", "label": "Name", "type": "String"}]})
    with open_test_client(runtime) as http:
        client = CortexClient(http, platform.code, platform.session_app.key)
        assert client.login(platform.admin["email"]).status_code == 200
        yield client, path
    runtime.close()


def test_a_write_that_cannot_get_the_lock_is_a_503_with_retry_after(
    sqlite_api: tuple[CortexClient, Path],
) -> None:
    client, path = sqlite_api
    first = client.post("c_widgets", json={"c_name": "before"})
    assert first.status_code == 200, first.text
    holder = sqlite3.connect(path, isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")  # another process holds the write lock past the timeout
        response = client.post("c_widgets", json={"c_name": "while locked"})
        body = assert_fault(response, "cortex.tooBusy.database", 503, "kTooBusy")
        assert response.headers["Retry-After"] == "2"
        assert "locked" not in str(body) and "INSERT" not in str(body)  # no driver text, no SQL
    finally:
        holder.rollback()
        holder.close()
    assert client.post("c_widgets", json={"c_name": "after"}).status_code == 200
    names = [widget["c_name"] for widget in client.get("c_widgets").json()["data"]]
    assert sorted(names) == ["after", "before"]  # the refused write left nothing behind


def test_other_database_errors_stay_unexpected_500s(
    sqlite_api: tuple[CortexClient, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    client, _path = sqlite_api
    from opencortex.instances import service

    def broken(*_args: object, **_kwargs: object) -> None:
        raise sa.exc.OperationalError("SELECT 1", {}, sqlite3.OperationalError("disk I/O error"))

    monkeypatch.setattr(service.Instances, "create", broken)
    response = client.post("c_widgets", json={"c_name": "x"})
    assert_fault(response, "cortex.error.unspecified", 500)
