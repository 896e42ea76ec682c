"""``/exports``: create, list, read, cancel, delete exports and download their archives.

Administrators only, on every route. Downloads stream the decrypted archive with Range support;
``Accept: application/json`` returns the facet with a freshly minted signed ``url`` instead.
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
from opencortex.exports import service
from opencortex.exports.jobs import READY, export_json
from opencortex.ids import ROLE_ADMINISTRATOR
from opencortex.runtime import Runtime
from opencortex.store.audit import record_audit

router = APIRouter()


@router.get("/{org}/v2/exports")
def list_exports_route(request: Request, caller: AdministratorDep, runtime: RuntimeDep) -> Response:
    arguments = request.query_params
    limit = _integer(arguments.get("limit"), "limit", 1, 1000, default=100)
    skip = _integer(arguments.get("skip"), "skip", 0, 500_000, default=0)
    starting_after = parse_cursor(arguments.get("startingAfter"), "startingAfter")
    with runtime.database.connect() as connection:
        rows, has_more = service.list_exports(connection, caller.org["id"], limit=limit, skip=skip,
                                              starting_after=starting_after, state=arguments.get("state"))
    events = _wants_events(request)
    return listing([_shown(runtime, request, caller.org, row, events) for row in rows], has_more)


@router.post("/{org}/v2/exports")
def create_export_route(request: Request, caller: AdministratorDep, runtime: RuntimeDep,
                        body: JSONBodyDep) -> Response:
    with runtime.database.begin() as connection:
        row = service.create(connection, runtime, caller.org, caller.principal.account_id, body)
        record_audit(connection, caller.org["id"], "export.create", f"/exports/{row['id']}",
                     principal=caller.principal.account_id, details={"objects": row["params"]["objects"]})
    return document(_shown(runtime, request, caller.org, row, False))


@router.get("/{org}/v2/exports/{export_id}")
def read_export_route(export_id: str, request: Request, caller: AdministratorDep, runtime: RuntimeDep) -> Response:
    with runtime.database.connect() as connection:
        row = service.get_export(connection, caller.org["id"], export_id)
    return document(_shown(runtime, request, caller.org, row, _wants_events(request)))


@router.post("/{org}/v2/exports/{export_id}/cancel")
def cancel_export_route(export_id: str, request: Request, caller: AdministratorDep, runtime: RuntimeDep) -> Response:
    with runtime.database.begin() as connection:
        row = service.request_cancel(connection, caller.org["id"], export_id)
        record_audit(connection, caller.org["id"], "export.cancel", f"/exports/{export_id}",
                     principal=caller.principal.account_id)
    return document(_shown(runtime, request, caller.org, row, False))


@router.delete("/{org}/v2/exports/{export_id}")
def delete_export_route(export_id: str, caller: AdministratorDep, runtime: RuntimeDep) -> Response:
    service.delete(runtime, caller.org["id"], export_id, principal=caller.principal.account_id)
    return result(True)


@router.get("/{org}/v2/exports/{export_id}/dataFile")
def read_data_file(export_id: str, request: Request, caller: AdministratorDep, runtime: RuntimeDep) -> Response:
    with runtime.database.connect() as connection:
        row = service.get_export(connection, caller.org["id"], export_id)
    if row["state"] != READY or row["data_file"] is None:
        raise faults.export_not_ready(path=f"/exports/{export_id}/dataFile")
    return document(_facet_with_url(runtime, request, caller.org, row, caller.principal.account_id))


@router.get("/{org}/v2/exports/{export_id}/dataFile/content")
def download_data_file(export_id: str, request: Request, caller: AdministratorDep, runtime: RuntimeDep) -> Response:
    with runtime.database.connect() as connection:
        row = service.get_export(connection, caller.org["id"], export_id)
    if row["state"] != READY or row["data_file"] is None:
        raise faults.export_not_ready(path=f"/exports/{export_id}/dataFile/content")
    if wants_json(request):
        return document(_facet_with_url(runtime, request, caller.org, row, caller.principal.account_id))
    with runtime.database.begin() as connection:
        record_audit(connection, caller.org["id"], "export.download", f"/exports/{export_id}/dataFile/content",
                     principal=caller.principal.account_id, details={"via": caller.method})
    return download_response(request, _download(runtime, row))


@router.get("/{org}/v2/exports/{export_id}/files")
def list_export_files(export_id: str, request: Request, caller: AdministratorDep, runtime: RuntimeDep) -> Response:
    """Files an export stored beside its archive (``exportFiles`` with ``zipFiles: false``)."""
    skip = _integer(request.query_params.get("skip"), "skip", 0, 9_999_999_999, default=0)
    limit = _integer(request.query_params.get("limit"), "limit", 1, 999, default=100)
    with runtime.database.connect() as connection:
        row = service.get_export(connection, caller.org["id"], export_id)
    shown = export_json(row).get("files") or []
    return listing(shown[skip:skip + limit], len(shown) > skip + limit)


@router.get("/{org}/v2/exports/{export_id}/files/{number}")
def download_export_file(export_id: str, number: str, request: Request, caller: AdministratorDep,
                         runtime: RuntimeDep) -> Response:
    if len(number) != 10 or not number.isdigit():
        raise faults.invalid_argument("invalid file specification", path=number)
    with runtime.database.connect() as connection:
        row = service.get_export(connection, caller.org["id"], export_id)
    facet = next((item for item in row["files"] or [] if item["name"] == number), None)
    if facet is None:
        raise faults.file_not_found("File not found.", path=f"/exports/{export_id}/files/{number}")
    if wants_json(request):
        return document({key: value for key, value in facet.items() if key != "key"})
    with runtime.database.begin() as connection:
        record_audit(connection, caller.org["id"], "export.file.download", facet["path"],
                     principal=caller.principal.account_id)
    store = runtime.file_store
    return download_response(request, Download(store=store, key=facet["key"], size=facet["size"], md5=facet["ETag"],
                                               mime=facet["mime"] or "application/octet-stream",
                                               filename=f"{number}{facet['originalPath']}"))


def _download(runtime: Runtime, row: dict[str, Any]) -> Download:
    facet = row["data_file"]
    return Download(store=runtime.file_store, key=service.archive_key(row["id"], row["attempts"]),
                    size=facet["size"], md5=facet["ETag"], mime=facet["mime"], filename=facet["filename"])


def _resolve_signed(runtime: Runtime, org: dict[str, Any], parts: list[str], viewer: Viewer) -> Download:
    """A signed link to ``/exports/<id>/dataFile/content``: valid only for an administrator."""
    if len(parts) != 4 or parts[0] != "exports" or parts[2:] != ["dataFile", "content"]:
        raise faults.route_not_found(path="/" + "/".join(parts))
    if ROLE_ADMINISTRATOR not in viewer.roles:
        raise faults.access_denied("Administrators only.")
    with runtime.database.begin() as connection:
        row = service.get_export(connection, org["id"], parts[1])
        if row["state"] != READY or row["data_file"] is None:
            raise faults.export_not_ready(path="/" + "/".join(parts))
        record_audit(connection, org["id"], "export.download", "/" + "/".join(parts), principal=viewer.account_id,
                     details={"via": "signed-url"})
    return _download(runtime, row)


register_signed_source("exports", _resolve_signed)


def _facet_with_url(runtime: Runtime, request: Request, org: dict[str, Any], row: dict[str, Any],
                    principal: str) -> dict[str, Any]:
    facet = dict(row["data_file"])
    facet["url"] = signed_url(runtime.master_key, base_url=str(request.base_url), org=org, path=facet["path"],
                              principal=principal, lifetime_seconds=runtime.settings.signed_url_seconds)
    return facet


def _shown(runtime: Runtime, request: Request, org: dict[str, Any], row: dict[str, Any],
           events: bool) -> dict[str, Any]:
    """The export, its ``dataFile`` carrying a signed ``url`` minted for the caller."""
    shown = export_json(row, include_events=events)
    if "dataFile" in shown:
        principal = request.state.caller.principal.account_id
        shown["dataFile"] = _facet_with_url(runtime, request, org, row, principal)
    return shown


def _wants_events(request: Request) -> bool:
    values = request.query_params.getlist("include[]") + request.query_params.getlist("include")
    return any("events" in value for value in values)
