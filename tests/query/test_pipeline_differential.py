"""SQLite, PostgreSQL and the Python evaluator agree on random instances and random pipelines.

Each example writes a few random instances (and one of another org, which must never count),
then runs one random pipeline as SQL and in Python; the outputs must be the same records (or
instances and unwound elements) in the same order. Numbers are compared with a relative
tolerance of 1e-9: PostgreSQL sums and divides exactly, SQLite and Python in doubles.

Numbers in the data are multiples of 0.5, exact in binary, and keys that order or group
records never hold a quotient or an average, so that no comparison depends on rounding.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from opencortex.query.pipeline import compile_pipeline, parse_pipeline, run_pipeline
from opencortex.query.values import format_iso
from opencortex.store.database import Database
from opencortex.store.tables import documents
from tests.query.instances import OBJECT, ORG_ID, OTHER_ORG_ID, delete_all, insert, object_id, prepare, thing_schema
from tests.query.test_differential import where_documents

SCHEMA = thing_schema()
ARRAYS = frozenset({"c_tags", "c_nums", "c_docs", "c_docs.c_tags"})
MISSING = object()

text = st.sampled_from(["", "a", "ab", "B", "b", "é", "É", "日本", "Zed", "x y", "a\nb"])
number = st.one_of(st.sampled_from([0, 1, -1, 2.0, 2.5, -0.5, 10, 0.5]), st.integers(-40, 40).map(lambda n: n / 2))
moment = st.datetimes(datetime(2000, 1, 1), datetime(2030, 1, 1), timezones=st.just(UTC))
date = st.one_of(st.sampled_from(["2024-01-01T00:00:00.000Z", "2024-06-01", "2024-06-01T12:30:00.500Z"]),
                 moment.map(format_iso))
oid = st.integers(1, 4).map(object_id)


def maybe(values: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(values, values, st.none(), st.just(MISSING))


def body_of(fields: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in fields.items() if value is not MISSING}


element = st.fixed_dictionaries({
    "c_label": maybe(st.one_of(text, text, st.lists(text, max_size=2))),
    "c_score": maybe(number),
    "c_tags": maybe(st.lists(text, max_size=3)),
}).map(body_of)
instance = st.fixed_dictionaries({
    "c_str": maybe(text),
    "c_num": maybe(number),
    "c_bool": maybe(st.booleans()),
    "c_date": maybe(date),
    "c_oid": maybe(oid),
    "c_tags": maybe(st.lists(text, max_size=3)),
    "c_nums": maybe(st.lists(number, max_size=3)),
    "c_name": maybe(st.fixed_dictionaries({"c_first": maybe(text), "c_age": maybe(number)}).map(body_of)),
    "c_docs": maybe(st.lists(element, max_size=3)),
    "c_mixed": maybe(st.one_of(text, number, st.booleans(), st.lists(text, max_size=2))),
    "type": st.sampled_from([None, "c_a", "c_b"]),
    "owner": st.one_of(st.none(), oid),
    "created": moment,
    "updated": st.one_of(st.none(), moment),
}).map(body_of)
instances = st.lists(instance, max_size=7).map(
    lambda items: [{**item, "_id": object_id(number)} for number, item in enumerate(items, start=1)]
)

# Fields by kind, before any $group/$project (more appear with each $unwind).
DOCUMENT_FIELDS = {
    "String": ["c_str", "c_name.c_first", "c_mixed", "type"],
    "Number": ["c_num", "c_name.c_age"],
    "Boolean": ["c_bool"],
    "Date": ["c_date", "created", "updated"],
    "ObjectId": ["c_oid", "_id", "owner"],
}
UNWOUND_FIELDS = {
    "c_tags": {"String": ["c_tags"]},
    "c_nums": {"Number": ["c_nums"]},
    "c_docs": {"String": ["c_docs.c_label"], "Number": ["c_docs.c_score"]},
    "c_docs.c_tags": {"String": ["c_docs.c_tags"]},
}
SORTABLE = ["c_str", "c_num", "c_bool", "c_date", "c_oid", "c_name.c_first", "c_name.c_age", "_id", "created",
            "updated", "type", "owner"]
LITERALS = {
    "String": st.builds(lambda value: {"$string": value}, text),
    "Number": number,
    "Boolean": st.booleans(),
    "Date": st.builds(lambda value: {"$date": value}, date),
    "ObjectId": st.builds(lambda value: {"$objectId": value}, oid),
}


class Fields:
    """What names mean at one point of a generated pipeline: name -> (kind, exact)."""

    def __init__(self, by_kind: dict[str, list[str]], exact: set[str] | None = None) -> None:
        self.by_kind = by_kind
        self.exact = exact if exact is not None else {name for names in by_kind.values() for name in names}

    def of(self, kind: str, *, exact: bool) -> list[str]:
        return [name for name in self.by_kind.get(kind, []) if not exact or name in self.exact]


def expression(draw: Any, fields: Fields, kind: str, depth: int, *, exact: bool) -> tuple[Any, bool]:
    """A random expression of ``kind``; also whether it is exact (no quotient or average in it)."""
    names = fields.of(kind, exact=exact)
    leaves = ["field"] * 3 * bool(names) + ["literal"]
    operators = {
        "Number": ["$add", "$subtract", "$multiply", "$abs", "$cmp", "$year", "$millisecond", "$strcasecmp"]
        + ([] if exact else ["$divide"]),
        "String": ["$concat", "$toLower", "$toUpper", "$substr", "$cond", "$ifNull"],
        "Boolean": ["$eq", "$ne", "$gt", "$lte", "$and", "$or", "$not"],
        "Date": ["$ifNull", "$cond"],
        "ObjectId": ["$ifNull"],
    }[kind]
    choice = draw(st.sampled_from(leaves + (operators if depth < 3 else [])))
    if choice == "field":
        name = draw(st.sampled_from(names))
        return name, name in fields.exact
    if choice == "literal":
        return draw(LITERALS[kind]), True

    def sub(sub_kind: str) -> tuple[Any, bool]:
        return expression(draw, fields, sub_kind, depth + 1, exact=exact)

    if choice in ("$add", "$subtract", "$multiply"):
        parts = [sub("Number") for _ in range(draw(st.integers(2, 3)) if choice != "$subtract" else 2)]
        return {choice: [part for part, _ in parts]}, all(ok for _, ok in parts)
    if choice in ("$abs", "$toLower", "$toUpper"):
        part, ok = sub("Number" if choice == "$abs" else "String")
        return {choice: part}, ok
    if choice == "$divide":
        (left, _), (right, _) = sub("Number"), sub("Number")
        return {choice: [left, right]}, False
    if choice in ("$year", "$millisecond"):
        return {choice: sub("Date")[0]}, True
    if choice == "$strcasecmp":
        return {choice: [sub("String")[0], sub("String")[0]]}, True
    if choice == "$cmp" or choice in ("$eq", "$ne", "$gt", "$lte"):
        compared = draw(st.sampled_from(["String", "Number", "Boolean", "Date", "ObjectId"]))
        left, right = expression(draw, fields, compared, depth + 1, exact=True), \
            expression(draw, fields, compared, depth + 1, exact=True)
        if draw(st.booleans()) and compared != "Boolean":
            right = (None, True)
        return {choice: [left[0], right[0]]}, True
    if choice in ("$and", "$or"):
        parts = [expression(draw, fields, draw(st.sampled_from(["Boolean", "Number", "String"])), depth + 1,
                            exact=True)[0] for _ in range(draw(st.integers(1, 3)))]
        return {choice: parts}, True
    if choice == "$not":
        return {choice: expression(draw, fields, "Boolean", depth + 1, exact=True)[0]}, True
    if choice == "$concat":
        parts = [sub(draw(st.sampled_from(["String", "String", "Date", "ObjectId"])))[0]
                 for _ in range(draw(st.integers(1, 3)))]
        return {choice: parts}, True
    if choice == "$substr":
        return {choice: [sub("String")[0], draw(st.integers(0, 3)), draw(st.integers(0, 3))]}, True
    if choice == "$cond":
        condition = expression(draw, fields, "Boolean", depth + 1, exact=True)[0]
        (then, first), (otherwise, second) = sub(kind), sub(kind)
        return {choice: [condition, then, otherwise]}, first and second
    (value, first), (replacement, second) = sub(kind), sub(kind)
    return {"$ifNull": [value, replacement]}, first and second


@st.composite
def pipelines(draw: Any) -> list[dict[str, Any]]:
    stages: list[dict[str, Any]] = []
    by_kind = {kind: list(names) for kind, names in DOCUMENT_FIELDS.items()}
    arrays = {"c_tags": "String", "c_nums": "Number"}
    unwound: list[str] = []

    if draw(st.booleans()):
        stages.append({"$match": draw(where_documents)})
    if draw(st.booleans()):
        stages.append({"$sort": {draw(st.sampled_from(SORTABLE)): draw(st.sampled_from([1, -1]))}})
    for _ in range(draw(st.integers(0, 2))):
        option = draw(st.sampled_from(["unwind", "unwind", "skip", "limit"]))
        if option == "unwind":
            candidates = [path for path in ("c_tags", "c_nums", "c_docs") if path not in unwound]
            if "c_docs" in unwound and "c_docs.c_tags" not in unwound:
                candidates.append("c_docs.c_tags")
            if not candidates:
                continue
            path = draw(st.sampled_from(candidates))
            unwound.append(path)
            stages.append({"$unwind": path})
            arrays.pop(path, None)
            for kind, names in UNWOUND_FIELDS[path].items():
                by_kind.setdefault(kind, []).extend(names)
            if path == "c_docs" and "c_docs.c_tags" not in unwound:
                arrays["c_docs.c_tags"] = "String"
        else:
            stages.append({f"${option}": draw(st.integers(0 if option == "skip" else 1, 4))})
    fields = Fields(by_kind)
    ending = draw(st.sampled_from(["documents", "group", "group", "project", "count"]))
    if ending == "documents":
        return stages or [{"$skip": 0}]
    if ending == "count":
        return [*stages, {"$count": "n"}]
    if ending == "project":
        spec: dict[str, Any] = {} if draw(st.booleans()) else {"_id": 0}
        made: dict[str, list[str]] = {}
        exact: set[str] = set()
        for index in range(draw(st.integers(1, 3))):
            kind = draw(st.sampled_from(["String", "Number", "Boolean", "Date", "ObjectId"]))
            value, ok = expression(draw, fields, kind, 1, exact=False)
            if isinstance(value, bool) or value is None:
                value = {"$literal": value}
            elif isinstance(value, int | float):
                value = {"$number": value}  # a bare 1 or 0 would keep or leave out a field
            spec[f"p{index}"] = value
            made.setdefault(kind, []).append(f"p{index}")
            if ok:
                exact.add(f"p{index}")
        if arrays and draw(st.booleans()):
            name = draw(st.sampled_from(sorted(arrays)))
            if "." in name:
                spec["arr"] = name
            else:
                spec[name] = 1
        stages.append({"$project": spec})
        if "_id" not in spec:
            made.setdefault("ObjectId", []).append("_id")
            exact.add("_id")
        records = Fields(made, exact)
    else:
        composite = draw(st.booleans())
        key_kinds = draw(st.lists(st.sampled_from(["String", "Number", "Boolean", "Date", "ObjectId"]),
                                  min_size=1, max_size=2))
        keys = {f"k{i}": expression(draw, fields, kind, 2, exact=True)[0] for i, kind in enumerate(key_kinds)}
        group: dict[str, Any] = {"_id": keys if composite else (keys["k0"] if draw(st.booleans()) else None)}
        made = {}
        exact = set()
        if not composite and group["_id"] is not None:
            made[key_kinds[0]] = ["_id"]
            exact.add("_id")
        elif composite:
            for i, kind in enumerate(key_kinds):
                made.setdefault(kind, []).append(f"_id.k{i}")
                exact.add(f"_id.k{i}")
        for index in range(draw(st.integers(1, 4))):
            op = draw(st.sampled_from(["$sum", "$avg", "$min", "$max", "$count", "$first", "$last", "$push",
                                       "$pushAll", "$addToSet"]))
            name = f"a{index}"
            if op == "$count":
                group[name] = {op: draw(st.sampled_from(["_id", "c_str", *sorted(arrays)]))}
                made.setdefault("Number", []).append(name)
                exact.add(name)
                continue
            kind = "Number" if op in ("$sum", "$avg") else draw(st.sampled_from(["String", "Number", "Boolean",
                                                                                 "Date", "ObjectId"]))
            value, ok = expression(draw, fields, kind, 2, exact=op not in ("$sum", "$avg"))
            group[name] = {op: value}
            if op in ("$push", "$pushAll", "$addToSet"):
                continue
            made.setdefault(kind, []).append(name)
            if ok and op != "$avg":
                exact.add(name)
        stages.append({"$group": group})
        records = Fields(made, exact)
    for _ in range(draw(st.integers(0, 2))):
        option = draw(st.sampled_from(["sort", "sort", "skip", "limit"]))
        if option == "sort":
            names = sorted(name for kind in records.by_kind for name in records.of(kind, exact=True))
            if names:
                chosen = draw(st.lists(st.sampled_from(names), min_size=1, max_size=2, unique=True))
                stages.append({"$sort": {name: draw(st.sampled_from([1, -1])) for name in chosen}})
        else:
            stages.append({f"${option}": draw(st.integers(0 if option == "skip" else 1, 3))})
    return stages


def close(actual: Any, expected: Any) -> bool:
    if isinstance(actual, dict) and isinstance(expected, dict):
        return actual.keys() == expected.keys() and all(close(actual[k], expected[k]) for k in actual)
    if isinstance(actual, list) and isinstance(expected, list):
        return len(actual) == len(expected) and all(close(a, b) for a, b in zip(actual, expected, strict=True))
    numbers = (int, float)
    if isinstance(actual, numbers) and isinstance(expected, numbers) and not isinstance(actual, bool) \
            and not isinstance(expected, bool):
        return math.isclose(actual, expected, rel_tol=1e-9, abs_tol=1e-9)
    return bool(actual == expected) and type(actual) is type(expected)


def run_sql(database: Database, pipeline: Any) -> list[Any]:
    source = sa.and_(documents.c.org_id == ORG_ID, documents.c.object == OBJECT)
    compiled = compile_pipeline(pipeline, database.dialect, source)
    with database.connect() as connection:
        rows = [compiled.decode(row) for row in connection.execute(compiled.statement())]
        total = connection.execute(compiled.count_statement()).scalar_one()
    assert total == len(rows)
    if pipeline.outputs_documents:
        return [(document["id"], positions) for document, positions in rows]
    return rows


def expected_output(pipeline: Any, data: list[dict[str, Any]]) -> list[Any]:
    output = run_pipeline(pipeline, data)
    if pipeline.outputs_documents:
        return [(item.id, item.indexes) for item in output]
    return output


@pytest.fixture
def db(database: Database) -> Database:
    prepare(database)
    return database


@settings(max_examples=200, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.data_too_large])
@given(data=instances, stages=pipelines())
def test_database_and_evaluator_agree(db: Database, data: list[dict[str, Any]], stages: list[Any]) -> None:
    delete_all(db)
    insert(db, data)
    insert(db, [{"_id": object_id(99), "c_str": "a", "c_num": 1, "c_tags": ["a"]}], org_id=OTHER_ORG_ID)
    pipeline = parse_pipeline(stages, SCHEMA, ARRAYS)
    assert pipeline is not None
    actual, expected = run_sql(db, pipeline), expected_output(pipeline, data)
    assert close(actual, expected), (actual, expected)
