"""Export operations: the one entry point of each feature, for the API routes, the CLI and the reaper.

Create, list, get, cancel, delete, expire, and the downloads (the archive, and files stored beside
it): each runs its own transaction, scoped by org, and records in the audit table what it must
(create, cancel, delete, expire, every download) with principal, time and export id. Callers
parse their transport (HTTP, command line) and render what comes back; the rules live here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import Connection

from opencortex import faults
from opencortex.clock import utcnow
from opencortex.exports import queue
from opencortex.exports.files import FILE_NUMBER_DIGITS
from opencortex.exports.jobs import ExportJob, ExportState, shown_file
from opencortex.exports.output import archive_key, remove_output
from opencortex.exports.validation import validate_export_request
from opencortex.runtime import Runtime
from opencortex.store.audit import record_audit

DEFAULT_TTL_DAYS = 7
STORED_FILE_MIME = "application/octet-stream"
"""The type a stored file is sent as when its facet names none."""
# Audit actions.
CREATED, CANCELLED, DELETED, EXPIRED = "export.create", "export.cancel", "export.delete", "export.expire"
DOWNLOADED, FILE_DOWNLOADED = "export.download", "export.file.download"


@dataclass(frozen=True)
class StoredDownload:
    """What to stream: a stored object, and what the client is told about it."""

    key: str
    size: int
    md5: str
    mime: str
    filename: str


def create(runtime: Runtime, org: Mapping[str, Any], creator: str, body: Any) -> ExportJob:
    """Validate a ``POST /exports`` body and queue the export (``pending``)."""
    org_id = org["id"]
    with runtime.database.begin() as connection:
        request = validate_export_request(connection, runtime.database.dialect, org_id, body)
        days = int(org["settings"].get("exportTtlDays", DEFAULT_TTL_DAYS))
        job = queue.create_export(connection, org_id, creator, label=request.label,
                                  description=request.description, parameters=request.parameters,
                                  ttl=timedelta(days=days) if days > 0 else None)
        _audit(connection, org_id, CREATED, f"/exports/{job.id}", creator, {"objects": job.parameters.objects})
    return job


def list_exports(runtime: Runtime, org_id: str, *, limit: int, skip: int = 0, starting_after: str | None = None,
                 state: str | None = None) -> tuple[list[ExportJob], bool]:
    """The org's exports, newest first, and whether there are more."""
    with runtime.database.connect() as connection:
        return queue.list_exports(connection, org_id, limit=limit, skip=skip, starting_after=starting_after,
                                  state=state)


def get(runtime: Runtime, org_id: str, export_id: str) -> ExportJob:
    with runtime.database.connect() as connection:
        return queue.get_export(connection, org_id, export_id)


def cancel(runtime: Runtime, org_id: str, export_id: str, *, principal: str | None) -> ExportJob:
    """A pending export ends at once in ``error``; a running one at its next batch."""
    with runtime.database.begin() as connection:
        job = queue.request_cancel(connection, org_id, export_id)
        _audit(connection, org_id, CANCELLED, f"/exports/{export_id}", principal)
    return job


def delete(runtime: Runtime, org_id: str, export_id: str, *, principal: str | None) -> None:
    """Delete the record, its archive and files, and release their bytes.

    A running job's worker sees the record gone at its next heartbeat and stops.
    """
    with runtime.database.begin() as connection:
        queue.get_export(connection, org_id, export_id)
        queue.delete_export_record(connection, org_id, export_id)
        _audit(connection, org_id, DELETED, f"/exports/{export_id}", principal)
    remove_output(runtime, org_id, export_id)


def expire(runtime: Runtime, job: ExportJob) -> bool:
    """Delete one export past its ``expiresAt`` (the reaper's step), as ``delete`` does; False
    when it is no longer expired or has started running since it was listed (it waits)."""
    with runtime.database.begin() as connection:
        if not queue.delete_expired_export(connection, job.org_id, job.id, utcnow()):
            return False
        _audit(connection, job.org_id, EXPIRED, f"/exports/{job.id}", None)
    remove_output(runtime, job.org_id, job.id)
    return True


def expired(runtime: Runtime, limit: int) -> list[ExportJob]:
    """Up to ``limit`` exports past their ``expiresAt``; running ones wait until they end."""
    with runtime.database.connect() as connection:
        return queue.expired_exports(connection, utcnow(), limit)


def ready_export(runtime: Runtime, org_id: str, export_id: str, *, path: str) -> ExportJob:
    """The export, if its archive is ready; the 202 fault ``kMediaNotReady`` (at ``path``) if not."""
    return _ready(get(runtime, org_id, export_id), path)


def download_archive(runtime: Runtime, org_id: str, export_id: str, *, path: str, principal: str | None,
                     via: str) -> StoredDownload:
    """The ready archive to stream, the download recorded (``via``: how it was asked for)."""
    with runtime.database.begin() as connection:
        job = _ready(queue.get_export(connection, org_id, export_id), path)
        _audit(connection, org_id, DOWNLOADED, path, principal, {"via": via})
    facet = job.data_file
    assert facet is not None  # _ready
    return StoredDownload(key=archive_key(job.id, job.attempts), size=facet["size"], md5=facet["ETag"],
                          mime=facet["mime"], filename=facet["filename"])


def stored_files(runtime: Runtime, org_id: str, export_id: str) -> list[dict[str, Any]]:
    """The facets of the files an export stored beside its archive (``exportFiles`` without
    ``zipFiles``), as the API shows them."""
    return [shown_file(facet) for facet in get(runtime, org_id, export_id).files or []]


def stored_file(runtime: Runtime, org_id: str, export_id: str, number: str) -> dict[str, Any]:
    """One of them, by its 10-digit number, as the API shows it."""
    _check_file_number(number)
    return shown_file(_stored_file(get(runtime, org_id, export_id), number))


def download_stored_file(runtime: Runtime, org_id: str, export_id: str, number: str, *,
                         principal: str | None) -> StoredDownload:
    """One of them to stream, the download recorded."""
    _check_file_number(number)
    with runtime.database.begin() as connection:
        facet = _stored_file(queue.get_export(connection, org_id, export_id), number)
        _audit(connection, org_id, FILE_DOWNLOADED, facet["path"], principal)
    return StoredDownload(key=facet["key"], size=facet["size"], md5=facet["ETag"],
                          mime=facet["mime"] or STORED_FILE_MIME, filename=f"{number}{facet['originalPath']}")


def _ready(job: ExportJob, path: str) -> ExportJob:
    if job.state is not ExportState.READY or job.data_file is None:
        raise faults.export_not_ready(path=path)
    return job


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
