"""Validating instance writes: one fault for all problems, defaults, required, types, updates."""

from __future__ import annotations

from typing import Any

import pytest

from opencortex.faults import Fault
from opencortex.model.definitions import ObjectDefinition
from opencortex.model.validation import serialise_body, validate_create, validate_update
from tests.model.property_helpers import leaves

ID = "5f0c6d7e8a9b0c1d2e3f4a5b"
REQUIRED = "cortex.invalidArgument.required"

THING = ObjectDefinition.from_json(
    {
        "name": "c_thing",
        "label": "Thing",
        "properties": [
            {
                "name": "c_name",
                "label": "Name",
                "type": "String",
                "trim": True,
                "validators": [{"name": "required"}],
            },
            {
                "name": "c_code",
                "label": "Code",
                "type": "String",
                "validators": [{"name": "required"}],
                "defaultValue": {"type": "static", "value": "none"},
            },
            {
                "name": "c_when",
                "label": "When",
                "type": "Date",
                "defaultValue": {"type": "env", "value": "now"},
            },
            {
                "name": "c_owner_ref",
                "label": "O",
                "type": "ObjectId",
                "defaultValue": {"type": "env", "value": "ac.principal"},
            },
            {"name": "c_serial", "label": "Serial", "type": "ObjectId", "creatable": True},
            {
                "name": "c_locked",
                "label": "Locked",
                "type": "Boolean",
                "writable": False,
                "defaultValue": {"type": "env", "value": "false"},
            },
            {"name": "c_once", "label": "Once", "type": "Number", "validators": [{"name": "writeOnce"}]},
            {"name": "c_tags", "label": "Tags", "type": "String", "array": True, "writeOnCreate": False},
            {
                "name": "c_items",
                "label": "Items",
                "type": "Document",
                "array": True,
                "properties": [
                    {"name": "c_qty", "label": "Qty", "type": "Number", "validators": [{"name": "required"}]},
                    {
                        "name": "c_note",
                        "label": "Note",
                        "type": "String",
                        "defaultValue": {"type": "static", "value": "-"},
                    },
                ],
            },
            {
                "name": "c_address",
                "label": "Address",
                "type": "Document",
                "properties": [
                    {"name": "c_city", "label": "City", "type": "String"},
                    {"name": "c_zip", "label": "Zip", "type": "String", "creatable": True},
                ],
            },
            {"name": "c_children", "label": "Children", "type": "List", "sourceObject": "c_thing"},
        ],
        "objectTypes": [
            {
                "name": "c_big",
                "label": "Big",
                "properties": [{"name": "c_size", "label": "S", "type": "Number"}],
            },
            {"name": "c_small", "label": "Small", "properties": []},
        ],
    }
)


def create(body: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    return validate_create(THING, body, type_name=kwargs.pop("type_name", "c_big"), **kwargs)


def faults_of(action: Any, *args: Any, **kwargs: Any) -> list[tuple[str | None, str]]:
    with pytest.raises(Fault) as caught:
        action(*args, **kwargs)
    assert caught.value.err_code == "cortex.invalidArgument.validation" and caught.value.status == 400
    return leaves(caught.value)


def test_create_applies_coercion_and_defaults() -> None:
    stored = create({"c_name": "  Ada ", "c_items": [{"c_qty": 2}], "c_size": 3}, env={"ac.principal": ID})
    assert stored["c_name"] == "Ada" and stored["c_code"] == "none" and stored["c_locked"] is False
    assert stored["c_owner_ref"] == ID and stored["c_size"] == 3
    assert stored["c_when"].endswith("Z") and len(stored["c_when"]) == 24
    assert stored["c_items"][0]["c_note"] == "-" and len(stored["c_items"][0]["_id"]) == 24
    assert "c_children" not in stored and "c_tags" not in stored


def test_env_defaults_missing_from_the_context_are_left_out() -> None:
    assert "c_owner_ref" not in create({"c_name": "x"})


def test_every_problem_of_a_create_comes_in_one_fault() -> None:
    found = faults_of(
        create,
        {
            "c_when": "tomorrow",
            "c_items": [{"c_note": "x"}, {"c_qty": "two"}],
            "c_nope": 1,
            "_id": ID,
            "c_locked": True,
            "c_children": [],
            "c_tags": ["a"],
            "c_code": None,
        },
    )
    assert found == [
        ("_id", "cortex.accessDenied.propertyUpdate"),
        ("c_when", "cortex.invalidArgument.castError"),
        ("c_items[0].c_qty", REQUIRED),
        ("c_items[1].c_qty", "cortex.invalidArgument.castError"),
        ("c_nope", "cortex.notFound.property"),
        ("c_locked", "cortex.accessDenied.propertyUpdate"),
        ("c_children", "cortex.accessDenied.propertyUpdate"),
        ("c_tags", "cortex.accessDenied.propertyUpdate"),
        ("c_name", REQUIRED),
        ("c_code", REQUIRED),
    ]


class TestTypes:
    def test_type_is_required_when_the_object_has_types(self) -> None:
        found = faults_of(validate_create, THING, {"c_name": "x", "c_size": 1})
        assert found == [("type", REQUIRED)]  # c_size belongs to a type: not reported on top

    def test_type_from_the_body(self) -> None:
        assert validate_create(THING, {"type": "c_big", "c_name": "x", "c_size": 1})["c_size"] == 1

    def test_unknown_type_and_properties_of_another_type(self) -> None:
        assert faults_of(create, {"c_name": "x"}, type_name="c_huge") == [
            ("type", "cortex.invalidArgument.enumValue")
        ]
        assert faults_of(create, {"c_name": "x", "c_size": 1}, type_name="c_small") == [
            ("c_size", "cortex.notFound.property")
        ]

    def test_objects_without_types_refuse_one(self) -> None:
        plain = ObjectDefinition.from_json({"name": "c_plain", "label": "P"})
        assert faults_of(validate_create, plain, {"type": "c_x"}) == [
            ("type", "cortex.invalidArgument.castError")
        ]

    def test_type_cannot_change_on_update(self) -> None:
        stored = create({"c_name": "x"})
        assert validate_update(THING, stored, {"type": "c_big"}, type_name="c_big") == stored
        assert faults_of(validate_update, THING, stored, {"type": "c_small"}, type_name="c_big") == [
            ("type", "cortex.accessDenied.propertyUpdate")
        ]


class TestUpdates:
    stored = {
        "c_name": "Ada",
        "c_code": "a",
        "c_serial": ID,
        "c_once": 1,
        "c_items": [{"_id": ID, "c_qty": 1, "c_note": "first"}],
        "c_address": {"c_city": "Oslo", "c_zip": "1"},
    }

    def test_changes_merge_into_the_stored_body(self) -> None:
        updated = validate_update(THING, self.stored, {"c_name": " Bo ", "c_tags": ["a"]}, type_name="c_big")
        assert updated == {**self.stored, "c_name": "Bo", "c_tags": ["a"]}

    def test_document_array_elements_match_by_id(self) -> None:
        updated = validate_update(
            THING, self.stored, {"c_items": [{"_id": ID, "c_qty": 5}, {"c_qty": 7}]}, type_name="c_big"
        )
        first, second = updated["c_items"]
        assert first == {"_id": ID, "c_qty": 5, "c_note": "first"}
        assert second["c_qty"] == 7 and second["c_note"] == "-" and second["_id"] != ID

    def test_single_documents_merge_and_creatable_children_hold(self) -> None:
        updated = validate_update(THING, self.stored, {"c_address": {"c_city": "Bergen"}}, type_name="c_big")
        assert updated["c_address"] == {"c_city": "Bergen", "c_zip": "1"}
        assert faults_of(
            validate_update, THING, self.stored, {"c_address": {"c_zip": "2"}}, type_name="c_big"
        ) == [("c_address.c_zip", "cortex.invalidArgument.creatableOnly")]

    def test_update_rules(self) -> None:
        found = faults_of(
            validate_update,
            THING,
            self.stored,
            {"c_serial": ID, "c_once": 2, "c_locked": True, "c_name": None, "created": "2024-01-01"},
            type_name="c_big",
        )
        assert found == [
            ("created", "cortex.accessDenied.propertyUpdate"),
            ("c_serial", "cortex.invalidArgument.creatableOnly"),
            ("c_once", "cortex.accessDenied.writeOnce"),
            ("c_locked", "cortex.accessDenied.propertyUpdate"),
            ("c_name", REQUIRED),
        ]

    def test_write_once_allows_the_first_write(self) -> None:
        without = {key: value for key, value in self.stored.items() if key != "c_once"}
        assert validate_update(THING, without, {"c_once": 3}, type_name="c_big")["c_once"] == 3

    def test_required_is_not_rechecked_for_untouched_properties(self) -> None:
        assert validate_update(THING, {"c_code": "x"}, {"c_size": 1}, type_name="c_big")["c_size"] == 1

    def test_non_object_bodies(self) -> None:
        assert faults_of(validate_update, THING, self.stored, [1], type_name="c_big") == [
            (None, "cortex.invalidArgument.castError")
        ]


def test_creatable_properties_are_writable_on_create() -> None:
    assert create({"c_name": "x", "c_serial": ID.upper()})["c_serial"] == ID


def test_serialise_body_converts_readable_values() -> None:
    body = {"c_name": "x", "c_items": [{"_id": ID, "c_qty": 1}], "c_gone": 1}
    assert serialise_body(THING, body, type_name="c_big") == {
        "c_name": "x",
        "c_items": [{"_id": ID, "c_qty": 1}],
    }
