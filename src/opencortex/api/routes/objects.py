"""``/objects``: object definitions, for Administrators and Developers.

The list takes ``where`` and ``sort`` over the definitions' ``_id``, ``name``, ``pluralName``,
``label``, ``description``, ``created``, ``updated``, boolean options, and the names, labels
and types of their ``properties`` (``model.objects.OBJECT_LIST``), with ``skip``, ``limit``,
``startingAfter``/``endingBefore`` (a definition's ``_id``: the page continues from its place
in the sort) and ``total``. By name by default.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from opencortex import faults
from opencortex.api.deps import JSONBodyDep, LoggedInDep, RuntimeDep
from opencortex.api.openapi import TRUE_RESULT, described, json_body
from opencortex.api.query_arguments import TABLE_LIST_ARGUMENTS, accepts, table_list_query
from opencortex.api.responses import JSONBody, document, listing, result
from opencortex.api.schemas.envelopes import list_of, ref
from opencortex.attachments.releases import delete_stored, release_instance_files
from opencortex.auth.principal import Caller
from opencortex.ids import ROLE_ADMINISTRATOR, ROLE_DEVELOPER
from opencortex.model.objects import (
    count_matching_objects,
    create_object,
    delete_object,
    get_object,
    query_objects,
    update_object,
)

router = APIRouter()


def require_developer(caller: LoggedInDep) -> Caller:
    if not (caller.principal.has_role(ROLE_ADMINISTRATOR) or caller.principal.has_role(ROLE_DEVELOPER)):
        raise faults.access_denied("Administrators and Developers only.")
    return caller


DeveloperDep = Annotated[Caller, Depends(require_developer)]


@router.get("/{org}/v2/objects", dependencies=[accepts(*TABLE_LIST_ARGUMENTS)], openapi_extra=described(
    "The org's object definitions, by name unless sorted", list_of(ref("ObjectDefinition"))))
def list_objects_route(request: Request, caller: DeveloperDep, runtime: RuntimeDep) -> Response:
    query, total = table_list_query(request)
    with runtime.database.connect() as connection:
        definitions, has_more = query_objects(connection, caller.org["id"], query)
        counted = count_matching_objects(connection, caller.org["id"], query.where) if total else None
    data = [definition.to_json() for definition in definitions]
    if counted is None:
        return listing(data, has_more)
    return JSONBody({"object": "list", "data": data, "hasMore": has_more, "total": counted})


@router.post("/{org}/v2/objects", dependencies=[accepts()], openapi_extra=described(
    "Create an object definition", ref("ObjectDefinition"), body=json_body(ref("ObjectDefinitionBody"))))
def create_object_route(caller: DeveloperDep, runtime: RuntimeDep, body: JSONBodyDep) -> Response:
    with runtime.database.begin() as connection:
        definition = create_object(connection, caller.org["id"], body)
    return document(definition.to_json())


@router.get("/{org}/v2/objects/{name}", dependencies=[accepts()],
            openapi_extra=described("An object definition", ref("ObjectDefinition")))
def read_object_route(name: str, caller: DeveloperDep, runtime: RuntimeDep) -> Response:
    with runtime.database.connect() as connection:
        definition = get_object(connection, caller.org["id"], name)
    return document(definition.to_json())


@router.put("/{org}/v2/objects/{name}", dependencies=[accepts()], openapi_extra=described(
    "Change an object definition", ref("ObjectDefinition"), body=json_body(ref("ObjectDefinitionBody"))))
def update_object_route(name: str, caller: DeveloperDep, runtime: RuntimeDep, body: JSONBodyDep) -> Response:
    with runtime.database.begin() as connection:
        definition = update_object(connection, caller.org["id"], name, body)
    return document(definition.to_json())


@router.delete("/{org}/v2/objects/{name}", dependencies=[accepts()],
               openapi_extra=described("Delete an object definition, its instances and their files", TRUE_RESULT))
def delete_object_route(name: str, caller: DeveloperDep, runtime: RuntimeDep) -> Response:
    """Deletes the definition, its instances, and the files they held (their bytes released)."""
    with runtime.database.begin() as connection:
        definition = delete_object(connection, caller.org["id"], name)
        keys = release_instance_files(connection, caller.org["id"], definition.name)
    delete_stored(runtime.file_store, keys)
    return result(True)
