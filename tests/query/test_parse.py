"""parse_where / parse_sort: what each operator becomes, and the fault every bad input gets."""

from __future__ import annotations

import json
from typing import Any

import pytest

from opencortex.faults import Fault
from opencortex.query import QueryLimits, parse_sort, parse_where
from opencortex.query.ast import (
    And,
    Compare,
    ElemMatch,
    Exists,
    In,
    Not,
    Or,
    Regex,
    Size,
    Traversal,
    TypeIs,
    Within,
)
from opencortex.query.schema import QuerySchema
from tests.query.instances import object_id, thing_schema

SCHEMA = thing_schema()
QUERY = "cortex.invalidArgument.query"
EXACT = "cortex.unsupportedOperation.exactMatching"


def parse(where: Any, allowed_restricted: Any = None, **options: Any) -> Any:
    """``parse_where`` on the test schema; ``allowed_restricted`` replaces the schema's (all)."""
    schema = SCHEMA if allowed_restricted is None else SCHEMA.allowing(allowed_restricted)
    return parse_where(where, schema, **options)


def fault_of(where: Any, **options: Any) -> Fault:
    with pytest.raises(Fault) as caught:
        parse(where, **options)
    return caught.value


def assert_fault(
    where: Any, err_code: str = QUERY, path: str | None = None, reason: str = "", **options: Any
) -> None:
    fault = fault_of(where, **options)
    assert fault.err_code == err_code, fault
    assert fault.status == 400
    assert fault.path == path, fault
    assert reason in (fault.reason or ""), fault.reason


# Shapes


def test_empty_where_matches_everything() -> None:
    assert parse(None) is None
    assert parse("") is None
    assert parse("{}") is None
    assert parse({}) is None
    assert parse("null") is None


def test_bare_value_is_equality_and_text_equals_dict_form() -> None:
    node = parse('{"c_str": "apple"}')
    assert isinstance(node, Compare) and (node.op, node.value, node.field.path) == ("$eq", "apple", "c_str")
    assert parse({"c_str": "apple"}) == node
    assert parse({"c_str": {"$eq": "apple"}}) == node


def test_several_keys_and_several_operators_are_an_implicit_and() -> None:
    node = parse({"c_str": "a", "c_num": {"$gt": 1, "$lt": 5}})
    assert isinstance(node, And)
    first, second = node.children
    assert isinstance(first, Compare) and isinstance(second, And)
    assert [child.op for child in second.children] == ["$gt", "$lt"]  # type: ignore[union-attr]


def test_logical_operators() -> None:
    node = parse({"$or": [{"c_str": "a"}, {"$and": [{"c_num": 1}, {"c_bool": True}]}]})
    assert isinstance(node, Or) and isinstance(node.children[1], And)
    nor = parse({"$nor": [{"c_str": "a"}, {"c_str": "b"}]})
    assert isinstance(nor, Not) and isinstance(nor.child, Or) and len(nor.child.children) == 2
    negated = parse({"$not": {"c_str": "a"}})
    assert isinstance(negated, Not) and isinstance(negated.child, Compare)
    field_not = parse({"c_num": {"$not": {"$gt": 3}}})
    assert isinstance(field_not, Not) and field_not.child.op == "$gt"  # type: ignore[union-attr]


def test_negations_and_null() -> None:
    ne = parse({"c_str": {"$ne": "a"}})
    assert isinstance(ne, Not) and isinstance(ne.child, Compare)
    nin = parse({"c_str": {"$nin": ["a", "b"]}})
    assert isinstance(nin, Not) and isinstance(nin.child, In) and nin.child.values == ("a", "b")
    is_null = parse({"c_str": None})
    assert isinstance(is_null, Not) and isinstance(is_null.child, Exists)
    assert isinstance(parse({"c_str": {"$ne": None}}), Not)  # Not(Not(Exists))
    missing = parse({"c_str": {"$exists": False}})
    assert isinstance(missing, Not) and isinstance(missing.child, Exists)
    assert isinstance(parse({"c_str": {"$exists": True}}), Exists)


def test_in_with_null_and_regex_entries() -> None:
    node = parse({"c_str": {"$in": ["a", None, {"$regex": "/^b/i"}]}})
    assert isinstance(node, Or)
    member, absent = node.children
    assert isinstance(member, In) and member.values == ("a",) and member.patterns[0].source == "/^b/i"
    assert isinstance(absent, Not) and isinstance(absent.child, Exists)
    assert parse({"c_str": {"$in": []}}) == In(member.field, (), ())


def test_array_operators() -> None:
    size = parse({"c_tags": {"$size": 2}})
    assert isinstance(size, Size) and size.size == 2
    every = parse({"c_tags": {"$all": ["a", "b"]}})
    assert isinstance(every, And) and [c.value for c in every.children] == ["a", "b"]  # type: ignore[union-attr]
    assert parse({"c_tags": {"$all": []}}) == Or(())
    element = parse({"c_nums": {"$elemMatch": {"$gt": 1, "$lt": 5}}})
    assert isinstance(element, ElemMatch) and isinstance(element.condition, And)
    inner = element.condition.children[0]
    assert isinstance(inner, Compare) and inner.field.steps == ()  # the element itself
    documents = parse({"c_docs": {"$elemMatch": {"c_label": "x", "c_score": {"$gte": 3}}}})
    assert isinstance(documents, ElemMatch)
    label = documents.condition.children[0]  # type: ignore[union-attr]
    assert [step.key for step in label.field.steps] == ["c_label"]  # relative to the element
    all_elements = parse(
        {"c_docs": {"$all": [{"$elemMatch": {"c_label": "x"}}, {"$elemMatch": {"c_label": "y"}}]}}
    )
    assert isinstance(all_elements, And) and all(isinstance(c, ElemMatch) for c in all_elements.children)


def test_paths_know_where_arrays_are() -> None:
    tags = parse({"c_tags": "a"})
    assert [step.traversal for step in tags.field.steps] == [Traversal.ARRAY]
    first = parse({"c_name.c_first": "Ann"})
    assert [step.traversal for step in first.field.steps] == [Traversal.VALUE, Traversal.VALUE]
    label = parse({"c_docs.c_label": "x"})
    assert [step.traversal for step in label.field.steps] == [Traversal.ARRAY, Traversal.LENIENT]


def test_values_are_coerced_to_the_property_type() -> None:
    assert parse({"c_date": "2024-01-02"}).value == "2024-01-02T00:00:00.000Z"
    assert parse({"c_date": {"$gt": "2024-01-02T05:00:00+02:00"}}).value == "2024-01-02T03:00:00.000Z"
    assert parse({"c_oid": object_id(10).upper()}).value == object_id(10)
    assert parse({"c_ref": object_id(3)}).field.type == "ObjectId"  # a Reference matches by id
    assert parse({"created": {"$lt": "2024-01-01T00:00:00Z"}}).field.column == "created"
    assert parse({"c_num": 2.5}).value == 2.5
    assert parse({"c_bool": False}).value is False


def test_within_takes_cortex_center_and_radius() -> None:
    node = parse({"c_loc": {"$within": {"$center": [2.35, 48.85], "$radius": 10}}})
    assert isinstance(node, Within)
    assert (node.circle.lng, node.circle.lat, node.circle.radius_km) == (2.35, 48.85, 10.0)


def test_regex_is_parsed_once() -> None:
    node = parse({"c_str": {"$regex": "/^sm/i"}})
    assert isinstance(node, Regex)
    assert node.pattern.re2 == "^[sS][mM]" and node.pattern.postgres == "(?pi)^sm"


# Faults: properties


@pytest.mark.parametrize(
    ("where", "path", "reason"),
    [
        ({"c_nope": 1}, "c_nope", "Unknown property c_nope"),
        ({"c_secret": "x"}, "c_secret", "Unknown property c_secret"),  # unreadable: same as unknown
        ({"c_hidden.c_inner": "x"}, "c_hidden.c_inner", "Unknown property"),  # inside an unreadable document
        ({"c_plain": "x"}, "c_plain", "Matches can only occur on indexed properties"),
        ({"c_name": {"$exists": True}}, "c_name", "indexed"),
        ({"c_tags.0": "a"}, "c_tags.0", "Unknown property"),
        ({"c-bad name": 1}, "c-bad name", "Invalid field name"),
        ({"c..x": 1}, "c..x", "Invalid field name"),
        ({"c_" + "x" * 300: 1}, "c_" + "x" * 198, "Invalid field name"),
    ],
)
def test_property_faults(where: dict[str, Any], path: str, reason: str) -> None:
    assert_fault(where, path=path, reason=reason)


def test_unknown_and_unreadable_faults_are_identical() -> None:
    unknown, hidden = fault_of({"c_x": "a"}).to_json(), fault_of({"c_secret": "a"}).to_json()
    assert {**unknown, "reason": None, "path": None} == {**hidden, "reason": None, "path": None}
    assert unknown["reason"].replace("c_x", "?") == hidden["reason"].replace("c_secret", "?")


# Faults: operators and values


@pytest.mark.parametrize(
    ("where", "path", "reason"),
    [
        ({"c_str": {"$foo": 1}}, "c_str", "Invalid operator $foo"),
        ({"c_str": {"$mod": [2, 0]}}, "c_str", "Invalid operator $mod"),
        ({"$where": "1"}, None, "Invalid operator $where"),
        ({"$text": {"$search": "x"}}, None, "Invalid operator $text"),
        ({"c_num": {"$regex": "/1/"}}, "c_num", "$regex cannot be used on c_num"),
        ({"c_str": {"$within": {"$center": [0, 0], "$radius": 1}}}, "c_str", "$within cannot be used"),
        ({"c_str": {"$size": 1}}, "c_str", "$size can only be used on array properties"),
        ({"c_str": {"$all": ["a"]}}, "c_str", "$all can only be used on array"),
        ({"c_str": {"$elemMatch": {"$eq": "a"}}}, "c_str", "$elemMatch can only be used on array"),
        ({"c_loc": {"$gt": 1}}, "c_loc", "$gt cannot be used on c_loc"),
        ({"c_docs": {"$in": ["a"]}}, "c_docs", "$in cannot be used on c_docs"),
        ({"c_num": "5"}, "c_num", "Expected a Number"),
        ({"c_num": True}, "c_num", "Expected a Number"),
        ({"c_num": {"$gt": 2**70}}, "c_num", "64 bits"),
        ({"c_bool": 1}, "c_bool", "Expected a Boolean"),
        ({"c_bool": "true"}, "c_bool", "Expected a Boolean"),
        ({"c_str": 5}, "c_str", "Expected a String"),
        ({"c_str": "a\x00b"}, "c_str", "NUL"),
        ({"c_str": "\ud800"}, "c_str", "valid Unicode"),
        ({"c_date": "yesterday"}, "c_date", "ISO 8601"),
        ({"c_date": "2024-02-30"}, "c_date", "ISO 8601"),
        ({"created": {"$gt": 5}}, "created", "ISO 8601"),
        ({"c_oid": "xyz"}, "c_oid", "ObjectId"),
        ({"_id": "0" * 23}, "_id", "ObjectId"),
        ({"c_str": {"$gt": None}}, "c_str", "$gt expects a String"),
        ({"c_str": {"$exists": 1}}, "c_str", "$exists expects a boolean"),
        ({"c_str": {"$in": "a"}}, "c_str", "$in expects an array"),
        ({"c_str": {"$in": [["a"]]}}, "c_str", "$in expects a String"),
        ({"c_tags": {"$size": -1}}, "c_tags", "$size expects an integer"),
        ({"c_tags": {"$size": 1.5}}, "c_tags", "$size expects an integer"),
        ({"c_tags": {"$size": True}}, "c_tags", "$size expects an integer"),
        ({"c_tags": {"$all": "a"}}, "c_tags", "$all expects an array"),
        ({"c_tags": {"$all": ["a", {"$elemMatch": {"$eq": "b"}}]}}, "c_tags", "not mixed"),
        ({"c_tags": {"$elemMatch": {}}}, "c_tags", "$elemMatch expects a non-empty object"),
        ({"c_tags": {"$elemMatch": {"x": 1}}}, "c_tags", "expects operators"),
        ({"c_docs": {"$elemMatch": {"c_nope": 1}}}, "c_docs.c_nope", "Unknown property"),
        (
            {"c_docs": {"$elemMatch": {"c_label": {"$size": 1, "$bad": 2}}}},
            "c_docs.c_label",
            "Invalid operator $bad",
        ),
        ({"c_str": {"$gt": "a", "b": 1}}, "c_str", "cannot be mixed"),
        ({"c_str": {"$not": "a"}}, "c_str", "$not expects an object"),
        (
            {"c_loc": {"$within": {"$center": [200, 0], "$radius": 1}}},
            "c_loc",
            "$center must be an array of 2",
        ),
        ({"c_loc": {"$within": {"$center": [0], "$radius": 1}}}, "c_loc", "$center must be an array of 2"),
        (
            {"c_loc": {"$within": {"$center": [0, True], "$radius": 1}}},
            "c_loc",
            "$center must be an array of 2",
        ),
        ({"c_loc": {"$within": {"$center": [0, 0], "$radius": -1}}}, "c_loc", "$radius must be a number"),
        ({"c_loc": {"$within": {"$center": [[0, 0], 5]}}}, "c_loc", "$within expects"),
    ],
)
def test_operator_faults(where: dict[str, Any], path: str | None, reason: str) -> None:
    assert_fault(where, path=path, reason=reason)


@pytest.mark.parametrize(
    ("where", "path"),
    [
        ({"c_tags": ["a", "b"]}, "c_tags"),
        ({"c_name.c_first": {"x": 1}}, "c_name.c_first"),
        ({"c_str": {}}, "c_str"),
        ({"c_str": {"$eq": ["a"]}}, "c_str"),
        ({"c_str": {"$eq": {"a": 1}}}, "c_str"),
    ],
)
def test_exact_matching_is_unsupported(where: dict[str, Any], path: str) -> None:
    assert_fault(where, EXACT, path=path)


def test_restricted_operators_follow_the_org_setting() -> None:
    assert_fault({"c_str": {"$ne": "a"}}, path="c_str", reason="Invalid operator $ne", allowed_restricted=())
    assert_fault(
        {"c_str": {"$nin": ["a"]}}, path="c_str", reason="Invalid operator $nin", allowed_restricted=["$ne"]
    )
    assert_fault(
        {"c_str": {"$type": "string"}},
        path="c_str",
        reason="Invalid operator $type",
        allowed_restricted=["$ne", "$nin"],
    )
    assert parse({"c_str": {"$ne": "a"}}, allowed_restricted=["$ne"]) is not None
    assert parse({"c_str": {"$nin": ["a"]}}, allowed_restricted=["*"]) is not None
    assert parse({"c_str": {"$type": "string"}}, allowed_restricted=["$type"]) is not None


RESTRICTED_USES = [
    {"c_str": {"$ne": "a"}},
    {"c_str": {"$nin": ["a"]}},
    {"c_str": {"$type": "string"}},
    {"$or": [{"c_num": 1}, {"c_str": {"$ne": "a"}}]},
    {"c_str": {"$not": {"$nin": ["a"]}}},
    {"c_tags": {"$elemMatch": {"$ne": "a"}}},
    {"c_docs": {"$elemMatch": {"c_label": {"$type": "string"}}}},
    {"_id": {"$type": "objectId"}},
]


@pytest.mark.parametrize("where", RESTRICTED_USES)
def test_a_schema_refuses_restricted_operators_by_default_wherever_they_are(where: dict[str, Any]) -> None:
    """Cortex's default: an org that did not allow them gets "Invalid operator", at any depth."""
    default = QuerySchema(SCHEMA.object_name, SCHEMA.properties)
    with pytest.raises(Fault) as caught:
        parse_where(where, default)
    assert caught.value.err_code == QUERY and caught.value.status == 400
    assert (caught.value.reason or "").startswith("Invalid operator $"), caught.value.reason
    assert parse_where(where, default.allowing(["*"])) is not None


# $type


def test_type_becomes_type_is_on_body_properties() -> None:
    node = parse({"c_str": {"$type": "string"}})
    assert isinstance(node, TypeIs) and node.name == "string" and node.field.path == "c_str"
    assert isinstance(parse({"c_any": {"$type": "maxKey"}}), TypeIs)  # accepted; it matches nothing
    assert parse({"c_num": {"$type": "int", "$gt": 1}}) == And((parse({"c_num": {"$type": "int"}}),
                                                              parse({"c_num": {"$gt": 1}})))


def test_type_on_a_system_column_is_decided_by_the_column_type() -> None:
    assert isinstance(parse({"_id": {"$type": "objectId"}}), Exists)
    assert isinstance(parse({"created": {"$type": "date"}}), Exists)
    assert isinstance(parse({"type": {"$type": "string"}}), Exists)
    for where in ({"_id": {"$type": "string"}}, {"created": {"$type": "string"}}, {"owner": {"$type": "null"}},
                  {"updated": {"$type": "long"}}):
        assert parse(where) == Or(()), where


@pytest.mark.parametrize("value", ["String", "number", "integer", 2, ["string"], None, {"$eq": "string"}, ""])
def test_type_takes_one_of_cortexs_names(value: Any) -> None:
    assert_fault({"c_str": {"$type": value}}, path="c_str", reason="$type expects one of double, string, object")


@pytest.mark.parametrize(
    ("where", "reason"),
    [
        ("{", "Invalid where JSON format"),
        ('{"c_str": NaN}', "Invalid where JSON format"),
        ('{"c_num": 1e999}', "Invalid where JSON format"),
        ('{"c_str": "\\ud800"}', "Invalid where JSON format"),
        ("[" * 5000 + "]" * 5000, "Invalid where JSON format"),
        ("[1]", "where must be a JSON object"),
        ('"c_str"', "where must be a JSON object"),
        ({"$and": []}, "$and expects an array of 1 to 100 conditions"),
        ({"$or": {"c_str": "a"}}, "$or expects an array"),
        ({"$and": ["c_str"]}, "Expected an object of conditions"),
        ({"$not": "c_str"}, "Expected an object of conditions"),
    ],
)
def test_shape_faults(where: Any, reason: str) -> None:
    assert_fault(where, path=None, reason=reason)


# Limits


def nested(depth: int) -> dict[str, Any]:
    where: dict[str, Any] = {"c_str": "a"}
    for _ in range(depth - 1):
        where = {"$and": [where]}
    return where


def test_nesting_depth_limit() -> None:
    assert parse(nested(20)) is not None
    assert_fault(nested(21), reason="nested deeper than 20 levels")
    deep_not: dict[str, Any] = {"$gt": 1}
    for _ in range(500):
        deep_not = {"$not": deep_not}
    assert_fault({"c_num": deep_not}, reason="nested deeper than 20")
    deep_element: dict[str, Any] = {"c_label": "x"}
    for _ in range(30):
        deep_element = {"$or": [deep_element]}
    assert_fault({"c_docs": {"$elemMatch": deep_element}}, reason="nested deeper than 20")


def test_logical_condition_limit() -> None:
    assert parse({"$or": [{"c_num": n} for n in range(100)]}) is not None
    assert_fault({"$or": [{"c_num": n} for n in range(101)]}, reason="1 to 100 conditions")


def test_keys_per_object_limit() -> None:
    assert_fault({"c_str": "a", **{f"$k{n}": 1 for n in range(100)}}, reason="more than 100 keys")


def test_in_and_all_size_limits() -> None:
    assert parse({"c_num": {"$in": list(range(10_000))}}) is not None
    assert_fault({"c_num": {"$in": list(range(10_001))}}, path="c_num", reason="at most 10000 values")
    assert_fault({"c_nums": {"$all": list(range(10_001))}}, path="c_nums", reason="at most 10000 values")


def test_total_condition_limit() -> None:
    where = {"$or": [{"$or": [{"c_num": n * 100 + m} for m in range(100)]} for n in range(11)]}
    assert_fault(where, reason="more than 1000 conditions")
    assert parse(where, limits=QueryLimits(max_conditions=2000)) is not None


def test_where_text_length_limit() -> None:
    text = json.dumps({"c_str": "x" * 2_000_000})
    assert_fault(text, reason="longer than 1048576 characters")


def test_regex_length_limit() -> None:
    assert parse({"c_str": {"$regex": "/" + "a" * 253 + "/"}}) is not None
    assert_fault({"c_str": {"$regex": "/" + "a" * 254 + "/"}}, path="c_str", reason="at most 255 characters")


# Regular expressions


@pytest.mark.parametrize(
    ("pattern", "reason"),
    [
        ("/(a+)+$/", "may not contain another quantifier"),
        ("/(a*)*b/", "must not be able to match nothing"),
        ("/(a|a)*b/", "must start with different characters"),
        ("/(a|ab)+c/", "must start with different characters"),
        ("/(\\d+-)+x/", "may not contain another quantifier"),
        ("/x(a?){10}/", "must not be able to match nothing"),
        ("/a.{255}.{2}/", "more than 256 characters"),
        ("/(?:ab){129}/", "more than 256 characters"),
        ("/[a-z]{200,}x{57}/", "more than 256 characters"),
        ("/(?:a|b{255})c/", "more than 256 characters"),
        ("/(a)\\1/", "backreferences"),
        ("/(?=a)b/", "lookaround"),
        ("/(?<n>a)/", "lookaround and named groups"),
        ("/\\p{L}/", "the escape \\p"),
        ("/a{1,300}/", "at most 255"),
        ("/a{3,2}/", "in order"),
        ("/*a/", "nothing to repeat"),
        ("/a**/", "cannot follow another quantifier"),
        ("/^*/", "nothing to repeat"),
        ("/[]/", "empty []"),
        ("/[z-a]/", "invalid range"),
        ("/[\\W]/", "inside [...]"),
        ("/(a/", "missing )"),
        ("/a)/", "unmatched )"),
        ("/[a/", "missing ]"),
        ("/a\\/", "trailing backslash"),
        ("/\\x4/", "hex digits"),
        ("/\\0/", "backreferences"),
        ("/a/g", "flags"),
        ("/a/ii", "flags"),
        ("a", "/pattern/flags"),
        ("/", "/pattern/flags"),
    ],
)
def test_regex_faults(pattern: str, reason: str) -> None:
    assert_fault({"c_str": {"$regex": pattern}}, path="c_str", reason=reason)


@pytest.mark.parametrize(
    "pattern",
    ["/a.*b.*c/", "/\\s*a\\s*b\\s*c/", "/^a.*b.*c.*d/", "/xa?b?c?d?e?f?g?y/", "/a.{255}/", "/(?:ab){128}/",
     "/[a-z]{255,}/", "/.*foo.*/"],
)
def test_patterns_only_a_backtracking_engine_would_choke_on_are_accepted(pattern: str) -> None:
    """Matching is linear now (see ``regex/__init__``): many ``.*`` or optional parts are fine."""
    node = parse({"c_str": {"$regex": pattern}})
    assert isinstance(node, Regex) and node.pattern.source == pattern


def test_regex_count_and_width_per_query() -> None:
    hundred = [{"$regex": f"/x{index}/"} for index in range(100)]
    assert parse({"c_str": {"$in": hundred}}) is not None
    assert_fault({"c_str": {"$in": [*hundred, {"$regex": "/y/"}]}}, path="c_str",
                 reason="at most 100 regular expressions")
    widest = {"$or": [{"c_str": {"$regex": "/a.{255}/"}}, {"c_tags": {"$regex": "/b.{255}/"}}]}  # 256 + 256
    assert parse(widest) is not None
    assert_fault({"$and": [widest, {"c_name.c_first": {"$regex": "/c/"}}]}, path="c_name.c_first",
                 reason="may span at most 512 characters")
    assert parse(widest, limits=QueryLimits(max_regex_width=600)) is not None


def test_regex_must_be_a_string() -> None:
    assert_fault({"c_str": {"$regex": 5}}, path="c_str", reason="$regex expects a string")


# Sort


def test_sort_forms() -> None:
    assert parse_sort(None, SCHEMA) == []
    assert parse_sort("", SCHEMA) == []
    [(prop, direction)] = parse_sort("c_str", SCHEMA)
    assert (prop.path, direction) == ("c_str", 1)
    keys = parse_sort('{"c_num": -1, "_id": 1}', SCHEMA)
    assert [(p.path, d) for p, d in keys] == [("c_num", -1), ("_id", 1)]
    assert [(p.path, d) for p, d in parse_sort({"c_name.c_first": -1}, SCHEMA)] == [("c_name.c_first", -1)]


@pytest.mark.parametrize(
    ("sort", "path", "reason"),
    [
        ("c_nope", "c_nope", "Unknown property"),
        ("c_secret", "c_secret", "Unknown property"),
        ("c_plain", "c_plain", "Sorting can only occur on indexed properties"),
        ("-c_str", "-c_str", "Unknown property"),
        ('{"c_str": 2}', "c_str", "must be 1 or -1"),
        ('{"c_str": "asc"}', "c_str", "must be 1 or -1"),
        ('{"c_str": true}', "c_str", "must be 1 or -1"),
        ('{"c_str": 1.0}', "c_str", "must be 1 or -1"),
        ('{"c_tags": 1}', "c_tags", "cannot be sorted"),
        ('{"c_docs.c_score": 1}', "c_docs.c_score", "cannot be sorted"),
        ('{"c_loc": 1}', "c_loc", "cannot be sorted"),
        ('{"c_str": 1', None, "Invalid sort JSON format"),
    ],
)
def test_sort_faults(sort: str, path: str | None, reason: str) -> None:
    with pytest.raises(Fault) as caught:
        parse_sort(sort, SCHEMA)
    assert caught.value.err_code == QUERY and caught.value.path == path
    assert reason in (caught.value.reason or "")


def test_sort_key_limit() -> None:
    with pytest.raises(Fault):
        parse_sort({f"c_{n}": 1 for n in range(101)}, SCHEMA)
