"""What a well-behaved script can do: modules, globals, logging, results."""

from __future__ import annotations

from datetime import datetime

import pytest

from tests.scripting.helpers import EXPORT, run

SEED = "import logger from 'logger';\nlogger.info(script.arguments.err || script.arguments.export);\n"


def test_the_cortex_afterscript_example_logs_the_export() -> None:
    outcome = run(SEED, arguments={"err": None, "export": EXPORT})
    assert outcome.ok, outcome.error
    assert outcome.error is None
    assert len(outcome.logs) == 1
    record = outcome.logs[0]
    assert record.lvl == 2
    assert record.dat == EXPORT
    assert record.trc == [{"file": "script", "line": 2, "function": "main"}]
    assert datetime.fromisoformat(record.ts.replace("Z", "+00:00"))
    assert outcome.duration_ms > 0


def test_the_example_logs_the_fault_when_the_export_failed() -> None:
    fault = {"object": "fault", "name": "error", "code": "kError", "errCode": "cortex.error.unspecified"}
    outcome = run(SEED, arguments={"err": fault, "export": EXPORT})
    assert [record.dat for record in outcome.logs] == [fault]


def test_logger_levels() -> None:
    outcome = run(
        "import logger from 'logger';\n"
        "logger.error('e'); logger.warn('w'); logger.info('i'); logger.debug('d'); logger.trace('t');"
    )
    assert [(record.lvl, record.dat) for record in outcome.logs] == [
        (0, "e"),
        (1, "w"),
        (2, "i"),
        (3, "d"),
        (4, "t"),
    ]


def test_console_methods_log_records() -> None:
    outcome = run(
        "console.log('a', 1, {b: [true, null]}); console.info('i'); console.warn('w'); console.error('e');"
    )
    assert outcome.ok
    assert [(record.lvl, record.dat) for record in outcome.logs] == [
        (2, ["a", 1, {"b": [True, None]}]),
        (2, "i"),
        (1, "w"),
        (0, "e"),
    ]


def test_import_console_and_named_imports() -> None:
    outcome = run(
        "import console2 from 'console';\nimport {info, warn as w} from 'logger';\n"
        "console2.log('c'); info('i'); w('w');"
    )
    assert [(record.lvl, record.dat) for record in outcome.logs] == [(2, "c"), (2, "i"), (1, "w")]


def test_require_returns_the_builtin_modules() -> None:
    outcome = run(
        "const logger = require('logger');\nconst c = require('console');\n"
        "logger.info('from require'); return c === console;"
    )
    assert outcome.ok
    assert outcome.result is True
    assert [record.dat for record in outcome.logs] == ["from require"]


def test_script_exit_ends_the_script_with_its_value() -> None:
    outcome = run("console.log('before'); script.exit(42); console.log('after');")
    assert outcome.ok
    assert outcome.result == 42
    assert [record.dat for record in outcome.logs] == ["before"]


def test_script_exit_wins_even_if_the_script_catches_it() -> None:
    outcome = run("try { script.exit({done: true}); } catch (e) { console.log('caught'); } return 'ignored';")
    assert outcome.ok
    assert outcome.result == {"done": True}
    assert outcome.logs == []


def test_a_top_level_return_is_the_result() -> None:
    outcome = run("const a = [1, 2, 3];\nreturn {sum: a.reduce((x, y) => x + y), when: new Date(0)};")
    assert outcome.result == {"sum": 6, "when": "1970-01-01T00:00:00.000Z"}


def test_script_principal_and_arguments_are_the_values_passed_in() -> None:
    principal = {"_id": "000000000000000000000001", "email": "a@example.com", "roles": []}
    outcome = run(
        "return [script.principal.email, script.arguments.n + 1];", arguments={"n": 41}, principal=principal
    )
    assert outcome.result == ["a@example.com", 42]


def test_consts_has_the_access_levels() -> None:
    outcome = run("return consts.accessLevels;")
    assert outcome.result == {
        "public": 1,
        "connected": 2,
        "read": 4,
        "share": 5,
        "update": 6,
        "delete": 7,
        "script": 8,
    }


def test_strict_mode_assigning_an_undeclared_variable_fails() -> None:
    outcome = run("\nundeclared = 1;")
    assert not outcome.ok
    assert outcome.error is not None
    assert outcome.error["name"] == "runtime"
    assert outcome.error["reason"] == "ReferenceError: undeclared is not defined"
    assert outcome.error["trc"] == [{"file": "script", "line": 2, "function": "main"}]


def test_strict_mode_this_is_undefined_and_globals_are_read_only() -> None:
    outcome = run("const t = typeof this; try { console = null; } catch (e) { return [t, e.name]; }")
    assert outcome.result == ["undefined", "TypeError"]


def test_eval_is_allowed_and_stays_inside_the_sandbox() -> None:
    outcome = run("return [eval('1 + 1'), (0, eval)('typeof script'), new Function('return 7')()];")
    assert outcome.result == [2, "object", 7]


def test_a_runtime_error_reports_name_reason_and_the_scripts_frames() -> None:
    outcome = run("function load(x) {\n  return x.missing.field;\n}\nload({});")
    assert outcome.error is not None
    assert outcome.error["name"] == "runtime"
    assert outcome.error["message"] == "The script threw an error."
    assert outcome.error["reason"] == "TypeError: cannot read property 'field' of undefined"
    assert outcome.error["trc"] == [
        {"file": "script", "line": 2, "function": "load"},
        {"file": "script", "line": 4, "function": "main"},
    ]
    assert outcome.error["stack"] == "    at load (script:2)\n    at main (script:4)"


def test_a_thrown_value_that_is_not_an_error() -> None:
    outcome = run("throw {code: 'nope'};")
    assert outcome.error is not None
    assert outcome.error["name"] == "runtime"
    assert outcome.error["reason"] == 'the script threw a value that is not an Error: {"code":"nope"}'


def test_a_syntax_error_is_a_compile_error_with_its_line() -> None:
    outcome = run("const a = 1;\nconst b = ;\n")
    assert outcome.error is not None
    assert outcome.error["name"] == "compile"
    assert outcome.error["reason"].startswith("SyntaxError: ")
    assert outcome.error["reason"].endswith("(line 2)")


def test_logged_values_become_json_without_failing() -> None:
    outcome = run(
        "const o = {a: 1, u: undefined, f: function named() {}};\no.self = o;\n"
        "console.log(o, undefined, 10n, Symbol('s'), new Error('boom'), [undefined, () => 1], NaN);\n"
        "console.log(new Uint8Array(8), '\\ud800 lone');\nconsole.log();"
    )
    assert outcome.ok, outcome.error
    first, second, third = (record.dat for record in outcome.logs)
    assert first == [
        {"a": 1, "f": "[Function: named]", "self": "[Circular]"},
        None,
        "10",
        "Symbol(s)",
        {"name": "Error", "message": "boom"},
        [None, "[Function: ]"],
        None,
    ]
    assert second == ["[Uint8Array of 8 bytes]", "\ufffd lone"]
    assert third is None


def test_a_shared_reference_is_not_mistaken_for_a_cycle() -> None:
    outcome = run("const shared = {x: 1}; console.log({a: shared, b: shared});")
    assert outcome.logs[0].dat == {"a": {"x": 1}, "b": {"x": 1}}


def test_a_getter_that_throws_marks_its_value() -> None:
    outcome = run("console.log({ok: 1, get bad() { throw new Error('no'); }});")
    assert outcome.logs[0].dat == {"ok": 1, "bad": "[Unserializable]"}


def test_dates_and_hostile_proxies() -> None:
    outcome = run(
        "console.log(new Date(0));\n"
        "console.log({p: new Proxy({}, {ownKeys() { throw new Error('no'); }})});\n"
        "const {proxy, revoke} = Proxy.revocable({}, {}); revoke(); console.log([proxy]);"
    )
    assert [record.dat for record in outcome.logs] == [
        "1970-01-01T00:00:00.000Z",
        {"p": None},
        ["[Unserializable]"],
    ]


def test_a_large_record_is_replaced_by_a_truncated_preview() -> None:
    outcome = run("console.log({big: 'x'.repeat(200000)});")
    data = outcome.logs[0].dat
    assert data["truncated"] is True
    assert data["limit"] == 65536
    assert data["preview"].startswith('{"big":"xxx')
    assert len(data["preview"]) == 1024


@pytest.mark.parametrize("size", [600, 20_000])
def test_long_concatenated_strings_reach_python(size: int) -> None:
    # QuickJS keeps long concatenations as ropes, which the binding cannot convert by itself.
    outcome = run(f"const s = 'a'.repeat({size}) + 'b'.repeat({size}); console.log(s); return s + '!';")
    assert outcome.logs[0].dat == "a" * size + "b" * size
    assert outcome.result == "a" * size + "b" * size + "!"


def test_promise_callbacks_run_before_the_script_ends() -> None:
    outcome = run("Promise.resolve(2).then((n) => console.log('then', n));\nreturn 1;")
    assert outcome.result == 1
    assert [record.dat for record in outcome.logs] == [["then", 2]]


def test_log_records_carry_the_callers_frames() -> None:
    outcome = run("function helper() {\n  console.log('x');\n}\nhelper();")
    assert outcome.logs[0].trc == [
        {"file": "script", "line": 2, "function": "helper"},
        {"file": "script", "line": 4, "function": "main"},
    ]


def test_to_json_shapes() -> None:
    outcome = run("console.warn('w'); return 1;")
    body = outcome.to_json()
    assert body["ok"] is True
    assert body["result"] == 1
    assert body["error"] is None
    assert body["logs"][0]["lvl"] == 1
    assert set(body["logs"][0]) == {"lvl", "dat", "ts", "trc"}
