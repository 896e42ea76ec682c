"""``/exports``: create, list, read, cancel, delete exports and download their archives.

Administrators only, on every route. Each route parses the request, calls one export operation
(``exports.operations``) and wraps what comes back. Downloads stream the decrypted archive with
Range support; ``Accept: application/json`` returns the facet with a freshly minted signed
``url`` instead.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from opencortex import faults
from opencortex.acl.viewer import Viewer
from opencortex.api.deps import AdministratorDep, JSONBodyDep, RuntimeDep
from opencortex.api.downloads import Download, download_response, register_signed_source, wants_json
from opencortex.api.paging import parse_cursor
from opencortex.api.query_args import _integer
from opencortex.api.responses import document, listing, result
from opencortex.attachments.signed_urls import signed_url
from opencortex.exports import operations
from opencortex.exports.jobs import ExportJob, export_json
from opencortex.exports.operations import StoredDownload
from opencortex.ids import ROLE_ADMINISTRATOR
from opencortex.runtime import Runtime

router = APIRouter()


@router.get("/{org}/v2/exports")
def list_exports_route(request: Request, caller: AdministratorDep, runtime: RuntimeDep) -> Response:
    arguments = request.query_params
    limit = _integer(arguments.get("limit"), "limit", 1, 1000, default=100)
    skip = _integer(arguments.get("skip"), "skip", 0, 500_000, default=0)
    starting_after = parse_cursor(arguments.get("startingAfter"), "startingAfter")
    jobs, has_more = operations.list_exports(runtime, caller.org["id"], limit=limit, skip=skip,
                                             starting_after=starting_after, state=arguments.get("state"))
    events = _wants_events(request)
    return listing([_shown(runtime, request, caller.org, job, events) for job in jobs], has_more)


@router.post("/{org}/v2/exports")
def create_export_route(request: Request, caller: AdministratorDep, runtime: RuntimeDep,
                        body: JSONBodyDep) -> Response:
    job = operations.create(runtime, caller.org, caller.principal.account_id, body)
    return document(_shown(runtime, request, caller.org, job, False))


@router.get("/{org}/v2/exports/{export_id}")
def read_export_route(export_id: str, request: Request, caller: AdministratorDep, runtime: RuntimeDep) -> Response:
    job = operations.get(runtime, caller.org["id"], export_id)
    return document(_shown(runtime, request, caller.org, job, _wants_events(request)))


@router.post("/{org}/v2/exports/{export_id}/cancel")
def cancel_export_route(export_id: str, request: Request, caller: AdministratorDep, runtime: RuntimeDep) -> Response:
    job = operations.cancel(runtime, caller.org["id"], export_id, principal=caller.principal.account_id)
    return document(_shown(runtime, request, caller.org, job, False))


@router.delete("/{org}/v2/exports/{export_id}")
def delete_export_route(export_id: str, caller: AdministratorDep, runtime: RuntimeDep) -> Response:
    operations.delete(runtime, caller.org["id"], export_id, principal=caller.principal.account_id)
    return result(True)


@router.get("/{org}/v2/exports/{export_id}/dataFile")
def read_data_file(export_id: str, request: Request, caller: AdministratorDep, runtime: RuntimeDep) -> Response:
    job = operations.ready_export(runtime, caller.org["id"], export_id, path=f"/exports/{export_id}/dataFile")
    return document(_facet_with_url(runtime, request, caller.org, job, caller.principal.account_id))


@router.get("/{org}/v2/exports/{export_id}/dataFile/content")
def download_data_file(export_id: str, request: Request, caller: AdministratorDep, runtime: RuntimeDep) -> Response:
    path = f"/exports/{export_id}/dataFile/content"
    if wants_json(request):
        job = operations.ready_export(runtime, caller.org["id"], export_id, path=path)
        return document(_facet_with_url(runtime, request, caller.org, job, caller.principal.account_id))
    archive = operations.download_archive(runtime, caller.org["id"], export_id, path=path,
                                          principal=caller.principal.account_id, via=caller.method)
    return download_response(request, _download(runtime, archive))


@router.get("/{org}/v2/exports/{export_id}/files")
def list_export_files(export_id: str, request: Request, caller: AdministratorDep, runtime: RuntimeDep) -> Response:
    """Files an export stored beside its archive (``exportFiles`` with ``zipFiles: false``)."""
    skip = _integer(request.query_params.get("skip"), "skip", 0, 9_999_999_999, default=0)
    limit = _integer(request.query_params.get("limit"), "limit", 1, 999, default=100)
    shown = operations.stored_files(runtime, caller.org["id"], export_id)
    return listing(shown[skip:skip + limit], len(shown) > skip + limit)


@router.get("/{org}/v2/exports/{export_id}/files/{number}")
def download_export_file(export_id: str, number: str, request: Request, caller: AdministratorDep,
                         runtime: RuntimeDep) -> Response:
    if wants_json(request):
        return document(operations.stored_file(runtime, caller.org["id"], export_id, number))
    stored = operations.download_stored_file(runtime, caller.org["id"], export_id, number,
                                             principal=caller.principal.account_id)
    return download_response(request, _download(runtime, stored))


def _download(runtime: Runtime, stored: StoredDownload) -> Download:
    return Download(store=runtime.file_store, key=stored.key, size=stored.size, md5=stored.md5, mime=stored.mime,
                    filename=stored.filename)


def _resolve_signed(runtime: Runtime, org: dict[str, Any], parts: list[str], viewer: Viewer) -> Download:
    """A signed link to ``/exports/<id>/dataFile/content``: valid only for an administrator."""
    if len(parts) != 4 or parts[0] != "exports" or parts[2:] != ["dataFile", "content"]:
        raise faults.route_not_found(path="/" + "/".join(parts))
    if ROLE_ADMINISTRATOR not in viewer.roles:
        raise faults.access_denied("Administrators only.")
    archive = operations.download_archive(runtime, org["id"], parts[1], path="/" + "/".join(parts),
                                          principal=viewer.account_id, via="signed-url")
    return _download(runtime, archive)


register_signed_source("exports", _resolve_signed)


def _facet_with_url(runtime: Runtime, request: Request, org: dict[str, Any], job: ExportJob,
                    principal: str) -> dict[str, Any]:
    facet = dict(job.data_file or {})
    facet["url"] = signed_url(runtime.master_key, base_url=str(request.base_url), org=org, path=facet["path"],
                              principal=principal, lifetime_seconds=runtime.settings.signed_url_seconds)
    return facet


def _shown(runtime: Runtime, request: Request, org: dict[str, Any], job: ExportJob, events: bool) -> dict[str, Any]:
    """The export, its ``dataFile`` carrying a signed ``url`` minted for the caller."""
    shown = export_json(job, include_events=events)
    if "dataFile" in shown:
        principal = request.state.caller.principal.account_id
        shown["dataFile"] = _facet_with_url(runtime, request, org, job, principal)
    return shown


def _wants_events(request: Request) -> bool:
    values = request.query_params.getlist("include[]") + request.query_params.getlist("include")
    return any("events" in value for value in values)
