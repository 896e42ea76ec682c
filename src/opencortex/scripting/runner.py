"""Run one script in its own child process, with a wall-clock limit the engine cannot dodge.

Why a process per run: QuickJS's own limits are a heap limit and a CPU-time interrupt, and the
Python binding forbids calling back into Python while the interrupt is armed, which is how the
logger works. A child process gives the wall-clock limit (SIGKILL from here), an address-space
limit for anything the engine does not count, and containment for engine crashes; and it is
exec'd fresh, so the script's process holds none of the server's memory, files or environment.

Each call owns its child and its pipes, so calls are safe from many threads at once. Whatever
happens, the child is killed (its whole process group) and reaped before the call returns.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import os
import selectors
import signal
import subprocess
import sys
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from opencortex.clock import iso
from opencortex.scripting.limits import DEFAULT_LIMITS, MiB, ScriptLimits
from opencortex.scripting.model import (
    COMPILE,
    CRASHED,
    MEMORY,
    TIMEOUT,
    TOO_LARGE,
    LogRecord,
    ScriptRun,
    script_error,
)
from opencortex.scripting.outcome import error_from_engine, error_from_outcome, parse_stack
from opencortex.scripting.prelude import ACCESS_LEVELS, ENTRY_FUNCTION, LOGGER_FRAMES, PRELUDE
from opencortex.scripting.transform import SourceRejected, prepare_source

# Every child's command line carries this and our pid, so a leak check can find strays.
CHILD_MARKER = "opencortex-script-child"
_CHILD_SCRIPT = str(Path(__file__).with_name("child.py"))

# The user's first line shares the wrapper's line, so engine line numbers are the script's own.
_WRAP_HEAD = f'"use strict";(function {ENTRY_FUNCTION}(){{"use strict";'
_WRAP_TAIL = "\n})"

_READ_CHUNK = 64 * 1024
_STDERR_TAIL = 8 * 1024
# After the child closes its output it is exiting; give it this long before SIGKILL.
_EXIT_GRACE_S = 5.0


@functools.cache
def _engine_path() -> str:
    """Directory of the QuickJS extension, found without loading it into the server process."""
    spec = importlib.util.find_spec("_quickjs")
    if spec is None or spec.origin is None:
        raise RuntimeError("the quickjs-ng package is not installed")
    return os.path.dirname(spec.origin)


def run_script(
    source: str, *, arguments: Any, principal: Any, limits: ScriptLimits = DEFAULT_LIMITS
) -> ScriptRun:
    """Run ``source`` in the sandbox and report what happened; never raises for script content.

    ``arguments`` and ``principal`` must be JSON-serializable (else ``TypeError``): they become
    ``script.arguments`` and ``script.principal``.
    """
    return _start(source, arguments, principal, limits, compile_only=False)


def compile_script(source: str, *, limits: ScriptLimits = DEFAULT_LIMITS) -> ScriptRun:
    """Compile ``source`` exactly as ``run_script`` would (the same preparation, the same engine in
    the same child process, under the same limits), without running any of it.

    ``ok`` when it compiles; otherwise ``error`` is ``compile`` (with the engine's message and the
    script's line), ``import`` (a module that is not available), ``tooLarge``, or ``crashed``.
    """
    return _start(source, None, None, limits, compile_only=True)


def _start(source: str, arguments: Any, principal: Any, limits: ScriptLimits, *, compile_only: bool) -> ScriptRun:
    started = time.monotonic()
    if not isinstance(source, str):
        raise TypeError(f"source must be a str, not {type(source).__name__}")
    if not isinstance(limits, ScriptLimits):
        raise TypeError(f"limits must be ScriptLimits, not {type(limits).__name__}")
    # Serialized first so that a caller's bad arguments fail the same way for every script.
    config = _config_json(arguments, principal, limits)
    if len(source) > limits.max_source_chars:
        reason = f"the script has {len(source)} characters; the limit is {limits.max_source_chars}"
        return _finished(started, script_error(TOO_LARGE, reason))
    try:
        source.encode("utf-8")
    except UnicodeEncodeError as bad:
        line = source.count("\n", 0, bad.start) + 1
        return _finished(
            started, script_error(COMPILE, f"the script contains an unpaired surrogate (line {line})")
        )
    try:
        body = prepare_source(source)
    except SourceRejected as rejected:
        return _finished(started, script_error(rejected.name, str(rejected), line=rejected.line))
    job = _frame_job(_WRAP_HEAD + body + _WRAP_TAIL, config, limits, compile_only=compile_only)
    return _within_source(_ChildRun(job, limits).run(started), source)


def _within_source(run: ScriptRun, source: str) -> ScriptRun:
    """A compile error the engine found in the wrapper's closing line: the script ended too early
    (an unclosed bracket, string or comment), so it is reported at the script's last line."""
    error = run.error
    last = source.count("\n") + 1
    if error is None or error.get("name") != COMPILE or not isinstance(error.get("line"), int) or error["line"] <= last:
        return run
    reason = str(error["reason"]).removesuffix(f" (line {error['line']})")
    fixed = {**error, "line": last, "reason": f"{reason} (line {last}: the script ends too early)"}
    return replace(run, error=fixed)


def _config_json(arguments: Any, principal: Any, limits: ScriptLimits) -> bytes:
    """What the prelude's setup() receives; orjson raises TypeError for values that are not JSON."""
    fixed = orjson.dumps(
        {
            "accessLevels": ACCESS_LEVELS,
            "limits": {"maxRecordBytes": limits.max_record_bytes, "maxResultBytes": limits.max_result_bytes},
        }
    )
    return (
        b'{"arguments":'
        + orjson.dumps(arguments)
        + b',"principal":'
        + orjson.dumps(principal)
        + b","
        + fixed[1:]
    )


def _frame_job(source: str, config: bytes, limits: ScriptLimits, *, compile_only: bool = False) -> bytes:
    """The child's stdin: a header line of sizes and limits, then prelude, source and config."""
    prelude = PRELUDE.encode()
    code = source.encode("utf-8")
    numbers = (
        len(prelude),
        len(code),
        len(config),
        limits.memory_bytes,
        limits.finish_headroom_bytes,
        limits.address_space_bytes,
        limits.stack_bytes,
        limits.cpu_backstop_s,
        limits.max_log_bytes,
        limits.max_log_records,
        int(compile_only),
    )
    return " ".join(str(number) for number in numbers).encode() + b"\n" + prelude + code + config


def _finished(
    started: float, error: dict[str, Any] | None, result: Any = None, logs: list[LogRecord] | None = None
) -> ScriptRun:
    return ScriptRun(
        ok=error is None,
        result=result if error is None else None,
        error=error,
        logs=logs or [],
        duration_ms=round((time.monotonic() - started) * 1000),
    )


class _ChildRun:
    """One child process: feed it the job, collect its messages, enforce the deadlines."""

    def __init__(self, job: bytes, limits: ScriptLimits) -> None:
        self.job = job
        self.limits = limits
        self.logs: list[LogRecord] = []
        self.done: dict[str, Any] | None = None
        self.ready = False
        self.timed_out = False
        self.overflowed = False
        self.buffer = b""
        self.received = 0
        self.stderr_tail = b""
        # A safety net against a misbehaving child, well above what its own limits let it send.
        self.max_output = 2 * (
            limits.max_log_bytes
            + 512 * limits.max_log_records
            + 4 * limits.max_result_bytes
            + 4 * limits.max_record_bytes
            + MiB
        )

    def run(self, started: float) -> ScriptRun:
        try:
            process = subprocess.Popen(
                [sys.executable, "-I", "-S", _CHILD_SCRIPT, CHILD_MARKER, str(os.getpid()), _engine_path()],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                bufsize=0,
                close_fds=True,
                start_new_session=True,
                env={},
                cwd="/",
            )
        except OSError as exc:
            return _finished(started, script_error(CRASHED, f"the runtime process could not start: {exc}"))
        try:
            self._exchange(process, started)
            self._await_exit(process)
        finally:
            _kill_and_reap(process)
        return _finished(started, *self._outcome(process))

    # -- talking to the child ---------------------------------------------------------------------

    def _exchange(self, process: subprocess.Popen[bytes], started: float) -> None:
        assert process.stdin and process.stdout and process.stderr
        pending = memoryview(self.job)
        os.set_blocking(process.stdin.fileno(), False)
        deadline = started + self.limits.startup_timeout_s
        with selectors.DefaultSelector() as selector:
            selector.register(process.stdin, selectors.EVENT_WRITE)
            selector.register(process.stdout, selectors.EVENT_READ)
            selector.register(process.stderr, selectors.EVENT_READ)
            while selector.get_map():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    self.timed_out = self.done is None
                    return
                for key, _ in selector.select(remaining):
                    if key.fileobj is process.stdin:
                        pending = self._write_job(process, selector, pending)
                        continue
                    data = os.read(key.fd, _READ_CHUNK)
                    if not data:
                        selector.unregister(key.fileobj)
                    elif key.fileobj is process.stderr:
                        self.stderr_tail = (self.stderr_tail + data)[-_STDERR_TAIL:]
                    else:
                        was_ready = self.ready
                        self._feed(data)
                        if self.overflowed:
                            return
                        if self.ready and not was_ready:
                            # The script's clock starts at its first statement, not at our fork.
                            deadline = time.monotonic() + self.limits.timeout_s

    @staticmethod
    def _write_job(
        process: subprocess.Popen[bytes], selector: selectors.BaseSelector, pending: memoryview
    ) -> memoryview:
        assert process.stdin
        try:
            pending = pending[os.write(process.stdin.fileno(), pending[:_READ_CHUNK]) :]
        except BlockingIOError:
            return pending
        except OSError:
            # The child is gone; its exit status tells the story.
            pending = pending[len(pending) :]
        if not pending:
            selector.unregister(process.stdin)
            process.stdin.close()
        return pending

    def _feed(self, data: bytes) -> None:
        self.received += len(data)
        if self.received > self.max_output:
            self.overflowed = True
            return
        self.buffer += data
        *lines, self.buffer = self.buffer.split(b"\n")
        for line in lines:
            try:
                message = orjson.loads(line)
            except orjson.JSONDecodeError:
                # A record we cannot read is dropped; it cannot be worth failing the run over.
                continue
            if not isinstance(message, dict):
                continue
            kind = message.get("t")
            if kind == "ready":
                self.ready = True
            elif kind == "log":
                self._add_log(message)
            elif kind == "done":
                self.done = message

    def _add_log(self, message: dict[str, Any]) -> None:
        level = message.get("lvl")
        ms = message.get("ms")
        if type(level) is not int or type(ms) is not int:
            return
        stack = message.get("stk")
        frames = parse_stack(stack, skip=LOGGER_FRAMES) if isinstance(stack, str) else []
        moment = iso(datetime.fromtimestamp(ms / 1000, UTC))
        assert moment is not None
        self.logs.append(LogRecord(lvl=level, dat=message.get("dat"), ts=moment, trc=frames or None))

    def _await_exit(self, process: subprocess.Popen[bytes]) -> None:
        if self.timed_out or self.overflowed:
            return
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=_EXIT_GRACE_S)

    # -- what happened ------------------------------------------------------------------------------

    def _outcome(
        self, process: subprocess.Popen[bytes]
    ) -> tuple[dict[str, Any] | None, Any, list[LogRecord]]:
        logs = self.logs
        if self.done is not None:
            if "engine" in self.done:
                phase = str(self.done.get("phase", "run"))
                return error_from_engine(str(self.done["engine"]), phase=phase), None, logs
            outcome = self.done.get("out")
            if not isinstance(outcome, dict):
                return script_error(CRASHED, "the runtime process sent an unreadable result"), None, logs
            if outcome.get("outcome") in ("ok", "exit"):
                return None, outcome.get("result"), logs
            return error_from_outcome(outcome), None, logs
        if self.timed_out:
            if self.ready:
                reason = f"the script ran for more than {self.limits.timeout_s:g} s of wall-clock time"
                return script_error(TIMEOUT, reason), None, logs
            reason = f"the runtime process did not start within {self.limits.startup_timeout_s:g} s"
            return script_error(CRASHED, reason), None, logs
        if self.overflowed:
            return (
                script_error(CRASHED, "the runtime process sent more output than its limits allow"),
                None,
                logs,
            )
        return self._death(process.returncode), None, logs

    def _death(self, status: int | None) -> dict[str, Any]:
        """The error for a child that ended without reporting a result."""
        tail = self.stderr_tail.decode("utf-8", "replace")
        if status is not None and status < 0:
            number = -status
            if number == signal.SIGXCPU:
                return script_error(TIMEOUT, "the script used more CPU time than its backstop limit")
            try:
                name = signal.Signals(number).name
            except ValueError:
                name = str(number)
            return script_error(CRASHED, f"the runtime process was killed by signal {name}")
        if "MemoryError" in tail:
            limit = self.limits.address_space_bytes // MiB
            return script_error(MEMORY, f"the runtime process ran out of address space (limit {limit} MiB)")
        last = tail.strip().splitlines()[-1:] or [""]
        reason = f"the runtime process exited with status {status} without a result"
        return script_error(CRASHED, reason + (f": {last[0][:500]}" if last[0] else ""))


def _kill_and_reap(process: subprocess.Popen[bytes]) -> None:
    """SIGKILL the child's process group unless it already exited, then reap it and close its pipes."""
    if process.poll() is None:
        # Not yet reaped, so its pid (and group id) cannot have been reused.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    for stream in (process.stdin, process.stdout, process.stderr):
        if stream is not None:
            with contextlib.suppress(OSError):
                stream.close()
