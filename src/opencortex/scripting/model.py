"""What a script run returns: its outcome, its log records, and the error names callers can rely on."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# Error names. Callers (the export worker, the Logs API) switch on these; never rename one.
TIMEOUT = "timeout"  # ran longer than its wall-clock limit
MEMORY = "memory"  # reached the engine's heap limit or the process's address-space limit
STACK_OVERFLOW = "stackOverflow"  # nested calls deeper than the stack limit
COMPILE = "compile"  # syntax error or unsupported module syntax
IMPORT = "import"  # imports or requires a module that is not built in
RUNTIME = "runtime"  # threw (or let escape) any other error or value
TOO_LARGE = "tooLarge"  # source longer than the script size limit; never started
CRASHED = "crashed"  # the runtime process failed; not the script's fault as far as we know

ERROR_NAMES = (TIMEOUT, MEMORY, STACK_OVERFLOW, COMPILE, IMPORT, RUNTIME, TOO_LARGE, CRASHED)

MESSAGES = {
    TIMEOUT: "The script ran longer than its time limit.",
    MEMORY: "The script used more memory than its limit.",
    STACK_OVERFLOW: "The script exceeded the call stack limit.",
    COMPILE: "The script could not be compiled.",
    IMPORT: "The script imports a module that is not available.",
    RUNTIME: "The script threw an error.",
    TOO_LARGE: "The script is larger than the maximum script size.",
    CRASHED: "The script runtime stopped unexpectedly.",
}

# Log levels, as in the Logs object's ``lvl`` (cortex-api.md section 4.4).
ERROR, WARN, INFO, DEBUG, TRACE = 0, 1, 2, 3, 4


# One stack frame of the script, as in the Logs ``trc`` field: {file, line, function}.
Frame = dict[str, Any]


@dataclass(frozen=True)
class LogRecord:
    """One logger or console call: ``dat`` is the single argument, or the list of arguments."""

    lvl: int
    dat: Any
    ts: str
    trc: list[Frame] | None = None

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"lvl": self.lvl, "dat": self.dat, "ts": self.ts}
        if self.trc:
            body["trc"] = self.trc
        return body


def script_error(
    name: str, reason: str, *, stack: str | None = None, trc: list[Frame] | None = None, line: int | None = None
) -> dict[str, Any]:
    """The fault-like error of a failed run: ``{name, message, reason, stack?, trc?, line?}``;
    ``line`` is the script's line that a compile (or import) error is about."""
    error: dict[str, Any] = {"name": name, "message": MESSAGES[name], "reason": reason}
    if line is not None:
        error["line"] = line
    if stack:
        error["stack"] = stack
    if trc:
        error["trc"] = trc
    return error


@dataclass(frozen=True)
class ScriptRun:
    ok: bool
    result: Any
    error: dict[str, Any] | None
    logs: list[LogRecord] = field(default_factory=list)
    duration_ms: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "result": self.result,
            "error": self.error,
            "logs": [record.to_json() for record in self.logs],
            "durationMs": self.duration_ms,
        }
