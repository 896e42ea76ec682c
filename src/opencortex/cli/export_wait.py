"""``opencortex export create --wait``: follow an export until it ends, with progress on a terminal.

The command only watches: a worker (``opencortex serve`` or ``opencortex worker``, against the same
database) runs the export. Progress is one line on standard error, rewritten in place when
standard error is a terminal, so ``--json`` output on standard output stays clean for a pipe.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any, TextIO

from opencortex.exports import operations
from opencortex.exports.jobs import ExportJob, ExportState
from opencortex.runtime import Runtime

POLL_SECONDS = 0.5
BAR_WIDTH = 30


class WaitTimedOut(Exception):
    """The export had not ended when the wait's time ran out (it goes on in the background)."""

    def __init__(self, job: ExportJob, seconds: float) -> None:
        super().__init__(f"Export {job.id} is still {job.state} after {seconds:g} s; it goes on in the "
                         f"background (opencortex export show {job.id}).")
        self.job = job


def wait_for_export(runtime: Runtime, org_id: str, export_id: str, *, timeout: float | None,
                    stream: TextIO | None = None, sleep: Callable[[float], None] = time.sleep) -> ExportJob:
    """Poll the export until it is ready or in error; show its progress on ``stream`` meanwhile."""
    stream = sys.stderr if stream is None else stream
    line = ProgressLine(stream)
    deadline = None if timeout is None else time.monotonic() + timeout
    try:
        while True:
            job = operations.get(runtime, org_id, export_id)
            line.show(describe_progress(job), job.state)
            if job.state.ended:
                return job
            if deadline is not None and time.monotonic() >= deadline:
                raise WaitTimedOut(job, timeout or 0)
            sleep(POLL_SECONDS)
    finally:
        line.close()


def describe_progress(job: ExportJob) -> str:
    """``running: 1,200 of 5,000 docs [#######         ] 24%`` (or what is known so far)."""
    if job.state is ExportState.PENDING:
        return f"Export {job.id}: pending (waiting for a worker)"
    progress: dict[str, Any] = job.progress or {}
    docs, total = progress.get("docs") or 0, progress.get("total")
    if job.state.ended:
        return f"Export {job.id}: {job.state}"
    phase = progress.get("phase", "running")
    if not total:
        return f"Export {job.id}: {phase}, {docs:,} docs"
    share = min(1.0, docs / total)
    filled = round(share * BAR_WIDTH)
    bar = "#" * filled + " " * (BAR_WIDTH - filled)
    return f"Export {job.id}: {phase}, {docs:,} of {total:,} docs [{bar}] {share:.0%}"


class ProgressLine:
    """One status line: rewritten in place on a terminal; elsewhere (a log, a pipe) one line per
    state, so that a CI log is not flooded with counts."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.terminal = stream.isatty()
        self.last = ""
        self.last_state: ExportState | None = None

    def show(self, text: str, state: ExportState) -> None:
        if self.terminal and text != self.last:
            self.stream.write("\r" + text.ljust(len(self.last)))
        elif not self.terminal and state != self.last_state:
            self.stream.write(text + "\n")
        else:
            return
        self.stream.flush()
        self.last, self.last_state = text, state

    def close(self) -> None:
        if self.terminal and self.last:
            self.stream.write("\n")
            self.stream.flush()
