"""The export jobs list (newest first, paged, filtered by state and object) and the JSON it polls
while exports run (the same rows, so live values match a reload)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import orjson
from fastapi import APIRouter, Request
from starlette.responses import JSONResponse, Response

from opencortex import faults
from opencortex.api.query_args import _integer
from opencortex.exports import operations
from opencortex.exports.targets import LOGS_PLURAL
from opencortex.model.objects import list_objects
from opencortex.web.context import Console, ReaderDep
from opencortex.web.failures import ConsoleRoute
from opencortex.web.views.exports import SHOWN_STATES, account_emails, export_row, state_filter

router = APIRouter(route_class=ConsoleRoute)
PAGE_SIZE = 25
MAX_SKIP = 100_000
NOTICES = {"deleted": "The export was deleted, with its archive."}


@router.get("/{org}/console/exports")
def exports_page(request: Request, console: ReaderDep) -> Response:
    listing = _listing(request, console)
    with console.runtime.database.connect() as connection:
        objects = sorted(definition.plural_name for definition in list_objects(connection, console.org_id))
    objects.append(LOGS_PLURAL)  # exports of the org's Logs
    if listing["object"] and listing["object"] not in objects:
        objects.append(listing["object"])  # an export of an object since deleted
    notice = NOTICES.get(request.query_params.get("notice", ""))
    total = operations.count(console.runtime, console.org_id, where=listing["where"], state=listing["listed_state"],
                             access=console.export_access)
    return console.page("exports.html", {**listing, "states": SHOWN_STATES, "objects": objects, "notice": notice,
                                         "total": total})


@router.get("/{org}/console/exports.json")
def exports_json(request: Request, console: ReaderDep) -> Response:
    listing = _listing(request, console)
    return JSONResponse({"rows": listing["rows"], "hasMore": listing["has_more"]})


def _listing(request: Request, console: Console) -> dict[str, Any]:
    arguments = request.query_params
    state, objects = arguments.get("state", ""), arguments.get("object", "")
    if state and state not in SHOWN_STATES:
        raise faults.invalid_argument(f"state is one of {', '.join(SHOWN_STATES)}.", path="state")
    skip = _integer(arguments.get("skip"), "skip", 0, MAX_SKIP, default=0)
    # Both filters are the export list's own query: the state (cancelled is an error with the
    # cancellation's fault) and the where on objects (the plural name).
    listed_state, conditions = state_filter(state)
    if objects:
        conditions["objects"] = objects
    where = orjson.dumps(conditions).decode() if conditions else None
    jobs, has_more = operations.list_exports(console.runtime, console.org_id, limit=PAGE_SIZE, skip=skip,
                                             state=listed_state, where=where, access=console.export_access)
    with console.runtime.database.connect() as connection:
        emails = account_emails(connection, console.org_id, (job.creator for job in jobs))
    filters = urlencode([(name, value) for name, value in (("state", state), ("object", objects)) if value])
    return {
        "rows": [export_row(job, console.base, emails) for job in jobs],
        "has_more": has_more, "state": state, "listed_state": listed_state, "object": objects, "where": where,
        "skip": skip, "page_size": PAGE_SIZE, "filters": filters,
    }
