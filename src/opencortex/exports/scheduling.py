"""Export schedules: the one entry point of each feature (create, list, get, update, delete, for the
API, the CLI and the console; the ticks and the retention, for the workers).

**A tick makes one export, whatever the number of workers.** Every worker looks for due
schedules about once a second (``run_due_schedules``). For each, it reads the template without
the database (compiling its ``afterScript``), then, in one transaction, moves ``next_run`` on from
the value it saw (a compare-and-set: ``schedules.claim_tick``) and inserts the export. Two
workers that saw the same tick cannot both win the compare-and-set, and the export exists if and
only if the tick was claimed. A tick missed while no worker ran (every worker down for a day)
runs once when one comes back: ``next_run`` moves on from *now*, never tick by tick.

At each tick the template is checked against the org exactly as ``POST /exports`` checks a body,
as the schedule's creator, who must still be an administrator; a tick that cannot make its export
records why (``lastFault``) and the schedule goes on to its next tick.

**Retention.** When an export of a schedule with ``retention`` N becomes ready, the schedule's
exports older than its N newest ready ones are deleted (``operations.delete``: archive, storage
and audit record included); pending and running ones never are.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from opencortex import faults
from opencortex.clock import utcnow
from opencortex.exports import operations, queue, schedules
from opencortex.exports.jobs import ExportJob, ExportState
from opencortex.exports.lifecycle_log import export_event
from opencortex.exports.schedule_body import ScheduleBody, next_tick, read_schedule_body, template_faults
from opencortex.exports.schedules import ExportSchedule
from opencortex.exports.validation import ExportBody, read_export_body, validate_export_request
from opencortex.ids import ROLE_ADMINISTRATOR, new_object_id
from opencortex.model.accounts import find_account
from opencortex.runtime import Runtime
from opencortex.scripting import ScriptLimits
from opencortex.store.audit import record_audit
from opencortex.store.tables import orgs

log = logging.getLogger("opencortex.exports")
CREATED, UPDATED, DELETED = "exportSchedule.create", "exportSchedule.update", "exportSchedule.delete"
DUE_PER_PASS = 20


def create(runtime: Runtime, org: Mapping[str, Any], creator: str, body: Any) -> ExportSchedule:
    """Check a schedule body (its template as ``POST /exports`` would) and store it."""
    read = read_schedule_body(body, partial=False, script_limits=_limits(runtime))
    now = utcnow()
    with runtime.database.begin() as connection:
        _check_template(runtime, connection, org["id"], read.read, creator)
        schedule = schedules.insert_schedule(connection, {
            "id": new_object_id(), "org_id": org["id"], "name": read.name, "cron": read.cron,
            "timezone": read.timezone, "template": read.template, "retention": read.retention,
            "enabled": read.enabled, "next_run": next_tick(read.cron, read.timezone, now) if read.enabled else None,
            "last_run": None, "last_export": None, "last_fault": None, "creator": creator, "created": now,
            "updated": None,
        })
        record_audit(connection, org["id"], CREATED, _path(schedule.id), principal=creator,
                     details={"name": schedule.name})
    return schedule


def list_all(runtime: Runtime, org_id: str) -> list[ExportSchedule]:
    with runtime.database.connect() as connection:
        return schedules.list_schedules(connection, org_id)


def get(runtime: Runtime, org_id: str, schedule_id: str) -> ExportSchedule:
    with runtime.database.connect() as connection:
        return schedules.get_schedule(connection, org_id, schedule_id)


def update(runtime: Runtime, org: Mapping[str, Any], schedule_id: str, body: Any, *,
           principal: str) -> ExportSchedule:
    """Change what the body names (a new template is checked as at creation, as ``principal``, who
    becomes the schedule's creator: the one its exports are made as). A new ``cron``,
    ``timezone`` or ``enabled`` moves the next tick to the first one from now."""
    read = read_schedule_body(body, partial=True, script_limits=_limits(runtime))
    with runtime.database.begin() as connection:
        current = schedules.get_schedule(connection, org["id"], schedule_id)
        values = _changes(read, current, principal)
        if read.read is not None:
            _check_template(runtime, connection, org["id"], read.read, principal)
        schedule = schedules.update_schedule(connection, org["id"], schedule_id, values) if values else current
        if values:
            record_audit(connection, org["id"], UPDATED, _path(schedule_id), principal=principal,
                         details={"changed": sorted(read.given)})
    return schedule


def delete(runtime: Runtime, org_id: str, schedule_id: str, *, principal: str | None) -> None:
    """Delete the schedule; the exports it made stay until they expire (or are deleted)."""
    with runtime.database.begin() as connection:
        schedules.get_schedule(connection, org_id, schedule_id)
        schedules.delete_schedule(connection, org_id, schedule_id)
        record_audit(connection, org_id, DELETED, _path(schedule_id), principal=principal)


# The workers' side


def run_due_schedules(runtime: Runtime, now: datetime | None = None) -> list[ExportJob]:
    """Make the export of every schedule whose tick has come (unless another worker did); the
    exports this worker made."""
    moment = now or utcnow()
    with runtime.database.connect() as connection:
        due = schedules.due_schedules(connection, moment, DUE_PER_PASS)
    made = []
    for schedule in due:
        try:
            job = run_tick(runtime, schedule, moment)
        except Exception:  # one broken schedule must not stop the others
            log.exception("export schedule %s (org %s): the tick failed", schedule.id, schedule.org_id)
            continue
        if job is not None:
            made.append(job)
    return made


def run_tick(runtime: Runtime, schedule: ExportSchedule, now: datetime) -> ExportJob | None:
    """Claim the schedule's tick and make its export, in one transaction; None when another worker
    claimed it, or the template could not make an export (the schedule's ``lastFault`` says why)."""
    following = next_tick(schedule.cron, schedule.timezone, now)
    read: ExportBody | None = None
    problem: faults.Fault | None = None
    try:  # the afterScript is compiled (a child process) before the transaction opens
        read = read_export_body(schedule.template, script_limits=_limits(runtime), schedule=True)
    except faults.Fault as fault:
        problem = template_faults(fault)
    with runtime.database.begin() as connection:
        if not schedules.claim_tick(connection, schedule, following, now):
            return None
        job = None
        if problem is None:
            try:
                with connection.begin_nested():
                    job = _make_export(runtime, connection, schedule, read)
            except faults.Fault as fault:  # already under ``template``, or about the creator
                problem = fault
        recorded = None if problem is None else problem.to_json()
        schedules.record_tick(connection, schedule.id, export_id=job.id if job else None, fault=recorded)
    if job is None:
        log.warning("export schedule %s (org %s): the tick made no export: %s", schedule.id, schedule.org_id,
                    (recorded or {}).get("reason") or (recorded or {}).get("errCode"))
    else:
        log.info("export schedule %s (org %s): queued export %s", schedule.id, schedule.org_id, job.id)
        # The same lifecycle line as an export created through the API, once it is committed.
        export_event("queued", job, objects=job.parameters.objects, format=job.parameters.format.media_type,
                     schedule=schedule.id)
    return job


def _make_export(runtime: Runtime, connection: Connection, schedule: ExportSchedule,
                 read: ExportBody | None) -> ExportJob:
    assert read is not None
    request = _check_template(runtime, connection, schedule.org_id, read, schedule.creator)
    settings = connection.execute(sa.select(orgs.c.settings).where(orgs.c.id == schedule.org_id)).scalar() or {}
    days = int(settings.get("exportTtlDays", operations.DEFAULT_TTL_DAYS))
    job = queue.create_export(connection, schedule.org_id, schedule.creator, label=request.label,
                              description=request.description, parameters=request.parameters,
                              ttl=timedelta(days=days) if days > 0 else None, schedule_id=schedule.id)
    record_audit(connection, schedule.org_id, operations.CREATED, f"/exports/{job.id}", principal=schedule.creator,
                 details={"objects": job.parameters.objects, "schedule": schedule.id})
    return job


def apply_retention(runtime: Runtime, job: ExportJob) -> int:
    """After an export of a schedule became ready: delete the schedule's exports older than its
    ``retention`` newest ready ones; returns how many."""
    if job.schedule_id is None:
        return 0
    with runtime.database.connect() as connection:
        try:
            schedule = schedules.get_schedule(connection, job.org_id, job.schedule_id)
        except faults.Fault:
            return 0  # the schedule was deleted: its exports expire on their own
        made = queue.schedule_exports(connection, job.org_id, job.schedule_id)
    if schedule.retention is None:
        return 0
    ready = 0
    removed = 0
    for export_id, state in made:
        if state is ExportState.READY and ready < schedule.retention:
            ready += 1
            continue
        if ready >= schedule.retention and state.ended:
            try:
                operations.delete(runtime, job.org_id, export_id, principal=None)
                removed += 1
            except faults.Fault:
                continue  # deleted meanwhile
    return removed


# Helpers


def _check_template(runtime: Runtime, connection: Connection, org_id: str, read: ExportBody | None,
                    creator: str) -> Any:
    """The template, as ``POST /exports`` by ``creator`` would check it; faults under ``template``."""
    account = find_account(connection, org_id, creator)
    if account is None or ROLE_ADMINISTRATOR not in account["roles"]:
        raise faults.access_denied("The schedule's creator is no longer an administrator of the org: its exports "
                                   "cannot be created as them. Save the schedule again as an administrator.",
                                   path="creator")
    assert read is not None
    try:
        return validate_export_request(connection, runtime.database.dialect, org_id, read, creator=creator)
    except faults.Fault as fault:
        raise template_faults(fault) from None


def _changes(read: ScheduleBody, current: ExportSchedule, principal: str) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for key in ("name", "cron", "timezone", "retention", "enabled", "template"):
        if key in read.given:
            values[key] = getattr(read, key)
    if not values:
        return values
    if "template" in values:
        values["creator"] = principal
    if {"cron", "timezone", "enabled"} & read.given:
        cron, timezone = values.get("cron", current.cron), values.get("timezone", current.timezone)
        enabled = values.get("enabled", current.enabled)
        values["next_run"] = next_tick(cron, timezone, utcnow()) if enabled else None
    values["updated"] = utcnow()
    return values


def _limits(runtime: Runtime) -> ScriptLimits:
    return ScriptLimits(timeout_s=runtime.settings.script_timeout_seconds)


def _path(schedule_id: str) -> str:
    return f"/exportSchedules/{schedule_id}"
