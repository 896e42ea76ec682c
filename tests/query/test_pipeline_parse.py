"""Pipelines are validated before anything runs: limits, names, kinds and stage rules, as faults."""

from __future__ import annotations

from typing import Any

import pytest

from opencortex.faults import Fault
from opencortex.query.pipeline import parse_pipeline
from opencortex.query.pipeline.ast import DocumentField, Group, Kind, Unwind
from tests.query.instances import thing_schema

SCHEMA = thing_schema()
ARRAYS = frozenset({"c_tags", "c_nums", "c_docs", "c_docs.c_tags"})


def refused(pipeline: Any) -> Fault:
    with pytest.raises(Fault) as raised:
        parse_pipeline(pipeline, SCHEMA, ARRAYS)
    assert raised.value.err_code == "cortex.invalidArgument.query"
    return raised.value


def nested(depth: int) -> Any:
    value: Any = "c_num"
    for _ in range(depth):
        value = {"$abs": value}
    return value


def test_expression_depth_is_limited_to_20() -> None:
    assert parse_pipeline([{"$project": {"x": nested(19)}}], SCHEMA, ARRAYS) is not None
    assert "20 levels" in (refused([{"$project": {"x": nested(20)}}]).reason or "")


def test_keys_and_arguments_are_limited() -> None:
    wide = {f"f{i}": "c_num" for i in range(101)}
    assert "100 keys" in (refused([{"$project": wide}]).reason or "")
    assert "2 to 100" in (refused([{"$project": {"x": {"$add": ["c_num"] * 101}}}]).reason or "")


@pytest.mark.parametrize(("pipeline", "path", "reason"), [
    ("[", "pipeline", "Invalid pipeline JSON"),
    ({"$match": {}}, "pipeline", "JSON array"),
    ([{}], "pipeline[0]", "exactly one key"),
    ([{"$project": {"c.x": "c_num"}}], "pipeline[0].$project", "Invalid field name"),
    ([{"$project": {"x": "$c_num"}}], "pipeline[0].$project.x", "without $"),
    ([{"$project": {"x": "c_plain"}}], None, None),  # unindexed properties may be projected
    ([{"$project": {"x": "c_secret"}}], "pipeline[0].$project.x", "Unknown property c_secret."),
    ([{"$project": {"x": "c_hidden.c_inner"}}], "pipeline[0].$project.x", "Unknown property c_hidden.c_inner."),
    ([{"$project": {"x": "c_loc"}}], "pipeline[0].$project.x", "Geometry"),
    ([{"$project": {"c_num": 0}}], "pipeline[0].$project.c_num", "Only _id"),
    ([{"$project": {"_id": 0}}], "pipeline[0].$project", "at least one field"),
    ([{"$project": {"x": {"a": "c_num"}}}], "pipeline[0].$project.x", "Nested"),
    ([{"$project": {"x": {"$eq": ["c_num", "c_str"]}}}], "pipeline[0].$project.x.$eq", "one kind"),
    ([{"$project": {"x": {"$cond": ["c_bool", "c_num", "c_str"]}}}], "pipeline[0].$project.x.$cond", "one kind"),
    ([{"$project": {"x": {"$substr": ["c_str", -1, 2]}}}], "pipeline[0].$project.x.$substr[1]", "at least 0"),
    ([{"$project": {"x": {"$date": "yesterday"}}}], "pipeline[0].$project.x.$date", "ISO 8601"),
    ([{"$project": {"x": {"$size": "c_num"}}}], "pipeline[0].$project.x.$size", "array"),
    ([{"$group": {"n": {"$sum": 1}}}], "pipeline[0].$group", "_id"),
    ([{"$group": {"_id": {}}}], "pipeline[0].$group._id", "at least one field"),
    ([{"$group": {"_id": None, "_id2": {"$sum": 1, "$avg": 1}}}], "pipeline[0].$group._id2", "one key"),
    ([{"$group": {"_id": None, "x": {"$push": "c_tags"}}}], "pipeline[0].$group.x.$push", "single value"),
    ([{"$group": {"_id": None, "x": {"$count": 1}}}], "pipeline[0].$group.x.$count", "property name"),
    ([{"$count": "_id"}], "pipeline[0].$count", "field name"),
    ([{"$unwind": "c_num"}], "pipeline[0].$unwind", "not one"),
    ([{"$unwind": "c_docs.c_tags"}], "pipeline[0].$unwind", "$unwind c_docs first"),
    ([{"$unwind": "c_tags"}, {"$unwind": "c_tags"}], "pipeline[1].$unwind", "already unwound"),
    ([{"$unwind": {"path": "c_tags"}}], "pipeline[0].$unwind", "property's name"),
    ([{"$project": {"x": "c_num"}}, {"$unwind": "c_tags"}], "pipeline[1].$unwind", "before any"),
    ([{"$limit": 1}, {"$match": {"c_num": 1}}], "pipeline[1].$match", "must come before"),
    ([{"$unwind": "c_tags"}, {"$match": {"c_num": 1}}], "pipeline[1].$match", "must come before"),
    ([{"$sort": {"c_plain": 1}}], "c_plain", "indexed"),
    ([{"$sort": {"c_tags": 1}}], "c_tags", "array"),
    ([{"$group": {"_id": "c_str", "s": {"$push": "c_num"}}}, {"$sort": {"s": 1}}], "pipeline[1].$sort.s", "array"),
    ([{"$group": {"_id": "c_str"}}, {"$project": {"x": "c_num"}}], "pipeline[1].$project.x", "Unknown field"),
    ([{"$group": {"_id": {"a": "c_str"}}}, {"$project": {"x": "_id"}}], "pipeline[1].$project.x", "_id.a"),
    ([{"$skip": True}], "pipeline[0].$skip", "integer"),
    ([{"$skip": 500_001}], "pipeline[0].$skip", "integer"),
    ([{"$limit": 1.5}], "pipeline[0].$limit", "integer"),
])
def test_bad_pipelines_name_the_problem(pipeline: Any, path: str | None, reason: str | None) -> None:
    if path is None:
        assert parse_pipeline(pipeline, SCHEMA, ARRAYS) is not None
        return
    fault = refused(pipeline)
    assert fault.path == path, (fault.path, fault.reason)
    assert reason in (fault.reason or ""), fault.reason


def test_what_a_pipeline_reads_is_named_for_access_control() -> None:
    pipeline = parse_pipeline([
        {"$match": {"c_str": "a", "_id": {"$exists": True}}},
        {"$unwind": "c_docs"},
        {"$group": {"_id": "c_docs.c_label", "n": {"$count": "c_docs.c_tags"}, "m": {"$max": "created"}}},
    ], SCHEMA, ARRAYS)
    assert pipeline is not None
    assert pipeline.named == ("c_docs", "c_docs.c_label", "c_docs.c_tags", "c_str")


def test_unwound_paths_read_from_the_element() -> None:
    pipeline = parse_pipeline([{"$unwind": "c_docs"}, {"$unwind": "c_docs.c_tags"},
                               {"$group": {"_id": {"tag": "c_docs.c_tags", "score": "c_docs.c_score"}}}],
                              SCHEMA, ARRAYS)
    assert pipeline is not None
    first, second, group = pipeline.stages
    assert first == Unwind(path="c_docs", keys=("c_docs",), parent=None, element=None)
    assert second == Unwind(path="c_docs.c_tags", keys=("c_tags",), parent=0, element=Kind("String"))
    assert isinstance(group, Group)
    assert dict(group.keys) == {
        "_id.tag": DocumentField("c_docs.c_tags", Kind("String"), unwind=1, keys=()),
        "_id.score": DocumentField("c_docs.c_score", Kind("Number"), unwind=0, keys=("c_score",)),
    }


def test_count_stage_is_a_group_of_everything() -> None:
    pipeline = parse_pipeline([{"$count": "total"}], SCHEMA, ARRAYS)
    assert pipeline is not None and not pipeline.outputs_documents


@pytest.mark.parametrize("condition", [{"c_str": {"$ne": "a"}}, {"c_tags": {"$nin": ["a"]}},
                                       {"c_num": {"$type": "int"}}])
def test_match_follows_the_schemas_restricted_operators(condition: dict[str, Any]) -> None:
    """$match is a where: an org that does not allow $ne, $nin or $type gets "Invalid operator"."""
    operator = next(iter(next(iter(condition.values()))))
    pipeline = [{"$match": condition}, {"$count": "n"}]
    for allowed in ((), [name for name in ("$ne", "$nin", "$type") if name != operator]):
        with pytest.raises(Fault) as raised:
            parse_pipeline(pipeline, thing_schema(allowed), ARRAYS)
        assert raised.value.err_code == "cortex.invalidArgument.query"
        assert raised.value.reason == f"Invalid operator {operator}."
    assert parse_pipeline(pipeline, thing_schema([operator]), ARRAYS) is not None
    assert parse_pipeline(pipeline, thing_schema(["*"]), ARRAYS) is not None
