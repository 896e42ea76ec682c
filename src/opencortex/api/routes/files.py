"""Reading files: File property paths, facet downloads, signed links, and the org's storage figures.

- ``GET /{plural}/{id}/{fileProperty}``: the property's value (root facet and ``facets``) with
  full paths and, for ready facets, a signed ``url``. (Called from the instances routes.)
- ``GET /{plural}/{id}/{fileProperty}/{facet}``: the facet's bytes, streamed (see
  ``api.downloads``); with ``Accept: application/json...``, the facet as JSON with its ``url``.
  A pending facet is the 202 fault ``kMediaNotReady``. Never a redirect.
- ``GET /{org}/v2/{path}?expires=..&principal=..&signature=..``: a signed link, which needs no
  other credentials. It always streams the bytes; each use is logged and audited.
- ``GET /{org}/v2/stats/storage``: the org's storage use and limit (administrators).
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Request
from fastapi.routing import APIRoute
from starlette.responses import Response
from starlette.routing import Match
from starlette.types import Scope

from opencortex import faults
from opencortex.acl.viewer import Viewer, as_principal
from opencortex.api.deps import AdministratorDep, OrgDep, RuntimeDep
from opencortex.api.downloads import SIGNED_SOURCES, Download, download_response, wants_json
from opencortex.api.openapi import described
from opencortex.api.query_arguments import SIGNED_LINK_ARGUMENTS, accepts
from opencortex.api.responses import document, result
from opencortex.api.schemas.envelopes import ref
from opencortex.attachments.attachments import FileAttachments
from opencortex.attachments.facets import facet_json, find_facet, property_json, require_ready, storage_key
from opencortex.attachments.signed_urls import signed_url, verify
from opencortex.auth.principal import Caller
from opencortex.files.accounting import storage_usage
from opencortex.instances.selection import Selection
from opencortex.instances.service import Instances
from opencortex.model.definitions import ObjectDefinition
from opencortex.model.objects import find_object
from opencortex.runtime import Runtime
from opencortex.store.audit import SIGNED_DOWNLOAD, record_audit

log = logging.getLogger("opencortex.files")


class SignedRoute(APIRoute):
    """Matches only requests that carry a link signature, so that they bypass the credential checks
    of whatever route would otherwise serve the path; nothing else ever reaches it."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        match, child = super().matches(scope)
        if match is Match.NONE:
            return match, child
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        return (match, child) if "signature" in query else (Match.NONE, {})


router = APIRouter()
signed_router = APIRouter(route_class=SignedRoute)


@router.get("/{org}/v2/stats/storage", dependencies=[accepts()],
            openapi_extra=described("The org's storage use and limit (administrators)", ref("Storage")))
def storage_stats(caller: AdministratorDep, runtime: RuntimeDep) -> Response:
    with runtime.database.connect() as connection:
        usage = storage_usage(connection, runtime.settings, caller.org["id"])
    return document(usage.to_json())


# Not in the OpenAPI document as a path of its own: the paths a link points at list its arguments.
@signed_router.get("/{org}/v2/{path:path}", dependencies=[accepts(*SIGNED_LINK_ARGUMENTS)], include_in_schema=False)
def signed_download(path: str, request: Request, runtime: RuntimeDep, org: OrgDep) -> Response:
    link_path = "/" + path.strip("/")
    try:
        link = verify(runtime.master_key, org["id"], link_path, request.query_params)
    except faults.Fault as fault:
        log.warning("signed link refused: org=%s path=%s (%s)", org["code"], link_path, fault.err_code)
        raise
    parts = link.path.strip("/").split("/")
    with runtime.database.connect() as connection:
        viewer = as_principal(connection, org["id"], link.principal)
    resolve = SIGNED_SOURCES.get(parts[0])
    download = (
        resolve(runtime, org, parts, viewer)
        if resolve is not None
        else _signed_facet(runtime, org, parts, viewer)
    )
    log.info("signed download: org=%s principal=%s path=%s", org["code"], link.principal, link.path)
    with runtime.database.begin() as connection:
        record_audit(
            connection,
            org["id"],
            SIGNED_DOWNLOAD,
            link.path,
            principal=link.principal,
            details={"range": request.headers.get("range"), "expires": link.expires},
        )
    return download_response(request, download)


def _signed_facet(runtime: Runtime, org: dict[str, Any], parts: list[str], viewer: Viewer) -> Download:
    if len(parts) < 4:
        raise faults.route_not_found(path="/" + "/".join(parts))
    with runtime.database.connect() as connection:
        definition = find_object(connection, org["id"], parts[0])
        if definition is None or definition.plural_name != parts[0]:
            raise faults.route_not_found(f"No object has the plural name {parts[0]!r}.", path=parts[0])
        instances = Instances(connection, runtime.database.dialect, org["id"], definition, viewer)
        property_path, rest = split_file_path(definition, parts[2:])
        if property_path is None or len(rest) != 1:
            raise faults.facet_not_found(path="/".join(parts[2:]))
        value = _file_value(instances, parts[1], property_path)
    facet = _facet(value, rest[0], f"{property_path}.{rest[0]}")
    require_ready(facet, f"{property_path}.{rest[0]}")
    return facet_download(runtime, org["id"], facet)


# Reads through the instances routes


def split_file_path(definition: ObjectDefinition, parts: list[str]) -> tuple[str | None, list[str]]:
    """``[c_doc, c_scan, content]`` -> ``("c_doc.c_scan", ["content"])`` if c_doc.c_scan is a File."""
    for end in range(1, len(parts) + 1):
        prop = definition.find_property(".".join(parts[:end]))
        if prop is None:
            break
        if prop.type_name == "File":
            return ".".join(parts[:end]), parts[end:]
    return None, parts


def is_file_path(definition: ObjectDefinition, parts: list[str]) -> bool:
    return split_file_path(definition, parts)[0] is not None


def read_file(
    request: Request,
    runtime: Runtime,
    caller: Caller,
    instances: Instances,
    plural: str,
    instance_id: str,
    parts: list[str],
) -> Response:
    """``GET /{plural}/{id}/{fileProperty}[/{facet}]`` as the caller (whose ACL ``instances`` has)."""
    property_path, rest = split_file_path(instances.definition, parts)
    assert property_path is not None
    if len(rest) > 1:
        raise faults.facet_not_found(path="/".join(parts))
    value = _file_value(instances, instance_id, property_path)
    instance_path = f"/{plural}/{instance_id}"

    def url_for(facet: dict[str, Any]) -> str:
        return signed_url(
            runtime.master_key,
            base_url=runtime.settings.public_base_url,
            org=caller.org,
            path=f"{instance_path}/{facet.get('path')}",
            principal=caller.principal.account_id,
            lifetime_seconds=runtime.settings.signed_url_seconds,
        )

    if not rest:
        return result(property_json(value, instance_path, url_for))
    facet = _facet(value, rest[0], f"{property_path}.{rest[0]}")
    require_ready(facet, f"{property_path}.{rest[0]}")
    if wants_json(request):
        return document(facet_json(facet, instance_path, url_for(facet)))
    return download_response(request, facet_download(runtime, caller.org["id"], facet))


def facet_download(runtime: Runtime, org_id: str, facet: dict[str, Any]) -> Download:
    return Download(
        store=runtime.file_store,
        key=storage_key(org_id, facet["storageId"]),
        size=int(facet["size"]),
        md5=str(facet["ETag"]),
        mime=str(facet.get("mime") or "application/octet-stream"),
        filename=str(facet.get("filename") or facet.get("name") or "download"),
    )


def _file_value(instances: Instances, instance_id: str, property_path: str) -> dict[str, Any]:
    """The File value as the viewer may read it (through the read API's ACL)."""
    top = property_path.split(".")[0]
    document_ = instances.get(instance_id, Selection(paths=((top,),), include=frozenset({top})))
    value: Any = document_
    for part in property_path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    if not isinstance(value, dict):
        raise faults.property_not_found(path=property_path)
    return value


def _facet(value: dict[str, Any], name: str, path: str) -> dict[str, Any]:
    facet = find_facet(value, name)
    if facet is None:
        raise faults.facet_not_found(path=path)
    return facet


def file_attachments(request: Request, runtime: Runtime, caller: Caller) -> FileAttachments:
    """For the instances routes: what their writes and deletes mean for files (see ``attachments``)."""
    return FileAttachments(runtime, runtime.settings.public_base_url, caller.org)
