"""Helpers for the scripting tests: short limits, a sample export, and a process census."""

from __future__ import annotations

import os
from typing import Any

from opencortex.scripting import ScriptLimits, ScriptRun, run_script
from opencortex.scripting.runner import CHILD_MARKER

# Short enough to keep the suite fast on two cores, long enough for a loaded CI machine.
FAST = ScriptLimits(timeout_s=1.5)

EXPORT = {
    "_id": "5f0c1a2b3c4d5e6f7a8b9c0d",
    "object": "export",
    "label": "Nightly",
    "state": "ready",
    "stats": {"docs": {"count": 3}, "files": {"count": 0, "size": 0}},
}


def run(
    source: str, *, arguments: Any = None, principal: Any = None, limits: ScriptLimits = FAST
) -> ScriptRun:
    return run_script(source, arguments=arguments, principal=principal, limits=limits)


def script_processes() -> list[tuple[int, str]]:
    """(pid, state) of our children, zombies included, and of any script child that names us.

    A child that outlived us would be re-parented, so it is also found by the marker and parent
    pid on its command line.
    """
    me = os.getpid()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat_file:
                stat = stat_file.read()
            with open(f"/proc/{entry}/cmdline", "rb") as cmdline_file:
                argv = cmdline_file.read().split(b"\0")
        except OSError:
            continue
        state, parent = stat.rsplit(")", 1)[1].split()[:2]
        marked = CHILD_MARKER.encode() in argv
        ours = marked and str(me).encode() in argv
        # Our script children (a zombie's command line is empty, so every zombie child counts);
        # other long-lived helpers of the test process, such as multiprocessing's resource
        # tracker started by a bulk import test, are not script children.
        if ours or (int(parent) == me and (marked or state == "Z")):
            found.append((int(entry), state))
    return found


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))
