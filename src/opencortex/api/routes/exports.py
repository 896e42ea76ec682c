"""``/exports``: create, list, read, change, cancel, delete exports and download their archives.

Each route parses the request, calls one export operation (``exports.operations``) and wraps what
comes back. Reads (the list, one export, a property path) show what the export's ACL lets the
caller read: every export to an administrator, one's own to anyone else. Creating, changing,
cancelling, deleting and downloading are for administrators only. Downloads stream the decrypted
archive with Range support; ``Accept: application/json`` returns the facet with a freshly minted
signed ``url`` instead.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from opencortex import faults
from opencortex.acl.viewer import Viewer
from opencortex.api.deps import AdministratorDep, JSONBodyDep, LoggedInDep, RuntimeDep
from opencortex.api.downloads import Download, download_response, register_signed_source, wants_json
from opencortex.api.form_body import RequestBodyDep
from opencortex.api.openapi import (
    EXPORT,
    FACET_SCHEMA,
    PROPERTY_VALUE,
    TRUE_RESULT,
    described,
    download_responses,
    json_body,
)
from opencortex.api.query_args import _integer, list_query_from, selection_from
from opencortex.api.query_arguments import LIST_ARGUMENTS, SELECTION_ARGUMENTS, accepts
from opencortex.api.responses import JSONBody, document, listing, result
from opencortex.api.schemas.envelopes import list_of, ref
from opencortex.attachments.signed_urls import signed_url
from opencortex.auth.principal import Caller
from opencortex.exports import operations
from opencortex.exports.jobs import ExportJob, export_json
from opencortex.exports.listing import ExportAccess
from opencortex.exports.operations import StoredDownload
from opencortex.exports.presentation import ExportSelection
from opencortex.exports.updates import parse_operations, parse_update
from opencortex.ids import ROLE_ADMINISTRATOR
from opencortex.instances.paths import read_path
from opencortex.runtime import Runtime

router = APIRouter()
FACET = "facet"


@router.get("/{org}/v2/exports", dependencies=[accepts(*LIST_ARGUMENTS, "state")], openapi_extra=described(
    "The exports the caller may read, newest first", list_of(EXPORT)))
def list_exports_route(request: Request, caller: LoggedInDep, runtime: RuntimeDep) -> Response:
    query = list_query_from(request)
    selection = ExportSelection.of(query.selection)
    total = _boolean(request.query_params.get("total"), "total")
    access, state = _access(caller), request.query_params.get("state") or None
    where, sort = _text(query.where), _text(query.sort)
    jobs, has_more = operations.list_exports(runtime, caller.org["id"], limit=query.limit, skip=query.skip,
                                             starting_after=query.starting_after, ending_before=query.ending_before,
                                             where=where, sort=sort, state=state, access=access)
    shown = _select(runtime, request, caller, jobs, selection)
    if not total:
        return listing(shown, has_more)
    counted = operations.count(runtime, caller.org["id"], where=where, state=state, access=access)
    return JSONBody({"object": "list", "data": shown, "hasMore": has_more, "total": counted})


@router.post("/{org}/v2/exports", dependencies=[accepts()], openapi_extra=described(
    "Queue an export (administrators): it is returned pending", EXPORT,
    body=json_body(ref("ExportCreate"), form=True, required=True)))
def create_export_route(request: Request, caller: AdministratorDep, runtime: RuntimeDep,
                        body: RequestBodyDep) -> Response:
    job = operations.create(runtime, caller.org, caller.principal.account_id, body.value, from_form=body.from_form)
    return document(_shown(runtime, request, caller, job, False))


@router.get("/{org}/v2/exports/{export_id}", dependencies=[accepts(*SELECTION_ARGUMENTS)],
            openapi_extra=described("An export", EXPORT))
def read_export_route(export_id: str, request: Request, caller: LoggedInDep, runtime: RuntimeDep) -> Response:
    selection = ExportSelection.of(selection_from(request))
    job = operations.get(runtime, caller.org["id"], export_id, access=_access(caller))
    return document(_select(runtime, request, caller, [job], selection)[0])


@router.put("/{org}/v2/exports/{export_id}", dependencies=[accepts()], openapi_extra=described(
    "Change an export's label or description (administrators)", EXPORT,
    body=json_body(ref("ExportUpdate"), form=True)))
def update_export_route(export_id: str, request: Request, caller: AdministratorDep, runtime: RuntimeDep,
                        body: RequestBodyDep) -> Response:
    """Changes ``label``/``description``; every other property is refused."""
    job = operations.update(runtime, caller.org["id"], export_id, parse_update(body.value),
                            principal=caller.principal.account_id)
    return document(_shown(runtime, request, caller, job, False))


@router.patch("/{org}/v2/exports/{export_id}", dependencies=[accepts()], openapi_extra=described(
    "Change an export's label or description with operations (administrators)", EXPORT,
    body=json_body(ref("PatchOperations"))))
def patch_export_route(export_id: str, request: Request, caller: AdministratorDep, runtime: RuntimeDep,
                       body: JSONBodyDep) -> Response:
    """Cortex's operations array (``set``/``unset``/``remove`` of ``label``/``description``)."""
    job = operations.update(runtime, caller.org["id"], export_id, parse_operations(body),
                            principal=caller.principal.account_id)
    return document(_shown(runtime, request, caller, job, False))


@router.post("/{org}/v2/exports/{export_id}/cancel", dependencies=[accepts()],
             openapi_extra=described("Cancel an export (administrators)", EXPORT))
def cancel_export_route(export_id: str, request: Request, caller: AdministratorDep, runtime: RuntimeDep) -> Response:
    job = operations.cancel(runtime, caller.org["id"], export_id, principal=caller.principal.account_id)
    return document(_shown(runtime, request, caller, job, False))


@router.delete("/{org}/v2/exports/{export_id}", dependencies=[accepts()], openapi_extra=described(
    "Delete an export and its archive (administrators)", TRUE_RESULT))
def delete_export_route(export_id: str, caller: AdministratorDep, runtime: RuntimeDep) -> Response:
    operations.delete(runtime, caller.org["id"], export_id, principal=caller.principal.account_id)
    return result(True)


@router.get("/{org}/v2/exports/{export_id}/dataFile", dependencies=[accepts()], openapi_extra=described(
    "The archive's facet, with a signed url (administrators)", FACET_SCHEMA))
def read_data_file(export_id: str, request: Request, caller: AdministratorDep, runtime: RuntimeDep) -> Response:
    job = operations.ready_export(runtime, caller.org["id"], export_id, path=f"/exports/{export_id}/dataFile")
    return document(_facet_with_url(runtime, request, caller.org, job, caller.principal.account_id))


@router.get("/{org}/v2/exports/{export_id}/dataFile/content", dependencies=[accepts()], openapi_extra=described(
    "Download the archive (administrators, or a signed link)",
    responses=download_responses(FACET_SCHEMA, "The zip archive; with Accept: application/json, its facet."),
    download=True, signed_link=True))
def download_data_file(export_id: str, request: Request, caller: AdministratorDep, runtime: RuntimeDep) -> Response:
    path = f"/exports/{export_id}/dataFile/content"
    if wants_json(request):
        job = operations.ready_export(runtime, caller.org["id"], export_id, path=path)
        return document(_facet_with_url(runtime, request, caller.org, job, caller.principal.account_id))
    archive = operations.download_archive(runtime, caller.org["id"], export_id, path=path,
                                          principal=caller.principal.account_id, via=caller.method)
    return download_response(request, _download(runtime, archive))


@router.get("/{org}/v2/exports/{export_id}/files", dependencies=[accepts("skip", "limit")], openapi_extra=described(
    "Files stored beside the archive (administrators)", list_of(FACET_SCHEMA, with_total=False),
    query={"skip": {"type": "integer", "minimum": 0, "maximum": 9_999_999_999},
           "limit": {"type": "integer", "minimum": 1, "maximum": 999}}))
def list_export_files(export_id: str, request: Request, caller: AdministratorDep, runtime: RuntimeDep) -> Response:
    """Files an export stored beside its archive (``exportFiles`` with ``zipFiles: false``)."""
    skip = _integer(request.query_params.get("skip"), "skip", 0, 9_999_999_999, default=0)
    limit = _integer(request.query_params.get("limit"), "limit", 1, 999, default=100)
    shown = [{**facet, "object": FACET} for facet in operations.stored_files(runtime, caller.org["id"], export_id)]
    return listing(shown[skip:skip + limit], len(shown) > skip + limit)


@router.get("/{org}/v2/exports/{export_id}/files/{number}", dependencies=[accepts()], openapi_extra=described(
    "Download a file stored beside the archive (administrators)",
    responses=download_responses(FACET_SCHEMA, "The file; with Accept: application/json, its facet."), download=True))
def download_export_file(export_id: str, number: str, request: Request, caller: AdministratorDep,
                         runtime: RuntimeDep) -> Response:
    if wants_json(request):
        return document({**operations.stored_file(runtime, caller.org["id"], export_id, number), "object": FACET})
    stored = operations.download_stored_file(runtime, caller.org["id"], export_id, number,
                                             principal=caller.principal.account_id)
    return download_response(request, _download(runtime, stored))


@router.get("/{org}/v2/exports/{export_id}/{path:path}", dependencies=[accepts()],
            openapi_extra=described("One property of an export (dataFile, dataFile/content and files are "
                                    "operations of their own)", PROPERTY_VALUE))
def read_export_property(export_id: str, path: str, request: Request, caller: LoggedInDep,
                         runtime: RuntimeDep) -> Response:
    """A property path of an export (``/exports/{id}/stats/docs/count``), in a result envelope
    (a list envelope for arrays), as instance property paths are answered."""
    parts = [part for part in path.split("/") if part]
    job = operations.get(runtime, caller.org["id"], export_id, access=_access(caller))
    value = read_path(_shown(runtime, request, caller, job, parts[:1] == ["events"]), parts)
    return listing(value, False) if isinstance(value, list) else result(value)


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


def _access(caller: Caller) -> ExportAccess:
    return ExportAccess.of(caller.principal.account_id, caller.principal.all_roles)


def _facet_with_url(runtime: Runtime, request: Request, org: dict[str, Any], job: ExportJob,
                    principal: str) -> dict[str, Any]:
    """The archive's facet (``object: "facet"``, as Cortex answers a facet), with a signed ``url``."""
    facet = {**(job.data_file or {}), "object": FACET}
    facet["url"] = signed_url(runtime.master_key, base_url=runtime.settings.public_base_url, org=org,
                              path=facet["path"], principal=principal,
                              lifetime_seconds=runtime.settings.signed_url_seconds)
    return facet


def _shown(runtime: Runtime, request: Request, caller: Caller, job: ExportJob, events: bool) -> dict[str, Any]:
    """The export; its ``dataFile`` carries a signed ``url`` minted for an administrator (only they
    download, so only they get one)."""
    shown = export_json(job, include_events=events)
    if "dataFile" in shown and caller.principal.has_role(ROLE_ADMINISTRATOR):
        facet = _facet_with_url(runtime, request, caller.org, job, caller.principal.account_id)
        facet.pop("object")  # inside the export the facet is a property value, as Cortex shows it
        shown["dataFile"] = facet
    return shown


def _select(runtime: Runtime, request: Request, caller: Caller, jobs: list[ExportJob],
            selection: ExportSelection) -> list[dict[str, Any]]:
    documents = [_shown(runtime, request, caller, job, selection.events) for job in jobs]
    return operations.select(runtime, caller.org["id"], documents, selection)


def _text(value: str | dict[str, Any] | None) -> str | None:
    """``where``/``sort`` as the request gave them (query arguments are text)."""
    return value if isinstance(value, str) or value is None else None


def _boolean(raw: str | None, name: str) -> bool:
    if raw is None or raw == "" or raw.lower() == "false":
        return False
    if raw.lower() == "true":
        return True
    raise faults.query_invalid(f"{name} must be true or false.", path=name)
