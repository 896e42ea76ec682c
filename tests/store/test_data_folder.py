"""The data folder is private: 0700, and every file in it 0600, the database and its WAL included."""

from __future__ import annotations

import logging
import os
import sqlite3
import stat
from pathlib import Path

from opencortex.model.apps import create_app
from opencortex.model.orgs import create_org
from opencortex.runtime import Runtime
from opencortex.settings import Settings


def _loose_entries(folder: Path) -> list[str]:
    """Every file or folder under ``folder`` (itself included) with a group or other permission bit."""
    found = []
    for path in [folder, *folder.rglob("*")]:
        mode = stat.S_IMODE(path.lstat().st_mode)
        if mode & 0o077:
            found.append(f"{path.relative_to(folder.parent)} {mode:o}")
    return found


def test_a_fresh_data_folder_and_everything_written_into_it_are_private(tmp_path):
    data_dir = tmp_path / "var"
    old_umask = os.umask(0o022)  # the usual default, under which files come out 0644
    try:
        runtime = Runtime.open(Settings(data_dir=data_dir))
        try:
            with runtime.database.begin() as connection:
                org = create_org(connection, "acme", "Acme")
                create_app(connection, runtime.master_key, org["id"], name="Web", signing=True)
            with runtime.file_store.open_writer(f"orgs/{org['id']}/notes/a.txt") as writer:
                writer.write(b"hello")
                writer.commit()
            with runtime.database.connect() as connection:  # the WAL and shared-memory files exist now
                names = {path.name for path in data_dir.iterdir()}
                assert {"opencortex.db", "opencortex.db-wal", "opencortex.db-shm", "master.key"} <= names, names
                assert _loose_entries(data_dir) == []
        finally:
            runtime.close()
    finally:
        os.umask(old_umask)
    assert (data_dir / "files").is_dir() and any((data_dir / "files").rglob("a.txt"))
    assert _loose_entries(data_dir) == []


def test_a_folder_left_readable_by_an_older_version_is_tightened_with_one_warning(tmp_path, caplog):
    data_dir = tmp_path / "var"
    data_dir.mkdir(mode=0o755)
    data_dir.chmod(0o755)
    database = data_dir / "opencortex.db"
    sqlite3.connect(database).close()
    database.chmod(0o644)
    (data_dir / "demo-credentials.json").write_text("{}")
    (data_dir / "demo-credentials.json").chmod(0o644)
    (data_dir / "files").mkdir(mode=0o755)
    (data_dir / "files").chmod(0o755)

    with caplog.at_level(logging.WARNING, logger="opencortex"):
        Runtime.open(Settings(data_dir=data_dir)).close()

    assert _loose_entries(data_dir) == []
    runtime_warnings = [record for record in caplog.records if record.name == "opencortex.runtime"]
    assert len(runtime_warnings) == 1
    assert "demo-credentials.json (644)" in runtime_warnings[0].getMessage()
    # Once private, a second start has nothing to say.
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="opencortex"):
        Runtime.open(Settings(data_dir=data_dir)).close()
    assert caplog.records == []
