"""The import rewrite: what it accepts, what it rejects, and that it keeps line numbers."""

from __future__ import annotations

import pytest

from opencortex.scripting.transform import SourceRejected, prepare_source


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("import logger from 'logger';", 'const logger = __oc_import("logger");'),
        ('import logger from "logger"', 'const logger = __oc_import("logger");'),
        ("import {info, warn as w} from 'logger';", 'const {info, warn: w} = __oc_import("logger");'),
        ("import * as log from 'console';", 'const log = __oc_import("console");'),
        (
            "import logger, {info} from 'logger';",
            'const logger = __oc_import("logger"), {info} = __oc_import("logger");',
        ),
        ("import 'logger';", '__oc_import("logger");'),
    ],
)
def test_static_imports_of_builtin_modules_become_constants(source: str, expected: str) -> None:
    assert prepare_source(source) == expected


def test_the_cortex_example_keeps_its_lines() -> None:
    source = "import logger from 'logger';\nlogger.info(script.arguments.err || script.arguments.export);\n"
    assert prepare_source(source) == (
        'const logger = __oc_import("logger");\n'
        "logger.info(script.arguments.err || script.arguments.export);\n"
    )


def test_a_multi_line_import_keeps_the_following_lines_in_place() -> None:
    source = "import {\n  info,\n  warn,\n} from 'logger';\nx();"
    rewritten = prepare_source(source)
    assert rewritten.splitlines()[4] == "x();"
    assert rewritten.count("\n") == source.count("\n")


def test_import_inside_strings_comments_templates_and_regexes_is_left_alone() -> None:
    source = (
        "const s = \"import x from 'os'\"; const t = `a ${ {a: 1}.a } import('os') ${`${1}`}`;\n"
        "const r = /import('os')/g; // import os from 'os'\n"
        "/* import('x') */ x.import('y'); ({import: 1}); const q = a / b / c;"
    )
    assert prepare_source(source) == source


@pytest.mark.parametrize("module", ["os", "std", "./x.js", "/etc/passwd", "https://example.com/x.js", "fs"])
def test_importing_anything_but_a_builtin_is_an_import_error(module: str) -> None:
    with pytest.raises(SourceRejected) as rejected:
        prepare_source(f"\nimport x from '{module}';")
    assert rejected.value.name == "import"
    assert rejected.value.line == 2
    assert repr(module) in rejected.value.reason


@pytest.mark.parametrize("source", ["import('os')", "const m = import ( 'os' );", "f(import('logger'))"])
def test_dynamic_import_is_rejected(source: str) -> None:
    with pytest.raises(SourceRejected) as rejected:
        prepare_source(source)
    assert rejected.value.name == "import"
    assert "dynamic import()" in rejected.value.reason


@pytest.mark.parametrize(
    ("source", "reason"),
    [
        ("function f() { import x from 'logger' }", "top level"),
        ("import x from 'logger' foo()", "unsupported import declaration"),
        ("import x from 'logger' with {type: 'json'}", "unsupported import declaration"),
        ("import.meta.url", "import.meta"),
        ("}); (function () {", "unexpected '}'"),
        ("let s = 'unterminated", "unterminated string"),
        ("/* never closed", "unterminated comment"),
        ("`never closed", "unterminated template"),
    ],
)
def test_malformed_or_unsupported_sources_are_compile_errors(source: str, reason: str) -> None:
    with pytest.raises(SourceRejected) as rejected:
        prepare_source(source)
    assert rejected.value.name == "compile"
    assert reason in rejected.value.reason


def test_sources_without_imports_pass_through_unchanged() -> None:
    source = "const a = 1 / 2; const re = /[/]}/; return `${a}}`.length + re.source.length; // }"
    assert prepare_source(source) == source
