"""The org's Logs, newest first, filtered by a ``where`` over the record's fields (``docs/logs.md``)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from opencortex import faults
from opencortex.api.paging import parse_cursor
from opencortex.logs import LogQuery, list_logs
from opencortex.web.context import ReaderDep
from opencortex.web.failures import ConsoleRoute
from opencortex.web.views.logs import LEVELS, SOURCES, log_row

router = APIRouter(route_class=ConsoleRoute)
PAGE_SIZE = 50


@router.get("/{org}/console/logs")
def logs_page(request: Request, console: ReaderDep) -> Response:
    where = request.query_params.get("where", "")
    after = parse_cursor(request.query_params.get("after") or None, "after")
    rows: list[dict[str, object]] = []
    has_more, where_error, status_code = False, None, 200
    try:
        with console.runtime.database.connect() as connection:
            records, has_more = list_logs(connection, console.org_id,
                                          LogQuery(where=where.strip() or None, limit=PAGE_SIZE, starting_after=after))
    except faults.Fault as fault:
        where_error, status_code = fault.reason or fault.message, fault.status
    else:
        rows = [log_row(record, console.base) for record in records]
    return console.page("logs.html", {
        "rows": rows, "has_more": has_more, "where": where, "where_error": where_error, "after": after,
        "older": rows[-1]["id"] if has_more and rows else None, "levels": LEVELS, "sources": SOURCES,
    }, status_code)
