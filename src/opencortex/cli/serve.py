"""``opencortex serve``: the API on uvicorn."""

from __future__ import annotations

import click
import uvicorn

from opencortex.api.app import create_app
from opencortex.cli.context import CommandContext, pass_context
from opencortex.exports.worker import ExportWorker


@click.command("serve")
@click.option("--host", default=None, help="Interface [env OPENCORTEX_HOST, 127.0.0.1].")
@click.option("--port", type=int, default=None, help="Port [env OPENCORTEX_PORT, 8080].")
@click.option("--no-worker", is_flag=True, help="Do not run export workers in this process.")
@click.option("--workers", "worker_count", type=click.IntRange(1, 64), default=2, show_default=True,
              help="Exports run at once by the in-process worker.")
@pass_context
def serve_command(context: CommandContext, host: str | None, port: int | None, no_worker: bool,
                  worker_count: int) -> None:
    """Serve the API (with an in-process export worker unless --no-worker)."""
    settings = context.settings.with_changes(
        host=host or context.settings.host, port=port or context.settings.port
    )
    context.settings = settings
    runtime = context.runtime
    app = create_app(runtime=runtime)
    worker = None if no_worker else ExportWorker(runtime, concurrency=worker_count)
    if worker is not None:
        worker.start()
    try:
        uvicorn.run(app, host=settings.host, port=settings.port, log_level="info", proxy_headers=False)
    finally:
        if worker is not None:
            worker.stop()
