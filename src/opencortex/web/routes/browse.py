"""A read-only browser of the org's object definitions and their instances (paged, with ``where``),
read through ``Instances`` with the logged-in administrator's own access, as the API reads them."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from opencortex import faults
from opencortex.acl.viewer import Viewer
from opencortex.api.query_args import _integer
from opencortex.instances.service import MAX_SKIP, Instances, ListQuery
from opencortex.model.objects import get_object, list_objects
from opencortex.web.context import ReaderDep
from opencortex.web.failures import ConsoleRoute
from opencortex.web.views.instances import columns, instance_row
from opencortex.web.views.properties import property_choices

router = APIRouter(route_class=ConsoleRoute)
PAGE_SIZE = 20


@router.get("/{org}/console/objects")
def objects_page(console: ReaderDep) -> Response:
    with console.runtime.database.connect() as connection:
        definitions = list_objects(connection, console.org_id)
    return console.page("objects.html", {"definitions": definitions})


@router.get("/{org}/console/objects/{name}")
def object_page(name: str, request: Request, console: ReaderDep) -> Response:
    where = request.query_params.get("where", "")
    skip = _integer(request.query_params.get("skip"), "skip", 0, MAX_SKIP, default=0)
    rows: list[dict[str, object]] = []
    has_more, where_error, status_code = False, None, 200
    runtime = console.runtime
    with runtime.database.connect() as connection:
        definition = get_object(connection, console.org_id, name)
        names = columns(definition)
        instances = Instances(connection, runtime.database.dialect, console.org_id, definition,
                              Viewer.of(console.caller.principal))
        try:
            documents, has_more = instances.list_page(ListQuery(where=where.strip() or None, skip=skip,
                                                                limit=PAGE_SIZE))
        except faults.Fault as fault:
            where_error, status_code = fault.reason or fault.message, fault.status
        else:
            rows = [instance_row(document, names) for document in documents]
    return console.page("object.html", {
        "definition": definition, "properties": property_choices(definition).paths, "names": names, "rows": rows,
        "has_more": has_more, "where": where, "where_error": where_error, "skip": skip, "page_size": PAGE_SIZE,
    }, status_code)
