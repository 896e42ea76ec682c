"""Storage accounting: every stored byte of an org, its exact usage, and its limit.

Each stored object (an upload's facet, an export archive) has one ``stored_files`` row with its
plaintext size and its owner. An org's usage is the exact sum of those sizes. ``record_stored``
checks the limit and records the object in the caller's transaction, after locking the org's row
(``SELECT ... FOR UPDATE`` on PostgreSQL; SQLite runs one writer transaction at a time already),
so two concurrent uploads can never both squeeze under the limit.

Bytes and rows part ways only in one direction: bytes are written before their row is recorded,
and deleted after their row is released and that transaction has committed. A crash in between
leaves unaccounted bytes on disk (never accounted bytes that are missing).

The export job uses it like this::

    with runtime.database.begin() as connection:
        record_stored(connection, runtime.settings, org_id, key, stored.size, EXPORT,
                      StorageOwner(object="export", id=export_id))   # raises storage_limit_exceeded
    ...
    with runtime.database.begin() as connection:
        release(connection, org_id, key)
    file_store(runtime).delete(key)
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy import Connection

from opencortex import faults
from opencortex.clock import utcnow
from opencortex.settings import Settings
from opencortex.store.tables import orgs, stored_files

UPLOAD = "upload"
EXPORT = "export"
KINDS = (UPLOAD, EXPORT)
LIMIT_SETTING = "storageLimitBytes"  # orgs.settings key; absent: Settings.storage_limit_bytes


@dataclass(frozen=True)
class StorageOwner:
    """What stored bytes belong to: an instance's File property facet, or an export."""

    object: str | None = None  # object name (c_patient), or "export"
    id: str | None = None  # instance or export _id
    property: str | None = None
    facet: str | None = None


_UNOWNED = StorageOwner()  # bytes recorded with no owner (a test's, an operator's)


@dataclass(frozen=True)
class StorageUsage:
    used: int
    limit: int
    files: int
    by_kind: dict[str, int]

    def to_json(self) -> dict[str, Any]:
        return {
            "object": "storage",
            "used": self.used,
            "limit": self.limit,
            "available": max(self.limit - self.used, 0),
            "files": self.files,
            "byKind": self.by_kind,
        }


def storage_limit(org_settings: Any, settings: Settings) -> int:
    """The org's limit in bytes: ``orgs.settings.storageLimitBytes`` if it is a whole number."""
    value = org_settings.get(LIMIT_SETTING) if isinstance(org_settings, dict) else None
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    return settings.storage_limit_bytes


def storage_usage(connection: Connection, settings: Settings, org_id: str) -> StorageUsage:
    org_settings = connection.execute(sa.select(orgs.c.settings).where(orgs.c.id == org_id)).scalar()
    rows = cast(  # (kind, bytes, files) rows; mypy cannot type a Row's unpacking
        "Sequence[tuple[str, int, int]]",
        connection.execute(
            sa.select(stored_files.c.kind, sa.func.coalesce(sa.func.sum(stored_files.c.size), 0), sa.func.count())
            .where(stored_files.c.org_id == org_id)
            .group_by(stored_files.c.kind)
        ).all(),
    )
    by_kind = {kind: 0 for kind in KINDS} | {kind: int(total) for kind, total, _count in rows}
    return StorageUsage(
        used=sum(by_kind.values()),
        limit=storage_limit(org_settings, settings),
        files=sum(int(count) for _kind, _total, count in rows),
        by_kind=by_kind,
    )


def used_bytes(connection: Connection, org_id: str) -> int:
    total = connection.execute(
        sa.select(sa.func.coalesce(sa.func.sum(stored_files.c.size), 0)).where(
            stored_files.c.org_id == org_id
        )
    ).scalar()
    return int(total or 0)


def check_room(connection: Connection, settings: Settings, org_id: str, size: int) -> int:
    """An early, unlocked check that ``size`` more bytes would fit; returns the bytes still free.

    For refusing an upload before reading it; ``record_stored`` is the check that counts.
    """
    org_settings = connection.execute(sa.select(orgs.c.settings).where(orgs.c.id == org_id)).scalar()
    limit = storage_limit(org_settings, settings)
    used = used_bytes(connection, org_id)
    if used + size > limit:
        raise _over_limit(used, limit, size)
    return limit - used


def record_stored(
    connection: Connection,
    settings: Settings,
    org_id: str,
    key: str,
    size: int,
    kind: str,
    owner: StorageOwner = _UNOWNED,
) -> None:
    """Count ``size`` bytes stored under ``key`` against the org, or raise ``storage_limit_exceeded``.

    Locks the org's row first, so the check and the record are exact under concurrency. Recording
    a key again replaces its earlier size. The caller deletes the bytes if this raises.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown stored file kind {kind!r}")
    org_settings = connection.execute(
        sa.select(orgs.c.settings).where(orgs.c.id == org_id).with_for_update()
    ).scalar()
    limit = storage_limit(org_settings, settings)
    previous = connection.execute(
        sa.select(stored_files.c.size).where(stored_files.c.org_id == org_id, stored_files.c.key == key)
    ).scalar()
    used = used_bytes(connection, org_id) - int(previous or 0)
    if used + size > limit:
        raise _over_limit(used, limit, size)
    if previous is not None:
        connection.execute(
            stored_files.delete().where(stored_files.c.org_id == org_id, stored_files.c.key == key)
        )
    connection.execute(
        stored_files.insert().values(
            org_id=org_id,
            key=key,
            size=size,
            kind=kind,
            created=utcnow(),
            owner_object=owner.object,
            owner_id=owner.id,
            owner_property=owner.property,
            owner_facet=owner.facet,
        )
    )


def release(connection: Connection, org_id: str, key: str) -> int | None:
    """Stop counting ``key``; returns the size it had, or None if it was not recorded.

    Delete the bytes themselves after this transaction commits.
    """
    size = connection.execute(
        sa.select(stored_files.c.size).where(stored_files.c.org_id == org_id, stored_files.c.key == key)
    ).scalar()
    if size is None:
        return None
    connection.execute(
        stored_files.delete().where(stored_files.c.org_id == org_id, stored_files.c.key == key)
    )
    return int(size)


def owned_keys(
    connection: Connection, org_id: str, object_name: str, owner_id: str | None = None
) -> list[str]:
    statement = sa.select(stored_files.c.key).where(
        stored_files.c.org_id == org_id, stored_files.c.owner_object == object_name
    )
    if owner_id is not None:
        statement = statement.where(stored_files.c.owner_id == owner_id)
    return list(connection.execute(statement.order_by(stored_files.c.key)).scalars())


def release_owned(
    connection: Connection, org_id: str, object_name: str, owner_id: str | None = None
) -> list[str]:
    """Release everything an instance (or, without ``owner_id``, every instance of an object)
    owns; returns the keys, whose bytes the caller deletes after commit."""
    keys = owned_keys(connection, org_id, object_name, owner_id)
    release_keys(connection, org_id, keys)
    return keys


def release_keys(connection: Connection, org_id: str, keys: Iterable[str]) -> None:
    keys = list(keys)
    for start in range(0, len(keys), 500):
        connection.execute(
            stored_files.delete().where(
                stored_files.c.org_id == org_id, stored_files.c.key.in_(keys[start : start + 500])
            )
        )


def _over_limit(used: int, limit: int, size: int) -> faults.Fault:
    return faults.storage_limit_exceeded(
        f"Storing {size} bytes would bring the org to {used + size} bytes; its limit is {limit} bytes "
        f"({max(limit - used, 0)} bytes free).",
    )
