"""Faults and framework errors become Cortex fault responses (unexpected ones: see middleware)."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from opencortex import faults
from opencortex.api.responses import fault_response
from opencortex.model.orgs import find_org


def install_fault_handlers(app: FastAPI) -> None:
    @app.exception_handler(faults.Fault)
    async def on_fault(_request: Request, error: faults.Fault) -> Response:
        return fault_response(error)

    @app.exception_handler(StarletteHTTPException)
    async def on_http_error(request: Request, error: StarletteHTTPException) -> Response:
        if error.status_code in (404, 405) and not await run_in_threadpool(_org_exists, request):
            return fault_response(faults.org_not_found(path=request.url.path.split("/")[1]))
        if error.status_code == 405:
            return fault_response(faults.method_not_allowed())
        if error.status_code == 404:
            return fault_response(faults.route_not_found(path=request.url.path))
        return fault_response(faults.invalid_argument(str(error.detail)))

    @app.exception_handler(RequestValidationError)
    async def on_invalid_request(_request: Request, error: RequestValidationError) -> Response:
        first = error.errors()[0] if error.errors() else {}
        location = [str(part) for part in first.get("loc", ()) if part not in ("query", "path", "body")]
        return fault_response(faults.invalid_argument(first.get("msg"), path=".".join(location) or None))


def _org_exists(request: Request) -> bool:
    """For routing faults: an unknown org is reported before an unknown route."""
    parts = request.url.path.split("/")
    if len(parts) < 3 or parts[2] != "v2":
        return True  # not an API path: plain route-not-found
    with request.app.state.runtime.database.connect() as connection:
        return find_org(connection, parts[1]) is not None
