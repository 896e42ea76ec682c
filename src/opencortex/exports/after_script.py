"""An export's ``afterScript`` (cortex-api.md section 1.11), and export failures in the Logs.

The worker records the export's outcome first, then calls ``run_after_script``: the script runs
once, in the sandbox, as the export's principal, with ``script.arguments = {err, export}``. What
it logs becomes Logs records with ``src`` 6 (export) and ``src_id`` the export's ``_id``, and the
run itself adds one more record: ``info`` when it succeeded, ``error`` with a fault in ``err`` when
it failed. Nothing a script does can change the export: its state is already recorded, and the
only things written afterwards are log records and the ``afterScript.*`` events.

The run is at most once: a worker that dies while the script runs does not run it again.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from opencortex import faults
from opencortex.clock import utcnow
from opencortex.exports.jobs import ExportJob, export_json, new_event
from opencortex.exports.queue import get_export
from opencortex.ids import ANONYMOUS
from opencortex.logs import LogEntry, write_logs
from opencortex.logs.records import ERROR, EXPORT, INFO
from opencortex.model.accounts import find_account
from opencortex.runtime import Runtime
from opencortex.scripting import LogRecord, ScriptLimits, ScriptRun, run_script
from opencortex.scripting import model as script_errors

log = logging.getLogger("opencortex.exports")

# The fault of each sandbox error name (scripting.model.ERROR_NAMES).
SCRIPT_FAULTS = {
    script_errors.TIMEOUT: faults.script_timeout,
    script_errors.MEMORY: faults.script_memory,
    script_errors.STACK_OVERFLOW: faults.script_stack_overflow,
    script_errors.COMPILE: faults.script_compile,
    script_errors.IMPORT: faults.script_import,
    script_errors.RUNTIME: faults.script_runtime,
    script_errors.TOO_LARGE: faults.max_script_length,
    script_errors.CRASHED: faults.script_crashed,
}


def run_after_script(runtime: Runtime, job: ExportJob, outcome_fault: dict[str, Any] | None
                     ) -> list[dict[str, Any]]:
    """Run the export's afterScript, if it has one, and log what it did; returns the events to add.

    Call it after the outcome (``ready``, or ``error`` with ``outcome_fault``) is recorded. It
    never raises because of the script, and returns ``[]`` when there is no script to run or the
    export was deleted in the meantime.
    """
    source = job.parameters.after_script.strip()
    if not source:
        return []
    org_id, export_id = job.org_id, job.id
    try:
        with runtime.database.connect() as connection:
            recorded = get_export(connection, org_id, export_id)  # as the outcome left it
            principal = script_principal(connection, job)
    except faults.Fault:
        log.info("export %s was deleted before its afterScript ran", export_id)
        return []
    began = utcnow()
    run = _run(source, {"err": outcome_fault, "export": export_json(recorded)}, principal,
               ScriptLimits(timeout_s=runtime.settings.script_timeout_seconds))
    ended = utcnow()
    err = script_fault(run.error) if run.error is not None else None
    context = {"src": EXPORT, "src_id": export_id, "pid": principal["_id"], "oid": job.creator}
    entries = [_logged(record, context) for record in run.logs]
    summary = {"message": "afterScript " + ("failed." if err else "ran."), "durationMs": run.duration_ms,
               "logs": len(run.logs)}
    trace = run.error.get("trc") if run.error else None
    entries.append(LogEntry(lvl=ERROR if err else INFO, dat=summary, err=err, trc=trace,
                            sts=err["status"] if err else None, beg=began, end=ended, **context))
    try:
        with runtime.database.begin() as connection:
            write_logs(connection, org_id, entries)
    except Exception:  # the database failed; the events still say what happened
        log.exception("export %s: could not write the afterScript's logs", export_id)
    if err:
        log.info("export %s: afterScript failed: %s", export_id, err["errCode"])
    return [new_event("afterScript.started", None, began), new_event("afterScript.completed", {"err": err}, ended)]


def log_export_failure(connection: Connection, job: ExportJob, fault_json: dict[str, Any]) -> None:
    """Log an export's failure (or cancellation): ``src`` 6, ``lvl`` 0, the fault in ``err``."""
    status = fault_json.get("status")
    write_logs(connection, job.org_id, [LogEntry(
        src=EXPORT, lvl=ERROR, err=fault_json, sts=status if isinstance(status, int) else None,
        src_id=job.id, pid=job.reads_as, dat={"message": "The export failed."},
    )])


def script_principal(connection: Connection, job: ExportJob) -> dict[str, Any]:
    """``script.principal``: ``{_id, email, name, roles}`` of the account, or just ``{_id, roles}``."""
    account_id = job.reads_as
    account = None if account_id == ANONYMOUS else find_account(connection, job.org_id, account_id)
    if account is None:  # anonymous, or an account deleted since the export was created
        return {"_id": account_id, "roles": []}
    return {"_id": account["id"], "email": account["email"],
            "name": {"first": account["name_first"], "last": account["name_last"]},
            "roles": list(account["roles"])}


def script_fault(error: dict[str, Any]) -> dict[str, Any]:
    """A sandbox error (``{name, message, reason, stack?}``) as a Cortex fault, with ``trace``."""
    kind = SCRIPT_FAULTS.get(error.get("name", ""), faults.script_runtime)
    fault = kind(error.get("reason") or error.get("message"), path="afterScript").to_json()
    if error.get("stack"):
        fault["trace"] = error["stack"]
    return fault


def _run(source: str, arguments: dict[str, Any], principal: dict[str, Any],
         limits: ScriptLimits) -> ScriptRun:
    try:
        return run_script(source, arguments=arguments, principal=principal, limits=limits)
    except Exception:  # a bug on our side (bad limits, unserializable arguments); never the script's
        log.exception("afterScript could not be started")
        error = script_errors.script_error(script_errors.CRASHED, "The script could not be started.")
        return ScriptRun(ok=False, result=None, error=error)


def _logged(record: LogRecord, context: dict[str, Any]) -> LogEntry:
    """One logger call of the script as a Logs record."""
    at = _parse_time(record.ts)
    return LogEntry(lvl=record.lvl, dat=record.dat, trc=record.trc, beg=at, end=at, **context)


def _parse_time(text: str) -> datetime | None:
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except (TypeError, ValueError):
        return None
