"""Purging tombstones (``deleted_documents``): after ``OPENCORTEX_TOMBSTONE_DAYS``, but never while
an export that may still be the base of an incremental one needs them.

The database writes a tombstone for every deleted instance (``store.change_triggers``); an
incremental export lists those deleted after its base (``exports.incremental``). Each org's are
kept for the retention, and in any case back to its oldest export that is, or may become,
ready (less a margin for deletions committed late), so a ``since`` that names an existing export
always finds every deletion after it. ``deleted_documents_purged`` records up to when an org's
tombstones are gone, and an incremental export whose base is older fails instead of missing some.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy import Connection

from opencortex.clock import as_utc
from opencortex.exports import queue
from opencortex.exports.incremental import MARGIN
from opencortex.store.tables import deleted_documents, deleted_documents_purged


def purge_tombstones(connection: Connection, now: datetime, retention: timedelta) -> int:
    """Delete the tombstones no incremental export can need any more; returns how many."""
    default_cutoff = now - retention
    org_ids = [str(org_id) for (org_id,) in connection.execute(
        sa.select(deleted_documents.c.org_id).where(deleted_documents.c.deleted < default_cutoff).distinct())]
    purged = 0
    for org_id in org_ids:
        cutoff = default_cutoff
        oldest = queue.oldest_live_export(connection, org_id)
        if oldest is not None:
            cutoff = min(cutoff, oldest - MARGIN)
        result = connection.execute(deleted_documents.delete().where(
            deleted_documents.c.org_id == org_id, deleted_documents.c.deleted < cutoff))
        if result.rowcount:
            purged += result.rowcount
            _record_horizon(connection, org_id, cutoff)
    return purged


def _record_horizon(connection: Connection, org_id: str, cutoff: datetime) -> None:
    current = connection.execute(sa.select(deleted_documents_purged.c.purged_before).where(
        deleted_documents_purged.c.org_id == org_id)).scalar()
    if current is None:
        connection.execute(deleted_documents_purged.insert().values(org_id=org_id, purged_before=cutoff))
    elif as_utc(current) < cutoff:
        connection.execute(deleted_documents_purged.update().where(deleted_documents_purged.c.org_id == org_id)
                           .values(purged_before=cutoff))
