"""Scripts that try to hurt the server. Each must end with a clear error name, inside its limits,
leaving no process or file behind (see conftest) and a parent that still works."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from opencortex.scripting import ScriptLimits
from opencortex.scripting.limits import KiB, MiB
from tests.scripting.helpers import FAST, run

# Wall-clock slack over the script's limit: child start-up, kill and reap on a busy 2-core machine.
SLACK_S = 2.0

# Filling a 64 MiB heap takes 0.1-0.7 s here; a roomier limit keeps slow machines from turning
# a memory failure into a timeout.
ROOMY = ScriptLimits(timeout_s=5.0)


def assert_fails_with(source: str, name: str, *, limits: ScriptLimits = FAST) -> dict:
    started = time.monotonic()
    outcome = run(source, limits=limits)
    elapsed = time.monotonic() - started
    assert not outcome.ok
    assert outcome.result is None
    assert outcome.error is not None, outcome
    assert outcome.error["name"] == name, outcome.error
    assert elapsed < limits.timeout_s + SLACK_S
    # The parent is unharmed: the next script runs normally.
    assert run("return 1 + 1;").result == 2
    return outcome.error


@pytest.mark.parametrize(
    "source",
    [
        "while (true) {}",
        "while (true) { try {} catch (e) {} }",
        "for (;;) { try { for (;;) {} } catch (e) {} finally { continue; } }",
        "/(a+)+$/.test('a'.repeat(40) + 'b');",
        "function f() { try { f(); } catch (e) { f(); } } f();",
    ],
    ids=["loop", "try-catch-loop", "finally-loop", "regex-backtracking", "recursion-that-catches"],
)
def test_endless_scripts_time_out(source: str) -> None:
    started = time.monotonic()
    error = assert_fails_with(source, "timeout")
    assert time.monotonic() - started >= FAST.timeout_s
    assert error["reason"] == "the script ran for more than 1.5 s of wall-clock time"


def test_logs_written_before_a_timeout_are_kept() -> None:
    outcome = run("console.log('started');\nwhile (true) {}")
    assert outcome.error is not None and outcome.error["name"] == "timeout"
    assert [record.dat for record in outcome.logs] == ["started"]


def test_waiting_is_not_possible() -> None:
    outcome = run("return typeof Atomics.wait;")
    assert outcome.result == "undefined"


@pytest.mark.parametrize(
    "source",
    [
        "const a = []; for (;;) a.push('item' + a.length);",
        "const a = []; for (;;) a.push({n: a.length, list: [1, 2, 3]});",
        "let s = 'x'; for (;;) { s += s; s.indexOf('y'); }",
        "let s = 'x'; for (;;) s = s + s;",
        "new ArrayBuffer(1.5 * 1024 ** 3);",
        "new Uint8Array(1.5 * 1024 ** 3);",
        "new SharedArrayBuffer(1.5 * 1024 ** 3);",
        "const a = []; for (;;) a.push(new Float64Array(1 << 20));",
        "const a = []; for (;;) a.push(new Uint8Array(4096).fill(1));",
        "const b = new ArrayBuffer(8, {maxByteLength: 1.5 * 1024 ** 3}); b.resize(1.5 * 1024 ** 3);",
        "const m = new Map(); for (let i = 0; ; i++) m.set(i, new Array(100).fill(i));",
        "'x'.repeat(2 ** 28).split('');",
    ],
    ids=[
        "array-growth",
        "object-growth",
        "string-doubling-flattened",
        "string-doubling",
        "array-buffer-1.5GiB",
        "typed-array-1.5GiB",
        "shared-array-buffer-1.5GiB",
        "typed-array-growth",
        "small-typed-arrays",
        "resizable-buffer",
        "map-growth",
        "huge-split",
    ],
)
def test_memory_bombs_hit_the_memory_limit(source: str) -> None:
    assert_fails_with(source, "memory", limits=ROOMY)


def test_a_memory_bomb_costs_the_machine_no_more_than_the_limit() -> None:
    # Measured in a separate interpreter: its children's peak RSS is that one script's child.
    program = (
        "import resource\n"
        "from opencortex.scripting import run_script\n"
        "run = run_script('const a = []; for (;;) a.push(new Uint8Array(4096).fill(1));',"
        " arguments=None, principal=None)\n"
        "print(run.error['name'], resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
    )
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, check=True)
    name, peak_kib = done.stdout.split()
    assert name == "memory"
    limits = ScriptLimits()
    assert int(peak_kib) * KiB < limits.memory_bytes + 32 * MiB


def test_a_script_may_catch_running_out_of_memory_and_carry_on() -> None:
    outcome = run(
        "try { new ArrayBuffer(1.5 * 1024 ** 3); } catch (e) { console.log(e.name, e.message); }\n"
        "return 'fine';"
    )
    assert outcome.result == "fine"
    assert outcome.logs[0].dat == ["InternalError", "out of memory"]


@pytest.mark.parametrize(
    "source",
    [
        "function r() { return r() + 1; } r();",
        "const o = {}; o.toString = function () { return String(this); }; String(o);",
        "let a = []; for (let i = 0; i < 1e5; i++) a = [a]; String(a);",
        "JSON.parse('['.repeat(1e6));",
        "const p = new Proxy({}, {get(t, k, r) { return r[k]; }}); p.x;",
    ],
    ids=["recursion", "toString-recursion", "nested-array-join", "nested-json-parse", "proxy-recursion"],
)
def test_deep_recursion_hits_the_stack_limit(source: str) -> None:
    error = assert_fails_with(source, "stackOverflow", limits=ROOMY)
    assert error["reason"] == "RangeError: Maximum call stack size exceeded"


def test_logging_a_deeply_nested_value_is_cut_at_a_fixed_depth() -> None:
    outcome = run("let o = {}; for (let i = 0; i < 1e5; i++) o = {o}; console.log(o); return 1;")
    assert outcome.result == 1
    data = outcome.logs[0].dat
    for _ in range(64):
        data = data["o"]
    assert data == "[Too deep]"


@pytest.mark.parametrize(
    "source",
    [
        "import os from 'os';",
        "import * as std from 'std';",
        "import x from './x.js';",
        "import x from '/etc/passwd';",
        "import {readFile} from 'fs';",
        "import('os');",
        "import('/etc/passwd').then(() => {});",
        "require('os');",
        "require('std');",
        "require('/etc/passwd');",
        "require('__proto__');",
    ],
)
def test_only_builtin_modules_can_be_imported(source: str) -> None:
    error = assert_fails_with(source, "import")
    assert "not available" in error["reason"] or "dynamic import()" in error["reason"]


def test_import_through_eval_finds_no_module_loader() -> None:
    outcome = run(
        "eval(\"import('os')\").then(\n"
        "  (m) => console.log('loaded', Object.keys(m)),\n"
        "  (e) => console.log(String(e)),\n"
        ");"
    )
    assert outcome.ok
    assert [record.dat for record in outcome.logs] == ["ReferenceError: could not load module 'os'"]


def test_the_global_scope_exposes_no_runtime_internals() -> None:
    outcome = run(
        "const g = Function('return this')();\n"
        "const names = ['std', 'os', 'scriptArgs', 'print', '__loadScript', 'load', 'read', 'readline',\n"
        "  'process', 'Deno', 'Bun', 'fetch', 'XMLHttpRequest', 'WebAssembly', 'setTimeout',\n"
        "  'setInterval', 'bjson', '__oc_emit', 'module', 'exports'];\n"
        "return {\n"
        "  same: g === globalThis,\n"
        "  found: names.filter((n) => n in g || typeof globalThis[n] !== 'undefined'),\n"
        "  globals: Object.getOwnPropertyNames(g).filter((n) => /^[a-z_]/.test(n)).sort(),\n"
        "};"
    )
    assert outcome.result == {
        "same": True,
        "found": [],
        "globals": sorted(
            [
                "__oc_import",
                "atob",
                "btoa",
                "console",
                "consts",
                "decodeURI",
                "decodeURIComponent",
                "encodeURI",
                "encodeURIComponent",
                "escape",
                "eval",
                "globalThis",
                "isFinite",
                "isNaN",
                "parseFloat",
                "parseInt",
                "performance",
                "queueMicrotask",
                "require",
                "script",
                "undefined",
                "unescape",
            ]
        ),
    }


def test_the_builtins_cannot_be_replaced() -> None:
    outcome = run(
        "const tries = [() => { script = {}; }, () => { script.exit = null; },\n"
        "  () => { consts.accessLevels.read = 9; }, () => { require('logger').info = null; },\n"
        "  () => { delete globalThis.console; }];\n"
        "return tries.map((t) => { try { t(); return 'changed'; } catch (e) { return e.name; } });"
    )
    assert outcome.result == ["TypeError"] * 5


def test_sabotaged_builtins_do_not_break_logging() -> None:
    outcome = run(
        "JSON.stringify = () => '{broken';\n"
        "String.prototype.toWellFormed = () => { throw new Error('no'); };\n"
        "Function.prototype.call = () => { throw new Error('no'); };\n"
        "Object.keys = () => ['nope'];\n"
        "Array.prototype.includes = () => true;\n"
        "Error.prepareStackTrace = () => { throw new Error('no'); };\n"
        "console.log('still', 1, new Date(0));\n"
        "return 'done';"
    )
    assert outcome.ok, outcome.error
    assert outcome.result == "done"
    assert outcome.logs[0].dat == ["still", 1, "1970-01-01T00:00:00.000Z"]


def test_functions_reached_through_stack_trace_hooks_give_no_new_power() -> None:
    # QuickJS hands stack-trace hooks the functions on the stack, including the prelude's own.
    outcome = run(
        "const found = {};\n"
        "Error.stackTraceLimit = 100;\n"
        "Error.prepareStackTrace = (e, frames) => {\n"
        "  for (const f of frames) { const fn = f.getFunction(); if (fn) found[f.getFunctionName()] = fn; }\n"
        "  return 'hooked';\n"
        "};\n"
        "console.log({get x() { return new Error().stack; }});\n"
        "Error.prepareStackTrace = undefined;\n"
        "return {\n"
        "  names: Object.keys(found).sort(),\n"
        "  finish: found.control('guess', 'finish') === undefined,\n"
        "  compile: found.control(undefined, 'compile', '(function main() { return 6; })') === undefined,\n"
        "};"
    )
    assert outcome.ok, outcome.error
    assert "control" in outcome.result["names"]
    assert "__oc_emit" not in outcome.result["names"]
    assert outcome.result["finish"] is True
    assert outcome.result["compile"] is True


def test_logging_100_megabytes_is_cut_quickly() -> None:
    started = time.monotonic()
    outcome = run(
        "const chunk = 'x'.repeat(1 << 20);\n"
        "for (let i = 0; i < 100; i++) console.log(chunk);\n"
        "return 'done';"
    )
    assert time.monotonic() - started < 1.5
    assert outcome.result == "done"
    *records, cut = outcome.logs
    assert len(records) == FAST.max_log_bytes // FAST.max_record_bytes
    assert all(record.dat["truncated"] is True for record in records)
    assert cut.lvl == 1
    assert cut.dat["message"].startswith("Log output was cut")


def test_a_million_log_calls_are_cut_at_the_record_limit() -> None:
    started = time.monotonic()
    outcome = run(
        "const logger = require('logger');\nfor (let i = 0; i < 1e6; i++) logger.info(i);\nreturn 'done';",
        limits=ROOMY,
    )
    # The dropped calls cost the script's loop and an early return each, nothing more.
    assert time.monotonic() - started < 3.0
    assert outcome.result == "done"
    assert len(outcome.logs) == FAST.max_log_records + 1
    assert outcome.logs[-2].dat == FAST.max_log_records - 1
    assert outcome.logs[-1].dat["maxRecords"] == FAST.max_log_records


def test_logging_in_an_endless_loop_still_times_out_with_its_logs() -> None:
    outcome = run("for (;;) console.log('spam');")
    assert outcome.error is not None and outcome.error["name"] == "timeout"
    assert len(outcome.logs) == FAST.max_log_records + 1


def test_a_huge_result_is_truncated() -> None:
    outcome = run("return 'r'.repeat(4 * 1024 * 1024);")
    assert outcome.ok
    assert outcome.result["truncated"] is True
    assert outcome.result["limit"] == FAST.max_result_bytes


def test_a_script_over_50_kib_is_rejected_without_running() -> None:
    source = "// padding\n" * 5000
    assert len(source) > 50 * 1024
    started = time.monotonic()
    outcome = run(source)
    assert time.monotonic() - started < 0.5
    assert outcome.error is not None
    assert outcome.error["name"] == "tooLarge"
    assert outcome.error["reason"] == f"the script has {len(source)} characters; the limit is 51200"


def test_a_script_of_exactly_50_kib_runs() -> None:
    source = "return 1;" + " " * (50 * 1024 - 9)
    assert run(source).result == 1


@pytest.mark.parametrize(
    "source",
    [
        "\x00",
        "return '\x00';",
        "\ud800",
        "}{",
        "\\",
        "'",
        "/*",
        "`${",
        "#!",
        "\u2028return 1",
        "return 1\n//",
    ],
)
def test_odd_sources_never_raise(source: str) -> None:
    outcome = run(source)
    assert outcome.ok or outcome.error["name"] in ("compile", "runtime")
