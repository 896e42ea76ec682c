"""The process runner: concurrency, its own failure modes, and what counts as a programmer error."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from opencortex.scripting import ERROR_NAMES, ScriptLimits
from opencortex.scripting.limits import MiB
from tests.scripting.helpers import EXPORT, FAST, run, script_processes

SEED = (
    "import logger from 'logger';\n"
    "logger.info(script.arguments.err || script.arguments.export);\n"
    "return script.arguments.n;"
)


def test_fifty_scripts_on_eight_threads_all_succeed_and_leave_nothing_behind() -> None:
    peak = 0
    stop = threading.Event()

    def census() -> None:
        nonlocal peak
        while not stop.is_set():
            peak = max(peak, len(script_processes()))
            time.sleep(0.005)

    watcher = threading.Thread(target=census)
    watcher.start()
    try:
        with ThreadPoolExecutor(max_workers=8) as pool:
            runs = list(
                pool.map(lambda n: run(SEED, arguments={"err": None, "export": EXPORT, "n": n}), range(50))
            )
    finally:
        stop.set()
        watcher.join()
    assert [outcome.result for outcome in runs] == list(range(50))
    assert all(outcome.ok and [record.dat for record in outcome.logs] == [EXPORT] for outcome in runs)
    # One child per call in flight, never more.
    assert 1 <= peak <= 8
    assert script_processes() == []


def test_concurrent_hostile_and_normal_scripts_do_not_disturb_each_other() -> None:
    sources = ["while (true) {}", "const a = []; for (;;) a.push([a.length]);", "return 7;"] * 3
    # Nine processes share two cores here: a small heap keeps the bombs well inside the time limit.
    limits = ScriptLimits(timeout_s=3.0, memory_bytes=16 * MiB)
    with ThreadPoolExecutor(max_workers=len(sources)) as pool:
        runs = list(pool.map(lambda source: run(source, limits=limits), sources))
    names = [outcome.error["name"] if outcome.error else outcome.result for outcome in runs]
    assert names == ["timeout", "memory", 7] * 3


def test_the_timeout_counts_from_the_script_start_not_the_process_start() -> None:
    started = time.monotonic()
    outcome = run("while (true) {}", limits=ScriptLimits(timeout_s=0.5))
    elapsed = time.monotonic() - started
    assert outcome.error is not None and outcome.error["name"] == "timeout"
    assert 0.5 <= elapsed < 2.0
    assert outcome.duration_ms >= 500


def test_a_child_that_does_not_start_in_time_is_killed_and_reported() -> None:
    outcome = run("return 1;", limits=ScriptLimits(startup_timeout_s=0.001))
    assert outcome.error is not None
    assert outcome.error["name"] == "crashed"
    assert outcome.error["reason"] == "the runtime process did not start within 0.001 s"


def test_a_child_that_dies_is_reported_as_crashed() -> None:
    limits = ScriptLimits()
    # Deliberately below what validation allows: the interpreter cannot run at all.
    object.__setattr__(limits, "address_space_bytes", 8 * MiB)
    outcome = run("return 1;", limits=limits)
    assert outcome.error is not None
    assert outcome.error["name"] == "crashed"
    assert outcome.error["reason"].startswith("the runtime process was killed by signal")


def test_error_names_are_stable() -> None:
    assert ERROR_NAMES == (
        "timeout",
        "memory",
        "stackOverflow",
        "compile",
        "import",
        "runtime",
        "tooLarge",
        "crashed",
    )


def test_arguments_that_are_not_json_are_a_programmer_error() -> None:
    with pytest.raises(TypeError):
        run("return 1;", arguments={"when": object()})
    with pytest.raises(TypeError):
        run("return 1;", principal={1j: "complex key"})


def test_a_source_that_is_not_a_string_is_a_programmer_error() -> None:
    with pytest.raises(TypeError):
        run(b"return 1;")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "settings",
    [
        {"timeout_s": 0},
        {"timeout_s": float("inf")},
        {"memory_bytes": -1},
        {"max_log_records": 0},
        {"max_source_chars": 1.5},
        {"address_space_bytes": 64 * MiB},
        {"startup_timeout_s": True},
    ],
)
def test_invalid_limits_are_rejected(settings: dict) -> None:
    with pytest.raises(ValueError):
        ScriptLimits(**settings)


def test_limits_are_configurable() -> None:
    limits = ScriptLimits(timeout_s=1.0, max_log_records=3, max_source_chars=100)
    outcome = run("for (let i = 0; i < 10; i++) console.log(i);", limits=limits)
    assert [record.dat for record in outcome.logs][:3] == [0, 1, 2]
    assert len(outcome.logs) == 4
    assert run("//" + "x" * 100, limits=limits).error["name"] == "tooLarge"


def test_a_smaller_heap_limit_is_honoured() -> None:
    source = (
        "const keep = [];\n"
        "for (let i = 0; i < 40; i++) keep.push(new Uint8Array(1 << 20));\n"
        "return keep.length;"
    )
    assert run(source).result == 40
    small = ScriptLimits(timeout_s=FAST.timeout_s, memory_bytes=16 * MiB)
    assert run(source, limits=small).error["name"] == "memory"
