"""Export schedules as values and as rows: ``ExportSchedule``, its JSON, and every statement on the
``export_schedules`` table (the only module that reads its rows).

A schedule is an org's export template (a ``POST /exports`` body) run at the ticks of a cron
expression in a time zone. A tick is claimed by moving ``next_run`` on with a compare-and-set
(``claim_tick``) in the same transaction that inserts the export, so however many workers look
at a due schedule, one tick makes one export (``exports.scheduling``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError

from opencortex import faults
from opencortex.clock import as_utc, iso
from opencortex.exports.jobs import account_reference
from opencortex.store.tables import export_schedules as _T

OBJECT = "exportSchedule"
MAX_SCHEDULES = 100
"""Per org: each one is looked at by every worker at each of its ticks."""


@dataclass(frozen=True)
class ExportSchedule:
    id: str
    org_id: str
    name: str
    cron: str
    timezone: str
    template: dict[str, Any]
    """The export each tick creates: a ``POST /exports`` body, checked at every tick."""
    retention: int | None
    """Ready exports of the schedule to keep (older ones are deleted); None: all (until they expire)."""
    enabled: bool
    next_run: datetime | None
    last_run: datetime | None
    last_export: str | None
    last_fault: dict[str, Any] | None
    """Why the last tick made no export (its template no longer valid, its creator no administrator)."""
    creator: str
    created: datetime
    updated: datetime | None

    @classmethod
    def from_row(cls, row: Mapping[Any, Any]) -> ExportSchedule:
        return cls(
            id=row["id"], org_id=row["org_id"], name=row["name"], cron=row["cron"], timezone=row["timezone"],
            template=dict(row["template"]), retention=row["retention"], enabled=bool(row["enabled"]),
            next_run=_utc(row["next_run"]), last_run=_utc(row["last_run"]), last_export=row["last_export"],
            last_fault=row["last_fault"], creator=row["creator"], created=as_utc(row["created"]),
            updated=_utc(row["updated"]),
        )


def schedule_json(schedule: ExportSchedule) -> dict[str, Any]:
    """The schedule as the API shows it (properties never set are left out)."""
    document: dict[str, Any] = {
        "_id": schedule.id,
        "object": OBJECT,
        "name": schedule.name,
        "cron": schedule.cron,
        "timezone": schedule.timezone,
        "template": schedule.template,
        "retention": schedule.retention,
        "enabled": schedule.enabled,
        "nextRun": iso(schedule.next_run),
        "lastRun": iso(schedule.last_run),
        "lastExport": None if schedule.last_export is None else {
            "_id": schedule.last_export, "object": "export", "path": f"/exports/{schedule.last_export}"},
        "lastFault": schedule.last_fault,
        "creator": account_reference(schedule.creator),
        "created": iso(schedule.created),
        "updated": iso(schedule.updated),
    }
    return {key: value for key, value in document.items() if value is not None}


# Statements


def insert_schedule(connection: Connection, values: dict[str, Any]) -> ExportSchedule:
    count = connection.execute(sa.select(sa.func.count()).select_from(_T).where(_T.c.org_id == values["org_id"]))
    if count.scalar_one() >= MAX_SCHEDULES:
        raise faults.max_allowed(f"An org has at most {MAX_SCHEDULES} export schedules.", path="name")
    _write(connection, _T.insert().values(**values))
    return get_schedule(connection, values["org_id"], values["id"])


def get_schedule(connection: Connection, org_id: str, schedule_id: str) -> ExportSchedule:
    row = connection.execute(sa.select(_T).where(_T.c.org_id == org_id, _T.c.id == schedule_id)).mappings().first()
    if row is None:
        raise faults.instance_not_found(path=schedule_id, resource=f"{OBJECT}.{schedule_id}")
    return ExportSchedule.from_row(row)


def list_schedules(connection: Connection, org_id: str) -> list[ExportSchedule]:
    """The org's schedules, by name."""
    rows = connection.execute(sa.select(_T).where(_T.c.org_id == org_id).order_by(_T.c.name, _T.c.id)).mappings()
    return [ExportSchedule.from_row(row) for row in rows]


def update_schedule(connection: Connection, org_id: str, schedule_id: str, values: dict[str, Any]) -> ExportSchedule:
    _write(connection, _T.update().where(_T.c.org_id == org_id, _T.c.id == schedule_id).values(**values))
    return get_schedule(connection, org_id, schedule_id)


def delete_schedule(connection: Connection, org_id: str, schedule_id: str) -> None:
    connection.execute(_T.delete().where(_T.c.org_id == org_id, _T.c.id == schedule_id))


def due_schedules(connection: Connection, now: datetime, limit: int) -> list[ExportSchedule]:
    """Enabled schedules whose next tick has come, the most overdue first (every org's)."""
    rows = connection.execute(
        sa.select(_T).where(_T.c.enabled.is_(True), _T.c.next_run.is_not(None), _T.c.next_run <= now)
        .order_by(_T.c.next_run, _T.c.id).limit(limit)
    ).mappings()
    return [ExportSchedule.from_row(row) for row in rows]


def claim_tick(connection: Connection, schedule: ExportSchedule, next_run: datetime, now: datetime) -> bool:
    """Move the schedule's ``next_run`` on from the tick this worker saw; False when another worker
    (or an edit) moved it first. On PostgreSQL a second claimer waits for the first one's
    transaction and then finds ``next_run`` changed; on SQLite writers take turns."""
    result = connection.execute(
        _T.update().where(_T.c.id == schedule.id, _T.c.enabled.is_(True), _T.c.next_run == schedule.next_run)
        .values(next_run=next_run, last_run=now)
    )
    return result.rowcount == 1


def record_tick(connection: Connection, schedule_id: str, *, export_id: str | None,
                fault: dict[str, Any] | None) -> None:
    """What the tick this worker claimed made: an export, or the fault that stopped it."""
    values: dict[str, Any] = {"last_fault": fault}
    if export_id is not None:
        values["last_export"] = export_id
    connection.execute(_T.update().where(_T.c.id == schedule_id).values(**values))


def _write(connection: Connection, statement: Any) -> None:
    try:
        with connection.begin_nested():
            connection.execute(statement)
    except IntegrityError:
        raise faults.already_exists("An export schedule of this org already has this name.", path="name") from None


def _utc(moment: datetime | None) -> datetime | None:
    return None if moment is None else as_utc(moment)
