"""Faults and framework errors become Cortex fault responses (unexpected ones: see middleware)."""

from __future__ import annotations

import logging
import sqlite3

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from sqlalchemy.exc import OperationalError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from opencortex import faults
from opencortex.api.responses import fault_response
from opencortex.model.orgs import find_org
from opencortex.store.database import is_database_busy, is_storage_full

log = logging.getLogger("opencortex.api")
BUSY_RETRY_AFTER_SECONDS = 2


def install_fault_handlers(app: FastAPI) -> None:
    @app.exception_handler(faults.Fault)
    async def on_fault(_request: Request, error: faults.Fault) -> Response:
        return fault_response(error)

    # A database that stays locked (SQLite's "database is locked", PostgreSQL deadlocks) wrote
    # nothing: the client may send the same request again, so it is a 503, not a 500. A full disk
    # is the storage fault. Any other database error stays unexpected (a logged 500, middleware).
    @app.exception_handler(OperationalError)
    @app.exception_handler(sqlite3.OperationalError)
    async def on_database_error(request: Request, error: Exception) -> Response:
        # The driver's message only: SQLAlchemy's text adds the statement and its parameters.
        reason = getattr(error, "orig", None) or error
        if is_database_busy(error):
            log.warning("database busy on %s %s: %s", request.method, request.url.path, reason)
            response = fault_response(faults.database_busy())
            response.headers["Retry-After"] = str(BUSY_RETRY_AFTER_SECONDS)
            return response
        if is_storage_full(error):
            log.error("database storage full on %s %s: %s", request.method, request.url.path, reason)
            return fault_response(faults.storage_full())
        raise error

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
