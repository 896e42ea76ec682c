"""The long-lived things a process needs, opened once: settings, database, master key.

Opening checks, before it writes anything, that the master key is the one the database was set
up with: a process pointed at the wrong data folder (or given the wrong ``OPENCORTEX_MASTER_KEY``)
would otherwise make a new key, seal new secrets under it and fail on every old one.
"""

from __future__ import annotations

import logging
import stat
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import sqlalchemy as sa
from cryptography.exceptions import InvalidTag
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import make_url

from opencortex.auth.login_slots import LoginSlots
from opencortex.clock import utcnow
from opencortex.files import EncryptedFileStore, open_file_store
from opencortex.keys import MASTER_KEY_FILE, MasterKey
from opencortex.model.apps import SIGNING_KEY_PURPOSE
from opencortex.query.sqlite_functions import install_sqlite_functions
from opencortex.settings import Settings
from opencortex.store.database import Database
from opencortex.store.tables import apps, master_key_check

log = logging.getLogger("opencortex.runtime")
_PRIVATE = 0o077  # group and other permission bits


class MasterKeyMismatch(Exception):  # noqa: N818 -- the name the CLI catches; it is an error by nature
    """The master key at hand is not the one the database's secrets are sealed with.

    Raised by ``Runtime.open`` before anything is written; its message is one paragraph for the
    operator (which data folder, which variable), never key material.
    """


@dataclass
class Runtime:
    settings: Settings
    database: Database
    master_key: MasterKey
    login_slots: LoginSlots = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.login_slots = LoginSlots(self.settings.login_concurrency)

    @classmethod
    def open(cls, settings: Settings, *, migrate: bool = True) -> Runtime:
        """Check the master key against the database, then make the data folder (0700), the master
        key on first use, and bring the schema up to date."""
        master_key = MasterKey.load(settings.data_dir, settings.master_key)
        database = Database(settings.resolved_database_url)
        try:
            _check_master_key(database, master_key, settings)
            _secure_data_dir(settings.data_dir)
            if master_key is None:
                master_key = MasterKey.create(settings.data_dir)
            install_sqlite_functions(database.engine)  # REGEXP and friends for compiled queries
            if migrate:
                database.migrate()
            _record_master_key(database, master_key, settings)
            runtime = cls(settings, database, master_key)
            if settings.storage_url:
                # Reach the bucket and its keyset now: a wrong bucket, endpoint or credential stops
                # the start with one line, rather than failing the first upload or export.
                runtime.file_store  # noqa: B018
            return runtime
        except BaseException:
            database.dispose()
            raise

    @cached_property
    def file_store(self) -> EncryptedFileStore:
        """The encrypted byte store, opened once per process (opening reads and unseals the keyset)."""
        return open_file_store(self.settings, self.master_key)

    def close(self) -> None:
        self.database.dispose()


def _check_master_key(database: Database, master_key: MasterKey | None, settings: Settings) -> None:
    """Refuse a key that does not open what the database holds; read-only."""
    with database.connect() as connection:
        tables = set(sa.inspect(connection).get_table_names())
        stored_id = (
            connection.execute(sa.select(master_key_check.c.key_id)).scalar()
            if master_key_check.name in tables else None
        )
        # A database from before the key id was recorded: any sealed secret tells the same.
        sample = (
            connection.execute(sa.select(apps.c.signing_key_sealed).limit(1)).scalar()
            if stored_id is None and apps.name in tables else None
        )
    if stored_id is None and sample is None:
        return  # nothing sealed yet: any key will do
    if master_key is None:
        raise MasterKeyMismatch(
            f"The database {_describe(database)} holds secrets sealed with a master key, but there is no master "
            f"key here: {settings.data_dir.resolve() / MASTER_KEY_FILE} does not exist and "
            f"OPENCORTEX_MASTER_KEY is not set. Point --data-dir (OPENCORTEX_DATA_DIR) at the data folder that "
            f"holds this database's master.key, or set OPENCORTEX_MASTER_KEY to that key. Nothing was written."
        )
    if stored_id is not None:
        matches = master_key.key_id == stored_id
    else:
        assert sample is not None
        matches = _opens(master_key, sample)
    if not matches:
        raise _mismatch(database, master_key, settings, stored_id)


def _record_master_key(database: Database, master_key: MasterKey, settings: Settings) -> None:
    """Remember the key's fingerprint on first start; a process that raced us with another key loses."""
    with database.begin() as connection:
        if not sa.inspect(connection).has_table(master_key_check.name):
            return  # opened without migrating, on a schema from before the key check
        values = {"id": 1, "key_id": master_key.key_id, "created": utcnow()}
        # Two first starts at once: the row of whichever commits first stays, and the other compares.
        if connection.dialect.name == "postgresql":
            connection.execute(postgresql_insert(master_key_check).values(**values).on_conflict_do_nothing())
        else:
            connection.execute(sqlite_insert(master_key_check).values(**values).on_conflict_do_nothing())
        stored_id = connection.execute(sa.select(master_key_check.c.key_id)).scalar()
    if stored_id != master_key.key_id:
        raise _mismatch(database, master_key, settings, stored_id)


def _mismatch(database: Database, master_key: MasterKey, settings: Settings, stored_id: str | None
              ) -> MasterKeyMismatch:
    source = (
        "OPENCORTEX_MASTER_KEY" if settings.master_key else str(settings.data_dir.resolve() / MASTER_KEY_FILE)
    )
    stored = f" (key id {stored_id[:12]})" if stored_id else ""
    return MasterKeyMismatch(
        f"The master key from {source} (key id {master_key.key_id[:12]}) is not the one the database "
        f"{_describe(database)} was set up with{stored}. Point --data-dir (OPENCORTEX_DATA_DIR) at the data "
        f"folder that holds this database's master.key, or set OPENCORTEX_MASTER_KEY to that key. "
        f"Nothing was written."
    )


def _opens(master_key: MasterKey, sealed: bytes) -> bool:
    try:
        master_key.open(sealed, SIGNING_KEY_PURPOSE)
    except InvalidTag:
        return False
    return True


def _describe(database: Database) -> str:
    return make_url(database.url).render_as_string(hide_password=True)


def _secure_data_dir(data_dir: Path) -> None:
    """Make the data folder 0700, and it and what is directly in it private to this user.

    Everything below is reachable only through the folder, so tightening the folder protects
    files that older versions left readable; they are tightened too, but not searched for deeper.
    """
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    loosened: list[str] = []
    for path in [data_dir, *data_dir.iterdir()]:
        try:
            status = path.lstat()
            if stat.S_ISLNK(status.st_mode) or not status.st_mode & _PRIVATE:
                continue
            path.chmod(0o700 if stat.S_ISDIR(status.st_mode) else 0o600)
            loosened.append(f"{path.name or path} ({stat.S_IMODE(status.st_mode):o})")
        except FileNotFoundError:
            continue  # removed meanwhile (a finished writer's temporary file)
        except PermissionError:
            log.warning("%s is readable by other users and cannot be made private (not its owner)", path)
    if loosened:
        log.warning(
            "the data folder %s held entries readable by other users; made owner-only: %s",
            data_dir.resolve(), ", ".join(loosened),
        )
