"""Compiled queries run on SQLite and PostgreSQL: each case states the rows a user should get.

Every case also checks that the Python evaluator agrees with the database.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa

from opencortex.query import (
    compile_sort,
    compile_where,
    index_sql,
    matches,
    parse_sort,
    parse_where,
    sort_key,
)
from opencortex.query.schema import QueryableProperty
from opencortex.store.database import Database
from opencortex.store.tables import documents
from tests.query.instances import (
    OBJECT,
    ORG_ID,
    OTHER_ORG_ID,
    insert,
    object_id,
    prepare,
    select_ids,
    thing_schema,
)

SCHEMA = thing_schema()


@pytest.fixture
def db(database: Database) -> Database:
    prepare(database)
    return database


def things(*bodies: dict[str, Any]) -> list[dict[str, Any]]:
    """Instances numbered 1, 2, 3... in order (their ``_id``s sort the same way)."""
    return [{"_id": object_id(number), **body} for number, body in enumerate(bodies, start=1)]


def found(db: Database, instances: list[dict[str, Any]], where: Any, sort: Any = None) -> list[int]:
    """The numbers of the instances the database returns; asserts the evaluator returns the same."""
    node = parse_where(where, SCHEMA)
    keys = parse_sort(sort, SCHEMA)
    ids = select_ids(db, node, keys)
    expected = [
        item["_id"]
        for item in sorted(instances, key=lambda item: sort_key(keys, item))
        if matches(node, item)
    ]
    assert ids == expected, f"database {ids} != evaluator {expected}"
    return [int(found_id, 16) for found_id in ids]


def test_arrays_match_when_any_element_matches(db: Database) -> None:
    data = things({"c_tags": ["a", "b"]}, {"c_tags": ["b"]}, {"c_tags": []}, {})
    insert(db, data)
    assert found(db, data, {"c_tags": "a"}) == [1]
    assert found(db, data, {"c_tags": {"$in": ["a", "b"]}}) == [1, 2]
    assert found(db, data, {"c_tags": {"$in": [f"x{n}" for n in range(40)] + ["a"]}}) == [1]  # a long $in
    assert found(db, data, {"c_tags": {"$gt": "a"}}) == [1, 2]
    assert found(db, data, {"c_tags": {"$all": ["a", "b"]}}) == [1]
    assert found(db, data, {"c_tags": {"$all": []}}) == []
    assert found(db, data, {"c_tags": {"$size": 0}}) == [3]
    assert found(db, data, {"c_tags": {"$size": 1}}) == [2]
    assert found(db, data, {"c_tags": {"$elemMatch": {"$gt": "a", "$lt": "c"}}}) == [1, 2]


def test_negations_match_when_no_element_equals_and_when_absent(db: Database) -> None:
    data = things({"c_tags": ["a", "b"]}, {"c_tags": ["b"]}, {"c_tags": []}, {})
    insert(db, data)
    assert found(db, data, {"c_tags": {"$ne": "a"}}) == [2, 3, 4]
    assert found(db, data, {"c_tags": {"$nin": ["a", "b"]}}) == [3, 4]
    assert found(db, data, {"$nor": [{"c_tags": "a"}, {"c_tags": "b"}]}) == [3, 4]
    assert found(db, data, {"$not": {"c_tags": {"$size": 0}}}) == [1, 2, 4]


def test_null_counts_as_absent(db: Database) -> None:
    data = things({"c_str": "x"}, {"c_str": None}, {}, {"c_str": ""})
    insert(db, data)
    assert found(db, data, {"c_str": {"$exists": True}}) == [1, 4]
    assert found(db, data, {"c_str": {"$exists": False}}) == [2, 3]
    assert found(db, data, {"c_str": None}) == [2, 3]
    assert found(db, data, {"c_str": {"$ne": None}}) == [1, 4]
    assert found(db, data, {"c_str": {"$in": [None, "x"]}}) == [1, 2, 3]
    assert found(db, data, {"c_str": {"$ne": "x"}}) == [2, 3, 4]
    assert found(db, data, {"c_str": {"$not": {"$gt": "a"}}}) == [2, 3, 4]


def test_comparisons_are_type_bracketed(db: Database) -> None:
    data = things(
        {"c_mixed": "5", "c_num": 5},
        {"c_mixed": 5, "c_num": "6"},
        {"c_mixed": True, "c_num": True},
        {"c_mixed": ["5"], "c_num": 1},
        {"c_mixed": {"a": "5"}},
        {"c_mixed": 1},
    )
    insert(db, data)
    assert found(db, data, {"c_mixed": "5"}) == [1]
    assert found(db, data, {"c_mixed": {"$gte": ""}}) == [1]
    assert found(db, data, {"c_mixed": {"$in": ["5", "true", "1"]}}) == [1]
    assert found(db, data, {"c_mixed": {"$regex": "/5/"}}) == [1]
    assert found(db, data, {"c_mixed": {"$exists": True}}) == [1, 2, 3, 4, 5, 6]
    assert found(db, data, {"c_num": {"$gte": 1}}) == [1, 4]
    assert found(db, data, {"c_num": 1}) == [4]  # true is not 1


def test_numbers_compare_numerically(db: Database) -> None:
    data = things({"c_num": 10}, {"c_num": 9}, {"c_num": -2.5}, {"c_num": 2.5}, {"c_num": 0}, {"c_num": 1e6})
    insert(db, data)
    assert found(db, data, {"c_num": {"$gt": 9}}) == [1, 6]
    assert found(db, data, {"c_num": {"$lt": 0}}) == [3]
    assert found(db, data, {"c_num": 2.5}) == [4]
    assert found(db, data, {"c_num": {"$in": [10.0, 0]}}) == [1, 5]
    assert found(db, data, None, {"c_num": 1}) == [3, 5, 4, 2, 1, 6]


def test_strings_compare_by_code_point(db: Database) -> None:
    data = things(
        {"c_str": "a"}, {"c_str": "B"}, {"c_str": "é"}, {"c_str": "日本"}, {"c_str": "Z"}, {"c_str": "ab"}
    )
    insert(db, data)
    assert found(db, data, {"c_str": {"$gt": "Z"}}) == [1, 3, 4, 6]
    assert found(db, data, None, "c_str") == [2, 5, 1, 6, 3, 4]
    assert found(db, data, None, {"c_str": -1}) == [4, 3, 6, 1, 5, 2]


def test_regular_expressions(db: Database) -> None:
    data = things(
        {"c_str": "Smith"},
        {"c_str": "smithers"},
        {"c_str": "a\nb"},
        {"c_str": "Émile"},
        {"c_str": "émile"},
        {"c_str": "one two"},
        {"c_str": "x\n"},
    )
    insert(db, data)
    assert found(db, data, {"c_str": {"$regex": "/^smith/i"}}) == [1, 2]
    assert found(db, data, {"c_str": {"$regex": "/^smith$/"}}) == []
    assert found(db, data, {"c_str": {"$regex": "/a.b/"}}) == []  # . does not match a newline
    assert found(db, data, {"c_str": {"$regex": "/a.b/s"}}) == [3]
    assert found(db, data, {"c_str": {"$regex": "/^b/"}}) == []
    assert found(db, data, {"c_str": {"$regex": "/^b/m"}}) == [3]
    assert (
        found(db, data, {"c_str": {"$regex": "/x$/"}}) == []
    )  # $ is the very end, even before a final newline
    assert (
        found(db, data, {"c_str": {"$regex": "/a[^z]b/"}}) == []
    )  # [^...] does not match a newline without s
    assert found(db, data, {"c_str": {"$regex": "/émile/i"}}) == [5]  # case folding is ASCII only
    assert found(db, data, {"c_str": {"$regex": "/mile/"}}) == [4, 5]
    assert found(db, data, {"c_str": {"$regex": "/\\btwo\\b/"}}) == [6]
    assert found(db, data, {"c_str": {"$in": [{"$regex": "/^one/"}, "Smith"]}}) == [1, 6]


def test_regex_classes_and_case_folding_are_ascii_on_both_databases(db: Database) -> None:
    """What RE2 does differently by default (its \\s has no \\v, its i folds Unicode) is
    written out so that both databases and the evaluator give the same rows."""
    data = things(
        {"c_str": "a\x0bb"},  # vertical tab
        {"c_str": "\u212a"},  # KELVIN SIGN, which Unicode folds to k
        {"c_str": "\u017f"},  # LONG S, which Unicode folds to s
        {"c_str": "K"},
        {"c_str": "_"},
        {"c_str": "a\nb"},
        {"c_str": "S"},
    )
    insert(db, data)
    assert found(db, data, {"c_str": {"$regex": "/a\\sb/"}}) == [1, 6]
    assert found(db, data, {"c_str": {"$regex": "/a[\\s]b/"}}) == [1, 6]
    assert found(db, data, {"c_str": {"$regex": "/^\\S$/"}}) == [2, 3, 4, 5, 7]
    assert found(db, data, {"c_str": {"$regex": "/^k$/i"}}) == [4]
    assert found(db, data, {"c_str": {"$regex": "/^[j-l]$/i"}}) == [4]
    assert found(db, data, {"c_str": {"$regex": "/^[Z-a]$/i"}}) == [5]  # _ is between Z and a
    assert found(db, data, {"c_str": {"$regex": "/^[^a-z]$/i"}}) == [2, 3, 5]
    assert found(db, data, {"c_str": {"$regex": "/^s$/i"}}) == [7]
    assert found(db, data, {"c_str": {"$regex": "/a\\Db/"}}) == [1, 6]  # \\D matches a newline
    assert found(db, data, {"c_str": {"$regex": "/a[^x]b/"}}) == [1]  # [^...] does not


def test_patterns_a_backtracking_engine_choked_on_match_as_written(db: Database) -> None:
    data = things({"c_str": "a" * 20_000}, {"c_str": "a" * 19_999 + "b"}, {"c_str": "xaybzc"}, {"c_str": "abc"})
    insert(db, data)
    assert found(db, data, {"c_str": {"$regex": "/a.*b/"}}) == [2, 3, 4]
    assert found(db, data, {"c_str": {"$regex": "/a.*b.*c/"}}) == [3, 4]
    assert found(db, data, {"c_str": {"$regex": "/^a?b?c?a*$/"}}) == [1, 4]


def test_a_hundred_regexes_in_one_in(db: Database) -> None:
    """The most a query may hold: still one statement on both databases."""
    data = things({"c_str": "x042"}, {"c_str": "y"}, {"c_str": "x100"})
    insert(db, data)
    assert found(db, data, {"c_str": {"$in": [{"$regex": f"/^x{index:03d}$/"} for index in range(100)]}}) == [1]


def test_dates_in_the_body_and_in_columns(db: Database) -> None:
    moment = datetime(2024, 5, 1, 12, 0, 0, 123456, tzinfo=UTC)
    data = things(
        {"c_date": "2024-01-01T00:00:00.000Z", "created": moment, "owner": object_id(7), "type": "c_a"},
        {"c_date": "2024-06-30T23:59:59.999Z", "created": datetime(2023, 1, 1, tzinfo=UTC), "type": "c_b"},
        {"created": datetime(2025, 1, 1, tzinfo=UTC), "updated": moment, "owner": object_id(8)},
    )
    insert(db, data)
    assert found(db, data, {"c_date": {"$gte": "2024-02-01", "$lt": "2025-01-01T00:00:00+02:00"}}) == [2]
    assert found(db, data, {"created": {"$gt": "2024-05-01T12:00:00.123Z"}}) == [1, 3]  # microseconds count
    assert found(db, data, {"created": {"$lte": "2024-05-01T12:00:00.123Z"}}) == [2]
    assert found(db, data, {"updated": {"$exists": True}}) == [3]
    assert found(db, data, {"owner": {"$in": [object_id(7), object_id(9)]}}) == [1]
    assert found(db, data, {"owner": None}) == [2]
    assert found(db, data, {"type": {"$regex": "/^c_/"}}) == [1, 2]
    assert found(db, data, {"type": {"$ne": "c_a"}}) == [2, 3]
    assert found(db, data, {"_id": {"$gt": object_id(1)}}) == [2, 3]
    assert found(db, data, None, {"created": -1}) == [3, 1, 2]
    assert found(db, data, None, {"updated": 1}) == [1, 2, 3]  # nulls first, then ties by _id


def test_documents_and_document_arrays(db: Database) -> None:
    data = things(
        {
            "c_name": {"c_first": "Ann", "c_age": 30},
            "c_docs": [{"c_label": "x", "c_score": 1}, {"c_label": "y", "c_score": 9}],
        },
        {"c_name": {"c_first": "Bob"}, "c_docs": [{"c_label": "x", "c_score": 9, "c_tags": ["t"]}]},
        {
            "c_name": None,
            "c_docs": [{"c_label": ["x", "z"]}, "oops", 5],
        },  # a list where the model expects a value
        {"c_docs": {"c_label": "x"}},  # not an array at all
    )
    insert(db, data)
    assert found(db, data, {"c_name.c_first": "Ann"}) == [1]
    assert found(db, data, {"c_name.c_age": {"$exists": False}}) == [2, 3, 4]
    assert found(db, data, {"c_docs.c_label": "x"}) == [1, 2, 3]
    assert found(db, data, {"c_docs.c_label": "z"}) == [3]
    assert found(db, data, {"c_docs.c_score": {"$gt": 5}}) == [1, 2]
    # Different elements may satisfy the two conditions; $elemMatch needs one element for both.
    assert found(db, data, {"c_docs.c_label": "x", "c_docs.c_score": {"$gt": 5}}) == [1, 2]
    assert found(db, data, {"c_docs": {"$elemMatch": {"c_label": "x", "c_score": {"$gt": 5}}}}) == [2]
    assert found(db, data, {"c_docs": {"$elemMatch": {"$or": [{"c_score": 1}, {"c_tags": "t"}]}}}) == [1, 2]
    assert found(db, data, {"c_docs": {"$elemMatch": {"c_label": {"$ne": "x"}}}}) == [1, 3]
    assert found(db, data, {"c_docs.c_tags": "t"}) == [2]
    assert found(db, data, {"c_docs": {"$size": 3}}) == [3]
    assert found(
        db, data, {"c_docs": {"$all": [{"$elemMatch": {"c_label": "x"}}, {"$elemMatch": {"c_label": "y"}}]}}
    ) == [1]
    assert found(db, data, None, {"c_name.c_first": -1}) == [2, 1, 4, 3]  # ties: _id, descending too


def test_within_a_circle(db: Database) -> None:
    paris, london = [2.3522, 48.8566], [-0.1276, 51.5072]  # about 344 km apart
    data = things(
        {"c_loc": {"type": "Point", "coordinates": paris}},
        {"c_loc": {"type": "Point", "coordinates": london}},
        {"c_loc": {"type": "Point", "coordinates": [2.3522, 48.9466]}},  # 0.09° north of Paris: ~10.0 km
        {"c_loc": {"type": "Polygon", "coordinates": paris}},
        {"c_loc": {"type": "Point", "coordinates": ["2", 48]}},
        {},
    )
    insert(db, data)
    circle = {"$center": paris, "$radius": 5}
    assert found(db, data, {"c_loc": {"$within": circle}}) == [1]
    assert found(db, data, {"c_loc": {"$within": {**circle, "$radius": 11}}}) == [1, 3]
    assert found(db, data, {"c_loc": {"$within": {**circle, "$radius": 350}}}) == [1, 2, 3]
    assert found(db, data, {"c_loc": {"$within": {**circle, "$radius": 0}}}) == [1]
    assert found(db, data, {"c_loc": {"$within": {**circle, "$radius": 100_000}}}) == [1, 2, 3]
    assert found(db, data, {"c_loc": {"$within": {"$center": [-180, -90], "$radius": 1}}}) == []


def test_sort_puts_missing_first_ascending_and_last_descending(db: Database) -> None:
    data = things({"c_num": 2}, {}, {"c_num": None}, {"c_num": 1}, {"c_num": 2})
    insert(db, data)
    assert found(db, data, None, {"c_num": 1}) == [2, 3, 4, 1, 5]
    assert found(db, data, None, {"c_num": -1}) == [5, 1, 4, 3, 2]
    assert found(db, data, None, {"c_num": -1, "_id": 1}) == [1, 5, 4, 2, 3]
    booleans = things({"c_bool": True}, {"c_bool": False}, {})
    insert(db, [{**item, "_id": object_id(20 + n)} for n, item in enumerate(booleans)])
    keys = parse_sort({"c_bool": 1}, SCHEMA)
    ids = select_ids(db, parse_where({"_id": {"$gte": object_id(20)}}, SCHEMA), keys)
    assert ids == [object_id(22), object_id(21), object_id(20)]


def test_conditions_stay_within_their_own_row(db: Database) -> None:
    """Array subqueries are correlated: another org's matching row never leaks in, nor makes others match."""
    data = things({"c_tags": ["mine"]}, {"c_tags": ["other"]})
    insert(db, data)
    insert(
        db, [{"_id": object_id(99), "c_tags": ["theirs"], "c_docs": [{"c_label": "x"}]}], org_id=OTHER_ORG_ID
    )
    assert found(db, data, {"c_tags": "theirs"}) == []
    assert found(db, data, {"c_docs.c_label": "x"}) == []
    assert found(db, data, {"c_tags": {"$ne": "theirs"}}) == [1, 2]
    assert select_ids(db, parse_where({"c_tags": "theirs"}, SCHEMA), org_id=OTHER_ORG_ID) == [object_id(99)]


def explain(connection: sa.Connection, statement: sa.Select[Any]) -> str:
    """The query plan of ``statement``, run with bound parameters as the application runs it."""
    compiled = statement.compile(dialect=connection.dialect, compile_kwargs={"render_postcompile": True})
    if connection.dialect.name == "sqlite":
        positional = tuple(compiled.params[name] for name in compiled.positiontup or ())
        rows = connection.exec_driver_sql("EXPLAIN QUERY PLAN " + str(compiled), positional)
        return "\n".join(str(row[-1]) for row in rows)
    connection.exec_driver_sql("SET LOCAL enable_seqscan = off")
    return "\n".join(
        row[0] for row in connection.exec_driver_sql("EXPLAIN " + str(compiled), compiled.params)
    )


@pytest.mark.parametrize(
    ("prop", "value", "where", "sort"),
    [
        (QueryableProperty("c_str", "String", indexed=True), "v{:03d}".format, {"c_str": "v007"}, None),
        (
            QueryableProperty("c_str", "String", indexed=True),
            "v{:03d}".format,
            {"c_str": {"$gt": "v290"}},
            "c_str",
        ),
        (QueryableProperty("c_str", "String", indexed=True), "v{:03d}".format, None, "c_str"),
        (QueryableProperty("c_num", "Number", indexed=True), int, {"c_num": {"$lt": 3}}, {"c_num": 1}),
        (QueryableProperty("c_num", "Number", indexed=True), int, None, {"c_num": -1}),
        (
            QueryableProperty("c_date", "Date", indexed=True),
            lambda n: f"2024-01-01T00:00:{n % 60:02d}.{n:03d}Z",
            {"c_date": "2024-01-01T00:00:07.007Z"},
            None,
        ),
        (QueryableProperty("c_bool", "Boolean", indexed=True), lambda n: n == 7, {"c_bool": True}, None),
        (
            QueryableProperty("c_name.c_first", "String", indexed=True),
            "n{:03d}".format,
            {"c_name.c_first": "n007"},
            None,
        ),
        (
            QueryableProperty("c_tags", "String", array=True, indexed=True),
            lambda n: [f"t{n}"],
            {"c_tags": "t7"},
            None,
        ),
    ],
)
def test_queries_use_the_index_that_index_sql_creates(
    db: Database, prop: QueryableProperty, value: Any, where: Any, sort: Any
) -> None:
    """With an index from ``index_sql``, a selective query (or a sorted page) is answered by that index.

    (A range with the default ``_id`` order may rightly prefer the primary key on SQLite, which
    then needs no sort; so ranges here sort by their own property, as a paged list would.)
    """
    statement = index_sql("ix_doc_query_test", prop, db.dialect, org_id=ORG_ID, object_name=OBJECT)
    if statement is None:
        # Top-level arrays only get an (inverted) index on PostgreSQL; SQLite has no such index.
        assert prop.array and db.dialect == "sqlite"
        return
    path = prop.path.split(".")
    data = []
    for number in range(400):
        body: dict[str, Any] = {path[-1]: value(number)}
        data.append({"_id": object_id(number + 1), **({path[0]: body} if len(path) == 2 else body)})
    insert(db, data)
    select = (
        sa.select(documents.c.id)
        .where(documents.c.org_id == ORG_ID, documents.c.object == OBJECT)
        .where(compile_where(parse_where(where, SCHEMA), db.dialect))
        .order_by(*compile_sort(parse_sort(sort, SCHEMA), db.dialect))
        .limit(10)
    )
    with db.begin() as connection:
        connection.exec_driver_sql(statement)
        connection.exec_driver_sql("ANALYZE")
        plan = explain(connection, select)
        connection.exec_driver_sql("DROP INDEX ix_doc_query_test")
    assert "ix_doc_query_test" in plan, plan
