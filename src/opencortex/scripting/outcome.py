"""Turn what the engine reported into the stable error names, and its stacks into Logs ``trc`` frames.

The prelude reports facts (an error's JavaScript name, message and stack); the decisions about
which of our error names a failure gets are all made here, in one place.
"""

from __future__ import annotations

import re
from typing import Any

import orjson

from opencortex.scripting.model import (
    COMPILE,
    IMPORT,
    MEMORY,
    RUNTIME,
    STACK_OVERFLOW,
    Frame,
    script_error,
)
from opencortex.scripting.prelude import ENTRY_FUNCTION

# The file name QuickJS gives every evaluated string; for a caller the script is one file.
_ENGINE_FILE = "<input>"
SCRIPT_FILE = "script"
_VALUE_PREVIEW = 500

_FRAME = re.compile(r"^\s*at (?:(?P<function>.+?) \((?P<where>[^()]*)\)|(?P<bare>[^()\s]+))\s*$")
_LOCATION = re.compile(r"^(?P<file>.*):(?P<line>\d+):(?P<column>\d+)$")


def parse_stack(text: str, *, skip: int = 0) -> list[Frame]:
    """The script's frames in ``text``: ``skip`` frames off the top, and the prelude's below main.

    The body runs inside a function named ``main`` that the prelude calls, so every frame under
    the lowest ``main`` is ours. Native frames (``at join (native)``) say nothing about the script
    and are dropped.
    """
    parsed: list[tuple[str, str, int | None]] = []
    for raw in text.splitlines():
        match = _FRAME.match(raw)
        if not match:
            continue
        where = match.group("where") if match.group("function") else match.group("bare")
        function = match.group("function") or ""
        location = _LOCATION.match(where or "")
        if location is None:
            parsed.append((function, "", None))
        else:
            parsed.append((function, location.group("file"), int(location.group("line"))))
    parsed = parsed[skip:]
    entries = [i for i, (function, _, _) in enumerate(parsed) if function == ENTRY_FUNCTION]
    if entries:
        parsed = parsed[: entries[-1] + 1]
    return [
        {"file": SCRIPT_FILE, "line": line, "function": function}
        for function, file, line in parsed
        if file == _ENGINE_FILE and line is not None
    ]


def render_stack(frames: list[Frame]) -> str:
    return "\n".join(
        f"    at {frame['function']} ({frame['file']}:{frame['line']})"
        if frame["function"]
        else f"    at {frame['file']}:{frame['line']}"
        for frame in frames
    )


def error_from_js(name: str, message: str, stack: str, *, phase: str) -> dict[str, Any]:
    """The run's error for a JavaScript error object that escaped the script."""
    frames = parse_stack(stack)
    described = f"{name}: {message}" if name else message
    if phase == "compile" and name == "SyntaxError":
        line = frames[0]["line"] if frames else None
        where = f" (line {line})" if line is not None else ""
        return script_error(COMPILE, described + where, line=line)
    if name == "ImportError":
        kind = IMPORT
    elif name == "InternalError" and message in ("out of memory", "string too long"):
        kind = MEMORY
    elif (name == "RangeError" and "call stack" in message) or (
        name == "InternalError" and "stack overflow" in message
    ):
        kind = STACK_OVERFLOW
    else:
        kind = RUNTIME
    return script_error(kind, described, stack=render_stack(frames), trc=frames)


def error_from_engine(text: str, *, phase: str) -> dict[str, Any]:
    """The run's error for an engine exception that reached the child's Python code.

    The text is ``"<Name>: <message>\\n<stack>"``, as the QuickJS extension formats it.
    """
    first, _, stack = text.partition("\n")
    name, sep, message = first.partition(": ")
    if not sep:
        name, message = "", first
    return error_from_js(name, message, stack, phase=phase)


def error_from_outcome(outcome: dict[str, Any]) -> dict[str, Any]:
    """The run's error for an ``outcome: threw`` report from the prelude."""
    kind = outcome.get("kind")
    phase = str(outcome.get("phase", "run"))
    if kind == "error":
        return error_from_js(
            str(outcome.get("name", "")),
            str(outcome.get("message", "")),
            str(outcome.get("stack", "")),
            phase=phase,
        )
    if kind == "null":
        # QuickJS throws null when it cannot even allocate the error for running out of memory.
        # A script that literally throws null is reported the same way; nobody relies on that.
        return script_error(MEMORY, "out of memory (the engine could not allocate an error object)")
    if kind == "undefined":
        return script_error(RUNTIME, "the script threw undefined")
    if kind == "value":
        value = orjson.dumps(outcome.get("value")).decode()
        if len(value) > _VALUE_PREVIEW:
            value = value[:_VALUE_PREVIEW] + "..."
        return script_error(RUNTIME, f"the script threw a value that is not an Error: {value}")
    return script_error(RUNTIME, "the script threw a value that could not be described")
