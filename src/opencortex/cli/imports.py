"""``opencortex import``: load an NDJSON file of instances into an object, all or nothing."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import BinaryIO

import click

from opencortex.acl.viewer import Viewer, as_principal
from opencortex.cli.context import CommandContext, pass_context
from opencortex.cli.output import emit, json_option
from opencortex.instances.bulk import BATCH_SIZE, MAX_PROBLEMS, ImportReport, import_ndjson

AUTO_JOBS_BYTES = 8 * 1024 * 1024  # below this, starting worker processes costs more than it saves


def auto_jobs() -> int:
    """One validating process per CPU but one (at most 4; none on a single CPU). This process
    keeps a CPU busy writing the rows: on SQLite, inserting a row into a table with a dozen
    indexes costs about twice validating it (compiled), so one validator keeps up with it, and
    more only help models with costlier lines."""
    return max(0, min((os.cpu_count() or 1) - 1, 4))


@click.command("import")
@click.option("--org", "org_code", required=True, help="The org's code.")
@click.option("--object", "object_name", required=True, help="The object (name or plural name).")
@click.option("--as", "email", help="The account importing: createAcl and property access apply, and it owns "
                                    "the instances. Without it, the import has full access (like an export "
                                    "without principal).")
@click.option("--keep-ids", is_flag=True, help="Keep each line's _id, created and updated (when present); "
                                               "otherwise fresh ones are given.")
@click.option("--batch-size", type=click.IntRange(1, 100_000), default=BATCH_SIZE, show_default=True,
              help="Rows per INSERT statement.")
@click.option("--max-problems", type=click.IntRange(1, 100_000), default=MAX_PROBLEMS, show_default=True,
              help="Bad lines to report before giving up.")
@click.option("--jobs", type=click.IntRange(0, 64), help="Processes validating lines beside the one writing them; "
                                                       "0 validates in-process [default: one per CPU but one, at "
                                                       "most 4, for files over 8 MB, else 0].")
@json_option("Print the summary as JSON.")
@click.argument("file", type=click.Path(dir_okay=False, allow_dash=True, path_type=Path))
@pass_context
def import_command(context: CommandContext, org_code: str, object_name: str, email: str | None, keep_ids: bool,
                   batch_size: int, max_problems: int, jobs: int | None, as_json: bool, file: Path) -> None:
    """Import FILE (NDJSON, one instance per line; - for standard input) into an object.

    Every line is validated as a create through the API would validate it. Rows are committed in
    short transactions, so the server keeps working during a long import; when any line is bad,
    the bad lines are listed with their numbers and what was written is deleted again (exit
    status 1), as it is when the import is interrupted. An export's NDJSON data file can be
    imported as it is.
    """
    org = context.org(org_code)
    runtime = context.runtime
    try:
        if email is None:
            viewer = Viewer.system(org["id"])
        else:
            with runtime.database.connect() as connection:
                viewer = as_principal(connection, org["id"], email)
        if str(file) == "-":
            report = _run(context, org["id"], object_name, viewer, sys.stdin.buffer, None, keep_ids, batch_size,
                          max_problems, jobs or 0)
        else:
            size = file.stat().st_size
            if jobs is None:
                jobs = auto_jobs() if size > AUTO_JOBS_BYTES else 0
            with file.open("rb") as handle:
                report = _run(context, org["id"], object_name, viewer, handle, size, keep_ids, batch_size,
                              max_problems, jobs)
    except OSError as error:
        raise click.ClickException(f"Cannot read {file}: {error.strerror or error}") from None
    rate = report.imported / report.seconds if report.seconds and report.imported else 0
    if report.committed:
        lines = [f"Imported {report.imported} {report.object} instances in {report.seconds:.1f} s "
                 f"({rate:,.0f}/s)."]
    else:
        shown = len(report.problems)
        lines = [f"Nothing imported: {shown}{'+' if report.more_problems else ''} bad "
                 f"line{'s' if shown != 1 else ''} in {report.lines} read."]
        lines += ["  " + problem.describe() for problem in report.problems]
        if report.more_problems:
            lines.append(f"  ... stopped after {shown} bad lines (--max-problems).")
    emit(as_json, report.to_json(), lines)
    if not report.committed:
        sys.exit(1)


@contextlib.contextmanager
def _sigterm_interrupts() -> Iterator[None]:
    """SIGTERM (a service or container being stopped) interrupts the import as Ctrl-C does, so
    that it deletes what it committed before the process ends."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    interrupted = False

    def interrupt(_signal: int, _frame: FrameType | None) -> None:
        nonlocal interrupted
        if not interrupted:  # once: a second SIGTERM must not cut the clean-up short
            interrupted = True
            raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _run(context: CommandContext, org_id: str, object_name: str, viewer: Viewer, handle: BinaryIO,
         size: int | None, keep_ids: bool, batch_size: int, max_problems: int, jobs: int) -> ImportReport:
    with _sigterm_interrupts():
        return _import(context, org_id, object_name, viewer, handle, size, keep_ids, batch_size, max_problems, jobs)


def _import(context: CommandContext, org_id: str, object_name: str, viewer: Viewer, handle: BinaryIO,
            size: int | None, keep_ids: bool, batch_size: int, max_problems: int, jobs: int) -> ImportReport:
    database = context.runtime.database
    if size is None:  # standard input: no length to show progress against
        return import_ndjson(database, org_id, object_name, viewer, handle, keep_ids=keep_ids,
                             batch_size=batch_size, max_problems=max_problems, jobs=jobs)
    with click.progressbar(length=size, label="Importing", file=sys.stderr, show_eta=True) as bar:
        done = 0

        def progress(read: int) -> None:
            nonlocal done
            bar.update(read - done)
            done = read

        return import_ndjson(database, org_id, object_name, viewer, handle, keep_ids=keep_ids,
                             batch_size=batch_size, max_problems=max_problems, jobs=jobs, progress=progress)
