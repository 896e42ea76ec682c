"""What a costly regular expression costs now: linear time on both engines, and no held GIL.

The cost rules of ``query.regex`` accept patterns that a backtracking engine hangs on
(``a.*b.*c``, many optional parts) because RE2 and PostgreSQL's engine simulate an automaton.
These tests hold both engines to that on long adversarial values, and check that RE2 lets the
rest of the process run while it matches.
"""

from __future__ import annotations

import random
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa

from opencortex.query.regex import parse_regex
from opencortex.query.regex.matching import search
from opencortex.query.sqlite_functions import register_functions
from opencortex.store.database import Database

_DRAW = random.Random(14)
LONG_VALUES = [
    "a" * 200_000,
    "".join(_DRAW.choices("ab", k=200_000)),
    "".join(_DRAW.choices("abc \n", k=200_000)),
]
# Accepted now, refused by the cost rules of the backtracking days (or at the width limit).
RELAXED = ["/a.*b/", "/a.*b.*c.*d/", "/\\s*a\\s*b\\s*c/", "/xa?b?c?d?e?f?g?y/", "/^(?:a|b)*c$/", "/.*foo.*/"]
WIDEST = ["/a.{254}-/", "/[ab]*a[ab]{253}-/", "/(?:ab|ba){63}x/"]


def _longest_wait(run_query: Callable[[], object]) -> tuple[float, float]:
    """(how long ``run_query`` took in a thread, the longest this thread then waited for the
    GIL): like a request, it lets the GIL go (a 1 ms sleep) and takes it back, over and over."""
    finished, took = threading.Event(), []

    def query() -> None:
        begun = time.perf_counter()
        run_query()
        took.append(time.perf_counter() - begun)
        finished.set()

    thread = threading.Thread(target=query)
    thread.start()
    longest = 0.0
    while not finished.is_set():
        asleep = time.perf_counter()
        time.sleep(0.001)
        longest = max(longest, time.perf_counter() - asleep)
    thread.join()
    return took[0], longest


def test_a_long_regexp_on_sqlite_does_not_hold_the_interpreter(tmp_path: Path) -> None:
    """SQLite calls REGEXP with the GIL held; RE2 lets it go while it matches, so the rest of the
    server runs meanwhile. (Python's ``re`` kept it: every org waited 39 s for one /a.*b/ over
    300,000 characters.)"""
    connection = sqlite3.connect(tmp_path / "values.db", check_same_thread=False)
    register_functions(connection)
    connection.execute("CREATE TABLE t (v TEXT)")
    connection.execute("INSERT INTO t VALUES (?)", ("".join(random.Random(1).choices("ab", k=300_000)),))
    pattern = parse_regex("/[ab]*a[ab]{253}-/", max_length=255, path="c_str").re2
    took, longest = _longest_wait(lambda: connection.execute("SELECT v REGEXP ? FROM t", (pattern,)).fetchall())
    connection.close()
    assert took > 0.2, took  # long enough to tell a held interpreter from a free one
    assert longest < took / 4, (longest, took)


@pytest.mark.parametrize("source", RELAXED + WIDEST)
def test_re2_gets_through_long_values_quickly(source: str) -> None:
    pattern = parse_regex(source, max_length=255, path="c_str")
    for value in LONG_VALUES:
        started = time.perf_counter()
        search(pattern.re2, value)
        assert time.perf_counter() - started < 2.0, (source, value[:10])  # ~0.6 s at worst, ~1 ms typically


def test_postgresql_stays_safe_on_the_relaxed_patterns(database: Database) -> None:
    """PostgreSQL runs the same patterns inside the database; a statement timeout turns any
    blow-up into a failure here instead of a stuck test."""
    if database.dialect != "postgresql":
        return
    with database.connect() as connection:
        connection.execute(sa.text("SET statement_timeout = '5s'"))
        for source in RELAXED + WIDEST:
            pattern = parse_regex(source, max_length=255, path="c_str")
            for value in LONG_VALUES:
                started = time.perf_counter()
                connection.execute(
                    sa.text('SELECT CAST(:value AS text) COLLATE "C" ~ :pattern'),
                    {"value": value, "pattern": pattern.postgres},
                ).scalar()
                assert time.perf_counter() - started < 2.0, (source, value[:10])
