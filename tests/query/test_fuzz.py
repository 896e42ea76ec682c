"""Hostile input: whatever a client sends as ``where``, ``sort`` or ``$regex``, only Faults come out.

A query that parses must also compile for both databases and evaluate without error, and an
accepted regular expression must run fast on adversarial text.
"""

from __future__ import annotations

import random
import time
from typing import Any

import orjson
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.dialects import postgresql, sqlite

from opencortex.faults import Fault
from opencortex.query import compile_sort, compile_where, matches, parse_sort, parse_where, sort_key
from opencortex.query.regex import parse_regex
from opencortex.query.regex.matching import search
from opencortex.store.database import Database
from tests.query.instances import object_id, thing_schema

SCHEMA = thing_schema()
FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

PROPERTY_NAMES = sorted(SCHEMA.properties) + ["c_nope", "c_tags.0", "", "$", "c_docs.c_nope", "a" * 250]
OPERATORS = [
    "$eq",
    "$ne",
    "$gt",
    "$gte",
    "$lt",
    "$lte",
    "$in",
    "$nin",
    "$exists",
    "$regex",
    "$size",
    "$all",
    "$elemMatch",
    "$within",
    "$center",
    "$radius",
    "$not",
    "$and",
    "$or",
    "$nor",
    "$type",
    "$where",
]
keys = st.one_of(st.sampled_from(PROPERTY_NAMES + OPERATORS), st.text(max_size=6))
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(),
    st.text(max_size=8),
    st.sampled_from(["2024-01-01", object_id(3), "/^a/i", "/(a+)+/", "Point", "/x/q"]),
)
json_values = st.recursive(
    scalars,
    lambda children: st.one_of(st.lists(children, max_size=4), st.dictionaries(keys, children, max_size=4)),
    max_leaves=10,
)
instance = st.dictionaries(st.sampled_from(PROPERTY_NAMES), json_values, max_size=4).map(
    lambda body: {**body, "_id": object_id(1)}
)


def parse_or_fault(where: Any) -> Any:
    try:
        return parse_where(where, SCHEMA)
    except Fault as fault:
        assert fault.status == 400 and fault.err_code.startswith("cortex.")
        return None


@FUZZ
@given(where=json_values, item=instance)
def test_any_json_value_parses_or_faults(where: Any, item: dict[str, Any]) -> None:
    node = parse_or_fault(where)
    if node is None:
        return
    for dialect in (sqlite.dialect(), postgresql.dialect()):
        str(compile_where(node, dialect.name).compile(dialect=dialect))
    matches(node, item)


@FUZZ
@given(where=st.dictionaries(keys, json_values, min_size=1, max_size=3), item=instance)
def test_any_json_text_parses_or_faults(where: dict[str, Any], item: dict[str, Any]) -> None:
    try:
        text = orjson.dumps(where, option=orjson.OPT_NON_STR_KEYS).decode()
    except (TypeError, orjson.JSONEncodeError):  # floats like NaN or huge ints have no JSON form
        return
    node = parse_or_fault(text)
    if node is not None:
        matches(node, item)


@FUZZ
@given(text=st.text(max_size=40))
def test_any_text_parses_or_faults(text: str) -> None:
    parse_or_fault(text)
    parse_or_fault("{" + text)


@FUZZ
@given(sort=st.one_of(st.text(max_size=20), st.dictionaries(keys, json_values, max_size=3)), item=instance)
def test_any_sort_parses_or_faults(sort: Any, item: dict[str, Any]) -> None:
    try:
        sort_keys = parse_sort(sort, SCHEMA)
    except Fault as fault:
        assert fault.err_code == "cortex.invalidArgument.query"
        return
    for dialect in (sqlite.dialect(), postgresql.dialect()):
        [str(clause.compile(dialect=dialect)) for clause in compile_sort(sort_keys, dialect.name)]
    sort_key(sort_keys, item)


REGEX_PIECES = [
    "a",
    "b",
    "k",
    "K",
    "s",
    ".",
    "*",
    "+",
    "?",
    "(",
    ")",
    "|",
    "[",
    "]",
    "^",
    "$",
    "\\",
    "{",
    "}",
    ",",
    "2",
    "-",
    "\\d",
    "\\w",
    "\\s",
    "\\b",
    "\\D",
    "\\W",
    "\\S",
    "\\B",
    "\\v",
    "\\x0b",
    "\\u212a",
    "(?:",
    "[^",
    "[Z-a]",
    "[^a-c]",
    "[A-Z]",
    "[\\s\\d]",
    "{1,3}",
    "{2,}",
    "{255}",
    "{0,100}",
    "a*",
    ".*",
    "(a|b)",
    "é",
    "É",
    "ſ",
    "\n",
    "x",
    " ",
]
# Long values of the kinds that make engines work hardest: long runs the pattern almost
# matches, and random text over a small alphabet.
_RANDOM = random.Random(14)
ADVERSARIAL = [
    "a" * 100_000,
    "ab" * 50_000,
    ("a" * 40 + "\n") * 2_500,
    " " * 100_000,
    "a1_" * 33_333,
    "ba" * 50_000 + "!",
    "".join(_RANDOM.choices("ab", k=100_000)),
    "".join(_RANDOM.choices("ab1 \n", k=100_000)),
]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    pieces=st.lists(st.sampled_from(REGEX_PIECES), max_size=14),
    flags=st.sampled_from(["", "i", "m", "s", "ims", "x"]),
)
def test_accepted_regexes_run_in_linear_time_on_adversarial_text(pieces: list[str], flags: str) -> None:
    """RE2 is linear, and the width rule keeps its work per character small: 100,000 characters
    take well under 0.5 s whatever the pattern (a backtracking engine took seconds on /a.*b/)."""
    source = "/" + "".join(pieces) + "/" + flags
    try:
        pattern = parse_regex(source, max_length=255, path="c_str")
    except Fault as fault:
        assert fault.err_code == "cortex.invalidArgument.query" and fault.path == "c_str"
        return
    for text in ADVERSARIAL:
        started = time.perf_counter()
        search(pattern.re2, text)
        assert time.perf_counter() - started < 0.5, (source, text[:10])


REGEX_VALUES = st.lists(
    st.one_of(
        st.sampled_from(
            ["", "a", "ab", "aB", "b\na", "A\n", "é", "É", "x y", "a-2", "{1,3}", "[]", "\\", "\t", "\x0b",
             "k", "K", "\u212a", "s", "S", "ſ", "\n", "Z", "_", "`", "^", "a\n\n", "\nb"]
        ),
        st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\x00"), max_size=6),
    ),
    min_size=1,
    max_size=6,
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    pieces=st.lists(st.sampled_from(REGEX_PIECES), max_size=10),
    flags=st.sampled_from(["", "i", "m", "s", "ms", "im", "is", "imsx"]),
    values=REGEX_VALUES,
)
def test_postgresql_and_re2_agree(database: Database, pieces: list[str], flags: str, values: list[str]) -> None:
    """Every accepted pattern is valid PostgreSQL, and matches exactly the values RE2 matches."""
    if database.dialect != "postgresql":
        return  # SQLite runs the RE2 rendering itself
    try:
        pattern = parse_regex("/" + "".join(pieces) + "/" + flags, max_length=255, path="c_str")
    except Fault:
        return
    expected = [search(pattern.re2, value) for value in values]
    with database.connect() as connection:
        found = [
            connection.execute(
                sa.text('SELECT CAST(:value AS text) COLLATE "C" ~ :pattern'),
                {"value": value, "pattern": pattern.postgres},
            ).scalar()
            for value in values
        ]
    assert found == expected, pattern
