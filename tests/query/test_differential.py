"""SQLite, PostgreSQL and the Python evaluator agree on random instances and random queries.

Each example writes a few random instances, then runs one random ``where`` and ``sort`` on
the database and in Python; the ``_id``s must be the same, in the same order. One database
serves every example of a test (rows are deleted in between), to keep the run short.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from opencortex.query import matches, parse_sort, parse_where, sort_key
from opencortex.query.bson_types import TYPE_NAMES
from opencortex.query.values import format_iso
from opencortex.store.database import Database
from tests.query.instances import delete_all, insert, object_id, prepare, select_ids, thing_schema

SCHEMA = thing_schema()
MISSING = object()

# Small pools make matches likely; the random parts catch what the pools miss.
WORDS = ["", "a", "ab", "B", "b", "abc", "é", "É", "日本", "a\nb", "Zed", "x y", "\t", "K", "\u212a", "a\x0bb"]
text = st.one_of(
    st.sampled_from(WORDS),
    st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\x00"), max_size=5),
)
number = st.one_of(
    st.sampled_from([0, 1, -1, 2, 2.5, -2.5, 10, 1e6, 0.1]),
    st.integers(-1000, 1000),
    st.floats(-1e4, 1e4, allow_nan=False, allow_infinity=False).map(lambda value: round(value, 2)),
)
# Numbers at the edges of $type's classes: int (32 bits), long (64 bits), double.
EDGE_NUMBERS = [2**31 - 1, 2**31, -(2**31), -(2**31) - 1, 2**40, -(2**53), 2**63 - 1, -(2**63), 2**63, 2**64 - 1,
                3.0, -0.0, 0.5, 1e16, 2.0**31, 2.0**63, -(2.0**63), 1e20, 9.2233720368547748e18, 1.5e300]
wide_number = st.one_of(number, st.sampled_from(EDGE_NUMBERS), st.floats(allow_nan=False, allow_infinity=False),
                        st.integers(-(2**63), 2**64 - 1))
moment = st.datetimes(datetime(2000, 1, 1), datetime(2030, 1, 1), timezones=st.just(UTC))
date = st.one_of(
    st.sampled_from(["2024-01-01T00:00:00.000Z", "2024-06-01T12:30:00.500Z"]), moment.map(format_iso)
)
oid = st.integers(1, 6).map(object_id)
point = st.builds(
    lambda lng, lat: {"type": "Point", "coordinates": [lng, lat]},
    st.one_of(st.sampled_from([2.35, 2.4, -0.13]), st.floats(-180, 180).map(lambda value: round(value, 4))),
    st.one_of(st.sampled_from([48.85, 48.9, 51.5]), st.floats(-90, 90).map(lambda value: round(value, 4))),
)


any_scalar = st.one_of(st.none(), st.booleans(), wide_number, st.sampled_from(WORDS), st.just(f"{1:024x}"),
                       st.just("2024-01-01T00:00:00.000Z"))
any_json = st.recursive(
    any_scalar,
    lambda children: st.one_of(st.lists(children, max_size=3),
                               st.dictionaries(st.sampled_from(["a", "b"]), children, max_size=2)),
    max_leaves=5,
)


def maybe(values: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """A value, null, or missing."""
    return st.one_of(values, values, st.none(), st.just(MISSING))


def body_of(fields: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in fields.items() if value is not MISSING}


element = st.builds(
    lambda fields: body_of(fields),
    st.fixed_dictionaries(
        {
            # The model marks c_label as an array (below c_docs); mostly it holds one value.
            "c_label": maybe(st.one_of(text, text, st.lists(text, max_size=2))),
            "c_score": maybe(number),
            "c_tags": maybe(st.lists(text, max_size=3)),
        }
    ),
)
instance_fields = st.fixed_dictionaries(
    {
        "c_str": maybe(text),
        "c_num": maybe(number),
        "c_bool": maybe(st.booleans()),
        "c_date": maybe(date),
        "c_oid": maybe(oid),
        "c_ref": maybe(oid),
        "c_tags": maybe(st.lists(text, max_size=3)),
        "c_nums": maybe(st.lists(number, max_size=3)),
        "c_name": maybe(
            st.builds(body_of, st.fixed_dictionaries({"c_first": maybe(text), "c_age": maybe(number)}))
        ),
        "c_docs": maybe(st.lists(element, max_size=3)),
        "c_loc": maybe(point),
        "c_mixed": maybe(st.one_of(text, wide_number, st.booleans(), st.lists(text, max_size=2))),
        "c_any": maybe(any_json),
        "type": st.sampled_from([None, "c_a", "c_b", "C_a"]),
        "owner": st.one_of(st.none(), oid),
        "created": moment,
        "updated": st.one_of(st.none(), moment),
    }
)
instances = st.lists(instance_fields.map(body_of), max_size=8).map(
    lambda items: [{**item, "_id": object_id(number)} for number, item in enumerate(items, start=1)]
)

# Queries

PATTERNS = [
    "/^a/",
    "/b$/i",
    "/a.b/s",
    "/^b/m",
    "/[^a]/",
    "/é/i",
    "/\\w+ \\w/",
    "/^$/",
    "/A|b/",
    "/\\bab/",
    "/日/",
    "/a.*b/",
    "/a.*b.*c/",  # refused before matching was linear
    "/^k$/i",  # ASCII case folding: not the Kelvin sign
    "/[j-l]/i",
    "/a\\sb/",  # \s holds \v
    "/^\\S+$/",
]
regex = st.sampled_from(PATTERNS)
TEXT_PATHS = ["c_str", "c_name.c_first", "c_docs.c_label", "c_mixed", "c_tags", "c_docs.c_tags", "type"]
NUMBER_PATHS = ["c_num", "c_name.c_age", "c_docs.c_score", "c_nums"]
ID_PATHS = ["c_oid", "c_ref", "owner", "_id"]
DATE_PATHS = ["c_date", "created", "updated"]
ARRAY_PATHS = ["c_tags", "c_nums", "c_docs", "c_docs.c_tags"]
# Every path $type may test: body properties of each type, arrays, and system columns.
TYPE_PATHS = sorted({*TEXT_PATHS, *NUMBER_PATHS, *ID_PATHS, *DATE_PATHS, *ARRAY_PATHS, "c_bool", "c_loc",
                     "c_any", "c_docs.c_label", "c_docs.c_score"})


def value_conditions(values: st.SearchStrategy[Any], *, with_regex: bool) -> st.SearchStrategy[Any]:
    """The value side of ``{path: ...}`` for a comparable type."""
    operators = [
        values,
        st.none(),
        st.builds(
            lambda op, value: {op: value},
            st.sampled_from(["$eq", "$ne", "$gt", "$gte", "$lt", "$lte"]),
            values,
        ),
        st.builds(
            lambda op, items: {op: items},
            st.sampled_from(["$in", "$nin"]),
            st.lists(st.one_of(values, st.none()), max_size=3),
        ),
        st.builds(lambda flag: {"$exists": flag}, st.booleans()),
        st.builds(lambda low, high: {"$gt": low, "$lte": high}, values, values),
        st.builds(lambda value: {"$not": {"$gt": value}}, values),
    ]
    if with_regex:
        operators.append(st.builds(lambda pattern: {"$regex": pattern}, regex))
        operators.append(
            st.builds(lambda pattern, value: {"$in": [{"$regex": pattern}, value]}, regex, values)
        )
    return st.one_of(operators)


def condition(paths: list[str], conditions: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    return st.builds(lambda path, value: {path: value}, st.sampled_from(paths), conditions)


primitive_element = st.one_of(
    value_conditions(text, with_regex=True).filter(lambda value: isinstance(value, dict) and value),
)
docs_element = st.one_of(
    condition(["c_label", "c_tags"], value_conditions(text, with_regex=True)),
    condition(["c_score"], value_conditions(number, with_regex=False)),
)
leaf = st.one_of(
    condition([p for p in TEXT_PATHS if p != "type"], value_conditions(text, with_regex=True)),
    condition(["type"], value_conditions(st.sampled_from(["c_a", "c_b", "C_a", "c"]), with_regex=True)),
    condition(NUMBER_PATHS, value_conditions(number, with_regex=False)),
    condition(["c_bool"], value_conditions(st.booleans(), with_regex=False)),
    condition(ID_PATHS, value_conditions(oid, with_regex=False)),
    condition(DATE_PATHS, value_conditions(date, with_regex=False)),
    condition(ARRAY_PATHS, st.builds(lambda size: {"$size": size}, st.integers(0, 3))),
    condition(
        ["c_tags", "c_docs.c_tags"], st.builds(lambda items: {"$all": items}, st.lists(text, max_size=2))
    ),
    condition(["c_nums"], st.builds(lambda items: {"$all": items}, st.lists(number, max_size=2))),
    condition(["c_tags"], st.builds(lambda inner: {"$elemMatch": inner}, primitive_element)),
    condition(
        ["c_nums"], st.builds(lambda low, high: {"$elemMatch": {"$gte": low, "$lt": high}}, number, number)
    ),
    condition(["c_docs"], st.builds(lambda inner: {"$elemMatch": inner}, docs_element)),
    condition(
        ["c_docs"],
        st.builds(lambda a, b: {"$elemMatch": {"$or": [a, b]}}, docs_element, docs_element),
    ),
    condition(["c_docs", "c_loc"], st.builds(lambda flag: {"$exists": flag}, st.booleans())),
    condition(TYPE_PATHS, st.builds(lambda name: {"$type": name}, st.sampled_from(TYPE_NAMES))),
    condition(["c_docs"], st.builds(lambda name: {"$elemMatch": {"c_label": {"$type": name}}},
                                    st.sampled_from(TYPE_NAMES))),
    condition(["c_tags", "c_nums"], st.builds(lambda name: {"$elemMatch": {"$type": name}},
                                              st.sampled_from(TYPE_NAMES))),
    condition(
        ["c_loc"],
        st.builds(
            lambda lng, lat, radius: {"$within": {"$center": [lng, lat], "$radius": radius}},
            st.sampled_from([2.35, -0.13, 0.0]),
            st.sampled_from([48.85, 51.5, 0.0]),
            st.one_of(
                st.sampled_from([0, 5, 10, 400, 30000]), st.floats(0, 25000).map(lambda r: round(r, 1))
            ),
        ),
    ),
)
where_documents = st.recursive(
    leaf,
    lambda children: st.one_of(
        st.builds(lambda items: {"$and": items}, st.lists(children, min_size=1, max_size=3)),
        st.builds(lambda items: {"$or": items}, st.lists(children, min_size=1, max_size=3)),
        st.builds(lambda items: {"$nor": items}, st.lists(children, min_size=1, max_size=2)),
        st.builds(lambda child: {"$not": child}, children),
        st.builds(lambda a, b: {**a, **b}, children, children),
    ),
    max_leaves=6,
)
SORTABLE = [
    "c_str",
    "c_num",
    "c_bool",
    "c_date",
    "c_oid",
    "c_ref",
    "c_name.c_first",
    "c_name.c_age",
    "_id",
    "created",
    "updated",
    "type",
    "owner",
]
sorts = st.one_of(
    st.none(),
    st.builds(lambda path, direction: {path: direction}, st.sampled_from(SORTABLE), st.sampled_from([1, -1])),
    st.builds(
        lambda first, second, d1, d2: {first: d1, second: d2},
        st.sampled_from(SORTABLE),
        st.sampled_from(SORTABLE),
        st.sampled_from([1, -1]),
        st.sampled_from([1, -1]),
    ),
)


@pytest.fixture
def db(database: Database) -> Database:
    prepare(database)
    return database


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
@given(data=instances, where=where_documents, sort=sorts)
def test_database_and_evaluator_agree(
    db: Database, data: list[dict[str, Any]], where: Any, sort: Any
) -> None:
    delete_all(db)
    insert(db, data)
    node = parse_where(where, SCHEMA)
    keys = parse_sort(sort, SCHEMA)
    expected = [
        item["_id"] for item in sorted(data, key=lambda item: sort_key(keys, item)) if matches(node, item)
    ]
    assert select_ids(db, node, keys) == expected
