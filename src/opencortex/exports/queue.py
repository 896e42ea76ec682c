"""The export queue, on the export records themselves.

Per org, one export runs at a time, in creation order; different orgs run in parallel. A worker
claims the oldest pending export of an org that has no running one, in one transaction: on
PostgreSQL it first locks the org's row (``FOR UPDATE SKIP LOCKED``), so two workers can never
both start a job in the same org; on SQLite the transaction is a single writer already. The
claim holds a lease that the worker renews; a running export whose lease ran out is put back to
``pending`` (its partial output is discarded by the next run) and runs again from the start.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from opencortex import faults
from opencortex.clock import iso, utcnow
from opencortex.exports.jobs import ERROR, PENDING, READY, RUNNING, ExportRequest
from opencortex.ids import new_object_id
from opencortex.store.tables import exports, orgs

EMPTY_STATS = {"docs": {"count": 0}, "files": {"count": 0, "size": 0}}


def create_export(connection: Connection, org_id: str, creator: str, request: ExportRequest,
                  ttl: timedelta | None) -> dict[str, Any]:
    now = utcnow()
    row = {
        "id": new_object_id(),
        "org_id": org_id,
        "state": PENDING,
        "label": request.label,
        "description": request.description,
        "params": request.params,
        "creator": creator,
        "owner": creator,
        "created": now,
        "updated": None,
        "started": None,
        "completed": None,
        "expires_at": now + ttl if ttl else None,
        "stats": EMPTY_STATS,
        "progress": None,
        "events": [event("queued", {"state": PENDING}, now)],
        "fault": None,
        "data_file": None,
        "files": None,
        "sha256": None,
        "lease_owner": None,
        "lease_expires": None,
        "cancel_requested": False,
        "attempts": 0,
        "sequence": 0,
    }
    connection.execute(exports.insert().values(**row))
    return row


def event(name: str, data: dict[str, Any] | None = None, when: datetime | None = None) -> dict[str, Any]:
    return {"_id": new_object_id(), "name": name, "event": {**(data or {}), "at": iso(when or utcnow())}}


def get_export(connection: Connection, org_id: str, export_id: str) -> dict[str, Any]:
    row = connection.execute(
        sa.select(exports).where(exports.c.org_id == org_id, exports.c.id == export_id)
    ).mappings().first()
    if row is None:
        raise faults.instance_not_found(path=export_id, resource=f"export.{export_id}")
    return dict(row)


def list_exports(connection: Connection, org_id: str, *, limit: int, skip: int = 0,
                 starting_after: str | None = None, state: str | None = None) -> tuple[list[dict[str, Any]], bool]:
    query = sa.select(exports).where(exports.c.org_id == org_id)
    if starting_after:
        query = query.where(exports.c.id < starting_after)
    if state:
        query = query.where(exports.c.state == state)
    query = query.order_by(exports.c.id.desc()).offset(skip).limit(limit + 1)
    rows = [dict(row) for row in connection.execute(query).mappings()]
    return rows[:limit], len(rows) > limit


def claim_next_export(connection: Connection, dialect: str, worker_id: str,
                      lease_seconds: int) -> dict[str, Any] | None:
    """Take the next runnable export, if any, and mark it running under this worker's lease."""
    running = sa.select(exports.c.id).where(exports.c.org_id == orgs.c.id, exports.c.state == RUNNING).exists()
    waiting = (
        sa.select(orgs.c.id)
        .where(sa.select(exports.c.id).where(exports.c.org_id == orgs.c.id, exports.c.state == PENDING).exists())
        .where(~running)
    )
    if dialect == "postgresql":
        waiting = waiting.with_for_update(skip_locked=True, of=orgs)
    for (org_id,) in connection.execute(waiting.limit(32)).all():
        if connection.execute(
            sa.select(exports.c.id).where(exports.c.org_id == org_id, exports.c.state == RUNNING)
        ).first():
            continue  # another worker started one between our two reads
        candidate = connection.execute(
            sa.select(exports).where(exports.c.org_id == org_id, exports.c.state == PENDING)
            .order_by(exports.c.created, exports.c.id).limit(1)
        ).mappings().first()
        if candidate is None:
            continue
        now = utcnow()
        events = list(candidate["events"]) + [event("started", {"attempt": candidate["attempts"] + 1}, now)]
        result = connection.execute(
            exports.update()
            .where(exports.c.id == candidate["id"], exports.c.state == PENDING)
            .values(state=RUNNING, lease_owner=worker_id, lease_expires=now + timedelta(seconds=lease_seconds),
                    started=now, completed=None, attempts=candidate["attempts"] + 1, events=events,
                    stats=EMPTY_STATS, data_file=None, files=None, fault=None, sha256=None,
                    progress={"phase": "starting", "docs": 0, "total": None, "bytes": 0},
                    sequence=candidate["sequence"] + 1)
        )
        if result.rowcount == 1:
            return get_export(connection, org_id, candidate["id"])
    return None


def renew_lease(connection: Connection, export_id: str, worker_id: str, lease_seconds: int,
                progress: dict[str, Any] | None = None) -> bool:
    """Extend the lease; False when this worker no longer holds the job (reclaimed, deleted)."""
    values: dict[str, Any] = {"lease_expires": utcnow() + timedelta(seconds=lease_seconds)}
    if progress is not None:
        values["progress"] = progress
    result = connection.execute(
        exports.update()
        .where(exports.c.id == export_id, exports.c.lease_owner == worker_id, exports.c.state == RUNNING)
        .values(**values)
    )
    return result.rowcount == 1


def cancel_requested(connection: Connection, export_id: str) -> bool:
    row = connection.execute(sa.select(exports.c.cancel_requested).where(exports.c.id == export_id)).first()
    return row is None or bool(row[0])


def finish_export(connection: Connection, export_id: str, worker_id: str, *, state: str,
                  values: dict[str, Any], new_events: list[dict[str, Any]]) -> bool:
    """Record the outcome, only if this worker still holds the lease."""
    row = connection.execute(
        sa.select(exports.c.events, exports.c.sequence)
        .where(exports.c.id == export_id, exports.c.lease_owner == worker_id, exports.c.state == RUNNING)
    ).first()
    if row is None:
        return False
    now = utcnow()
    result = connection.execute(
        exports.update()
        .where(exports.c.id == export_id, exports.c.lease_owner == worker_id, exports.c.state == RUNNING)
        .values(state=state, lease_owner=None, lease_expires=None, updated=now,
                completed=now if state == READY else None, events=list(row[0]) + new_events,
                sequence=row[1] + 1, **values)
    )
    return result.rowcount == 1


def append_events(connection: Connection, export_id: str, new_events: list[dict[str, Any]]) -> bool:
    """Add events to an export's trail, whatever its state (e.g. after its afterScript ran).

    False when the export no longer exists.
    """
    row = connection.execute(
        sa.select(exports.c.events, exports.c.sequence).where(exports.c.id == export_id).with_for_update()
    ).first()
    if row is None:
        return False
    connection.execute(
        exports.update().where(exports.c.id == export_id)
        .values(events=list(row[0]) + new_events, sequence=row[1] + 1)
    )
    return True


def reclaim_expired(connection: Connection) -> list[dict[str, Any]]:
    """Put running exports whose lease ran out back in the queue; returns them."""
    now = utcnow()
    rows = [dict(row) for row in connection.execute(
        sa.select(exports).where(exports.c.state == RUNNING, exports.c.lease_expires < now)
    ).mappings()]
    for row in rows:
        events = list(row["events"]) + [event("reclaimed", {"worker": row["lease_owner"]}, now)]
        connection.execute(
            exports.update().where(exports.c.id == row["id"], exports.c.state == RUNNING,
                                   exports.c.lease_expires < now)
            .values(state=PENDING, lease_owner=None, lease_expires=None, events=events,
                    progress=None, sequence=row["sequence"] + 1)
        )
    return rows


def request_cancel(connection: Connection, org_id: str, export_id: str) -> dict[str, Any]:
    """Pending exports end at once; running ones are stopped by their worker within a batch."""
    row = get_export(connection, org_id, export_id)
    if row["state"] in (READY, ERROR):
        return row
    now = utcnow()
    if row["state"] == PENDING:
        connection.execute(
            exports.update().where(exports.c.id == export_id, exports.c.state == PENDING)
            .values(state=ERROR, cancel_requested=True, updated=now, fault=aborted_fault(),
                    events=list(row["events"]) + [event("aborted", {"source": "cortex", "willRestart": False})],
                    sequence=row["sequence"] + 1)
        )
    else:
        connection.execute(exports.update().where(exports.c.id == export_id).values(cancel_requested=True))
    return get_export(connection, org_id, export_id)


def delete_export_record(connection: Connection, org_id: str, export_id: str) -> None:
    connection.execute(exports.delete().where(exports.c.org_id == org_id, exports.c.id == export_id))


def expired_exports(connection: Connection, now: datetime, limit: int = 100) -> list[dict[str, Any]]:
    query = sa.select(exports).where(exports.c.expires_at.is_not(None), exports.c.expires_at < now,
                                     exports.c.state != RUNNING).limit(limit)
    return [dict(row) for row in connection.execute(query).mappings()]


def aborted_fault() -> dict[str, Any]:
    return faults.export_aborted().to_json()
