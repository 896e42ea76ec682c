"""``opencortex serve``: the API on uvicorn, with an in-process export worker by default.

On SIGTERM or SIGINT it stops accepting connections and gives requests in flight (a slow
download) ``shutdown_grace_seconds`` to finish; then it closes the connections still open (a
client resumes a download with ``Range``) and exits. The export worker stops claiming jobs at
once, and a job it is running gets what is left of the grace period to finish; one that does
not is abandoned, and its lease lets another worker (or this server, restarted) run it again.
A second SIGINT ends the wait at once.
"""

from __future__ import annotations

import copy
import logging
import os
import re
import signal
import threading
import time
from types import FrameType
from typing import Any

import click
import uvicorn
from uvicorn.config import LOGGING_CONFIG

from opencortex.api.app import create_app
from opencortex.cli.context import CommandContext, pass_context
from opencortex.cli.output import banner, json_option
from opencortex.cli.worker_options import apply_worker_options, worker_json, worker_options
from opencortex.exports.worker import ExportWorker
from opencortex.logging_setup import configure_logging, uvicorn_log_config

# Standard output carries only the command's own result (the --json banner); logs, the access
# log included, go to standard error, without the credentials some URLs carry.
_LOG_CONFIG: dict[str, Any] = copy.deepcopy(LOGGING_CONFIG)
_LOG_CONFIG["handlers"]["access"]["stream"] = "ext://sys.stderr"
_LOG_CONFIG.setdefault("filters", {})["credentials"] = {"()": "opencortex.cli.serve.HideUrlCredentials"}
_LOG_CONFIG["handlers"]["access"]["filters"] = ["credentials"]
# A signed link's signature, and an upload target's token, work for anyone who reads them.
_URL_CREDENTIALS = re.compile(r"(signature=)[^&\s]+|(/v2/uploads/)[^/?\s]+")


class HideUrlCredentials(logging.Filter):
    """Replaces the credential in an access-log line's path (uvicorn passes it as an argument)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                _URL_CREDENTIALS.sub(lambda match: (match[1] or match[2]) + "…", arg) if isinstance(arg, str) else arg
                for arg in record.args
            )
        return True


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
    if settings.shutdown_grace_seconds < 0:
        raise click.UsageError("OPENCORTEX_SHUTDOWN_GRACE_SECONDS must be 0 or more "
                               f"(got {settings.shutdown_grace_seconds}).")
    context.settings = settings
    configure_logging(settings)
    runtime = context.runtime
    app = create_app(runtime=runtime)
    worker = None if no_worker else ExportWorker(
        runtime, concurrency=settings.export_concurrency, lease_seconds=settings.export_lease_seconds
    )
    server = GracefulServer(
        uvicorn.Config(app, host=settings.host, port=settings.port, log_level="info", proxy_headers=False,
                       log_config=uvicorn_log_config(_LOG_CONFIG, settings),
                       timeout_graceful_shutdown=settings.shutdown_grace_seconds),
        worker,
    )
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
            worker.stop(timeout=server.grace_left(settings.shutdown_grace_seconds) / max(worker.concurrency, 1))
    if not server.started:
        raise click.ClickException(f"The server could not start on {settings.host}:{settings.port}.")


class GracefulServer(uvicorn.Server):
    """uvicorn's server (whose ``timeout_graceful_shutdown`` bounds the wait for requests in
    flight, then cancels them and closes their connections), telling the export worker to stop
    claiming jobs as soon as the first signal arrives, and noting when that was.

    uvicorn would raise the signal again once it has shut down, and SIGTERM's default action
    would then end the process on the spot; this server does not, so ``serve`` stops its worker
    and closes the database before it exits, with status 0.
    """

    def __init__(self, config: uvicorn.Config, worker: ExportWorker | None) -> None:
        super().__init__(config)
        self.worker = worker
        self.exit_requested_at: float | None = None

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self.exit_requested_at is None:
            self.exit_requested_at = time.monotonic()
            if self.worker is not None:
                self.worker.stopping.set()  # an Event: safe from a signal handler
        if self.should_exit and sig == signal.SIGINT:
            self.force_exit = True  # a second Ctrl-C: stop waiting
        else:
            self.should_exit = True

    def grace_left(self, grace_seconds: float) -> float:
        """Seconds of the grace period not yet used (none when the server stopped on its own, or
        was told twice)."""
        if self.exit_requested_at is None or self.force_exit:
            return 0.0
        return max(0.0, grace_seconds - (time.monotonic() - self.exit_requested_at))


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

