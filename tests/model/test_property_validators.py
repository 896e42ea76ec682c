"""Validators: which fit which properties, their definitions, and the faults values get."""

from __future__ import annotations

from typing import Any

import pytest

from opencortex.faults import Fault
from tests.model.property_helpers import definition_faults, leaves, make

BAD = "cortex.invalidArgument.unspecified"


def checked(type_name: str, name: str, definition: dict[str, Any] | None = None, **options: Any) -> Any:
    entry: dict[str, Any] = {"name": name}
    if definition is not None:
        entry["definition"] = definition
    return make(type_name, validators=[entry], **options)


@pytest.mark.parametrize(
    ("type_name", "name", "definition", "value"),
    [
        ("String", "string", {"min": 1, "max": 3}, "abc"),
        ("String", "printableString", {"min": 1, "max": 5, "anyFirstLetter": False}, "a1 b"),
        ("String", "pattern", {"pattern": "/^[a-z]+$/i"}, "AbC"),
        ("String", "pattern", {"pattern": "/^x$/", "allowEmpty": True}, ""),
        ("String", "email", None, "someone@example.org"),
        ("String", "url", None, "https://example.org/a"),
        ("String", "url", {"webOnly": False}, "mailto:a@b.c"),
        ("String", "stringEnum", {"values": ["a", "b"]}, "b"),
        ("String", "timeZone", None, "Europe/Paris"),
        ("String", "customName", None, "c_thing"),
        ("String", "dotPath", None, "a.b_c.d"),
        ("String", "IPv4AddrOrCidr", None, "10.0.0.0/8"),
        ("String", "dateOfBirth", None, "1990-05-01"),
        ("Number", "number", {"min": 1, "max": 5, "allowDecimal": False}, 5),
        ("Number", "numberEnum", {"values": [1, 2.5]}, 2.5),
        ("Number", "allowLevel", None, 7),
        ("Date", "date", {"min": "2020-01-01T00:00:00Z", "max": "2021-01-01"}, "2020-06-01T00:00:00Z"),
        ("Date", "dateEnum", {"values": ["2020-01-01T00:00:00+01:00"]}, "2019-12-31T23:00:00Z"),
        ("ObjectId", "idEnum", {"values": ["5F0C6D7E8A9B0C1D2E3F4A5B"]}, "5f0c6d7e8a9b0c1d2e3f4a5b"),
        ("String", "options", {"values": [{"label": "Yes", "value": "y"}]}, "y"),
    ],
)
def test_values_that_pass(type_name: str, name: str, definition: dict[str, Any] | None, value: Any) -> None:
    prop = checked(type_name, name, definition)
    assert prop.coerce(value, "c_value") is not None


@pytest.mark.parametrize(
    ("type_name", "name", "definition", "value", "err_code"),
    [
        ("String", "string", {"min": 2, "max": 3}, "a", "cortex.invalidArgument.invalidString"),
        ("String", "string", {"max": 3}, "abcd", "cortex.invalidArgument.invalidString"),
        (
            "String",
            "printableString",
            {"min": 0, "max": 9, "anyFirstLetter": False},
            " a",
            "cortex.invalidArgument.invalidString",
        ),
        ("String", "printableString", {"min": 0, "max": 9}, "a\tb", "cortex.invalidArgument.invalidString"),
        ("String", "pattern", {"pattern": "/^[a-z]+$/"}, "AbC", "cortex.invalidArgument.string"),
        ("String", "pattern", {"pattern": "/^x$/"}, "", "cortex.invalidArgument.string"),
        ("String", "email", None, "not an email", "cortex.invalidArgument.emailFormat"),
        ("String", "email", None, "a@b", "cortex.invalidArgument.emailFormat"),
        ("String", "url", None, "ftp://x.org", "cortex.invalidArgument.url"),
        ("String", "url", {"webSecure": True}, "http://x.org", "cortex.invalidArgument.url"),
        ("String", "stringEnum", {"values": ["a", "b"]}, "c", "cortex.invalidArgument.enumValue"),
        ("String", "timeZone", None, "Mars/Olympus", "cortex.invalidArgument.timeZone"),
        ("String", "customName", None, "thing", "cortex.invalidArgument.customName"),
        ("String", "dotPath", None, "a..b", "cortex.invalidArgument.dotPath"),
        ("String", "IPv4AddrOrCidr", None, "300.1.1.1", "cortex.invalidArgument.iPv4AddrOrCidr"),
        ("String", "dateOfBirth", None, "2999-01-01", "cortex.invalidArgument.dateOfBirth"),
        ("String", "dateOfBirth", None, "someday", "cortex.invalidArgument.dateOfBirth"),
        ("Number", "number", {"min": 1, "max": 5}, 6, "cortex.invalidArgument.numberExpected"),
        ("Number", "number", {"allowDecimal": False}, 1.5, "cortex.invalidArgument.numberExpected"),
        ("Number", "numberEnum", {"values": [1, 2]}, 3, "cortex.invalidArgument.enumValue"),
        ("Number", "allowLevel", None, 0, "cortex.invalidArgument.allowLevel"),
        ("Date", "date", {"max": "2021-01-01"}, "2021-01-01T00:00:00.001Z", "cortex.invalidArgument.date"),
        ("Date", "dateEnum", {"values": ["2020-01-01"]}, "2020-01-02", "cortex.invalidArgument.enumValue"),
        (
            "ObjectId",
            "idEnum",
            {"values": ["5f0c6d7e8a9b0c1d2e3f4a5b"]},
            "5f0c6d7e8a9b0c1d2e3f4a5c",
            "cortex.invalidArgument.enumValue",
        ),
        (
            "Number",
            "options",
            {"values": [{"label": "One", "value": 1}]},
            2,
            "cortex.invalidArgument.enumValue",
        ),
    ],
)
def test_values_that_fail(type_name: str, name: str, definition: Any, value: Any, err_code: str) -> None:
    with pytest.raises(Fault) as caught:
        checked(type_name, name, definition).coerce(value, "c_value")
    assert leaves(caught.value) == [("c_value", err_code)]


def test_array_validators_see_the_whole_array_and_elements_each() -> None:
    coordinate = checked("Number", "coordinate", {"min0": -180, "max0": 180}, array=True)
    assert coordinate.coerce([10, 20], "c_value") == [10, 20]
    with pytest.raises(Fault) as caught:
        coordinate.coerce([200, 0], "c_value")
    assert leaves(caught.value) == [("c_value[0]", "cortex.invalidArgument.invalidCoordinate")]
    with pytest.raises(Fault) as caught:
        checked("String", "uniqueInArray", None, array=True).coerce(["a", "a"], "c_value")
    assert leaves(caught.value) == [("c_value[1]", "cortex.conflict.uniqueInArray")]
    with pytest.raises(Fault) as caught:
        checked("String", "stringEnum", {"values": ["a"]}, array=True).coerce(["a", "b"], "c_value")
    assert leaves(caught.value) == [("c_value[1]", "cortex.invalidArgument.enumValue")]


@pytest.mark.parametrize(
    ("type_name", "validators", "options", "path", "reason_part"),
    [
        ("String", [{"name": "nope"}], {}, "properties[0].validators[0].name", "Unsupported validator."),
        ("String", [{"name": "adhoc"}], {}, "properties[0].validators[0].name", "Unsupported validator."),
        ("String", [{"name": "phoneNumber"}], {}, "properties[0].validators[0].name", "not supported"),
        ("Number", [{"name": "email"}], {}, "properties[0].validators[0].name", "Unsupported type"),
        ("String", [{"name": "uniqueInArray"}], {}, "properties[0].validators[0].name", "must be an array"),
        (
            "String",
            [{"name": "writeOnce"}],
            {"array": True},
            "properties[0].validators[0].name",
            "cannot be an array",
        ),
        (
            "String",
            [{"name": "string", "definition": {"min": 1}}],
            {},
            "properties[0].validators[0].definition.max",
            "needs max",
        ),
        (
            "String",
            [{"name": "string", "definition": {"max": 3, "extra": 1}}],
            {},
            "properties[0].validators[0].definition.extra",
            "Unknown key",
        ),
        (
            "String",
            [{"name": "string", "definition": {"min": 5, "max": 3}}],
            {},
            "properties[0].validators[0].definition.max",
            "min must not exceed max",
        ),
        (
            "String",
            [{"name": "pattern", "definition": {"pattern": "[a-z"}}],
            {},
            "properties[0].validators[0].definition.pattern",
            "Invalid pattern",
        ),
        (
            "String",
            [{"name": "pattern", "definition": {"pattern": "/(/"}}],
            {},
            "properties[0].validators[0].definition.pattern",
            "Invalid pattern",
        ),
        (
            "String",
            [{"name": "stringEnum", "definition": {"values": []}}],
            {},
            "properties[0].validators[0].definition.values",
            "1 to 100",
        ),
        (
            "String",
            [{"name": "required"}, {"name": "required"}],
            {},
            "properties[0].validators[1].name",
            "Duplicate",
        ),
        ("String", {"name": "required"}, {}, "properties[0].validators", "list"),
    ],
)
def test_bad_validator_definitions(
    type_name: str, validators: Any, options: dict[str, Any], path: str, reason_part: str
) -> None:
    from opencortex.model.problems import Problems
    from opencortex.model.properties import parse_property

    problems = Problems()
    parse_property(
        {"name": "c_value", "label": "V", "type": type_name, "validators": validators, **options},
        "properties[0]",
        problems,
    )
    assert [fault.path for fault in problems.faults] == [path]
    assert reason_part in (problems.faults[0].reason or "")
    assert problems.faults[0].err_code == BAD


def test_validator_definitions_are_shown_with_defaults() -> None:
    shown = checked("Number", "number", {"max": 3}).to_json()["validators"]
    assert shown == [{"name": "number", "definition": {"max": 3, "allowNull": False, "allowDecimal": True}}]
    assert definition_faults("String", validators=[{"name": "required", "definition": {"x": 1}}]) == [
        ("properties[0].validators[0].definition.x", BAD)
    ]
