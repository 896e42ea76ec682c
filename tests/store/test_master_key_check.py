"""A data folder whose master key is not the database's: every start refuses before writing anything."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from opencortex.cli.demo import DEMO_EMAIL, ensure_demo
from opencortex.cli.main import cli
from opencortex.keys import MasterKey
from opencortex.runtime import MasterKeyMismatch, Runtime
from opencortex.settings import Settings
from opencortex.store.tables import accounts, master_key_check, metadata


@pytest.fixture
def first_folder(database_url: str, tmp_path: Path) -> dict[str, Any]:
    """Data folder A, set up with the database and the demo org (its admin, a signing app)."""
    folder = tmp_path / "a"
    runtime = Runtime.open(Settings(data_dir=folder, database_url=database_url))
    try:
        credentials = ensure_demo(runtime)
    finally:
        runtime.close()
    return {"folder": folder, "url": database_url, "credentials": credentials}


def _snapshot(database_url: str) -> dict[str, Any]:
    """What a refused start must leave as it was: every table's rows, and the demo admin's password."""
    engine = sa.create_engine(database_url.replace("postgresql://", "postgresql+psycopg://"))
    try:
        with engine.connect() as connection:
            counts = {
                table.name: connection.execute(sa.select(sa.func.count()).select_from(table)).scalar()
                for table in metadata.sorted_tables
            }
            password_hash = connection.execute(
                sa.select(accounts.c.password_hash).where(accounts.c.email == DEMO_EMAIL)).scalar()
            key_ids = connection.execute(sa.select(master_key_check.c.key_id)).scalars().all()
            version = connection.execute(sa.text("SELECT version_num FROM alembic_version")).scalars().all()
    finally:
        engine.dispose()
    return {"counts": counts, "password": password_hash, "key_ids": key_ids, "version": version}


def test_a_folder_without_the_key_refuses_every_command_and_writes_nothing(first_folder, tmp_path, monkeypatch):
    import uvicorn

    def serving(*_args: Any, **_kwargs: Any) -> None:
        raise AssertionError("serve started with the wrong master key")

    monkeypatch.setattr(uvicorn, "run", serving)
    monkeypatch.delenv("OPENCORTEX_MASTER_KEY", raising=False)
    other = tmp_path / "b"
    before = _snapshot(first_folder["url"])
    key = first_folder["credentials"]["apiKey"]
    runner = CliRunner()
    for command in (
        ["init"],
        ["org", "list"],
        ["app", "create", "--org", "demo", "--name", "Another"],
        ["token", "create", "--org", "demo", "--app", key, "--account", DEMO_EMAIL],
        ["demo"],
        ["serve", "--no-worker"],
    ):
        result = runner.invoke(cli, ["--data-dir", str(other), "--database-url", first_folder["url"], *command])
        said = result.output
        # One error for the operator, exit status 1: never a traceback.
        assert result.exit_code == 1 and not isinstance(result.exception, MasterKeyMismatch), (command, said)
        assert said.startswith("Error: ") and "Traceback" not in said and "InvalidTag" not in said
        assert str(other.resolve() / "master.key") in said and "OPENCORTEX_MASTER_KEY" in said, (command, said)
        assert not (other / "master.key").exists(), command
    assert _snapshot(first_folder["url"]) == before


def test_a_folder_with_another_key_is_refused_naming_that_key_file(first_folder, tmp_path):
    other = tmp_path / "b"
    MasterKey.create(other)
    before = _snapshot(first_folder["url"])
    with pytest.raises(MasterKeyMismatch) as refused:
        Runtime.open(Settings(data_dir=other, database_url=first_folder["url"]))
    message = str(refused.value)
    assert f"The master key from {other.resolve() / 'master.key'}" in message
    assert "is not the one the database" in message and "Nothing was written" in message
    assert _snapshot(first_folder["url"]) == before


def test_the_configured_key_is_checked_too(first_folder, tmp_path):
    wrong = base64.b64encode(bytes(32)).decode()
    with pytest.raises(MasterKeyMismatch, match="The master key from OPENCORTEX_MASTER_KEY"):
        Runtime.open(Settings(data_dir=tmp_path / "b", database_url=first_folder["url"], master_key=wrong))
    # The right key, given in the variable, opens the database from any folder.
    right = (first_folder["folder"] / "master.key").read_text().strip()
    runtime = Runtime.open(Settings(data_dir=tmp_path / "b", database_url=first_folder["url"], master_key=right))
    try:
        assert ensure_demo(runtime)["apiSecret"] == first_folder["credentials"]["apiSecret"]
    finally:
        runtime.close()
    assert not (tmp_path / "b" / "master.key").exists()


def test_a_database_from_before_the_key_id_is_checked_by_its_sealed_secrets(first_folder, tmp_path):
    engine = sa.create_engine(first_folder["url"])
    with engine.begin() as connection:
        connection.execute(master_key_check.delete())
    engine.dispose()
    with pytest.raises(MasterKeyMismatch, match="no master key here"):
        Runtime.open(Settings(data_dir=tmp_path / "b", database_url=first_folder["url"]))
    assert _snapshot(first_folder["url"])["key_ids"] == []
    # Its own folder opens it, and the key id is recorded from then on.
    Runtime.open(Settings(data_dir=first_folder["folder"], database_url=first_folder["url"])).close()
    expected = MasterKey.load(first_folder["folder"])
    assert expected is not None and _snapshot(first_folder["url"])["key_ids"] == [expected.key_id]


def test_a_fresh_database_records_the_key_id_but_never_the_key(database_url, tmp_path):
    Runtime.open(Settings(data_dir=tmp_path / "var", database_url=database_url)).close()
    key = MasterKey.load(tmp_path / "var")
    assert key is not None
    stored = _snapshot(database_url)["key_ids"]
    assert stored == [key.key_id]
    raw = (tmp_path / "var" / "master.key").read_text().strip()
    assert raw not in stored[0] and base64.b64decode(raw).hex() not in stored[0]
