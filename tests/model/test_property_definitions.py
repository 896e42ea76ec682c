"""Property definitions: options per type, their defaults, and a fault naming each bad option."""

from __future__ import annotations

from typing import Any

import pytest

from opencortex.model.properties import PROPERTY_CLASSES
from tests.model.property_helpers import definition_faults, make

BAD = "cortex.invalidArgument.unspecified"
REQUIRED = "cortex.invalidArgument.required"


@pytest.mark.parametrize("type_name", sorted(PROPERTY_CLASSES))
def test_every_type_parses_with_defaults_shown(type_name: str) -> None:
    extra: dict[str, Any] = {"sourceObject": "c_other"} if type_name in ("Reference", "List") else {}
    shown = make(type_name, **extra).to_json()
    assert shown["type"] == type_name and shown["name"] == "c_value"
    for key, default in (
        ("array", False),
        ("indexed", False),
        ("readable", True),
        ("writable", True),
        ("readAccess", 4),
        ("writeAccess", 6),
        ("defaultValue", []),
        ("validators", []),
    ):
        assert shown[key] == default, key
    assert "minItems" not in shown  # array options are shown for arrays only


@pytest.mark.parametrize(
    ("type_name", "options", "expected"),
    [
        ("String", {"min": 1}, [("properties[0].min", BAD)]),
        ("Number", {"sourceObject": "c_x"}, [("properties[0].sourceObject", BAD)]),
        ("Number", {"trim": True}, [("properties[0].trim", BAD)]),
        ("List", {"sourceObject": "c_x", "array": True}, [("properties[0].array", BAD)]),
        ("Any", {"array": True}, [("properties[0].array", BAD)]),
        ("Binary", {"indexed": True}, [("properties[0].indexed", BAD)]),
        ("Document", {"indexed": True}, [("properties[0].indexed", BAD)]),
        ("String", {"unique": True}, [("properties[0].unique", BAD)]),
        ("String", {"minItems": 2}, [("properties[0].minItems", BAD)]),
        ("String", {"array": True, "minItems": 5, "maxItems": 2}, [("properties[0].maxItems", BAD)]),
        ("String", {"array": True, "maxItems": 1001}, [("properties[0].maxItems", BAD)]),
        ("String", {"lowercase": True, "uppercase": True}, [("properties[0].uppercase", BAD)]),
        ("String", {"indexed": "yes"}, [("properties[0].indexed", BAD)]),
        ("String", {"readAccess": 9}, [("properties[0].readAccess", BAD)]),
        ("String", {"label": ""}, [("properties[0].label", BAD)]),
        ("Reference", {}, [("properties[0].sourceObject", REQUIRED)]),
        ("Geometry", {"geoType": "Polygon"}, [("properties[0].geoType", BAD)]),
        ("Binary", {"maxSize": 0}, [("properties[0].maxSize", BAD)]),
        ("Any", {"maxSize": 2 * 1024 * 1024}, [("properties[0].maxSize", BAD)]),
        ("ObjectId", {"cascadeDelete": True}, [("properties[0].cascadeDelete", BAD)]),
        ("List", {"sourceObject": "c_x", "where": '{"c_a": "{{script.x}}"}'}, [("properties[0].where", BAD)]),
        ("List", {"sourceObject": "c_x", "where": "not json"}, [("properties[0].where", BAD)]),
        ("Document", {"uniqueKey": "c_nope"}, [("properties[0].uniqueKey", BAD)]),
        (
            "List",
            {"sourceObject": "c_x", "validators": [{"name": "required"}]},
            [("properties[0].validators", BAD)],
        ),
        ("File", {"processors": [{"name": "thumb"}]}, [("properties[0].processors", BAD)]),
        ("Date", {"acl": [{"type": 9}]}, [("properties[0].acl[0]", BAD)]),
        ("Polygon", {}, [("properties[0].type", BAD)]),
        (None, {}, [("properties[0].type", REQUIRED)]),
    ],
)
def test_bad_options_are_faults_at_their_path(
    type_name: str | None, options: dict[str, Any], expected: list
) -> None:
    assert definition_faults(type_name, **options) == expected


@pytest.mark.parametrize(
    ("name", "ok"),
    [
        ("c_name", True),
        ("c_dateOfBirth", True),
        ("ctx__label", True),
        ("name", False),
        ("c_", False),
        ("c_has space", False),
        ("c_" + "x" * 40, False),
        ("_id", False),
        ("created", False),
        ("c-dash", False),
    ],
)
def test_property_names(name: str, ok: bool) -> None:
    problems = definition_faults("String", name=name)
    assert (problems == []) is ok
    if not ok:
        assert problems[0][0] == "properties[0].name"


def test_every_problem_of_one_property_is_reported() -> None:
    found = definition_faults("String", name="bad name", label=3, min=1, indexed="x")
    assert {path for path, _ in found} == {
        "properties[0].name",
        "properties[0].label",
        "properties[0].min",
        "properties[0].indexed",
    }


def test_unique_requires_indexed_and_may_be_set_with_it() -> None:
    assert make("String", indexed=True, unique=True).unique


def test_nested_document_properties_report_nested_paths() -> None:
    found = definition_faults(
        "Document",
        properties=[
            {"name": "c_a", "label": "A", "type": "String"},
            {"name": "c_a", "label": "A again", "type": "Number"},
            {"name": "c_b", "label": "B", "type": "Number", "trim": True},
        ],
    )
    assert found == [("properties[0].properties[1].name", BAD), ("properties[0].properties[2].trim", BAD)]


def test_document_definition_shows_its_children() -> None:
    doc = make("Document", array=True, properties=[{"name": "c_a", "label": "A", "type": "String"}])
    shown = doc.to_json()
    assert shown["properties"][0]["name"] == "c_a" and shown["maxItems"] == 100


@pytest.mark.parametrize(
    ("type_name", "default", "expected"),
    [
        # A static default is checked like a written value, so its fault says what is wrong with it.
        (
            "Number",
            {"type": "static", "value": "three"},
            ("properties[0].defaultValue.value", "cortex.invalidArgument.castError"),
        ),
        ("Number", {"type": "env", "value": "increment"}, ("properties[0].defaultValue.value", BAD)),
        ("Any", {"type": "static", "value": 1}, ("properties[0].defaultValue.value", BAD)),
        ("Date", {"type": "expression", "value": "x"}, ("properties[0].defaultValue.type", BAD)),
        (
            "Date",
            [{"type": "env", "value": "now"}, {"type": "env", "value": "now"}],
            ("properties[0].defaultValue", BAD),
        ),
        ("Date", 5, ("properties[0].defaultValue", BAD)),
    ],
)
def test_bad_default_values(type_name: str, default: Any, expected: tuple[str, str]) -> None:
    assert definition_faults(type_name, defaultValue=default) == [expected]


def test_default_values_are_shown_as_a_set() -> None:
    assert make("Boolean", defaultValue={"type": "env", "value": "true"}).to_json()["defaultValue"] == [
        {"type": "env", "value": "true"}
    ]
    assert make("Number", defaultValue=[{"type": "static", "value": 4}]).resolve_default() == 4


def test_stored_definitions_parse_back_identically() -> None:
    original = make(
        "String",
        array=True,
        indexed=True,
        validators=[{"name": "stringEnum", "definition": {"values": ["a", "b"]}}],
    )
    again = make("String", **{k: v for k, v in original.to_json().items() if k not in ("name", "type")})
    assert again.to_json() == original.to_json()
