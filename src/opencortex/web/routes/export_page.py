"""One export: its page (every property, the event timeline, its log lines, the manifest), the JSON
it polls while the export runs, and its actions: download, cancel, delete (after confirming)."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from opencortex.api.downloads import Download, download_response
from opencortex.exports import operations
from opencortex.exports.jobs import ExportJob, ExportState, export_json
from opencortex.logs import LogQuery, list_logs
from opencortex.web.context import Console, ReaderDep, WriterDep
from opencortex.web.failures import ConsoleRoute
from opencortex.web.views.exports import account_emails, export_row
from opencortex.web.views.logs import log_row
from opencortex.web.views.manifest import check_archive

router = APIRouter(route_class=ConsoleRoute)
AUTOLOAD_MANIFEST_BYTES = 64 * 1024 * 1024
"""Larger archives are read for their manifest only when asked (reading decrypts the whole archive)."""
LOG_LINES = 200


@router.get("/{org}/console/exports/{export_id}")
def export_page(export_id: str, console: ReaderDep) -> Response:
    job = operations.get(console.runtime, console.org_id, export_id, access=console.export_access)
    records, _more = _log_lines(console, job.id)
    return console.page("export.html", {
        **_shown(console, job),
        "logs": records,
        "autoload_manifest": (job.data_file or {}).get("size", 0) <= AUTOLOAD_MANIFEST_BYTES,
    })


@router.get("/{org}/console/exports/{export_id}/status.json")
def export_status(export_id: str, console: ReaderDep) -> Response:
    job = operations.get(console.runtime, console.org_id, export_id, access=console.export_access)
    return JSONResponse(_shown(console, job)["row"])


@router.post("/{org}/console/exports/{export_id}/cancel")
def cancel_export(export_id: str, console: WriterDep) -> Response:
    operations.cancel(console.runtime, console.org_id, export_id, principal=console.account_id)
    return RedirectResponse(f"{console.base}/exports/{export_id}", status_code=303)


@router.get("/{org}/console/exports/{export_id}/delete")
def confirm_delete(export_id: str, console: ReaderDep) -> Response:
    job = operations.get(console.runtime, console.org_id, export_id, access=console.export_access)
    return console.page("export_delete.html", _shown(console, job))


@router.post("/{org}/console/exports/{export_id}/delete")
def delete_export(export_id: str, console: WriterDep) -> Response:
    operations.delete(console.runtime, console.org_id, export_id, principal=console.account_id)
    return RedirectResponse(f"{console.base}/exports?notice=deleted", status_code=303)


@router.get("/{org}/console/exports/{export_id}/download")
def download_export(export_id: str, request: Request, console: ReaderDep) -> Response:
    """The archive, streamed with the API's download behaviour (Range, ETag), for this administrator."""
    archive = operations.download_archive(console.runtime, console.org_id, export_id,
                                          path=f"/exports/{export_id}/dataFile/content",
                                          principal=console.account_id, via="console")
    return download_response(request, Download(store=console.runtime.file_store, key=archive.key,
                                               size=archive.size, md5=archive.md5, mime=archive.mime,
                                               filename=archive.filename))


@router.get("/{org}/console/exports/{export_id}/manifest")
def manifest_page(export_id: str, request: Request, console: ReaderDep) -> Response:
    """The manifest and the archive's check: a page, or (``?fragment=1``) the part the export's page loads."""
    job = operations.get(console.runtime, console.org_id, export_id, access=console.export_access)
    checked = check_archive(console.runtime, console.org_id, export_id, console.account_id)
    template = "manifest_fragment.html" if request.query_params.get("fragment") == "1" else "manifest.html"
    return console.page(template, {**_shown(console, job), "checked": checked})


def _shown(console: Console, job: ExportJob) -> dict[str, Any]:
    with console.runtime.database.connect() as connection:
        principal = job.parameters.principal
        emails = account_emails(connection, console.org_id, [job.creator, *([principal] if principal else [])])
    return {
        "job": job,
        "row": export_row(job, console.base, emails),
        "shown": export_json(job, include_events=True),
        "principal_email": emails.get(principal or "", principal or ""),
        "ready": job.state is ExportState.READY,
    }


def _log_lines(console: Console, export_id: str) -> tuple[list[dict[str, Any]], bool]:
    """The export's log records (its afterScript's lines, its failure), oldest first."""
    query = LogQuery(where=orjson.dumps({"src_id": export_id}).decode(), sort="created", limit=LOG_LINES)
    with console.runtime.database.connect() as connection:
        records, more = list_logs(connection, console.org_id, query)
    return [log_row(record, console.base) for record in records], more
