"""The compiled create plan against the reference: the same stored body, or the same faults.

``validate_create`` tries the compiled plan (``properties.compiled``) and falls back to
``validate_create_reference`` (``write_fields`` and each property's ``coerce``) for anything the
plan does not accept whole. These tests hold it to that: on hand-made and generated bodies,
valid and hostile, for the study model and a model with every property type and option that
changes a write, ``validate_create`` answers exactly as the reference (body or fault, to the
message), the compiled plan alone never accepts a body the reference refuses nor stores anything
else, and it does accept the valid bodies (so the fast path is really taken).
"""

from __future__ import annotations

import copy
import itertools
from collections import OrderedDict
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from opencortex.demo.study import PATIENTS, patient_bodies
from opencortex.faults import Fault
from opencortex.ids import ROLE_PROVIDER
from opencortex.model.definitions import ObjectDefinition
from opencortex.model.properties import WriteContext
from opencortex.model.properties.compiled import SlowPath
from opencortex.model.validation import compiled_create, create_plan, validate_create, validate_create_reference

ID = "5f0c6d7e8a9b0c1d2e3f4a5b"
OTHER = "65f0c0ffee0000000000aa01"
PRINCIPAL = "65f0c0ffee0000000000bb02"
FAKE = "eeeeeeee"  # prefix of the ids handed out while these tests run
NOW = datetime(2025, 5, 6, 7, 8, 9, 123456, tzinfo=UTC)

EVERY = {
    "name": "c_every",
    "label": "Every",
    "properties": [
        {"name": "c_str", "label": "S", "type": "String", "indexed": True,
         "validators": [{"name": "string", "definition": {"min": 1, "max": 20}}]},
        {"name": "c_trimmed", "label": "T", "type": "String", "trim": True, "lowercase": True},
        {"name": "c_upper", "label": "U", "type": "String", "uppercase": True,
         "validators": [{"name": "pattern", "definition": {"pattern": "/^[A-Z ]*$/"}}]},
        {"name": "c_enum", "label": "E", "type": "String",
         "validators": [{"name": "stringEnum", "definition": {"values": ["a", "b"]}}, {"name": "required"}]},
        {"name": "c_email", "label": "M", "type": "String", "validators": [{"name": "email"}]},
        {"name": "c_short", "label": "Sh", "type": "String",
         "validators": [{"name": "string", "definition": {"max": 5, "allowNull": False}}]},
        {"name": "c_strict", "label": "St", "type": "String",
         "validators": [{"name": "email"}, {"name": "string", "definition": {"max": 50, "allowNull": False}}]},
        {"name": "c_num", "label": "N", "type": "Number", "min": -5, "max": 1000, "allowDecimal": False},
        {"name": "c_free", "label": "Fr", "type": "Number"},
        {"name": "c_ratio", "label": "F", "type": "Number",
         "validators": [{"name": "number", "definition": {"min": 0, "max": 1}}]},
        {"name": "c_level", "label": "L", "type": "Number", "validators": [{"name": "numberEnum",
                                                                            "definition": {"values": [1, 2.5]}}]},
        {"name": "c_bool", "label": "B", "type": "Boolean", "defaultValue": {"type": "env", "value": "true"}},
        {"name": "c_when", "label": "W", "type": "Date",
         "validators": [{"name": "date", "definition": {"min": "2000-01-01T00:00:00.000Z"}}]},
        {"name": "c_day", "label": "D", "type": "Date", "dateOnly": True},
        {"name": "c_stamp", "label": "C", "type": "Date", "defaultValue": {"type": "env", "value": "now"}},
        {"name": "c_oid", "label": "O", "type": "ObjectId", "defaultValue": {"type": "env", "value": "ac.principal"}},
        {"name": "c_auto", "label": "Au", "type": "ObjectId", "defaultValue": {"type": "env", "value": "auto"}},
        {"name": "c_ids", "label": "Ids", "type": "ObjectId", "array": True,
         "validators": [{"name": "idEnum", "definition": {"values": [ID, OTHER]}}]},
        {"name": "c_ref", "label": "R", "type": "Reference", "sourceObject": "c_other"},
        {"name": "c_refs", "label": "Rs", "type": "Reference", "sourceObject": "c_other", "array": True,
         "validators": [{"name": "uniqueInArray"}]},
        {"name": "c_doc", "label": "Doc", "type": "Document", "properties": [
            {"name": "c_a", "label": "A", "type": "String", "validators": [{"name": "required"}]},
            {"name": "c_b", "label": "B", "type": "Number", "defaultValue": {"type": "static", "value": 7}},
            {"name": "c_inner", "label": "I", "type": "Document", "array": True, "properties": [
                {"name": "c_x", "label": "X", "type": "Boolean"},
                {"name": "c_scan", "label": "Scan", "type": "File"},
            ]},
        ]},
        {"name": "c_docs", "label": "Docs", "type": "Document", "array": True, "maxItems": 3, "maxShift": True,
         "properties": [
             {"name": "c_n", "label": "N", "type": "Number", "validators": [{"name": "required"}]},
             {"name": "c_note", "label": "Note", "type": "String",
              "defaultValue": {"type": "static", "value": "-"}},
         ]},
        {"name": "c_few", "label": "Few", "type": "Document", "array": True, "minItems": 1, "maxItems": 2,
         "properties": [{"name": "c_k", "label": "K", "type": "String"}]},
        {"name": "c_point", "label": "P", "type": "Geometry"},
        {"name": "c_points", "label": "Ps", "type": "Geometry", "geoType": "MultiPoint"},
        {"name": "c_any", "label": "Any", "type": "Any", "maxSize": 200},
        {"name": "c_bin", "label": "Bin", "type": "Binary", "maxSize": 16},
        {"name": "c_file", "label": "File", "type": "File"},
        {"name": "c_list", "label": "L", "type": "List", "sourceObject": "c_other"},
        {"name": "c_tags", "label": "Tags", "type": "String", "array": True, "uniqueValues": True, "maxItems": 4},
        {"name": "c_last", "label": "Last", "type": "Number", "array": True, "maxItems": 2, "maxShift": True},
        {"name": "c_coord", "label": "Co", "type": "Number", "array": True,
         "validators": [{"name": "coordinate", "definition": {"min0": -10, "max0": 10}}]},
        {"name": "c_locked", "label": "Locked", "type": "String", "writable": False},
        {"name": "c_serial", "label": "Serial", "type": "String", "creatable": True},
        {"name": "c_later", "label": "Later", "type": "String", "array": True, "writeOnCreate": False},
        {"name": "c_once", "label": "Once", "type": "Number", "validators": [{"name": "writeOnce"}]},
        {"name": "c_needed", "label": "Needed", "type": "String", "array": True,
         "validators": [{"name": "required"}], "defaultValue": {"type": "static", "value": ["x"]}},
        {"name": "c_hidden", "label": "H", "type": "String", "readable": False, "writeAccess": 7},
    ],
}

TYPED = {
    "name": "c_typed",
    "label": "Typed",
    "properties": [
        {"name": "c_name", "label": "Name", "type": "String", "validators": [{"name": "required"}]},
        {"name": "c_code", "label": "Code", "type": "String", "defaultValue": {"type": "static", "value": "none"}},
    ],
    "objectTypes": [
        {"name": "c_big", "label": "Big", "properties": [
            {"name": "c_size", "label": "S", "type": "Number", "validators": [{"name": "required"}]},
            {"name": "c_parts", "label": "P", "type": "Document", "array": True, "properties": [
                {"name": "c_w", "label": "W", "type": "Number"}]},
        ]},
        {"name": "c_small", "label": "Small", "properties": [
            {"name": "c_colour", "label": "C", "type": "String", "writeAccess": 7,
             "acl": [{"type": 3, "target": ROLE_PROVIDER, "allow": 7}]}]},
    ],
}

EVERY_DEFINITION = ObjectDefinition.from_json(EVERY)
TYPED_DEFINITION = ObjectDefinition.from_json(TYPED)
PATIENT_DEFINITION = ObjectDefinition.from_json(PATIENTS)

VALID_EVERY = {
    "c_str": "hello",
    "c_trimmed": "  MiXeD  ",
    "c_upper": "shout it",
    "c_enum": "a",
    "c_email": "ada@example.org",
    "c_short": "abc",
    "c_strict": "bob@example.org",
    "c_num": 12,
    "c_free": -3.75,
    "c_ratio": 0.25,
    "c_level": 2.5,
    "c_bool": False,
    "c_when": "2024-03-04T05:06:07.890Z",
    "c_day": "2024-02-29",
    "c_oid": ID.upper(),
    "c_ids": [ID, OTHER],
    "c_ref": {"_id": OTHER, "object": "c_other"},
    "c_refs": [ID, OTHER.upper()],
    "c_doc": {"c_a": "x", "c_inner": [{"c_x": True, "c_scan": "scan.png"}, {"_id": ID, "c_x": False}]},
    "c_docs": [{"c_n": 1}, {"c_n": 2, "c_note": "two", "_id": OTHER}, {"c_n": 3}, {"c_n": 4}],
    "c_few": [{"c_k": "k"}],
    "c_point": {"type": "Point", "coordinates": [-71.06, 42.36]},
    "c_points": {"type": "MultiPoint", "coordinates": [[1, 2], [3.5, -4]]},
    "c_any": {"nested": [1, "two", None, {"three": 3.0}]},
    "c_bin": "aGVsbG8=",
    "c_file": {"content": "photo.jpg"},
    "c_tags": ["x", "y"],
    "c_last": [1, 2, 3],
    "c_coord": [5, 6.5],
    "c_serial": "S-1",
    "c_once": 1,
    "c_hidden": "h",
}


@pytest.fixture(autouse=True)
def _deterministic(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fresh ids from a counter (recognisable by their prefix) and a fixed clock."""
    counter = itertools.count()

    def fake_id(at: float | None = None) -> str:
        return f"{FAKE}{next(counter):016x}"

    for module in ("opencortex.model.properties.compiled", "opencortex.model.properties.document",
                   "opencortex.model.properties.scalars"):
        monkeypatch.setattr(f"{module}.new_object_id", fake_id)
    monkeypatch.setattr("opencortex.model.properties.scalars.utcnow", lambda: NOW)


def normalised(value: Any) -> Any:
    """Ids handed out during the test become one marker: only where they are is compared."""
    if isinstance(value, dict):
        return {key: normalised(item) for key, item in value.items()}
    if isinstance(value, list):
        return [normalised(item) for item in value]
    if isinstance(value, str) and value.startswith(FAKE):
        return "<fresh id>"
    return value


def outcome(action: Any, *args: Any, **kwargs: Any) -> tuple[str, Any]:
    try:
        return "stored", normalised(action(*args, **kwargs))
    except Fault as fault:
        return "fault", fault.to_json()
    except Exception as error:  # noqa: BLE001 (the reference's own errors must be the same too)
        return "error", type(error).__name__


def check(definition: ObjectDefinition, body: Any, type_name: str | None = None,
          env: dict[str, Any] | None = None) -> tuple[str, Any]:
    """Asserts the three agree; returns the reference's outcome and whether the plan took it."""
    env = {"ac.principal": PRINCIPAL} if env is None else env
    original = copy.deepcopy(body)
    reference = outcome(validate_create_reference, definition, copy.deepcopy(body), type_name=type_name, env=env)
    assert outcome(validate_create, definition, body, type_name=type_name, env=env) == reference
    assert body == original  # neither path changes the caller's body
    try:
        compiled = compiled_create(definition, body, type_name, WriteContext(env))
    except Exception:  # noqa: BLE001 (refused: the reference decides)
        compiled = None
    else:
        assert reference == ("stored", normalised(compiled))
    assert body == original
    return reference[0], compiled is not None


def test_a_valid_body_with_every_type_takes_the_compiled_path() -> None:
    kind, compiled = check(EVERY_DEFINITION, VALID_EVERY)
    assert kind == "stored" and compiled
    stored = validate_create(EVERY_DEFINITION, VALID_EVERY, env={"ac.principal": PRINCIPAL})
    assert stored["c_trimmed"] == "mixed" and stored["c_upper"] == "SHOUT IT" and stored["c_oid"] == ID
    assert stored["c_docs"][0]["c_n"] == 2 and len(stored["c_docs"]) == 3  # maxShift drops the oldest
    assert stored["c_last"] == [2, 3] and stored["c_stamp"] == "2025-05-06T07:08:09.123Z"
    assert stored["c_doc"]["c_inner"][0]["c_scan"]["path"] == "c_doc/c_inner/0/c_scan/content"
    assert stored["c_file"]["path"] == "c_file/content" and stored["c_needed"] == ["x"]
    assert list(stored)[:3] == ["c_str", "c_trimmed", "c_upper"]  # body order, then defaults


def test_nulls_take_the_compiled_path() -> None:
    nulls = {key: None for key in ("c_trimmed", "c_free", "c_bool", "c_day", "c_oid", "c_ref", "c_email",
                                   "c_refs", "c_doc", "c_docs", "c_point", "c_tags", "c_any", "c_file", "c_ids")}
    assert check(EVERY_DEFINITION, {**VALID_EVERY, **nulls}) == ("stored", True)
    assert check(EVERY_DEFINITION, {**VALID_EVERY, "c_doc": {"c_a": "x", "c_b": None, "c_inner": None}}) == (
        "stored", True)


def test_study_patients_take_the_compiled_path() -> None:
    for body in patient_bodies(300, [ID, OTHER]):
        assert check(PATIENT_DEFINITION, body) == ("stored", True)


@pytest.mark.parametrize("change", [
    {"c_enum": "c"}, {"c_enum": None}, {"c_enum": ""}, {"c_str": ""}, {"c_str": "x" * 21}, {"c_str": 5},
    {"c_strict": None}, {"c_strict": "x"}, {"c_free": 2**53}, {"c_free": -(2**53) + 1}, {"c_free": 2.0**53},
    {"c_free": float("nan")}, {"c_free": float("-inf")}, {"c_free": 1e300}, {"c_ratio": float("nan")},
    {"c_str": "nul\x00"}, {"c_trimmed": None}, {"c_num": 1001}, {"c_num": 1000.0}, {"c_num": -5}, {"c_num": -5.5},
    {"c_point": {"type": "Point", "coordinates": [0, 91]}}, {"c_point": {"type": "Point", "coordinates": [0, -90.5]}},
    {"c_point": {"type": "Point", "coordinates": [-180.5, 0]}}, {"c_point": {"type": "Point", "coordinates": [1]}},
    {"c_trimmed": "  "}, {"c_upper": " ok "}, {"c_tags": ["b", "a"]}, {"c_last": [1, 2]}, {"c_last": []},
    {"c_upper": "lower1"}, {"c_email": "nobody"}, {"c_short": None},
    {"c_short": "toolong"}, {"c_num": 1.5}, {"c_num": -6}, {"c_num": True}, {"c_num": 2**53},
    {"c_num": float("nan")}, {"c_num": float("inf")}, {"c_num": 10**400}, {"c_ratio": 1.5}, {"c_ratio": "0.5"},
    {"c_level": 2}, {"c_bool": 0}, {"c_bool": None}, {"c_when": "1999-12-31T23:59:59.999Z"},
    {"c_when": "2024-02-30T00:00:00.000Z"}, {"c_when": "2024-01-01T24:00:00.000Z"},
    {"c_when": "2024-01-01T10:00:00+02:00"}, {"c_when": "2024-01-01T10:00Z"}, {"c_when": "2024-01-01"},
    {"c_when": "2024-01-01T10:00:00.123456789Z"}, {"c_when": "\u0662\u0660\u0662\u0664-01-01T00:00:00.000Z"},
    {"c_when": "9999-12-31T23:00:00-01:00"}, {"c_when": "0000-01-01T00:00:00.000Z"}, {"c_when": 5},
    {"c_day": "2023-02-29"}, {"c_day": "2024-1-1"}, {"c_day": "2024-01-01T00:00:00.000Z"},
    {"c_day": "\u0662\u0660\u0662\u0664-01-01"}, {"c_day": "2024-01-01\n"}, {"c_oid": "xyz"},
    {"c_oid": ID + "\n"}, {"c_oid": {"_id": ID}}, {"c_ids": [ID, ID[::-1]]}, {"c_ids": [ID, None]},
    {"c_ids": ID}, {"c_ref": {"_id": ID, "object": "c_else"}}, {"c_ref": {"_id": ID, "extra": 1}},
    {"c_ref": {"object": "c_other"}}, {"c_ref": ["x"]}, {"c_refs": [ID, ID.upper()]}, {"c_refs": [ID, 1]},
    {"c_doc": {"c_b": 1}}, {"c_doc": {"c_a": "x", "_id": ID}}, {"c_doc": {"c_a": "x", "c_zzz": 1}},
    {"c_doc": []}, {"c_doc": None}, {"c_doc": {"c_a": "x", "c_inner": [{"_id": "nope"}]}},
    {"c_doc": {"c_a": "x", "c_inner": [{"_id": ID}, {"_id": ID.upper()}]}},
    {"c_doc": {"c_a": "x", "c_inner": [{"c_scan": "a/b"}]}}, {"c_doc": {"c_a": "x", "c_inner": [None]}},
    {"c_doc": {"c_a": "x", "c_inner": {"c_x": True}}}, {"c_docs": [{"c_n": 1}, {}]},
    {"c_docs": [{"c_n": "1"}, {"c_n": 2}]}, {"c_docs": [{"c_n": 1, "_id": None}]}, {"c_few": []},
    {"c_few": [{}, {}, {}]}, {"c_few": None}, {"c_point": {"type": "Point", "coordinates": [181, 0]}},
    {"c_point": {"type": "Point", "coordinates": [0, True]}}, {"c_point": {"type": "MultiPoint",
                                                                             "coordinates": [[0, 0]]}},
    {"c_point": {"type": "Point", "coordinates": [0, 0], "crs": 1}}, {"c_point": {"type": "Point"}},
    {"c_point": {"type": "Point", "coordinates": [0, float("nan")]}},
    {"c_points": {"type": "MultiPoint", "coordinates": [[0, 91]]}}, {"c_any": {"k\x00": 1}},
    {"c_any": "x" * 300}, {"c_any": None}, {"c_bin": "not base64!"}, {"c_bin": "A" * 40},
    {"c_file": "a/b/c"}, {"c_file": {"thumb": "x.png"}}, {"c_list": []}, {"c_tags": ["x", "x"]},
    {"c_tags": ["a", "b", "c", "d", "e"]}, {"c_tags": "x"}, {"c_last": [1, None]}, {"c_coord": [1, 2, 3]},
    {"c_coord": [11, 0]}, {"c_locked": "x"}, {"c_later": ["x"]}, {"c_needed": []}, {"c_needed": None},
    {"c_needed": [""]}, {"_id": ID}, {"created": "2024-01-01"}, {"acl": []}, {"object": "c_every"},
    {"type": "c_big"}, {"c_nope": 1},
])
def test_hostile_values_get_the_reference_faults(change: dict[str, Any]) -> None:
    body = {**VALID_EVERY, **change}
    check(EVERY_DEFINITION, body)
    check(EVERY_DEFINITION, {key: value for key, value in body.items() if key not in change or key == "c_nope"})


def test_bodies_that_are_not_plain_objects() -> None:
    for body in ([1], "x", None, 3, OrderedDict(VALID_EVERY), OrderedDict(c_enum=5)):
        check(EVERY_DEFINITION, body)


@pytest.mark.parametrize(("body", "type_name"), [
    ({"type": "c_big", "c_name": "x", "c_size": 1}, None),
    ({"type": "c_big", "c_name": "x", "c_size": 1, "c_parts": [{"c_w": 1}]}, "c_big"),
    ({"c_name": "x", "c_size": 1}, "c_big"),
    ({"c_name": "x", "c_size": 1}, None),
    ({"type": "c_small", "c_name": "x", "c_size": 1}, None),
    ({"type": "c_small", "c_name": "x", "c_colour": "red"}, None),
    ({"type": "c_huge", "c_name": "x"}, None),
    ({"type": ["c_big"], "c_name": "x"}, None),
    ({"type": None, "c_name": "x"}, None),
    ({"type": "c_big", "c_name": "x", "c_size": 1}, "c_small"),
    ({"c_name": "x"}, "c_huge"),
    ({"c_name": "x", "c_size": None}, "c_big"),
])
def test_object_types_as_the_reference(body: dict[str, Any], type_name: str | None) -> None:
    check(TYPED_DEFINITION, body, type_name)
    check(EVERY_DEFINITION, body, type_name)  # an object without types refuses one


def test_typed_bodies_take_the_compiled_path() -> None:
    assert check(TYPED_DEFINITION, {"type": "c_big", "c_name": "x", "c_size": 1}) == ("stored", True)
    assert check(TYPED_DEFINITION, {"c_name": "x", "c_colour": "red"}, "c_small") == ("stored", True)


def test_defaults_come_from_env_as_the_reference() -> None:
    body = {"c_enum": "b"}
    assert check(EVERY_DEFINITION, body, env={}) == ("stored", True)
    assert check(EVERY_DEFINITION, body, env={"ac.principal": "not an id"}) == ("stored", True)
    stored = validate_create(EVERY_DEFINITION, body)
    assert "c_oid" not in stored and stored["c_bool"] is True and stored["c_auto"].startswith(FAKE)


def test_the_plan_is_compiled_once_per_definition_and_type() -> None:
    assert create_plan(TYPED_DEFINITION, "c_big") is create_plan(TYPED_DEFINITION, "c_big")
    assert create_plan(TYPED_DEFINITION, "c_big") is not create_plan(TYPED_DEFINITION, "c_small")
    fresh = ObjectDefinition.from_json(TYPED)
    assert create_plan(fresh, "c_big") is not create_plan(TYPED_DEFINITION, "c_big")
    with pytest.raises(SlowPath):
        create_plan(TYPED_DEFINITION, None)
    with pytest.raises(SlowPath):
        create_plan(EVERY_DEFINITION, "c_big")


# Generated bodies: every property gets a value that is valid for it, valid for another type,
# or hostile; keys come and go, unknown and system ones included.
_IDS = st.sampled_from([ID, OTHER, ID.upper(), ID + "\n", ID[:-1], "zz" * 12])
_TEXT = st.text(st.characters(codec="utf-8"), max_size=12) | st.sampled_from(
    ["", " a ", "nul\x00", "ada@example.org", "SHOUT", "a", "b", "\u0662"])
_DATES = st.sampled_from([
    "2024-03-04T05:06:07.890Z", "2024-02-29", "1999-12-31T23:59:59.999Z", "2024-02-30T00:00:00.000Z",
    "2024-01-01T24:00:00.000Z", "2024-01-01T10:00:00+02:00", "2024-01-01T10:00Z", "2024-01-01T10:00:00.1234567Z",
    "9999-12-31T23:00:00-01:00", "0001-01-01T00:00:00.000Z", "2024-1-1", "2024-01-01\n", "yesterday",
]) | st.datetimes(timezones=st.just(UTC)).map(lambda moment: moment.isoformat())
_NUMBERS = st.integers(-(2**60), 2**60) | st.floats(allow_nan=True, allow_infinity=True) | st.sampled_from(
    [0, 1, 2.5, -5, 1000, 1001, 0.5, True])
_SCALARS = st.none() | st.booleans() | _NUMBERS | _TEXT | _DATES | _IDS
_JSON = st.recursive(_SCALARS, lambda inner: st.lists(inner, max_size=3)
                     | st.dictionaries(st.sampled_from(["_id", "c_a", "c_n", "c_x", "c_k", "object", "type",
                                                        "coordinates", "content", "c_zz"]), inner, max_size=3),
                     max_leaves=8)
_POINTS = st.builds(lambda lng, lat: {"type": "Point", "coordinates": [lng, lat]},
                    _NUMBERS | st.integers(-180, 180), _NUMBERS | st.integers(-90, 90))


def _elements(children: dict[str, st.SearchStrategy[Any]]) -> st.SearchStrategy[Any]:
    element = st.fixed_dictionaries({}, optional={**children, "_id": st.none() | _IDS})
    return st.lists(element | _JSON, max_size=4) | _JSON


_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "c_str": _TEXT, "c_trimmed": _TEXT, "c_upper": _TEXT, "c_enum": _TEXT, "c_email": _TEXT, "c_short": _TEXT,
    "c_strict": _TEXT | st.none(), "c_free": _NUMBERS, "c_num": _NUMBERS, "c_ratio": _NUMBERS,
    "c_level": _NUMBERS, "c_bool": st.booleans() | _JSON,
    "c_when": _DATES, "c_day": _DATES, "c_stamp": _DATES, "c_oid": _IDS, "c_auto": _IDS,
    "c_ids": st.lists(_IDS, max_size=3), "c_ref": _IDS | st.builds(lambda i, o: {"_id": i, "object": o}, _IDS,
                                                                      st.sampled_from(["c_other", "c_x"])),
    "c_refs": st.lists(_IDS, max_size=3),
    "c_doc": st.fixed_dictionaries({}, optional={"c_a": _TEXT, "c_b": _NUMBERS, "c_inner": _elements(
        {"c_x": st.booleans(), "c_scan": st.sampled_from(["scan.png", "a/b", "x.exe"])})}) | _JSON,
    "c_docs": _elements({"c_n": _NUMBERS, "c_note": _TEXT}),
    "c_few": _elements({"c_k": _TEXT}),
    "c_point": _POINTS | _JSON, "c_points": _JSON, "c_any": _JSON, "c_bin": st.sampled_from(["aGVsbG8=", "x"]),
    "c_file": st.sampled_from(["a.png", {"content": "b.txt"}, "no/pe"]) | _JSON,
    "c_tags": st.lists(_TEXT, max_size=5), "c_last": st.lists(_NUMBERS, max_size=4),
    "c_coord": st.lists(_NUMBERS, max_size=3), "c_locked": _TEXT, "c_serial": _TEXT,
    "c_later": st.lists(_TEXT, max_size=2), "c_once": _NUMBERS, "c_needed": st.lists(_TEXT, max_size=2) | _JSON,
    "c_hidden": _TEXT, "c_list": _JSON, "c_nope": _JSON, "_id": _IDS, "created": _DATES, "type": _JSON,
}
_GENERATED = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@_GENERATED
@given(st.fixed_dictionaries({}, optional=_VALUES), st.data())
def test_generated_bodies_agree_with_the_reference(body: dict[str, Any], data: st.DataObject) -> None:
    # Mostly valid: keep a random share of the generated values, the rest from a valid body.
    keep = data.draw(st.sets(st.sampled_from(sorted(body)))) if body else set()
    mixed = {**{key: value for key, value in VALID_EVERY.items() if key not in keep},
             **{key: body[key] for key in keep}}
    check(EVERY_DEFINITION, mixed)
    check(EVERY_DEFINITION, body)


@_GENERATED
@given(st.fixed_dictionaries({}, optional={
    "type": st.sampled_from(["c_big", "c_small", "c_huge"]) | _JSON, "c_name": _TEXT, "c_code": _TEXT,
    "c_size": _NUMBERS, "c_parts": _elements({"c_w": _NUMBERS}), "c_colour": _TEXT, "c_nope": _JSON}),
    st.sampled_from([None, "c_big", "c_small"]))
def test_generated_typed_bodies_agree_with_the_reference(body: dict[str, Any], type_name: str | None) -> None:
    check(TYPED_DEFINITION, body, type_name)


@_GENERATED
@given(st.integers(0, 10_000), st.dictionaries(st.sampled_from(
    ["c_number", "c_name", "c_dob", "c_gender", "c_site", "c_tags", "c_enrolled", "c_score", "c_active",
     "c_visits", "c_photo", "c_notes", "c_home", "c_other"]), _JSON, max_size=2))
def test_generated_patients_agree_with_the_reference(seed: int, changes: dict[str, Any]) -> None:
    body = next(patient_bodies(1, [ID], seed=seed))
    assert check(PATIENT_DEFINITION, body) == ("stored", True)
    check(PATIENT_DEFINITION, {**body, **changes})
