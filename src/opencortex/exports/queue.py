"""The export queue, on the export records themselves; the only module that reads their rows.

Per org, one export runs at a time, in creation order; different orgs run in parallel. A worker
claims the oldest pending export of an org that has no running one, in one transaction: on
PostgreSQL it first locks the org's row (``FOR UPDATE SKIP LOCKED``), so two workers can never
both start a job in the same org; on SQLite the transaction is a single writer already. The
database holds the rule too: a partial unique index allows one ``running`` export per org, so a
claim that loses a race anyway gets an integrity error (inside a savepoint) and claims nothing.

The claim holds a lease that the worker renews; a running export whose lease ran out is put back
to ``pending`` (its partial output is discarded by the next run) and runs again from the start.
Every transition out of ``running`` requires the worker's own lease in its ``WHERE`` clause.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError

from opencortex import faults
from opencortex.clock import as_utc, utcnow
from opencortex.exports.jobs import ExportJob, ExportParameters, ExportState, new_event
from opencortex.exports.wakeup import announce_queued
from opencortex.ids import new_object_id
from opencortex.store.tables import exports, orgs

PENDING, RUNNING, READY, ERROR = ExportState.PENDING, ExportState.RUNNING, ExportState.READY, ExportState.ERROR
EMPTY_STATS = {"docs": {"count": 0}, "files": {"count": 0, "size": 0}}
STARTING_PROGRESS = {"phase": "starting", "docs": 0, "total": None, "bytes": 0}
_CLAIM_ORGS = 32  # orgs with waiting exports looked at per claim


def create_export(connection: Connection, org_id: str, creator: str, *, label: str, description: str | None,
                  parameters: ExportParameters, ttl: timedelta | None, schedule_id: str | None = None) -> ExportJob:
    """Insert a pending export (``schedule_id``: made by that export schedule)."""
    now = _to_milliseconds(utcnow())  # stored as shown: a where on ``created`` sees the same instant
    row = {
        "id": new_object_id(),
        "org_id": org_id,
        "state": PENDING.value,
        "label": label,
        "description": description,
        "params": parameters.to_json(),
        "creator": creator,
        "owner": creator,
        "created": now,
        "updated": None,
        "started": None,
        "completed": None,
        "expires_at": now + ttl if ttl else None,
        "stats": EMPTY_STATS,
        "progress": None,
        "events": [new_event("queued", {"state": PENDING.value}, now)],
        "fault": None,
        "data_file": None,
        "files": None,
        "sha256": None,
        "lease_owner": None,
        "lease_expires": None,
        "cancel_requested": False,
        "attempts": 0,
        "sequence": 0,
        "changes": None,
        "schedule_id": schedule_id,
    }
    connection.execute(exports.insert().values(**row))
    announce_queued(connection)  # idle workers elsewhere hear of it at commit (exports.wakeup)
    return ExportJob.from_row(row, parameters)


def get_export(connection: Connection, org_id: str, export_id: str) -> ExportJob:
    """One export of the org; the not-found fault otherwise."""
    row = connection.execute(
        sa.select(exports).where(exports.c.org_id == org_id, exports.c.id == export_id)
    ).mappings().first()
    if row is None:
        raise faults.instance_not_found(path=export_id, resource=f"export.{export_id}")
    return ExportJob.from_row(row)


def list_exports(connection: Connection, org_id: str, *, limit: int, skip: int = 0,
                 starting_after: str | None = None, state: str | None = None) -> tuple[list[ExportJob], bool]:
    """The org's exports, newest first, and whether there are more."""
    query = sa.select(exports).where(exports.c.org_id == org_id)
    if starting_after:
        query = query.where(exports.c.id < starting_after)
    if state:
        query = query.where(exports.c.state == state)
    query = query.order_by(exports.c.id.desc()).offset(skip).limit(limit + 1)
    jobs = [ExportJob.from_row(row) for row in connection.execute(query).mappings()]
    return jobs[:limit], len(jobs) > limit


def claim_next_export(connection: Connection, dialect: str, worker_id: str, lease_seconds: int) -> ExportJob | None:
    """Take the next runnable export, if any, and mark it running under this worker's lease.

    None when nothing is runnable, or when the database refused to start a second running
    export of an org (another worker won a race): the caller's transaction goes on either way.
    """
    for org_id in _orgs_with_waiting_exports(connection, dialect):
        candidate = _next_candidate(connection, org_id)
        if candidate is None:
            continue
        now = utcnow()
        attempt = candidate["attempts"] + 1
        started = connection.begin_nested()
        try:
            result = connection.execute(
                exports.update()
                .where(exports.c.id == candidate["id"], exports.c.state == PENDING.value)
                .values(state=RUNNING.value, lease_owner=worker_id,
                        lease_expires=now + timedelta(seconds=lease_seconds), started=now, completed=None,
                        attempts=attempt, events=[*candidate["events"], new_event("started", {"attempt": attempt},
                                                                                   now)],
                        stats=EMPTY_STATS, data_file=None, files=None, fault=None, sha256=None,
                        progress=STARTING_PROGRESS, sequence=candidate["sequence"] + 1)
            )
        except IntegrityError:
            started.rollback()  # one running export per org (ux_exports_one_running)
            return None
        started.commit()
        if result.rowcount == 1:
            return get_export(connection, org_id, candidate["id"])
    return None


def _orgs_with_waiting_exports(connection: Connection, dialect: str) -> list[str]:
    """Orgs with a pending export and none running (locked on PostgreSQL, skipping locked ones)."""
    running = sa.select(exports.c.id).where(exports.c.org_id == orgs.c.id, exports.c.state == RUNNING.value).exists()
    waiting = (
        sa.select(orgs.c.id)
        .where(sa.select(exports.c.id).where(exports.c.org_id == orgs.c.id, exports.c.state == PENDING.value).exists())
        .where(~running)
    )
    if dialect == "postgresql":
        waiting = waiting.with_for_update(skip_locked=True, of=orgs)
    return [str(org_id) for (org_id,) in connection.execute(waiting.limit(_CLAIM_ORGS)).all()]


def _next_candidate(connection: Connection, org_id: str) -> Mapping[Any, Any] | None:
    """The org's oldest pending export, unless one of its exports started since the org was picked."""
    if connection.execute(
        sa.select(exports.c.id).where(exports.c.org_id == org_id, exports.c.state == RUNNING.value)
    ).first():
        return None
    return connection.execute(
        sa.select(exports.c.id, exports.c.attempts, exports.c.events, exports.c.sequence)
        .where(exports.c.org_id == org_id, exports.c.state == PENDING.value)
        .order_by(exports.c.created, exports.c.id).limit(1)
    ).mappings().first()


def renew_lease(connection: Connection, export_id: str, worker_id: str, lease_seconds: int,
                progress: dict[str, Any] | None = None) -> bool:
    """Extend the lease; False when this worker no longer holds the job (reclaimed, deleted)."""
    values: dict[str, Any] = {"lease_expires": utcnow() + timedelta(seconds=lease_seconds)}
    if progress is not None:
        values["progress"] = progress
    result = connection.execute(
        exports.update().where(*_held(export_id, worker_id)).values(**values)
    )
    return result.rowcount == 1


def export_exists(connection: Connection, export_id: str) -> bool:
    return connection.execute(sa.select(exports.c.id).where(exports.c.id == export_id)).first() is not None


def cancel_requested(connection: Connection, export_id: str) -> bool:
    """Whether the export was cancelled (or deleted) since it started."""
    row = connection.execute(sa.select(exports.c.cancel_requested).where(exports.c.id == export_id)).first()
    return row is None or bool(row[0])


def finish_export(connection: Connection, export_id: str, worker_id: str, *, stats: dict[str, Any],
                  data_file: dict[str, Any], sha256: str, files: list[dict[str, Any]] | None,
                  progress: dict[str, Any], new_events: list[dict[str, Any]],
                  changes: dict[str, Any] | None = None) -> bool:
    """running -> ready, only if this worker still holds the lease (``changes``: what the archive
    was read as of, for incremental exports after it)."""
    return _end(connection, export_id, worker_id, READY, new_events, stats=stats, data_file=data_file,
                sha256=sha256, files=files, progress=progress, changes=changes)


def fail_export(connection: Connection, export_id: str, worker_id: str, *, fault: dict[str, Any],
                new_events: list[dict[str, Any]]) -> bool:
    """running -> error (failed or cancelled), only if this worker still holds the lease."""
    return _end(connection, export_id, worker_id, ERROR, new_events, fault=fault, progress=None)


def _end(connection: Connection, export_id: str, worker_id: str, state: ExportState,
         new_events: list[dict[str, Any]], **values: Any) -> bool:
    row = connection.execute(
        sa.select(exports.c.events, exports.c.sequence).where(*_held(export_id, worker_id))
    ).first()
    if row is None:
        return False
    now = utcnow()
    result = connection.execute(
        exports.update().where(*_held(export_id, worker_id))
        .values(state=state.value, lease_owner=None, lease_expires=None, updated=now,
                completed=now if state is READY else None, events=[*row[0], *new_events],
                sequence=row[1] + 1, **values)
    )
    return result.rowcount == 1


def _held(export_id: str, worker_id: str) -> tuple[Any, ...]:
    """The export, while it runs under this worker's lease."""
    return exports.c.id == export_id, exports.c.lease_owner == worker_id, exports.c.state == RUNNING.value


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
        .values(events=[*row[0], *new_events], sequence=row[1] + 1)
    )
    return True


def reclaim_expired_leases(connection: Connection, *, owner_gone: Callable[[str], bool] | None = None,
                           owners_prefix: str = "") -> list[ExportJob]:
    """running -> pending for exports whose lease ran out (their worker died, or lost the
    database), and, with ``owner_gone``, for exports whose lease owner (an id starting with
    ``owners_prefix``) it proves dead before then. Returns the exports reclaimed, as they were
    (with the lease owner that lost them) but for their last event, ``reclaimed``, which says why
    (``reason``: ``leaseExpired``, ``workerGone``)."""
    now = utcnow()
    expired = exports.c.lease_expires < now
    reclaimable = expired
    if owner_gone is not None:
        reclaimable = sa.or_(expired, exports.c.lease_owner.startswith(owners_prefix, autoescape=True))
    candidates = [ExportJob.from_row(row) for row in connection.execute(
        sa.select(exports).where(exports.c.state == RUNNING.value, reclaimable)
    ).mappings()]
    reclaimed = []
    for job in candidates:
        lapsed = job.lease_expires is not None and job.lease_expires < now
        if not lapsed and not (owner_gone is not None and job.lease_owner and owner_gone(job.lease_owner)):
            continue
        reason = "leaseExpired" if lapsed else "workerGone"
        # Still as it was read: a lease renewed (or reclaimed by another worker) meanwhile stays.
        held_as_read = [exports.c.id == job.id, exports.c.state == RUNNING.value,
                        exports.c.lease_owner == job.lease_owner]
        if lapsed:
            held_as_read.append(expired)
        events = [*job.events, new_event("reclaimed", {"worker": job.lease_owner, "reason": reason}, now)]
        result = connection.execute(
            exports.update().where(*held_as_read)
            .values(state=PENDING.value, lease_owner=None, lease_expires=None, progress=None, events=events,
                    sequence=job.sequence + 1)
        )
        if result.rowcount == 1:
            reclaimed.append(replace(job, events=events))
    return reclaimed


def request_cancel(connection: Connection, org_id: str, export_id: str) -> ExportJob:
    """A pending export ends at once (pending -> error); a running one is stopped by its worker
    within a batch; an ended one stays as it is."""
    job = get_export(connection, org_id, export_id)
    if job.state.ended:
        return job
    if job.state is PENDING:
        aborted = new_event("aborted", {"source": "cortex", "willRestart": False})
        connection.execute(
            exports.update().where(exports.c.id == export_id, exports.c.state == PENDING.value)
            .values(state=ERROR.value, cancel_requested=True, updated=utcnow(), fault=aborted_fault(),
                    events=[*job.events, aborted], sequence=job.sequence + 1)
        )
    else:
        connection.execute(exports.update().where(exports.c.id == export_id).values(cancel_requested=True))
    return get_export(connection, org_id, export_id)


def update_export(connection: Connection, org_id: str, export_id: str, changes: Mapping[str, Any]) -> ExportJob:
    """Write ``label``/``description`` (validated by ``exports.updates``), in any state."""
    job = get_export(connection, org_id, export_id)
    values = {key: changes[key] for key in ("label", "description") if key in changes}
    if values:
        connection.execute(
            exports.update().where(exports.c.org_id == org_id, exports.c.id == export_id)
            .values(**values, updated=utcnow(), sequence=exports.c.sequence + 1)
        )
        job = get_export(connection, org_id, export_id)
    return job


def previous_schedule_export(connection: Connection, org_id: str, schedule_id: str, before: ExportJob
                             ) -> ExportJob | None:
    """The newest ready export of the schedule created before ``before`` (``since: "previous"``)."""
    row = connection.execute(
        sa.select(exports).where(exports.c.org_id == org_id, exports.c.schedule_id == schedule_id,
                                 exports.c.state == READY.value, exports.c.id != before.id,
                                 exports.c.created <= before.created)
        .order_by(exports.c.created.desc(), exports.c.id.desc()).limit(1)
    ).mappings().first()
    return None if row is None else ExportJob.from_row(row)


def schedule_exports(connection: Connection, org_id: str, schedule_id: str) -> list[tuple[str, ExportState]]:
    """(``_id``, state) of every export of the schedule, newest first."""
    rows = connection.execute(
        sa.select(exports.c.id, exports.c.state).where(exports.c.org_id == org_id, exports.c.schedule_id == schedule_id)
        .order_by(exports.c.created.desc(), exports.c.id.desc())
    ).all()
    return [(str(export_id), ExportState(str(state))) for export_id, state in rows]


def oldest_live_export(connection: Connection, org_id: str) -> datetime | None:
    """When the org's oldest export that is, or may become, ready was created: what may still be
    the base of an incremental export (tombstones after it are kept)."""
    found = connection.execute(
        sa.select(sa.func.min(exports.c.created)).where(exports.c.org_id == org_id, exports.c.state != ERROR.value)
    ).scalar()
    return None if found is None else as_utc(found)


def delete_export_record(connection: Connection, org_id: str, export_id: str) -> None:
    connection.execute(exports.delete().where(exports.c.org_id == org_id, exports.c.id == export_id))


def expired_exports(connection: Connection, now: datetime, limit: int = 100) -> list[ExportJob]:
    """Exports past their ``expiresAt`` that are not running (those wait until they end)."""
    query = sa.select(exports).where(*_expired(now)).limit(limit)
    return [ExportJob.from_row(row) for row in connection.execute(query).mappings()]


def delete_expired_export(connection: Connection, org_id: str, export_id: str, now: datetime) -> bool:
    """Delete the export if it is (still) expired and not running; whether it was."""
    result = connection.execute(
        exports.delete().where(exports.c.org_id == org_id, exports.c.id == export_id, *_expired(now))
    )
    return result.rowcount == 1


def _expired(now: datetime) -> tuple[Any, ...]:
    return exports.c.expires_at.is_not(None), exports.c.expires_at < now, exports.c.state != RUNNING.value


def _to_milliseconds(moment: datetime) -> datetime:
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def aborted_fault() -> dict[str, Any]:
    return faults.export_aborted().to_json()
