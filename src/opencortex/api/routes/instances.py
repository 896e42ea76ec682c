"""``/{plural}``: instances of custom objects, their properties, and array push/pull.

Registered last: any first path segment that no other route claims is taken as an object's
plural name. Every handler goes through ``Instances``, where access control lives.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import replace
from typing import Any

from fastapi import APIRouter, Request
from sqlalchemy import Connection
from starlette.responses import Response, StreamingResponse

from opencortex import faults
from opencortex.acl.viewer import Viewer
from opencortex.api.deps import CallerDep, JSONBodyDep, RuntimeDep
from opencortex.api.openapi import (
    FACET_SCHEMA,
    INSTANCE,
    LIST_WITH_NDJSON,
    PROPERTY_READ,
    TRUE_RESULT,
    described,
    file_body,
    json_body,
)
from opencortex.api.query_args import NDJSON, ListArguments, list_arguments, selection_from
from opencortex.api.query_arguments import LIST_ARGUMENTS, SELECTION_ARGUMENTS, accepts, refuse_unknown
from opencortex.api.responses import JSONBody, document, listing, result
from opencortex.api.routes.files import file_attachments, is_file_path, read_file
from opencortex.api.routes.uploads import UPLOAD_ARGUMENTS
from opencortex.api.schemas.envelopes import ANY_JSON, ref, result_of
from opencortex.auth.principal import Caller
from opencortex.instances.aggregate import prepare_aggregation
from opencortex.instances.list_source import list_source
from opencortex.instances.patch import Operation, apply_operations, parse_operations, push_operations
from opencortex.instances.paths import read_path
from opencortex.instances.selection import Selection
from opencortex.instances.serialise import SYSTEM_PROPERTIES
from opencortex.instances.service import Instances
from opencortex.instances.streaming import ndjson_lines, stream_list
from opencortex.model.objects import find_object
from opencortex.runtime import Runtime

router = APIRouter()


@contextmanager
def instances_of(request: Request, runtime: Runtime, caller: Caller, plural: str, *, write: bool
                 ) -> Iterator[Instances]:
    if plural in request.app.state.builtin_segments:
        raise faults.method_not_allowed()  # a built-in route exists, just not for this method
    transaction = runtime.database.begin() if write else runtime.database.connect()
    with transaction as connection:
        yield _service(runtime, connection, caller, plural)


def _service(runtime: Runtime, connection: Connection, caller: Caller, plural: str) -> Instances:
    definition = find_object(connection, caller.org["id"], plural)
    if definition is None or definition.plural_name != plural:
        raise faults.route_not_found(f"No object has the plural name {plural!r}.", path=plural)
    return Instances(connection, runtime.database.dialect, caller.org["id"], definition, Viewer.of(caller.principal))


@router.get("/{org}/v2/{plural}", dependencies=[accepts(*LIST_ARGUMENTS, "pipeline")], openapi_extra=described(
    "An object's instances the caller may read, newest first (or a pipeline's records)",
    responses=LIST_WITH_NDJSON))
def list_instances(plural: str, request: Request, caller: CallerDep, runtime: RuntimeDep) -> Response:
    arguments = list_arguments(request)
    if arguments.stream:
        return _stream(request, runtime, caller, plural, lambda instances: _batches(instances, arguments))
    with instances_of(request, runtime, caller, plural, write=False) as instances:
        return _list_response(instances, arguments)


def _list_response(instances: Instances, arguments: ListArguments, where: dict[str, Any] | None = None) -> Response:
    """A page of the list (or of its pipeline), with ``total`` when asked."""
    query = arguments.query
    if arguments.pipeline is not None:
        aggregation = prepare_aggregation(instances, arguments.pipeline, selection=query.selection, where=where)
        data, has_more = aggregation.page(query.skip, query.limit)
        total = aggregation.total() if arguments.total else None
    else:
        data, has_more = instances.list_page(query)
        total = instances.total(query) if arguments.total else None
    if total is None:
        return listing(data, has_more)
    return JSONBody({"object": "list", "data": data, "hasMore": has_more, "total": total})


def _batches(instances: Instances, arguments: ListArguments, where: dict[str, Any] | None = None
             ) -> Iterator[list[Any]]:
    """A streamed list's items in batches; everything is checked before the first is read."""
    if arguments.total:
        raise faults.query_invalid("total is not part of a streamed (NDJSON) list.", path="total")
    query = arguments.query
    if arguments.pipeline is not None:
        aggregation = prepare_aggregation(instances, arguments.pipeline, selection=query.selection, where=where)
        return aggregation.batches(query.skip, arguments.stream_limit)
    return stream_list(instances, query, arguments.stream_limit)


def _stream(request: Request, runtime: Runtime, caller: Caller, plural: str,
            batches_of: Callable[[Instances], Iterator[list[Any]]]) -> Response:
    """An NDJSON response over one read transaction, which stays open while the body streams."""
    if plural in request.app.state.builtin_segments:
        raise faults.method_not_allowed()
    resources = ExitStack()
    try:
        connection = resources.enter_context(runtime.database.connect())
        resources.enter_context(connection.begin())
        batches = batches_of(_service(runtime, connection, caller, plural))
    except BaseException:
        resources.close()
        raise
    return StreamingResponse(_closing(ndjson_lines(batches), resources), media_type=NDJSON)


def _closing(lines: Iterator[bytes], resources: ExitStack) -> Iterator[bytes]:
    try:
        yield from lines
    finally:
        resources.close()


@router.post("/{org}/v2/{plural}", dependencies=[accepts()], openapi_extra=described(
    "Create an instance", INSTANCE, body=json_body(ref("InstanceBody"))))
def create_instance(plural: str, request: Request, caller: CallerDep, runtime: RuntimeDep,
                    body: JSONBodyDep) -> Response:
    files = file_attachments(request, runtime, caller)
    with instances_of(request, runtime, caller, plural, write=True) as instances:
        created = instances.create(body)
        created = files.after_write(instances, created["_id"], body, created)
    files.finish()
    return document(created)


@router.get("/{org}/v2/{plural}/{instance_id}", dependencies=[accepts(*SELECTION_ARGUMENTS)],
            openapi_extra=described("An instance", INSTANCE))
def read_instance(plural: str, instance_id: str, request: Request, caller: CallerDep,
                  runtime: RuntimeDep) -> Response:
    selection = selection_from(request)
    with instances_of(request, runtime, caller, plural, write=False) as instances:
        return document(instances.get(instance_id, selection))


@router.put("/{org}/v2/{plural}/{instance_id}", dependencies=[accepts()], openapi_extra=described(
    "Change an instance's properties", INSTANCE, body=json_body(ref("InstanceBody"))))
def update_instance(plural: str, instance_id: str, request: Request, caller: CallerDep, runtime: RuntimeDep,
                    body: JSONBodyDep) -> Response:
    files = file_attachments(request, runtime, caller)
    with instances_of(request, runtime, caller, plural, write=True) as instances:
        updated = files.after_write(instances, instance_id, body, instances.update(instance_id, body))
    files.finish()
    return document(updated)


@router.patch("/{org}/v2/{plural}/{instance_id}", dependencies=[accepts()], openapi_extra=described(
    "Change an instance with operations, all or nothing", INSTANCE, body=json_body(ref("PatchOperations"))))
def patch_instance(plural: str, instance_id: str, request: Request, caller: CallerDep, runtime: RuntimeDep,
                   body: JSONBodyDep) -> Response:
    return _patch(request, runtime, caller, plural, instance_id, parse_operations(_operations(body)))


@router.post("/{org}/v2/{plural}/{instance_id}", dependencies=[accepts()], openapi_extra=described(
    "Push elements onto array properties", INSTANCE,
    body=json_body({"type": "object", "description": "{array property: element or elements, ...}"})))
def push_instance(plural: str, instance_id: str, request: Request, caller: CallerDep, runtime: RuntimeDep,
                  body: JSONBodyDep) -> Response:
    """Cortex's push at the root: ``{array property: element(s), ...}``."""
    return _patch(request, runtime, caller, plural, instance_id, push_operations(body))


def _patch(request: Request, runtime: Runtime, caller: Caller, plural: str, instance_id: str,
           operations: list[Operation]) -> Response:
    files = file_attachments(request, runtime, caller)
    with instances_of(request, runtime, caller, plural, write=True) as instances:
        patched, written = apply_operations(instances, instance_id, operations)
        patched = files.after_write(instances, instance_id, written, patched)
    files.finish()
    return document(patched)


def _operations(body: Any) -> Any:
    # An empty body reads as {} (json_body); the official client sends [] by default.
    return [] if body == {} else body


@router.delete("/{org}/v2/{plural}/{instance_id}", dependencies=[accepts()],
               openapi_extra=described("Delete an instance (and release its files)", TRUE_RESULT))
def delete_instance(plural: str, instance_id: str, request: Request, caller: CallerDep,
                    runtime: RuntimeDep) -> Response:
    files = file_attachments(request, runtime, caller)
    with instances_of(request, runtime, caller, plural, write=True) as instances:
        instances.delete(instance_id)
        files.after_delete(instances, instance_id)
    files.finish()
    return result(True)


@router.get("/{org}/v2/{plural}/{instance_id}/{path:path}", dependencies=[accepts(*LIST_ARGUMENTS, "pipeline")],
            openapi_extra=described(
                "One property: its value, a List property's instances, a file's value or bytes (list arguments "
                "only for a List)", responses=PROPERTY_READ, download=True, signed_link=True))
def read_property(plural: str, instance_id: str, path: str, request: Request, caller: CallerDep,
                  runtime: RuntimeDep) -> Response:
    parts = _parts(path)
    with instances_of(request, runtime, caller, plural, write=False) as instances:
        prop = instances.definition.find_property(parts[0])
        if prop is None or prop.type_name != "List":
            # Only a List path takes list arguments; anywhere else they would be ignored.
            refuse_unknown(request.query_params.keys(), frozenset())
        if is_file_path(instances.definition, parts):
            return read_file(request, runtime, caller, instances, plural, instance_id, parts)
        if prop is None and parts[0] not in SYSTEM_PROPERTIES:
            raise faults.property_not_found(path=parts[0])
        if prop is not None and prop.type_name == "List":
            arguments = list_arguments(request)
            if arguments.stream:
                return _stream(request, runtime, caller, plural,
                               lambda owner: _list_property_batches(owner, instance_id, prop, arguments))
            listed, condition, query = list_source(instances, instance_id, prop, arguments.query)
            if arguments.pipeline is not None:
                return _list_response(listed, replace(arguments, query=query), where=condition)
            return _list_response(listed, replace(arguments, query=query))
        selection = Selection(paths=((parts[0],),), include=frozenset({parts[0]}))
        try:
            document_ = instances.get(instance_id, selection)
        except faults.Fault as error:
            if error.kind is faults.invalid_argument and error.path == parts[0]:
                raise faults.property_not_found(path=parts[0]) from None  # hidden looks like absent
            raise
        value = read_path(document_, parts)
    return _value_response(value)


@router.put("/{org}/v2/{plural}/{instance_id}/{path:path}", dependencies=[accepts()], openapi_extra=described(
    "Set one property (JSON); or, with a file body, upload it into a File property, replacing it",
    {"anyOf": [INSTANCE, FACET_SCHEMA]}, body=file_body(json_schema=ANY_JSON), also_accepts=UPLOAD_ARGUMENTS))
def set_property(plural: str, instance_id: str, path: str, request: Request, caller: CallerDep, runtime: RuntimeDep,
                 body: JSONBodyDep) -> Response:
    parts = _parts(path)
    files = file_attachments(request, runtime, caller)
    with instances_of(request, runtime, caller, plural, write=True) as instances:
        changed = files.after_write(instances, instance_id, parts[:1], instances.set_path(instance_id, parts, body))
    files.finish()
    return document(changed)


@router.patch("/{org}/v2/{plural}/{instance_id}/{path:path}", dependencies=[accepts()], openapi_extra=described(
    "Operations relative to a property path", INSTANCE, body=json_body(ref("PatchOperations"))))
def patch_property(plural: str, instance_id: str, path: str, request: Request, caller: CallerDep,
                   runtime: RuntimeDep, body: JSONBodyDep) -> Response:
    operations = parse_operations(_operations(body), _parts(path))
    return _patch(request, runtime, caller, plural, instance_id, operations)


@router.post("/{org}/v2/{plural}/{instance_id}/{path:path}", dependencies=[accepts()], openapi_extra=described(
    "Push onto an array property (JSON); or, with a file body, upload into an empty File property",
    {"anyOf": [INSTANCE, FACET_SCHEMA]}, body=file_body(json_schema=ANY_JSON), also_accepts=UPLOAD_ARGUMENTS))
def push_property(plural: str, instance_id: str, path: str, request: Request, caller: CallerDep, runtime: RuntimeDep,
                  body: JSONBodyDep) -> Response:
    parts = _parts(path)
    if len(parts) != 1:
        raise faults.invalid_argument("Push to a top-level array property.", path=".".join(parts))
    files = file_attachments(request, runtime, caller)
    with instances_of(request, runtime, caller, plural, write=True) as instances:
        pushed = files.after_write(instances, instance_id, parts, instances.push(instance_id, parts[0], body))
    files.finish()
    return document(pushed)


@router.delete("/{org}/v2/{plural}/{instance_id}/{path:path}", dependencies=[accepts()], openapi_extra=described(
    "Remove a property, or an array element by value or _id: whether anything changed",
    result_of({"type": "boolean"})))
def pull_property(plural: str, instance_id: str, path: str, request: Request, caller: CallerDep,
                  runtime: RuntimeDep) -> Response:
    parts = _parts(path)
    files = file_attachments(request, runtime, caller)
    with instances_of(request, runtime, caller, plural, write=True) as instances:
        if len(parts) == 1:
            changed = instances.unset(instance_id, parts[0])
        elif len(parts) == 2:
            changed = instances.pull(instance_id, parts[0], parts[1])
        else:
            raise faults.invalid_argument("Pull by /{property}/{value or element _id}.", path=".".join(parts))
        files.after_write(instances, instance_id, parts[:1], None)
    files.finish()
    return result(changed)


def _list_property_batches(owner: Instances, instance_id: str, prop: Any, arguments: ListArguments
                           ) -> Iterator[list[Any]]:
    listed, condition, query = list_source(owner, instance_id, prop, arguments.query)
    if arguments.pipeline is not None:
        return _batches(listed, replace(arguments, query=query), where=condition)
    return _batches(listed, replace(arguments, query=query))


def _parts(path: str) -> list[str]:
    parts = [part for part in path.split("/") if part]
    if not parts:
        raise faults.route_not_found(path=path)
    return parts


def _value_response(value: Any) -> Response:
    if isinstance(value, list):
        return listing(value, False)
    return result(value)
