"""``opencortex serve``: the API on uvicorn."""

from __future__ import annotations

import click
import uvicorn

from opencortex.api.app import create_app
from opencortex.cli.context import CommandContext, pass_context


@click.command("serve")
@click.option("--host", default=None, help="Interface [env OPENCORTEX_HOST, 127.0.0.1].")
@click.option("--port", type=int, default=None, help="Port [env OPENCORTEX_PORT, 8080].")
@pass_context
def serve_command(context: CommandContext, host: str | None, port: int | None) -> None:
    """Serve the API."""
    settings = context.settings.with_changes(
        host=host or context.settings.host, port=port or context.settings.port
    )
    context.settings = settings
    runtime = context.runtime
    app = create_app(runtime=runtime)
    uvicorn.run(app, host=settings.host, port=settings.port, log_level="info", proxy_headers=False)
