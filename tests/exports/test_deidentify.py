"""De-identification rules: a profile body is checked path by path, and a profile's rules change
documents as documented: drop, keyed hash, per-instance date shift, year, truncate."""

from __future__ import annotations

import copy
from datetime import date, datetime

import pytest

from opencortex import faults
from opencortex.exports.deidentify.rules import ProfileSettings, Rule, check_rules, read_profile_body
from opencortex.exports.deidentify.transform import Deidentifier
from opencortex.model.definitions import ObjectDefinition
from opencortex.model.problems import Problems

KEY, OTHER_KEY = b"k" * 32, b"o" * 32
PATIENT = ObjectDefinition.from_json({"name": "c_patient", "label": "Patient", "properties": [
    {"name": "c_number", "label": "Number", "type": "String"},
    {"name": "c_name", "label": "Name", "type": "Document", "properties": [
        {"name": "c_first", "label": "First", "type": "String"},
        {"name": "c_last", "label": "Last", "type": "String"}]},
    {"name": "c_dob", "label": "Born", "type": "Date", "dateOnly": True},
    {"name": "c_enrolled", "label": "Enrolled", "type": "Date"},
    {"name": "c_postal", "label": "Postal code", "type": "String"},
    {"name": "c_visits", "label": "Visits", "type": "Document", "array": True, "properties": [
        {"name": "c_when", "label": "When", "type": "Date"}, {"name": "c_kind", "label": "Kind", "type": "String"}]},
    {"name": "c_tags", "label": "Tags", "type": "String", "array": True},
    {"name": "c_photo", "label": "Photo", "type": "File"},
]})
DOCUMENT = {
    "_id": "65f0c0ffee0000000000aa01", "object": "c_patient",
    "created": "2024-01-10T08:00:00.000Z",
    "creator": {"_id": "65f0c0ffee0000000000bb01", "object": "account", "path": "/accounts/65f0c0ffee0000000000bb01"},
    "c_number": "S-0001", "c_name": {"c_first": "Ada", "c_last": "Lovelace"},
    "c_dob": "1984-02-29", "c_enrolled": "2024-03-01T10:20:30.400Z", "c_postal": "SW1A 1AA",
    "c_visits": [{"_id": "65f0c0ffee0000000000cc01", "c_when": "2024-03-05T09:00:00.000Z", "c_kind": "x"},
                 {"_id": "65f0c0ffee0000000000cc02", "c_when": None, "c_kind": "y"}],
    "c_tags": ["t1", "t2"],
    "c_photo": {"name": "content", "path": "/c_patients/65f0c0ffee0000000000aa01/c_photo/content"},
}
RULES = (
    Rule("_id", "hash"), Rule("c_number", "hash"), Rule("c_name", "drop"), Rule("c_dob", "dateToYear"),
    Rule("c_enrolled", "shiftDate"), Rule("c_visits.c_when", "shiftDate"), Rule("c_postal", "truncate", keep=3),
    Rule("creator", "hash"), Rule("c_tags", "hash"),
)


def deidentifier(key: bytes = KEY, rules: tuple[Rule, ...] = RULES, shift: tuple[int, int] = (-364, -1),
                 length: int = 24) -> Deidentifier:
    return Deidentifier("trial", 3, ProfileSettings(rules, None, shift, length), key, "c_patient")


def test_each_action_changes_what_it_names_and_nothing_else():
    profile = deidentifier()
    out = profile.apply_one(copy.deepcopy(DOCUMENT))
    assert "c_name" not in out
    assert out["_id"] == profile.hash_value("65f0c0ffee0000000000aa01") and len(out["_id"]) == 24
    assert out["c_number"] == profile.hash_value("S-0001") != "S-0001"
    assert out["c_dob"] == "1984" and out["c_postal"] == "SW1"
    assert out["c_tags"] == [profile.hash_value("t1"), profile.hash_value("t2")]
    days = profile.shift_days("65f0c0ffee0000000000aa01")
    assert -364 <= days <= -1
    enrolled = datetime.fromisoformat(out["c_enrolled"].replace("Z", "+00:00"))
    assert (enrolled - datetime.fromisoformat("2024-03-01T10:20:30.400+00:00")).days == days
    assert out["c_enrolled"].endswith(".400Z")  # the same form as the read API's
    when = datetime.fromisoformat(out["c_visits"][0]["c_when"].replace("Z", "+00:00"))
    assert (when - datetime.fromisoformat("2024-03-05T09:00:00+00:00")).days == days  # the same offset
    assert out["c_visits"][1]["c_when"] is None and out["c_visits"][1]["c_kind"] == "y"
    # A reference: its _id hashed as the _id it refers to would be, its path with it.
    assert out["creator"] == {"_id": profile.hash_value("65f0c0ffee0000000000bb01"), "object": "account",
                              "path": "/accounts/" + profile.hash_value("65f0c0ffee0000000000bb01")}
    # The original _id is gone from every text of the document.
    assert out["c_photo"]["path"] == f"/c_patients/{out['_id']}/c_photo/content"
    assert "65f0c0ffee0000000000aa01" not in repr(out)
    assert out["object"] == "c_patient" and out["created"] == DOCUMENT["created"]


def test_hashes_are_stable_within_a_profile_and_differ_across_profiles():
    first, again, other = deidentifier(), deidentifier(), deidentifier(OTHER_KEY)
    documents = [copy.deepcopy(DOCUMENT) for _ in range(3)]
    one, two, three = first.apply_one(documents[0]), again.apply_one(documents[1]), other.apply_one(documents[2])
    assert one == two
    assert one["_id"] != three["_id"] and one["c_number"] != three["c_number"]
    assert first.hash_value("5") != first.hash_value(5)  # the value's JSON: text and number differ
    assert len(deidentifier(length=64).hash_value("x")) == 64


def test_date_shifts_differ_between_instances_and_stay_in_range():
    profile = deidentifier(shift=(-30, 30))
    days = {profile.shift_days(f"65f0c0ffee0000000000{n:04x}") for n in range(400)}
    assert min(days) >= -30 and max(days) <= 30 and len(days) > 40
    assert deidentifier(shift=(7, 7)).shift_days("anything") == 7
    only = deidentifier(rules=(Rule("c_dob", "shiftDate"),), shift=(10, 10))
    assert only.apply_one({"_id": "a", "c_dob": "2024-02-25"})["c_dob"] == (date(2024, 2, 25).fromordinal(
        date(2024, 2, 25).toordinal() + 10)).isoformat()


@pytest.mark.parametrize(("rule", "value"), [
    (Rule("c_x", "shiftDate"), "SECRET-VALUE-42"), (Rule("c_x", "dateToYear"), 1984),
    (Rule("c_x", "truncate", 2), True), (Rule("c_x", "hash"), {"SECRET": "VALUE"}),
])
def test_a_value_a_rule_cannot_change_fails_the_export_without_quoting_it(rule, value):
    with pytest.raises(faults.Fault) as raised:
        deidentifier(rules=(rule,)).apply_one({"_id": "65f0c0ffee0000000000aa01", "c_x": value})
    assert raised.value.path == "deidentify" and "65f0c0ffee0000000000aa01" in str(raised.value.reason)
    reason = str(raised.value.reason).replace("65f0c0ffee0000000000aa01", "")
    assert str(value) not in reason and "SECRET" not in reason


def test_pinned_rules_apply_to_their_object_only():
    settings = ProfileSettings((Rule("c_number", "drop", object="c_site"), Rule("c_postal", "drop")))
    assert [rule.path for rule in settings.rules_for("c_patient")] == ["c_postal"]
    assert [rule.path for rule in settings.rules_for("c_site")] == ["c_number", "c_postal"]


def test_a_valid_body():
    read = read_profile_body({"name": "trial-a.v2", "description": "For the sponsor", "hashLength": 32,
                              "dateShift": {"minDays": -10, "maxDays": 10},
                              "rules": [{"path": "c_postal", "action": "truncate", "keep": 3},
                                        {"path": "c_name", "action": "drop", "object": "c_patient"}]},
                             creating=True)
    assert not read.problems and read.name == "trial-a.v2"
    assert read.settings.to_json() == {
        "rules": [{"path": "c_postal", "action": "truncate", "keep": 3},
                  {"path": "c_name", "action": "drop", "object": "c_patient"}],
        "dateShift": {"minDays": -10, "maxDays": 10}, "hashLength": 32}
    assert ProfileSettings.from_json(read.settings.to_json(), "For the sponsor") == read.settings


@pytest.mark.parametrize(("body", "paths"), [
    ({"rules": []}, ["name"]),
    ({"name": "65f0c0ffee0000000000aa01", "rules": []}, ["name"]),
    ({"name": "-x", "rules": []}, ["name"]),
    ({"name": "a"}, ["rules"]),
    ({"name": "a", "rules": [], "bogus": 1}, ["bogus"]),
    ({"name": "a", "rules": [{"path": "c_x", "action": "erase"}]}, ["rules[0].action"]),
    ({"name": "a", "rules": [{"path": "c x", "action": "drop"}]}, ["rules[0].path"]),
    ({"name": "a", "rules": [{"path": "c_x", "action": "truncate"}]}, ["rules[0].keep"]),
    ({"name": "a", "rules": [{"path": "c_x", "action": "truncate", "keep": 0}]}, ["rules[0].keep"]),
    ({"name": "a", "rules": [{"path": "c_x", "action": "drop", "keep": 2}]}, ["rules[0].keep"]),
    ({"name": "a", "rules": [{"path": "c_x", "action": "drop", "why": 1}]}, ["rules[0].why"]),
    ({"name": "a", "rules": [{"path": "c_x", "action": "drop"}, {"path": "c_x.c_y", "action": "hash"}]},
     ["rules[1].path"]),
    ({"name": "a", "rules": ["c_x"]}, ["rules[0]"]),
    ({"name": "a", "rules": [], "dateShift": {"minDays": 5, "maxDays": 1}}, ["dateShift.minDays"]),
    ({"name": "a", "rules": [], "dateShift": {"minDays": -4000}}, ["dateShift.minDays"]),
    ({"name": "a", "rules": [], "dateShift": {"days": 3}}, ["dateShift"]),
    ({"name": "a", "rules": [], "hashLength": 8}, ["hashLength"]),
    ({"name": "a", "rules": [], "hashLength": True}, ["hashLength"]),
])
def test_every_bad_path_is_named(body, paths):
    read = read_profile_body(body, creating=True)
    assert [fault.path for fault in read.problems.faults] == paths


def test_overlapping_rules_of_different_objects_are_allowed_and_the_name_cannot_change():
    read = read_profile_body({"name": "a", "rules": [{"path": "c_x", "action": "drop", "object": "c_a"},
                                                     {"path": "c_x", "action": "hash", "object": "c_b"}]},
                             creating=True)
    assert not read.problems
    changed = read_profile_body({"name": "b", "rules": []}, creating=False)
    assert [(fault.path, fault.err_code) for fault in changed.problems.faults] == [
        ("name", "cortex.invalidArgument.creatableOnly")]


def test_rules_are_checked_against_a_definition():
    rules = (Rule("c_dob", "shiftDate", object="c_patient"), Rule("c_name", "hash"), Rule("c_number", "dateToYear"),
             Rule("c_nothing", "drop", object="c_patient"), Rule("c_unknown", "drop"),
             Rule("c_visits.c_when", "dateToYear"), Rule("c_visits._id", "hash"), Rule("c_photo.filename", "hash"),
             Rule("created", "shiftDate"), Rule("creator", "truncate", 2), Rule("c_postal", "drop", object="c_site"))
    problems = Problems()
    check_rules(rules, PATIENT, problems)
    assert [fault.path for fault in problems.faults] == ["rules[1].path", "rules[2].path", "rules[3].path",
                                                         "rules[9].path"]
