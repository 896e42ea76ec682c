"""A real export worker in a process of its own: claim and run one export, then report.

    python -m bench.worker_once --data-dir DIR --database-url URL

Prints one JSON line: whether a job ran, the CPU seconds of ``run_once`` (user + system), the RSS
before it and the process's peak RSS at exit, both in bytes. The peak includes the interpreter and
every imported module, as a worker's would.

The peak is the kernel's high-water mark of this process's memory (``VmHWM``), reset just before
``run_once`` (so a transient peak while importing modules does not count), not
``getrusage().ru_maxrss``: Linux carries ``ru_maxrss`` across ``execve``, so a child started by
a big parent (the benchmark, at ~180 MB) would report the parent's size instead of its own.
"""

from __future__ import annotations

import argparse
import contextlib
import re
import resource
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from opencortex.exports.worker import ExportWorker
from opencortex.runtime import Runtime
from opencortex.settings import Settings


def _status(field: str) -> int:
    match = re.search(rf"^{field}:\s+(\d+) kB", Path("/proc/self/status").read_text(), re.MULTILINE)
    return int(match.group(1)) * 1024 if match else 0


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.worker_once")
    parser.add_argument("--data-dir", required=True, type=Path)
    parser.add_argument("--database-url", required=True)
    args = parser.parse_args(argv)
    report = run_once_measured(Settings(data_dir=args.data_dir, database_url=args.database_url))
    sys.stdout.write(orjson.dumps(report).decode() + "\n")
    return 0


def run_once_measured(settings: Settings, before_claim: Callable[[], None] = lambda: None) -> dict[str, Any]:
    """Open the runtime, run ``before_claim``, then claim and run one export; whether one ran,
    the CPU seconds of ``run_once``, the RSS before it and the peak RSS (bytes)."""
    runtime = Runtime.open(settings, migrate=False)
    try:
        worker = ExportWorker(runtime, concurrency=1)
        before_claim()
        with contextlib.suppress(OSError):
            Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM to the current RSS
        before = _status("VmRSS")
        cpu = _cpu()
        ran = worker.run_once()
        cpu = _cpu() - cpu
    finally:
        runtime.close()
    peak = _status("VmHWM") or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return {"ran": ran, "cpu": cpu, "rss_before": before, "peak_rss": peak}


if __name__ == "__main__":
    sys.exit(main())
