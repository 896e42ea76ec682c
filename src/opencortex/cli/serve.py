"""``opencortex serve``: the API on uvicorn, with an in-process export worker by default."""

from __future__ import annotations

import copy
import os
import threading
import time
from typing import Any

import click
import uvicorn
from uvicorn.config import LOGGING_CONFIG

from opencortex.api.app import create_app
from opencortex.cli.context import CommandContext, pass_context
from opencortex.cli.output import banner, json_option
from opencortex.cli.worker_options import apply_worker_options, worker_json, worker_options
from opencortex.exports.worker import ExportWorker

# Standard output carries only the command's own result (the --json banner); logs, the access
# log included, go to standard error.
_LOG_CONFIG: dict[str, Any] = copy.deepcopy(LOGGING_CONFIG)
_LOG_CONFIG["handlers"]["access"]["stream"] = "ext://sys.stderr"


@click.command("serve")
@click.option("--host", default=None, help="Interface [env OPENCORTEX_HOST, 127.0.0.1].")
@click.option("--port", type=click.IntRange(1, 65535), default=None, help="Port [env OPENCORTEX_PORT, 8080].")
@click.option("--no-worker", is_flag=True, help="Do not run export workers in this process.")
@click.option("--workers", hidden=True, expose_value=False, callback=lambda _ctx, _param, value: _workers_gone(value))
@worker_options
@json_option("Once listening, print one JSON line: url, pid, worker settings.")
@pass_context
def serve_command(context: CommandContext, host: str | None, port: int | None, no_worker: bool,
                  concurrency: int | None, lease_seconds: int | None, as_json: bool) -> None:
    """Serve the API (with an in-process export worker unless --no-worker)."""
    if no_worker and (concurrency is not None or lease_seconds is not None):
        raise click.UsageError("--concurrency and --lease-seconds configure the in-process worker; "
                               "drop them or drop --no-worker.")
    settings = context.settings.with_changes(host=host or context.settings.host, port=port or context.settings.port)
    if not no_worker:
        settings = apply_worker_options(settings, concurrency, lease_seconds)
    context.settings = settings
    runtime = context.runtime
    app = create_app(runtime=runtime)
    worker = None if no_worker else ExportWorker(
        runtime, concurrency=settings.export_concurrency, lease_seconds=settings.export_lease_seconds
    )
    server = uvicorn.Server(uvicorn.Config(app, host=settings.host, port=settings.port, log_level="info",
                                           proxy_headers=False, log_config=_LOG_CONFIG))
    url = f"http://{settings.host}:{settings.port}"
    data = {"object": "server", "url": url, "pid": os.getpid(),
            "worker": None if worker is None else worker_json(settings)}
    line = f"OpenCortex on {url}/ORG/v2, " + (
        "no export worker" if worker is None else
        f"export worker: {settings.export_concurrency} at a time, {settings.export_lease_seconds} s lease")
    threading.Thread(target=_announce_when_listening, args=(server, as_json, data, line), daemon=True).start()
    if worker is not None:
        worker.start()
    try:
        server.run()
    finally:
        if worker is not None:
            worker.stop()
    if not server.started:
        raise click.ClickException(f"The server could not start on {settings.host}:{settings.port}.")


def _workers_gone(value: str | None) -> None:
    """``--workers`` was renamed without an alias; say what replaced it rather than guess."""
    if value is not None:
        raise click.UsageError("serve --workers is gone: use --concurrency N (export jobs run at once).")


def _announce_when_listening(server: uvicorn.Server, as_json: bool, data: dict[str, Any], line: str) -> None:
    while not server.started:
        if server.should_exit:
            return
        time.sleep(0.05)
    banner(as_json, data, line)

