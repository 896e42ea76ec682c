"""Puts the console into the server's app: its routes under ``/{org}/console``, its scripts and
styles under ``/static/console`` (shipped in the package: the server may run air-gapped), and its
security headers."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI, Request
from starlette.responses import Response
from starlette.staticfiles import StaticFiles

from opencortex import faults
from opencortex.web.failures import ConsoleRoute
from opencortex.web.headers import ConsoleHeaders
from opencortex.web.routes import (
    auth,
    browse,
    export_create,
    export_edit,
    export_page,
    exports_list,
    logs,
    schedules,
    storage,
)
from opencortex.web.templating import STATIC_PATH

STATIC_DIR = Path(__file__).parent / "static"
_unknown = APIRouter(route_class=ConsoleRoute)


@_unknown.api_route("/{org}/console/{rest:path}", methods=["GET", "POST"])
def unknown_page(rest: str, request: Request) -> Response:
    raise faults.route_not_found("There is no such page in the console.", path=request.url.path)


def mount_console(app: FastAPI) -> None:
    # Static files first: /static/console/x would otherwise look like the page x of an org "static".
    app.mount(STATIC_PATH, StaticFiles(directory=STATIC_DIR), name="console-static")
    # export_create before export_page: /exports/new is not an export id.
    for module in (auth, exports_list, export_create, export_page, export_edit, browse, logs, storage, schedules):
        app.include_router(module.router)
    app.include_router(_unknown)
    app.add_middleware(ConsoleHeaders)
