"""Peak memory of the test process, for tests that hold a streaming path to flat memory."""

from __future__ import annotations

import gc
import re
import resource
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path


def _status_bytes(field: str) -> int:
    match = re.search(rf"^{field}:\s+(\d+) kB", Path("/proc/self/status").read_text(), re.MULTILINE)
    assert match is not None
    return int(match.group(1)) * 1024


def measure_peak_growth() -> Callable[[], int]:
    """Start measuring; the returned function gives the peak RSS growth since then, in bytes.

    The kernel's peak mark (VmHWM) is reset first, so an earlier test's peak cannot hide ours.
    Where it cannot be reset, fall back to ru_maxrss, which can only under-report growth.
    Earlier tests' garbage is collected first: freed during the measurement, it would lower the
    RSS below the baseline and hide growth (the likely cause of one CI run measuring 80 MiB as
    76 KiB).
    """
    gc.collect()
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        return lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - before
    baseline = _status_bytes("VmRSS")
    return lambda: _status_bytes("VmHWM") - baseline


def growth_of_holding_in_a_fresh_process(size: int) -> int:
    """Peak growth ``measure_peak_growth`` reports, in a new interpreter, for holding ``size``
    bytes (every page written): the self-check that the measurement would see a regression.

    A fresh process because in a long-lived test worker the check failed twice in CI (an 80 MiB
    allocation measured as a few KiB), for a reason not found: the process's history, not the
    measurement, was then being tested."""
    script = (
        "from tests.support.memory import measure_peak_growth\n"
        "peak_growth = measure_peak_growth()\n"
        f"held = b'\\x01' * {int(size)}\n"
        "del held\n"
        "print(peak_growth())\n"
    )
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run([sys.executable, "-c", script], cwd=root, capture_output=True, text=True, check=True,
                          timeout=120)
    return int(done.stdout.strip().splitlines()[-1])
