"""Export operations: the one entry point of each feature, for the API routes, the CLI, the admin
console and the reaper.

Create, list, count, get, update, cancel, delete, expire, and the downloads (the archive, and
files stored beside it): each runs its own transaction, scoped by org, and records in the audit
table what it must (create, update, cancel, delete, expire, every download) with principal, time
and export id. Reads take an ``ExportAccess`` (``exports.listing``): administrators read every
export, anyone else only their own; the default is the administrator's (the command line).
Callers parse their transport (HTTP, command line) and render what comes back; the rules live here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import Connection

from opencortex import faults
from opencortex.clock import iso, utcnow
from opencortex.exports import queue, wakeup
from opencortex.exports.files import FILE_NUMBER_DIGITS
from opencortex.exports.jobs import ExportJob, ExportState, shown_file
from opencortex.exports.lifecycle_log import export_event
from opencortex.exports.listing import ADMINISTRATOR, ExportAccess, ExportListQuery, count_exports, select_exports
from opencortex.exports.output import archive_key, remove_output
from opencortex.exports.presentation import ExportSelection, select_properties
from opencortex.exports.updates import parse_update
from opencortex.exports.validation import read_export_body, validate_export_request
from opencortex.model.accounts import account_json, find_account
from opencortex.runtime import Runtime
from opencortex.scripting import ScriptLimits
from opencortex.store.audit import record_audit

DEFAULT_TTL_DAYS = 7
STORED_FILE_MIME = "application/octet-stream"
"""The type a stored file is sent as when its facet names none."""
# Audit actions.
CREATED, UPDATED, CANCELLED, DELETED = "export.create", "export.update", "export.cancel", "export.delete"
EXPIRED = "export.expire"
ARCHIVE_SUFFIX = ".zip"
"""The download's file name is the archive facet's ``filename`` (``export-<created>.<ext>``, as
Cortex names it after the data entry) plus this: the body is a zip, and ``curl -OJ`` must not save
it as a ``.csv``."""
DOWNLOADED, FILE_DOWNLOADED = "export.download", "export.file.download"


@dataclass(frozen=True)
class StoredDownload:
    """What to stream: a stored object, and what the client is told about it."""

    key: str
    size: int
    md5: str
    mime: str
    filename: str


def create(runtime: Runtime, org: Mapping[str, Any], creator: str, body: Any, *, from_form: bool = False) -> ExportJob:
    """Validate a ``POST /exports`` body and queue the export (``pending``).

    ``from_form``: the body came form-encoded, every value as text (``exports.validation``).
    """
    org_id = org["id"]
    # The afterScript is compiled (a child process) before the write transaction opens.
    read = read_export_body(body, from_form=from_form,
                            script_limits=ScriptLimits(timeout_s=runtime.settings.script_timeout_seconds))
    with runtime.database.begin() as connection:
        request = validate_export_request(connection, runtime.database.dialect, org_id, read, creator=creator)
        days = int(org["settings"].get("exportTtlDays", DEFAULT_TTL_DAYS))
        job = queue.create_export(connection, org_id, creator, label=request.label,
                                  description=request.description, parameters=request.parameters,
                                  ttl=timedelta(days=days) if days > 0 else None)
        _audit(connection, org_id, CREATED, f"/exports/{job.id}", creator, {"objects": job.parameters.objects})
    wakeup.ring()  # committed: this process's idle workers claim it now
    export_event("queued", job, objects=job.parameters.objects, format=job.parameters.format.media_type)
    return job


def list_exports(runtime: Runtime, org_id: str, *, limit: int, skip: int = 0, starting_after: str | None = None,
                 state: str | None = None, where: str | None = None, sort: str | None = None,
                 ending_before: str | None = None, access: ExportAccess = ADMINISTRATOR
                 ) -> tuple[list[ExportJob], bool]:
    """The org's exports that ``access`` reads, newest first unless ``sort`` says otherwise, and
    whether there are more (``where``/``sort``: the instance lists' query language)."""
    query = ExportListQuery(where=where, sort=sort, skip=skip, limit=limit, starting_after=starting_after,
                            ending_before=ending_before, state=state)
    with runtime.database.connect() as connection:
        return select_exports(connection, runtime.database.dialect, org_id, query, access)


def count(runtime: Runtime, org_id: str, *, where: str | None = None, state: str | None = None,
          access: ExportAccess = ADMINISTRATOR) -> int:
    """How many exports ``list_exports`` covers over all its pages (``total=true``)."""
    query = ExportListQuery(where=where, state=state)
    with runtime.database.connect() as connection:
        return count_exports(connection, runtime.database.dialect, org_id, query, access)


def get(runtime: Runtime, org_id: str, export_id: str, *, access: ExportAccess = ADMINISTRATOR) -> ExportJob:
    """One export; not found when ``access`` does not read it (never "forbidden", which would
    reveal that it exists)."""
    with runtime.database.connect() as connection:
        job = queue.get_export(connection, org_id, export_id)
    if not access.can_read(job):
        raise faults.instance_not_found(path=export_id, resource=f"export.{export_id}")
    return job


def select(runtime: Runtime, org_id: str, documents: list[dict[str, Any]],
           selection: ExportSelection) -> list[dict[str, Any]]:
    """Export documents (``export_json``) as ``paths``/``include``/``expand`` ask; expanded
    references read their accounts once for the whole list."""
    accounts: dict[str, dict[str, Any]] = {}
    if selection.expand:
        wanted = {document[name]["_id"] for document in documents for name in selection.expand
                  if isinstance(document.get(name), dict)}
        with runtime.database.connect() as connection:
            for account_id in wanted:
                row = find_account(connection, org_id, account_id)
                if row is not None:
                    accounts[account_id] = account_json(row)
    return [select_properties(document, selection, accounts) for document in documents]


def update(runtime: Runtime, org_id: str, export_id: str, changes: Mapping[str, Any], *,
           principal: str | None) -> ExportJob:
    """Change ``label`` and/or ``description`` (``changes``, as ``exports.updates`` parses a PUT
    or a PATCH; ``description: None`` removes it). Any other key is refused."""
    checked = parse_update(changes)
    with runtime.database.begin() as connection:
        job = queue.update_export(connection, org_id, export_id, checked)
        if checked:
            _audit(connection, org_id, UPDATED, f"/exports/{export_id}", principal, {"changed": sorted(checked)})
    return job


def cancel(runtime: Runtime, org_id: str, export_id: str, *, principal: str | None) -> ExportJob:
    """A pending export ends at once in ``error``; a running one at its next batch."""
    with runtime.database.begin() as connection:
        before = queue.get_export(connection, org_id, export_id)
        job = queue.request_cancel(connection, org_id, export_id)
        _audit(connection, org_id, CANCELLED, f"/exports/{export_id}", principal)
    if before.state is ExportState.PENDING and job.state is ExportState.ERROR:
        # A running export is stopped by its worker, which logs the event then.
        export_event("cancelled", job, errCode=(job.fault or {}).get("errCode"))
    return job


def delete(runtime: Runtime, org_id: str, export_id: str, *, principal: str | None) -> None:
    """Delete the record, its archive and files, and release their bytes.

    A running job's worker sees the record gone at its next heartbeat and stops.
    """
    with runtime.database.begin() as connection:
        job = queue.get_export(connection, org_id, export_id)
        queue.delete_export_record(connection, org_id, export_id)
        _audit(connection, org_id, DELETED, f"/exports/{export_id}", principal)
    export_event("deleted", job)
    remove_output(runtime, org_id, export_id)


def expire(runtime: Runtime, job: ExportJob) -> bool:
    """Delete one export past its ``expiresAt`` (the reaper's step), as ``delete`` does; False
    when it is no longer expired or has started running since it was listed (it waits)."""
    with runtime.database.begin() as connection:
        if not queue.delete_expired_export(connection, job.org_id, job.id, utcnow()):
            return False
        _audit(connection, job.org_id, EXPIRED, f"/exports/{job.id}", None)
    export_event("expired", job)
    remove_output(runtime, job.org_id, job.id)
    return True


def expired(runtime: Runtime, limit: int) -> list[ExportJob]:
    """Up to ``limit`` exports past their ``expiresAt``; running ones wait until they end."""
    with runtime.database.connect() as connection:
        return queue.expired_exports(connection, utcnow(), limit)


def ready_export(runtime: Runtime, org_id: str, export_id: str, *, path: str) -> ExportJob:
    """The export, if its archive can be downloaded; otherwise the fault that says why (see
    ``_downloadable``)."""
    return _downloadable(get(runtime, org_id, export_id), path)


def download_archive(runtime: Runtime, org_id: str, export_id: str, *, path: str, principal: str | None,
                     via: str) -> StoredDownload:
    """The ready archive to stream, the download recorded (``via``: how it was asked for)."""
    with runtime.database.begin() as connection:
        job = _downloadable(queue.get_export(connection, org_id, export_id), path)
        _audit(connection, org_id, DOWNLOADED, path, principal, {"via": via})
    facet = job.data_file
    assert facet is not None  # _downloadable
    return StoredDownload(key=archive_key(job.id, job.attempts), size=facet["size"], md5=facet["ETag"],
                          mime=facet["mime"], filename=archive_filename(facet["filename"]))


def archive_filename(facet_filename: str) -> str:
    """The name a downloaded archive is saved under: ``<facet filename>.zip``."""
    return facet_filename if facet_filename.endswith(ARCHIVE_SUFFIX) else facet_filename + ARCHIVE_SUFFIX


def stored_files(runtime: Runtime, org_id: str, export_id: str) -> list[dict[str, Any]]:
    """The facets of the files an export stored beside its archive (``exportFiles`` without
    ``zipFiles``), as the API shows them."""
    return [shown_file(facet) for facet in get(runtime, org_id, export_id).files or []]


def stored_file(runtime: Runtime, org_id: str, export_id: str, number: str) -> dict[str, Any]:
    """One of them, by its 10-digit number, as the API shows it."""
    _check_file_number(number)
    job = _downloadable(get(runtime, org_id, export_id), f"/exports/{export_id}/files/{number}")
    return shown_file(_stored_file(job, number))


def download_stored_file(runtime: Runtime, org_id: str, export_id: str, number: str, *,
                         principal: str | None) -> StoredDownload:
    """One of them to stream, the download recorded."""
    _check_file_number(number)
    with runtime.database.begin() as connection:
        job = _downloadable(queue.get_export(connection, org_id, export_id), f"/exports/{export_id}/files/{number}")
        facet = _stored_file(job, number)
        _audit(connection, org_id, FILE_DOWNLOADED, facet["path"], principal)
    return StoredDownload(key=facet["key"], size=facet["size"], md5=facet["ETag"],
                          mime=facet["mime"] or STORED_FILE_MIME, filename=f"{number}{facet['originalPath']}")


def _downloadable(job: ExportJob, path: str) -> ExportJob:
    """The export, if its archive can be downloaded now. Otherwise: ended in error (failed or
    cancelled; it never gets an archive) -> ``cortex.error.exportFailed`` (409) with the export's
    fault as its child; past ``expiresAt`` (even before the reaper runs) -> ``cortex.expired.export``
    (410); pending or running -> the 202 ``kMediaNotReady``, the only answer that means "later"."""
    if job.state is ExportState.ERROR:
        cause = [_fault_of(job.fault)] if job.fault else []
        raise faults.export_failed_no_archive(f"Export {job.id} ended in error: {_describe(job.fault)}", path=path,
                                              faults=cause)
    if job.expires_at is not None and job.expires_at <= utcnow():
        raise faults.export_expired(f"Export {job.id} expired at {iso(job.expires_at)}.", path=path)
    if job.state is not ExportState.READY or job.data_file is None:
        raise faults.export_not_ready(path=path)
    return job


def _describe(fault: Mapping[str, Any] | None) -> str:
    if not fault:
        return "no fault was recorded."
    return f"{fault.get('errCode')}: {fault.get('reason') or fault.get('message')}"


def _fault_of(recorded: Mapping[str, Any]) -> faults.Fault:
    """The export's recorded fault (JSON) as a child fault, with its codes as they were."""
    kind = faults.FaultKind(str(recorded.get("code", "kError")),
                            str(recorded.get("errCode", "cortex.error.unspecified")),
                            int(recorded.get("status", 500)), str(recorded.get("message", "")),
                            name=str(recorded.get("name", "error")))
    return faults.Fault(kind, reason=recorded.get("reason"), path=recorded.get("path"))


def _check_file_number(number: str) -> None:
    if len(number) != FILE_NUMBER_DIGITS or not number.isdigit():
        raise faults.invalid_argument("invalid file specification", path=number)


def _stored_file(job: ExportJob, number: str) -> dict[str, Any]:
    facet = next((item for item in job.files or [] if item["name"] == number), None)
    if facet is None:
        raise faults.file_not_found("File not found.", path=f"/exports/{job.id}/files/{number}")
    return facet


def _audit(connection: Connection, org_id: str, action: str, resource: str, principal: str | None,
           details: dict[str, Any] | None = None) -> None:
    """One audit record, in the operation's transaction: ``resource`` is the export or the path used."""
    record_audit(connection, org_id, action, resource, principal=principal, details=details)
