"""The org's storage use against its quota (``files.accounting``, as ``GET /stats/storage``)."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import Response

from opencortex.files.accounting import storage_usage
from opencortex.web.context import ReaderDep
from opencortex.web.failures import ConsoleRoute

router = APIRouter(route_class=ConsoleRoute)


@router.get("/{org}/console/storage")
def storage_page(console: ReaderDep) -> Response:
    with console.runtime.database.connect() as connection:
        usage = storage_usage(connection, console.runtime.settings, console.org_id)
    shown = usage.to_json()
    percent = min(100.0, usage.used * 100 / usage.limit) if usage.limit else 100.0
    return console.page("storage.html", {"usage": shown, "percent": percent})
