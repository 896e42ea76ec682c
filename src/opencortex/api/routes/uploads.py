"""Uploads over HTTP: the request body streams into the encrypted store, never into memory.

- ``POST /{org}/v2/uploads/{token}``: the target named in an ``uploads[]`` entry. The token is
  the credential (no app key needed), single use and expiring.
- ``POST|PUT /{org}/v2/{plural}/{id}/{fileProperty}``: a direct upload with the caller's
  credentials. ``PUT`` replaces the content; ``POST`` refuses when a file is already there.

The body is ``multipart/form-data`` with the file in a part named ``file``, or the raw bytes
with ``?filename=`` (or a ``Content-Disposition`` filename). A direct-upload route only matches
such bodies: a JSON body to the same path is an ordinary property write.

These routes take bodies beyond the general request limit: they set ``request.state.body_limit``
to None before reading (see ``BodyLimit``) and enforce ``max_upload_bytes`` themselves, from
``Content-Length`` before reading anything, and while reading (stopping at once).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.routing import APIRoute
from python_multipart.multipart import parse_options_header
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect
from starlette.responses import Response
from starlette.routing import Match
from starlette.types import Scope

from opencortex import faults
from opencortex.acl.viewer import Viewer
from opencortex.api.deps import CallerDep, OrgDep, RuntimeDep
from opencortex.api.openapi import FACET_SCHEMA, described, file_body
from opencortex.api.query_arguments import accepts
from opencortex.api.responses import document
from opencortex.attachments.facets import facet_json
from opencortex.attachments.multipart import MultipartFileReader, multipart_boundary
from opencortex.attachments.signed_urls import signed_url
from opencortex.attachments.uploads import FileUploads, UploadPlan, UploadSink, too_large
from opencortex.files.encrypted import StoredObject
from opencortex.model.objects import find_object
from opencortex.runtime import Runtime

UPLOAD_ARGUMENTS = ("filename",)  # a raw body's file name
BATCH_BYTES = 1024 * 1024  # body chunks are handed to a worker thread about this much at a time
MULTIPART_ALLOWANCE = 1024 * 1024  # boundaries, part headers and form fields around the file


def is_upload_body(content_type: str | None) -> bool:
    """A body that is a file rather than JSON: multipart, or any type but JSON and url-encoded forms."""
    if not content_type:
        return False
    kind = content_type.split(";", 1)[0].strip().lower()
    if not kind or kind in ("application/json", "application/x-www-form-urlencoded"):
        return False
    return not kind.endswith("+json")


class UploadRoute(APIRoute):
    """Matches only requests whose body is a file, so JSON writes keep their own routes."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        match, child = super().matches(scope)
        if match is Match.NONE:
            return match, child
        content_type = dict(scope.get("headers", [])).get(b"content-type", b"").decode("latin-1")
        return (match, child) if is_upload_body(content_type) else (Match.NONE, {})


router = APIRouter()
property_router = APIRouter(route_class=UploadRoute)


@router.post("/{org}/v2/uploads/{token}", dependencies=[accepts(*UPLOAD_ARGUMENTS)], openapi_extra=described(
    "Send an upload target's bytes: the facet, ready", FACET_SCHEMA, body=file_body(), credentials=False))
async def upload_to_target(token: str, request: Request, runtime: RuntimeDep, org: OrgDep) -> Response:
    request.state.body_limit = None  # this route enforces the upload limit itself
    uploads = FileUploads(runtime)
    plan = await run_in_threadpool(uploads.plan_target, org, token)
    plan, facet = await receive_upload(request, uploads, plan)
    return _facet_response(request, runtime, plan, facet)


# The direct uploads share their paths and methods with the instances routes, whose descriptions
# name these bodies (multipart, raw) and ``filename`` too.
@property_router.post("/{org}/v2/{plural}/{instance_id}/{path:path}", dependencies=[accepts(*UPLOAD_ARGUMENTS)],
                      include_in_schema=False)
async def upload_into_property(
    plural: str, instance_id: str, path: str, request: Request, runtime: RuntimeDep, caller: CallerDep
) -> Response:
    return await _direct_upload(
        request, runtime, caller.org, Viewer.of(caller.principal), plural, instance_id, path, replace=False
    )


@property_router.put("/{org}/v2/{plural}/{instance_id}/{path:path}", dependencies=[accepts(*UPLOAD_ARGUMENTS)],
                     include_in_schema=False)
async def replace_property_file(
    plural: str, instance_id: str, path: str, request: Request, runtime: RuntimeDep, caller: CallerDep
) -> Response:
    return await _direct_upload(
        request, runtime, caller.org, Viewer.of(caller.principal), plural, instance_id, path, replace=True
    )


async def _direct_upload(
    request: Request,
    runtime: Runtime,
    org: dict[str, Any],
    viewer: Viewer,
    plural: str,
    instance_id: str,
    path: str,
    *,
    replace: bool,
) -> Response:
    request.state.body_limit = None  # this route enforces the upload limit itself
    if plural in request.app.state.builtin_segments:
        raise faults.method_not_allowed()
    parts = [part for part in path.split("/") if part]
    if not parts:
        raise faults.route_not_found(path=path)
    uploads = FileUploads(runtime)
    plan = await run_in_threadpool(
        uploads.plan_direct, viewer, org, plural, instance_id, parts, replace=replace
    )
    plan, facet = await receive_upload(request, uploads, plan)
    return _facet_response(request, runtime, plan, facet, plural=plural)


def _facet_response(
    request: Request, runtime: Runtime, plan: UploadPlan, facet: dict[str, Any], plural: str | None = None
) -> Response:
    plural = plural or runtime_plural(runtime, plan)
    instance_path = f"/{plural}/{plan.instance_id}"
    url = signed_url(
        runtime.master_key,
        base_url=runtime.settings.public_base_url,
        org=plan.org,
        path=f"{instance_path}/{facet.get('path')}",
        principal=plan.principal,
        lifetime_seconds=runtime.settings.signed_url_seconds,
    )
    return document(facet_json(facet, instance_path, url))


def runtime_plural(runtime: Runtime, plan: UploadPlan) -> str:
    with runtime.database.connect() as connection:
        definition = find_object(connection, plan.org["id"], plan.object_name)
    return definition.plural_name if definition is not None else plan.object_name


# Receiving


async def receive_upload(
    request: Request, uploads: FileUploads, plan: UploadPlan
) -> tuple[UploadPlan, dict[str, Any]]:
    """Stream the body into the store, then complete the upload; returns the plan and the facet."""
    content_type = request.headers.get("content-type", "")
    boundary = multipart_boundary(content_type)
    declared = _content_length(request)
    allowance = MULTIPART_ALLOWANCE if boundary is not None else 0
    if declared is not None and declared > plan.max_bytes + allowance:
        raise too_large(plan.max_bytes)  # before a byte is read, and before a target is claimed
    receiver = _Receiver(
        uploads, plan, boundary, declared if boundary is None else None, _raw_filename(request), content_type
    )
    try:
        if boundary is None:
            await run_in_threadpool(receiver.open_raw)
        batch = bytearray()
        received = 0
        try:
            async for chunk in request.stream():
                received += len(chunk)
                if received > plan.max_bytes + allowance:
                    raise too_large(plan.max_bytes)
                batch += chunk
                if len(batch) >= BATCH_BYTES:
                    data = bytes(batch)
                    batch.clear()
                    await run_in_threadpool(receiver.feed, data)
        except ClientDisconnect:
            raise faults.upload_invalid("The client went away before the upload was complete.") from None
        stored = await run_in_threadpool(receiver.finish, bytes(batch))
        facet, released = await run_in_threadpool(uploads.complete, receiver.plan, stored)
    except BaseException as error:
        await run_in_threadpool(receiver.abort, error)
        raise
    await run_in_threadpool(uploads.delete_stored, released)
    return receiver.plan, facet


class _Receiver:
    """The synchronous side of one upload, run in worker threads: parsing, checks, storing."""

    def __init__(
        self,
        uploads: FileUploads,
        plan: UploadPlan,
        boundary: bytes | None,
        declared: int | None,
        filename: str | None,
        content_type: str,
    ) -> None:
        self.uploads = uploads
        self.plan = plan
        self.claimed = False  # bytes may have been stored: a failure from here on is the facet's
        self.sink: UploadSink | None = None
        self._declared = declared
        self._filename = filename
        self._content_type = content_type
        self._parser = MultipartFileReader(boundary, self._open) if boundary is not None else None

    def open_raw(self) -> None:
        self._open(self._filename, self._content_type)

    def _open(self, filename: str | None, content_type: str | None) -> UploadSink:
        self.plan, self.sink = self.uploads.open_sink(self.plan, filename, content_type, self._declared)
        self.claimed = True
        return self.sink

    def feed(self, data: bytes) -> None:
        if self._parser is not None:
            self._parser.feed(data)
        elif data:
            assert self.sink is not None
            self.sink.write(data)

    def finish(self, data: bytes) -> StoredObject:
        self.feed(data)
        if self._parser is not None:
            self._parser.finish()
        assert self.sink is not None
        return self.sink.commit()

    def abort(self, error: BaseException) -> None:
        if self.sink is not None:
            self.sink.abort()
        if self.claimed:
            fault = error if isinstance(error, faults.Fault) else faults.server_error("The upload failed.")
            self.uploads.fail(self.plan, fault)


def _content_length(request: Request) -> int | None:
    value = request.headers.get("content-length")
    return int(value) if value is not None and value.isdigit() else None


def _raw_filename(request: Request) -> str | None:
    """A raw body's filename: ``?filename=``, else the request's Content-Disposition."""
    if request.query_params.get("filename"):
        return request.query_params["filename"]
    _kind, options = parse_options_header(request.headers.get("content-disposition", ""))
    raw = options.get(b"filename")
    if raw is None:
        return None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")
