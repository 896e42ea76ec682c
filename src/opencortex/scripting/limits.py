"""What one script run may use. Defaults follow Cortex where it documents a number (section 9.3)."""

from __future__ import annotations

import math
from dataclasses import dataclass

KiB = 1024
MiB = 1024 * KiB

# Address space the child needs besides the heap and stack: interpreter, engine, allocator slack.
_PROCESS_BASE = 64 * MiB


@dataclass(frozen=True)
class ScriptLimits:
    # Cortex's maxScriptSize is 50 * 1024 and it counts characters, so do we.
    max_source_chars: int = 50 * KiB
    # Wall-clock time from the script's first statement; Cortex's job timeout is 10 s.
    timeout_s: float = 10.0
    # Wall-clock time for the child process to start before the script's clock starts. Generous,
    # because several exports may finish at once on a busy machine.
    startup_timeout_s: float = 10.0
    # The engine's heap limit, which the script meets as an out-of-memory error.
    memory_bytes: int = 64 * MiB
    # The child process's address-space limit (RLIMIT_AS): a backstop for memory the engine does
    # not count. The child's interpreter and engine take about 15 MiB, the heap and the stack come
    # on top (81 MiB peak for a 64 MiB heap bomb, see docs/scripting.md); this leaves 2x room.
    address_space_bytes: int = 256 * MiB
    # The engine's call-stack limit; 8 MiB allows a few thousand nested JavaScript calls.
    stack_bytes: int = 8 * MiB
    # Log output per run (serialized data plus stack text) and records per run; past either, later
    # calls are dropped and one warn record says so.
    max_log_bytes: int = 1 * MiB
    max_log_records: int = 1000
    # The JSON of one record's data, and of the script's result; larger values are replaced by a
    # {truncated, limit, preview} object.
    max_record_bytes: int = 64 * KiB
    max_result_bytes: int = 1 * MiB

    def __post_init__(self) -> None:
        for name in (
            "max_source_chars",
            "memory_bytes",
            "address_space_bytes",
            "stack_bytes",
            "max_log_bytes",
            "max_log_records",
            "max_record_bytes",
            "max_result_bytes",
        ):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"ScriptLimits.{name} must be a positive integer, not {value!r}")
        for name in ("timeout_s", "startup_timeout_s"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or isinstance(value, bool) or not 0 < value < math.inf:
                raise ValueError(f"ScriptLimits.{name} must be a positive number of seconds, not {value!r}")
        floor = self.memory_bytes + self.finish_headroom_bytes + self.stack_bytes + _PROCESS_BASE
        if self.address_space_bytes < floor:
            raise ValueError(f"ScriptLimits.address_space_bytes must be at least {floor} for these limits")

    @property
    def finish_headroom_bytes(self) -> int:
        """Heap the engine gets after the script ends, to describe its failure and its result."""
        return 16 * MiB + 4 * self.max_result_bytes

    @property
    def cpu_backstop_s(self) -> int:
        """RLIMIT_CPU for the child: only reached if the parent could not kill it in time."""
        return math.ceil(self.startup_timeout_s + self.timeout_s) + 1


DEFAULT_LIMITS = ScriptLimits()
