"""Object definitions as posted to /objects: defaults, faults with paths, object types, ACL shapes,
and the query schema the query layer receives."""

from __future__ import annotations

from typing import Any

import pytest

from opencortex.faults import Fault
from opencortex.model.definitions import ObjectDefinition, build_query_schema
from tests.model.property_helpers import leaves

BAD = "cortex.invalidArgument.unspecified"
REQUIRED = "cortex.invalidArgument.required"


def definition(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"name": "c_thing", "label": "Thing", "properties": []}
    body.update(changes)
    return body


def paths_of(body: Any) -> list[tuple[str | None, str]]:
    with pytest.raises(Fault) as caught:
        ObjectDefinition.from_json(body)
    assert caught.value.err_code == "cortex.invalidArgument.validation"
    return leaves(caught.value)


def test_a_minimal_definition_shows_every_default() -> None:
    shown = ObjectDefinition.from_json({"name": " C_Study ", "label": "Study"}).to_json()
    assert shown["object"] == "object" and len(shown["_id"]) == 24
    assert (shown["name"], shown["pluralName"]) == ("c_study", "c_studies")
    assert shown["properties"] == [] and shown["objectTypes"] == []
    assert shown["createAcl"] == [] and shown["defaultAcl"] == [] and shown["shareAcl"] == []
    assert shown["shareChain"] == ["share", "read", "connected"]
    assert shown["connectionOptions"] == {
        "requireAccept": True,
        "requiredAccess": 5,
        "sendNotifications": True,
    }
    assert shown["isDeletable"] is True and shown["allowConnections"] is False


@pytest.mark.parametrize(
    ("name", "plural"), [("c_box", "c_boxes"), ("c_key", "c_keys"), ("c_thing", "c_things")]
)
def test_default_plural_names(name: str, plural: str) -> None:
    assert ObjectDefinition.from_json({"name": name, "label": "x"}).plural_name == plural


def test_the_mdctl_object_template_is_accepted() -> None:
    template = {
        "object": "object",
        "name": "c_thing",
        "label": "Thing",
        "allowConnections": False,
        "auditing": {"enabled": False},
        "connectionOptions": {"requireAccept": True, "requiredAccess": 5, "sendNotifications": True},
        "createAcl": ["account.public"],
        "defaultAcl": ["owner.delete"],
        "hasETag": False,
        "isDeletable": True,
        "isUnmanaged": False,
        "isVersioned": False,
        "objectTypes": [],
        "properties": [],
        "shareAcl": [],
        "shareChain": ["share", "read", "connected"],
    }
    shown = ObjectDefinition.from_json(template).to_json()
    assert {key: shown[key] for key in template} == template


def test_shown_definitions_are_accepted_back_unchanged() -> None:
    first = ObjectDefinition.from_json(
        definition(
            properties=[
                {
                    "name": "c_a",
                    "label": "A",
                    "type": "Document",
                    "array": True,
                    "properties": [{"name": "c_b", "label": "B", "type": "Date", "indexed": True}],
                }
            ],
            objectTypes=[
                {
                    "name": "c_kind",
                    "label": "Kind",
                    "properties": [{"name": "c_c", "label": "C", "type": "Boolean"}],
                }
            ],
            defaultAcl=[{"type": 4, "allow": 7}],
        )
    ).to_json()
    assert ObjectDefinition.from_json(first).to_json() == first


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"label": "x"}, [("name", REQUIRED)]),
        (definition(name="thing"), [("name", BAD)]),
        (definition(name="c_" + "x" * 50), [("name", BAD)]),
        (definition(pluralName="things"), [("pluralName", BAD)]),
        (definition(label=""), [("label", BAD)]),
        (definition(colour="red"), [("colour", BAD)]),
        (definition(object="c_thing"), [("object", BAD)]),
        (definition(properties={}), [("properties", BAD)]),
        (
            definition(
                properties=[
                    {"name": "c_a", "label": "A", "type": "String"},
                    {"name": "c_a", "label": "A", "type": "String"},
                ]
            ),
            [("properties[1].name", BAD)],
        ),
        (
            definition(properties=[{"name": "_id", "label": "A", "type": "String"}]),
            [("properties[0].name", BAD)],
        ),
        (
            definition(properties=[{"name": "created", "label": "A", "type": "Date"}]),
            [("properties[0].name", BAD)],
        ),
        (
            definition(properties=[{"name": "c_a", "label": "A", "type": "Text"}]),
            [("properties[0].type", BAD)],
        ),
        (
            definition(properties=[{"name": "c_a", "label": "A", "type": "Number", "trim": True}]),
            [("properties[0].trim", BAD)],
        ),
        (
            definition(
                objectTypes=[
                    {
                        "name": "c_t",
                        "label": "T",
                        "properties": [{"name": "c_a", "label": "A", "type": "String"}],
                    }
                ],
                properties=[{"name": "c_a", "label": "A", "type": "String"}],
            ),
            [("objectTypes[0].properties[0].name", BAD)],
        ),
        (
            definition(objectTypes=[{"name": "c_t", "label": "T"}, {"name": "c_t", "label": "T2"}]),
            [("objectTypes[1].name", BAD)],
        ),
        (definition(objectTypes=[{"label": "T"}]), [("objectTypes[0].name", REQUIRED)]),
        (
            definition(objectTypes=[{"name": "c_t", "label": "T", "colour": 1}]),
            [("objectTypes[0].colour", BAD)],
        ),
        (definition(defaultAcl=[{"type": 4}]), [("defaultAcl[0]", BAD)]),
        (definition(defaultAcl=[{"type": 3, "allow": 4}]), [("defaultAcl[0]", BAD)]),
        (
            definition(defaultAcl=[{"type": 4, "target": "5f0c6d7e8a9b0c1d2e3f4a5b", "allow": 4}]),
            [("defaultAcl[0]", BAD)],
        ),
        (definition(createAcl=[{"type": 5, "target": 4}]), [("createAcl[0]", BAD)]),
        (definition(defaultAcl=["owner"]), [("defaultAcl[0]", BAD)]),
        (definition(defaultAcl=["owner.fly"]), [("defaultAcl[0]", BAD)]),
        (definition(createAcl=["account.someone"]), [("createAcl[0]", BAD)]),
        (definition(shareChain=[6, "bogus"]), [("shareChain[1]", BAD)]),
        (definition(connectionOptions={"auto": True}), [("connectionOptions.auto", BAD)]),
    ],
)
def test_definition_faults_name_their_paths(body: Any, expected: list[tuple[str, str]]) -> None:
    assert paths_of(body) == expected


def test_all_problems_of_a_definition_come_in_one_fault() -> None:
    found = paths_of(
        {
            "name": "bad",
            "label": "",
            "properties": [
                {"name": "c_a", "label": "A", "type": "Number", "min": "x"},
                {"name": "c_b", "label": "B", "type": "Nope"},
                {
                    "name": "c_c",
                    "label": "C",
                    "type": "Document",
                    "properties": [{"name": "c_d", "label": "D", "type": "String", "min": 1}],
                },
            ],
        }
    )
    assert [path for path, _ in found] == [
        "name",
        "label",
        "properties[0].min",
        "properties[1].type",
        "properties[2].properties[0].min",
    ]


@pytest.mark.parametrize(
    ("field", "entries"),
    [
        (
            "createAcl",
            [{"type": 1, "target": "000000000000000000000003"}, "account.public", "role.administrator"],
        ),
        (
            "defaultAcl",
            [
                {"type": 4, "allow": 7},
                "owner.delete",
                "role.administrator.delete",
                {"type": 3, "target": "000000000000000000000004", "allow": "read"},
            ],
        ),
        (
            "shareAcl",
            [{"type": 5, "target": 4, "allow": 4}, {"type": 1, "target": "000000000000000000000003"}],
        ),
        ("shareChain", [6, 5, 4, 2]),
        ("defaultAcl", "role.administrator.delete"),
    ],
)
def test_acl_shapes_are_kept_as_given(field: str, entries: Any) -> None:
    shown = ObjectDefinition.from_json(definition(**{field: entries})).to_json()
    assert shown[field] == (entries if isinstance(entries, list) else [entries])


class TestObjectTypes:
    body = definition(
        properties=[{"name": "c_base", "label": "Base", "type": "String", "indexed": True}],
        objectTypes=[
            {
                "name": "c_blood_test",
                "label": "Blood",
                "properties": [
                    {"name": "c_blood_type", "label": "T", "type": "String", "indexed": True},
                    {"name": "c_shared", "label": "S", "type": "Number"},
                ],
            },
            {
                "name": "c_scan",
                "label": "Scan",
                "properties": [
                    {"name": "c_image_count", "label": "N", "type": "Number"},
                    {"name": "c_shared", "label": "S", "type": "String"},
                ],
            },
        ],
    )

    def test_types_add_properties_to_the_base(self) -> None:
        parsed = ObjectDefinition.from_json(self.body)
        assert set(parsed.properties_for("c_blood_test")) == {"c_base", "c_blood_type", "c_shared"}
        assert set(parsed.properties_for()) == {"c_base"}
        with pytest.raises(Fault) as caught:
            parsed.properties_for("c_other")
        assert (caught.value.path, caught.value.err_code) == ("type", "cortex.invalidArgument.enumValue")

    def test_query_schema_per_type_and_across_types(self) -> None:
        parsed = ObjectDefinition.from_json(self.body)
        typed = build_query_schema(parsed, "c_scan")
        assert typed.get("c_shared").type == "String" and typed.get("c_blood_type") is None
        untyped = build_query_schema(parsed)
        assert untyped.get("c_blood_type").indexed and untyped.get("c_image_count") is not None
        assert untyped.get("c_shared") is None  # Number in one type, String in the other


def test_query_schema_paths() -> None:
    parsed = ObjectDefinition.from_json(
        definition(
            properties=[
                {"name": "c_name", "label": "N", "type": "String", "indexed": True},
                {"name": "c_tags", "label": "T", "type": "String", "array": True, "indexed": True},
                {
                    "name": "c_doc",
                    "label": "D",
                    "type": "Document",
                    "properties": [
                        {"name": "c_sub", "label": "S", "type": "Number", "indexed": True},
                        {"name": "c_hidden", "label": "H", "type": "Number", "readable": False},
                    ],
                },
                {
                    "name": "c_docs",
                    "label": "Ds",
                    "type": "Document",
                    "array": True,
                    "properties": [{"name": "c_when", "label": "W", "type": "Date"}],
                },
                {
                    "name": "c_ref",
                    "label": "R",
                    "type": "Reference",
                    "sourceObject": "c_thing",
                    "indexed": True,
                },
                {"name": "c_where", "label": "G", "type": "Geometry", "indexed": True},
                {"name": "c_list", "label": "L", "type": "List", "sourceObject": "c_thing"},
                {"name": "c_file", "label": "F", "type": "File"},
            ]
        )
    )
    schema = build_query_schema(parsed)
    assert schema.object_name == "c_thing"
    assert schema.get("_id").column == "id" and schema.get("created").type == "Date"
    shapes = {
        path: (prop.type, prop.array, prop.indexed, prop.readable)
        for path, prop in schema.properties.items()
        if prop.column is None
    }
    assert shapes == {
        "c_name": ("String", False, True, True),
        "c_tags": ("String", True, True, True),
        "c_doc": ("Document", False, False, True),
        "c_doc.c_sub": ("Number", False, True, True),
        "c_doc.c_hidden": ("Number", False, False, False),
        "c_docs": ("Document", True, False, True),
        "c_docs.c_when": ("Date", True, False, True),
        "c_ref": ("ObjectId", False, True, True),
        "c_where": ("Geometry", False, True, True),
    }


def test_find_property_walks_documents() -> None:
    parsed = ObjectDefinition.from_json(
        definition(
            properties=[
                {
                    "name": "c_doc",
                    "label": "D",
                    "type": "Document",
                    "properties": [{"name": "c_sub", "label": "S", "type": "Number"}],
                }
            ]
        )
    )
    found = parsed.find_property("c_doc.c_sub")
    assert found is not None and found.type_name == "Number"
    assert parsed.find_property("c_doc.c_nope") is None and parsed.find_property("c_doc.c_sub.x") is None
