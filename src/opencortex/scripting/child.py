"""The child process that runs one script.

Command line: ``python -I -S child.py <marker> <parent pid> <engine directory>``.

It is started by ``runner.py`` and is deliberately standalone: no ``site``, no ``opencortex``
import, and not even ``json`` or ``typing`` (together they were a third of a run's start-up time);
only a few built-in modules and the QuickJS extension. It holds nothing of the server's memory
(it is exec'd, not forked).

Protocol. stdin, then EOF: one ASCII header line of integers, ``<prelude bytes> <source bytes>
<config bytes> <heap> <finish headroom> <address space> <stack> <cpu seconds> <log bytes> <log
records> <compile only>``, followed by the prelude, the wrapped source and the script config (JSON), in UTF-8.
stdout: one JSON message per line, each written as soon as it exists so that whatever the script
logged survives the parent killing it on timeout::

    {"t":"ready"}                                   about to compile and run the script
    {"t":"log","lvl":2,"ms":<epoch ms>,"dat":<JSON>,"stk":"<JS stack>"}
    {"t":"done","out":<outcome JSON from the prelude>}
    {"t":"done","engine":"<engine error text>","phase":"compile"|"run"}

The JSON in ``dat``, ``stk`` and ``out`` is made by the prelude's serializer; this process only
frames it. The parent reads nothing from stderr except, on a crash, its tail.
"""

from __future__ import annotations

import os
import resource
import sys
import time

_PR_SET_PDEATHSIG = 1
_PR_SET_NO_NEW_PRIVS = 38
_SIGKILL = 9


def _write(data: bytes) -> None:
    """Write all of ``data`` to stdout; a parent that stopped listening ends this process."""
    view = memoryview(data)
    try:
        while view:
            view = view[os.write(1, view) :]
    except (BrokenPipeError, OSError):
        os._exit(3)


def _die_with_parent(parent_pid: int) -> None:
    """Ask the kernel to SIGKILL us if the parent goes away, so no orphan outlives the server.

    Strictly, the signal comes when the parent *thread* that started us ends; that thread is
    blocked in ``run_script`` until we are reaped, so the two lifetimes are the same.
    """
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, _SIGKILL, 0, 0, 0)
        # No privilege gain through exec (there is no exec, but it costs nothing to say so).
        libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
    except (ImportError, OSError, AttributeError):
        pass
    if os.getppid() != parent_pid:
        # The parent died before the death signal was armed.
        os._exit(4)


def _quote(text: str) -> str:
    """``text`` as a JSON string literal (``json`` is not imported here, see above)."""
    return '"' + text.translate(_ESCAPES) + '"'


_ESCAPES = {code: f"\\u{code:04x}" for code in range(32)} | {ord('"'): '\\"', ord("\\"): "\\\\"}


def _limit_resources(limits: dict[str, int]) -> None:
    def cap(which: int, soft: int, hard: int | None = None) -> None:
        current_hard = resource.getrlimit(which)[1]
        hard = soft if hard is None else hard
        if current_hard != resource.RLIM_INFINITY:
            soft, hard = min(soft, current_hard), min(hard, current_hard)
        resource.setrlimit(which, (soft, hard))

    # The engine's own limit is the one scripts meet; this one catches anything it does not count.
    cap(resource.RLIMIT_AS, limits["addressSpace"])
    # A backstop for a parent that can no longer kill us: SIGXCPU at the soft limit, SIGKILL at hard.
    cap(resource.RLIMIT_CPU, limits["cpuSeconds"], limits["cpuSeconds"] + 1)
    # The engine recurses on the C stack; make sure the stack can grow past the engine's own limit.
    soft, hard = resource.getrlimit(resource.RLIMIT_STACK)
    wanted = limits["stack"] * 2 + (8 << 20)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        resource.setrlimit(
            resource.RLIMIT_STACK, (wanted if hard == resource.RLIM_INFINITY else min(wanted, hard), hard)
        )
    cap(resource.RLIMIT_CORE, 0)
    cap(resource.RLIMIT_FSIZE, 0)
    cap(resource.RLIMIT_NOFILE, 8)
    cap(resource.RLIMIT_NPROC, 0)


class _LogSink:
    """The native function the prelude calls for each log record; it owns the log budget.

    The prelude calls it as ``emit("log", level, datJson, stackJson, charge)`` and
    ``emit("exit")``; ``charge`` is the least the record counts against the budget (a truncated
    record counts in full). It must never raise (a Python error would surface inside the script),
    and it checks its arguments because it is the only native code reachable from JavaScript.
    """

    def __init__(self, max_bytes: int, max_records: int) -> None:
        self.max_bytes = max_bytes
        self.max_records = max_records
        self.bytes = 0
        self.records = 0
        self.cut = False
        self.exited = False

    def __call__(self, *args: object) -> bool:
        try:
            return self._handle(args)
        except Exception:
            return False

    def _handle(self, args: tuple[object, ...]) -> bool:
        if args[:1] == ("exit",):
            self.exited = True
            return True
        if self.cut or len(args) != 5 or args[0] != "log":
            return False
        _, level, dat, stack, charge = args
        # bool is an int in Python; a JavaScript boolean is never a level or a size.
        if isinstance(level, bool) or not isinstance(level, int) or not 0 <= level <= 4:
            return True
        if not isinstance(dat, str) or not isinstance(stack, str):
            return True
        if isinstance(charge, bool) or not isinstance(charge, int | float):
            return True
        if not 0 <= charge <= self.max_bytes:
            return True
        # Numbers that came through JSON may arrive as floats.
        size = max(int(charge), len(dat.encode("utf-8", "replace")) + len(stack.encode("utf-8", "replace")))
        if self.records >= self.max_records or self.bytes + size > self.max_bytes:
            self._cut_log()
            return False
        self.records += 1
        self.bytes += size
        self._send_log(level, dat, stack)
        return True

    def _cut_log(self) -> None:
        self.cut = True
        message = "Log output was cut: the script reached its log limit and later log calls were dropped."
        limits = f'"maxBytes":{self.max_bytes},"maxRecords":{self.max_records}'
        notice = f'{{"message":{_quote(message)},{limits}}}'
        self._send_log(1, notice, '""')

    @staticmethod
    def _send_log(level: int, dat: str, stack: str) -> None:
        ms = int(time.time() * 1000)
        line = f'{{"t":"log","lvl":{level},"ms":{ms},"dat":{dat},"stk":{stack}}}\n'
        _write(line.encode("utf-8", "replace"))


def _engine_error(exc: BaseException, phase: str) -> bytes:
    text = f'{{"t":"done","engine":{_quote(str(exc)[:8192])},"phase":{_quote(phase)}}}\n'
    return text.encode("utf-8", "replace")


def _run(job: dict[str, str], limits: dict[str, int], engine: object) -> None:
    sink = _LogSink(limits["maxLogBytes"], limits["maxLogRecords"])
    ctx = engine.Context()  # type: ignore[attr-defined]
    ctx.set_memory_limit(limits["memory"])
    ctx.set_max_stack_size(limits["stack"])
    ctx.add_callable("__oc_emit", sink)
    setup = ctx.eval(job["prelude"])
    # Script code may get hold of the control function (see the prelude); it cannot guess this.
    secret = os.urandom(16).hex()
    control = setup(ctx.parse_json(job["config"]), secret)
    _write(b'{"t":"ready"}\n')

    phase = "compile"
    try:
        # Compile only: the script's function is built (so a syntax error is reported as a run's
        # would be), and its body never runs.
        if control(secret, "compile", job["source"]) and not limits["compileOnly"]:
            phase = "run"
            control(secret, "run")
            # Promise callbacks the script queued run now, still inside the time limit.
            while not sink.exited and ctx.execute_pending_job():
                pass
    except engine.JSException as exc:  # type: ignore[attr-defined]
        _write(_engine_error(exc, phase))
        return
    # Room to describe an out-of-memory failure and serialize the result.
    ctx.set_memory_limit(limits["memory"] + limits["finishHeadroom"])
    try:
        outcome = control(secret, "finish")
    except engine.JSException as exc:  # type: ignore[attr-defined]
        _write(_engine_error(exc, phase))
        return
    if not isinstance(outcome, str):
        outcome = '{"phase":"run","outcome":"threw","kind":"unknown"}'
    _write(b'{"t":"done","out":' + outcome.encode("utf-8", "replace") + b"}\n")


_LIMIT_FIELDS = (
    "memory",
    "finishHeadroom",
    "addressSpace",
    "stack",
    "cpuSeconds",
    "maxLogBytes",
    "maxLogRecords",
    "compileOnly",
)


def _read_job() -> tuple[dict[str, str], dict[str, int]]:
    data = sys.stdin.buffer.read()
    os.close(0)
    header, _, body = data.partition(b"\n")
    numbers = [int(field) for field in header.split()]
    sizes, values = numbers[:3], numbers[3:]
    job: dict[str, str] = {}
    offset = 0
    for name, size in zip(("prelude", "source", "config"), sizes, strict=True):
        job[name] = body[offset : offset + size].decode("utf-8")
        offset += size
    return job, dict(zip(_LIMIT_FIELDS, values, strict=True))


def main() -> None:
    parent_pid = int(sys.argv[2])
    job, limits = _read_job()
    sys.path.insert(0, sys.argv[3])
    import _quickjs  # importable only once the engine's directory is on sys.path

    _die_with_parent(parent_pid)
    _limit_resources(limits)
    _run(job, limits, _quickjs)
    # Skip interpreter and engine teardown: the process is done, the kernel frees everything.
    os._exit(0)


if __name__ == "__main__":
    main()
