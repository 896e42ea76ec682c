"""``opencortex worker``: export workers without the API, for scale-out."""

from __future__ import annotations

import signal

import click

from opencortex.cli.context import CommandContext, pass_context
from opencortex.exports.worker import ExportWorker


@click.command("worker")
@click.option("--concurrency", type=click.IntRange(1, 64), default=2, show_default=True,
              help="Exports this process runs at once (different orgs).")
@click.option("--lease-seconds", type=click.IntRange(5, 3600), default=30, show_default=True)
@pass_context
def worker_command(context: CommandContext, concurrency: int, lease_seconds: int) -> None:
    """Run export workers until interrupted."""
    worker = ExportWorker(context.runtime, concurrency=concurrency, lease_seconds=lease_seconds)
    signal.signal(signal.SIGTERM, lambda *_: worker.stopping.set())
    click.echo(f"Export worker {worker.worker_id}: {concurrency} at a time.", err=True)
    try:
        worker.run_forever()
    except KeyboardInterrupt:
        worker.stop()
