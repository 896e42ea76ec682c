"""Builds the ASGI app: routers, middleware and fault handlers. Composition only."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from opencortex import __version__
from opencortex.api.errors import install_fault_handlers
from opencortex.api.middleware import BodyLimit, ContentDigest, CortexHeaders
from opencortex.api.openapi import install_openapi
from opencortex.api.routes import (
    accounts,
    auth_certs,
    deidentification,
    export_schedules,
    exports,
    files,
    health,
    instances,
    logs,
    objects,
    org,
    uploads,
)
from opencortex.api.slashes import TrailingSlashes
from opencortex.runtime import Runtime
from opencortex.settings import Settings
from opencortex.web.mount import mount_console


def create_app(settings: Settings | None = None, *, runtime: Runtime | None = None) -> FastAPI:
    """The API app. Given no runtime, it opens one (migrating the database) at startup."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = runtime is None
        app.state.runtime = runtime or Runtime.open(settings or Settings.from_env())
        try:
            yield
        finally:
            if owned:
                app.state.runtime.close()

    app = FastAPI(
        title="OpenCortex",
        version=__version__,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,  # served by api.openapi, which describes what the routes parse themselves
        redirect_slashes=False,  # the API never redirects; api.slashes answers "/x/" as "/x"
    )
    if runtime is not None:
        app.state.runtime = runtime
    install_fault_handlers(app)
    app.include_router(health.router)  # GET /health: outside every org, no credentials
    install_openapi(app)  # GET /openapi.json: the API's OpenAPI document
    # Signed file links first: they carry their own credentials, whatever path they name.
    app.include_router(files.signed_router)
    # instances last: it claims every first path segment the others do not. Just before it, file
    # uploads into instance properties (matching only file bodies: JSON writes fall through).
    builtin_segments: set[str] = set()
    for module in (org, accounts, auth_certs, objects, exports, export_schedules, deidentification, files, uploads,
                   logs, instances):
        if module is instances:
            app.include_router(uploads.property_router)
        app.include_router(module.router)
        if module is not instances:
            builtin_segments |= {
                route.path.split("/")[3] for route in module.router.routes
                if len(route.path.split("/")) > 3 and route.path.split("/")[3]
            }
    app.state.builtin_segments = frozenset(builtin_segments)
    mount_console(app)  # the admin console's pages, at /{org}/console
    max_body = (runtime.settings if runtime else settings or Settings.from_env()).max_body_bytes
    app.add_middleware(TrailingSlashes)
    app.add_middleware(BodyLimit, max_bytes=max_body)
    app.add_middleware(ContentDigest)
    app.add_middleware(CortexHeaders)
    return app

