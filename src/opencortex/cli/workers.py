"""``opencortex worker``: export workers without the API, for scale-out. Imports no web code."""

from __future__ import annotations

import os
import signal

import click

from opencortex.cli.context import CommandContext, pass_context
from opencortex.cli.output import banner, json_option
from opencortex.cli.worker_options import apply_worker_options, worker_json, worker_options
from opencortex.exports.worker import ExportWorker
from opencortex.logging_setup import configure_logging


@click.command("worker")
@worker_options
@json_option("On start, print one JSON line: worker id, pid, settings.")
@pass_context
def worker_command(context: CommandContext, concurrency: int | None, lease_seconds: int | None,
                   as_json: bool) -> None:
    """Run export workers until interrupted."""
    settings = apply_worker_options(context.settings, concurrency, lease_seconds)
    context.settings = settings
    configure_logging(settings)
    worker = ExportWorker(context.runtime, concurrency=settings.export_concurrency,
                          lease_seconds=settings.export_lease_seconds)
    signal.signal(signal.SIGTERM, lambda *_: worker.stopping.set())
    banner(as_json, {"object": "worker", "workerId": worker.worker_id, "pid": os.getpid()} | worker_json(settings),
           f"Export worker {worker.worker_id}: {settings.export_concurrency} at a time, "
           f"{settings.export_lease_seconds} s lease.")
    try:
        worker.run_forever()
    except KeyboardInterrupt:
        worker.stop()
