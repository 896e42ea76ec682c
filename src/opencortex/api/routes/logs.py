"""``GET /logs``: the org's log records, for Administrators and Developers (``logs.access``).

Query arguments: ``where`` (JSON over ``_id``, ``req``, ``pid``, ``oid``, ``src_id``, ``src``,
``lvl``, ``sts``, ``beg``, ``end``, ``exp``, ``created``), ``sort`` (``_id`` or ``created``, 1 or
-1; newest first by default), ``limit`` (1-1000, default 100), ``startingAfter``/``endingBefore``
(a log ``_id``); any other is refused. See docs/logs.md.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from opencortex.api.deps import LoggedInDep, RuntimeDep
from opencortex.api.openapi import described
from opencortex.api.paging import parse_cursor
from opencortex.api.query_args import _integer
from opencortex.api.query_arguments import accepts
from opencortex.api.responses import listing
from opencortex.api.schemas.envelopes import list_of, ref
from opencortex.logs import DEFAULT_LIMIT, MAX_LIMIT, LogQuery, list_logs, require_log_reader

router = APIRouter()


@router.get("/{org}/v2/logs", dependencies=[accepts("where", "sort", "limit", "startingAfter", "endingBefore")],
            openapi_extra=described("The org's log records (Administrators, Developers)",
                                    list_of(ref("LogRecord"), with_total=False)))
def list_logs_route(request: Request, caller: LoggedInDep, runtime: RuntimeDep) -> Response:
    require_log_reader(caller.principal.all_roles)
    arguments = request.query_params
    query = LogQuery(
        where=arguments.get("where") or None,
        sort=arguments.get("sort") or None,
        limit=_integer(arguments.get("limit"), "limit", 1, MAX_LIMIT, default=DEFAULT_LIMIT),
        starting_after=parse_cursor(arguments.get("startingAfter"), "startingAfter"),
        ending_before=parse_cursor(arguments.get("endingBefore"), "endingBefore"),
    )
    with runtime.database.connect() as connection:
        records, has_more = list_logs(connection, caller.org["id"], query)
    return listing(records, has_more)
