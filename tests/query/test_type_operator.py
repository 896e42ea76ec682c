"""``$type``: what each of Cortex's type names matches among stored JSON values, on SQLite,
PostgreSQL and in the evaluator (``bson_types.py`` states the rules)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from opencortex.query import matches, parse_where
from opencortex.query.bson_types import TYPE_NAMES, number_class
from opencortex.store.database import Database
from tests.query.instances import insert, object_id, prepare, select_ids, thing_schema

SCHEMA = thing_schema()


@pytest.fixture
def db(database: Database) -> Database:
    prepare(database)
    return database


def found(db: Database, instances: list[dict[str, Any]], where: Any) -> list[int]:
    """The numbers of the instances the database returns; asserts the evaluator returns the same."""
    node = parse_where(where, SCHEMA)
    ids = select_ids(db, node)
    assert ids == [item["_id"] for item in instances if matches(node, item)], where
    return [int(found_id, 16) for found_id in ids]


def numbered(*bodies: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"_id": object_id(number), **body} for number, body in enumerate(bodies, start=1)]


# c_any (an Any property) holds one value of each JSON shape; instance 13 has none.
ANY_VALUES = numbered(
    {"c_any": "text"},  # 1
    {"c_any": 7},  # 2 int
    {"c_any": 7.0},  # 3 int: a whole number, as JavaScript sees it
    {"c_any": 2**31},  # 4 long
    {"c_any": -(2**63)},  # 5 long
    {"c_any": 2.5},  # 6 double
    {"c_any": 2**64 - 1},  # 7 double: beyond 64 bits
    {"c_any": True},  # 8
    {"c_any": None},  # 9 a stored null
    {"c_any": [1, "a"]},  # 10
    {"c_any": {"a": 1}},  # 11
    {"c_any": "2024-01-01T00:00:00.000Z"},  # 12 a string: Any has no Dates
    {},  # 13
)


@pytest.mark.parametrize(("name", "expected"), [
    ("string", [1, 12]),
    ("int", [2, 3]),
    ("long", [4, 5]),
    ("double", [6, 7]),
    ("bool", [8]),
    ("null", [9]),
    ("array", [10]),
    ("object", [11]),
    ("date", []),
    ("objectId", []),
    ("binData", []),
    ("regex", []),
    ("timestamp", []),
    ("decimal", []),
    ("minKey", []),
    ("maxKey", []),
])
def test_each_name_on_values_of_every_shape(db: Database, name: str, expected: list[int]) -> None:
    insert(db, ANY_VALUES)
    assert found(db, ANY_VALUES, {"c_any": {"$type": name}}) == expected
    everything = list(range(1, len(ANY_VALUES) + 1))
    assert found(db, ANY_VALUES, {"c_any": {"$not": {"$type": name}}}) == [n for n in everything if n not in expected]


def test_every_name_is_covered() -> None:
    names = {"string", "int", "long", "double", "bool", "null", "array", "object", "date", "objectId", "binData",
             "regex", "timestamp", "decimal", "minKey", "maxKey"}
    assert names == set(TYPE_NAMES)


def test_strings_are_named_by_their_property_type(db: Database) -> None:
    data = numbered({"c_str": "a", "c_date": "2024-01-01T00:00:00.000Z", "c_oid": object_id(9),
                     "c_ref": object_id(8)}, {})
    insert(db, data)
    assert found(db, data, {"c_str": {"$type": "string"}}) == [1]
    assert found(db, data, {"c_str": {"$type": "date"}}) == []
    assert found(db, data, {"c_date": {"$type": "date"}}) == [1]
    assert found(db, data, {"c_date": {"$type": "string"}}) == []
    assert found(db, data, {"c_oid": {"$type": "objectId"}}) == [1]
    assert found(db, data, {"c_ref": {"$type": "objectId"}}) == [1]  # a Reference is its target's id
    assert found(db, data, {"c_ref": {"$type": "string"}}) == []


def test_a_value_of_another_type_than_its_property_is_named_by_its_own(db: Database) -> None:
    data = numbered({"c_mixed": "a"}, {"c_mixed": 3}, {"c_mixed": False}, {"c_mixed": ["a"]})
    insert(db, data)
    assert found(db, data, {"c_mixed": {"$type": "string"}}) == [1]
    assert found(db, data, {"c_mixed": {"$type": "int"}}) == [2]
    assert found(db, data, {"c_mixed": {"$type": "bool"}}) == [3]
    assert found(db, data, {"c_mixed": {"$type": "array"}}) == [4]


def test_on_arrays_array_tests_the_array_and_other_names_its_elements(db: Database) -> None:
    data = numbered({"c_nums": [1, 2.5]}, {"c_nums": [1]}, {"c_nums": []}, {},
                    {"c_docs": [{"c_label": "x"}, {"c_label": ["y"]}]}, {"c_docs": [{"c_score": 1}]})
    insert(db, data)
    assert found(db, data, {"c_nums": {"$type": "array"}}) == [1, 2, 3]
    assert found(db, data, {"c_nums": {"$type": "int"}}) == [1, 2]
    assert found(db, data, {"c_nums": {"$type": "double"}}) == [1]
    assert found(db, data, {"c_nums": {"$elemMatch": {"$type": "double"}}}) == [1]
    assert found(db, data, {"c_docs": {"$type": "array"}}) == [5, 6]
    assert found(db, data, {"c_docs": {"$type": "object"}}) == [5, 6]  # its elements are documents
    assert found(db, data, {"c_docs.c_label": {"$type": "string"}}) == [5]
    assert found(db, data, {"c_docs.c_label": {"$type": "array"}}) == [5]
    assert found(db, data, {"c_docs": {"$elemMatch": {"c_label": {"$type": "array"}}}}) == [5]
    assert found(db, data, {"c_docs": {"$elemMatch": {"c_score": {"$type": "int"}}}}) == [6]


def test_geometry_and_documents_are_objects(db: Database) -> None:
    data = numbered({"c_loc": {"type": "Point", "coordinates": [1.0, 2.0]}}, {})
    insert(db, data)
    assert found(db, data, {"c_loc": {"$type": "object"}}) == [1]
    assert found(db, data, {"c_loc": {"$type": "array"}}) == []


def test_system_columns(db: Database) -> None:
    created = datetime(2024, 1, 1, tzinfo=UTC)
    data = numbered({"type": "c_a", "owner": object_id(5), "created": created,
                     "updated": datetime(2024, 1, 2, tzinfo=UTC)}, {"created": created})
    insert(db, data)
    assert found(db, data, {"_id": {"$type": "objectId"}}) == [1, 2]
    assert found(db, data, {"owner": {"$type": "objectId"}}) == [1]
    assert found(db, data, {"created": {"$type": "date"}}) == [1, 2]
    assert found(db, data, {"updated": {"$type": "date"}}) == [1]
    assert found(db, data, {"type": {"$type": "string"}}) == [1]
    assert found(db, data, {"_id": {"$type": "string"}}) == []
    assert found(db, data, {"updated": {"$type": "null"}}) == []  # never updated is absent, not null
    assert found(db, data, {"$nor": [{"owner": {"$type": "objectId"}}]}) == [2]


@pytest.mark.parametrize(("value", "expected"), [
    (0, "int"), (-0.0, "int"), (2**31 - 1, "int"), (-(2**31), "int"), (2.0**31 - 1, "int"),
    (2**31, "long"), (-(2**31) - 1, "long"), (2**63 - 1, "long"), (-(2**63), "long"), (1e16, "long"),
    (2**63, "double"), (0.1, "double"), (2.0**63, "double"), (-(2.0**63), "double"), (1e300, "double"),
])
def test_number_classes(value: float, expected: str) -> None:
    assert number_class(value) == expected
