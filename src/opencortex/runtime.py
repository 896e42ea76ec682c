"""The long-lived things a process needs, opened once: settings, database, master key."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from opencortex.files import EncryptedFileStore, open_file_store
from opencortex.keys import MasterKey
from opencortex.query.sqlite_functions import install_sqlite_functions
from opencortex.settings import Settings
from opencortex.store.database import Database


@dataclass
class Runtime:
    settings: Settings
    database: Database
    master_key: MasterKey

    @classmethod
    def open(cls, settings: Settings, *, migrate: bool = True) -> Runtime:
        """Create the data folder and master key on first use, and bring the schema up to date."""
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        database = Database(settings.resolved_database_url)
        install_sqlite_functions(database.engine)  # REGEXP and friends for compiled queries
        if migrate:
            database.migrate()
        return cls(settings, database, MasterKey.load_or_create(settings.data_dir, settings.master_key))

    @cached_property
    def file_store(self) -> EncryptedFileStore:
        """The encrypted byte store, opened once per process (opening reads and unseals the keyset)."""
        return open_file_store(self.settings, self.master_key)

    def close(self) -> None:
        self.database.dispose()
