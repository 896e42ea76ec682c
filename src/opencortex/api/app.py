"""Builds the ASGI app: routers, middleware and fault handlers. Composition only."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from opencortex import __version__
from opencortex.api.errors import install_fault_handlers
from opencortex.api.middleware import BodyLimit, CortexHeaders
from opencortex.api.routes import accounts, auth_certs, org
from opencortex.runtime import Runtime
from opencortex.settings import Settings

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
        openapi_url=None,
    )
    if runtime is not None:
        app.state.runtime = runtime
    install_fault_handlers(app)
    for module in (org, accounts, auth_certs):
        app.include_router(module.router)
    max_body = (runtime.settings if runtime else settings or Settings.from_env()).max_body_bytes
    app.add_middleware(BodyLimit, max_bytes=max_body)
    app.add_middleware(CortexHeaders)
    return app

