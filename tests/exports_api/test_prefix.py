"""``prefix``: one instance's List (checked and read against the List's source object) or one
instance's document array (its elements are the exported documents)."""

from __future__ import annotations

import json

import orjson

from opencortex.acl.viewer import Viewer
from opencortex.instances.service import Instances
from opencortex.model.objects import create_object
from tests.exports_api.conftest import download_zip, run_all
from tests.support.platform import assert_fault

DIARY = {
    "name": "c_diary", "label": "Diary", "defaultAcl": [{"type": 3, "target": "000000000000000000000004", "allow": 7}],
    "createAcl": [{"type": 3, "target": "000000000000000000000004"}],
    "properties": [
        {"name": "c_title", "label": "Title", "type": "String", "indexed": True},
        {"name": "c_entries", "label": "Entries", "type": "Document", "array": True, "properties": [
            {"name": "c_mood", "label": "Mood", "type": "String", "indexed": True},
            {"name": "c_note", "label": "Note", "type": "String"},
            {"name": "c_secret", "label": "Secret", "type": "String", "optional": True},
        ]},
        {"name": "c_profile", "label": "Profile", "type": "Document", "properties": [
            {"name": "c_contacts", "label": "Contacts", "type": "Document", "array": True, "properties": [
                {"name": "c_phone", "label": "Phone", "type": "String"},
            ]},
        ]},
    ],
}  # fmt: skip


def export(study, **body):
    return study.client.post("exports", json={"label": "Prefixed", "principal": study.platform.admin["email"],
                                              **body})


def documents(study, created, extension="ndjson"):
    name = "export-" + created["created"].replace(":", "_") + "." + extension
    data = download_zip(study.client, created["_id"]).read(name)
    return [orjson.loads(line) for line in data.split(b"\n") if line]


def test_a_list_prefix_reads_and_is_checked_against_the_lists_object(study, worker):
    site = study.site_ids[0]
    response = export(study, objects="c_sites", prefix=f"{site}.c_patients", paths=["c_number"],
                      where=json.dumps({"c_score": {"$gte": 50}}))
    assert response.status_code == 200, response.text
    created = response.json()
    run_all(worker)
    listed = study.client.get(f"c_sites/{site}/c_patients", params={"limit": "1000",
                                                                     "where": json.dumps({"c_score": {"$gte": 50}})})
    expected = sorted(doc["_id"] for doc in listed.json()["data"])
    exported = documents(study, created)
    assert sorted(doc["_id"] for doc in exported) == expected and expected
    assert all(set(doc) == {"_id", "object", "c_number"} and doc["object"] == "c_patient" for doc in exported)

    # A property of the object holding the List is not a property of what is exported.
    for body, path in [({"paths": ["c_country"]}, "paths[0]"), ({"where": json.dumps({"c_country": "US"})}, "where"),
                       ({"expand": ["c_location"]}, "expand[0]")]:
        fault = assert_fault(export(study, objects="c_sites", prefix=f"{site}.c_patients", **body),
                             "cortex.invalidArgument.validation", 400)
        assert [child["path"] for child in fault["faults"]] == [path], fault
    # ...and what the List's object has is accepted.
    assert export(study, objects="c_sites", prefix=f"{site}.c_patients", expand=["c_site"]).status_code == 200


def make_diary(study):
    platform = study.platform
    with platform.runtime.database.begin() as connection:
        definition = create_object(connection, platform.org["id"], DIARY)
        admin = Viewer(platform.org["id"], platform.admin["id"], frozenset(platform.admin["roles"]))
        instances = Instances(connection, platform.runtime.database.dialect, platform.org["id"], definition, admin)
        return instances.create({
            "c_title": "Week 1",
            "c_entries": [{"c_mood": "good", "c_note": "ran", "c_secret": "s1"},
                          {"c_mood": "bad", "c_note": "rain"},
                          {"c_mood": "good", "c_note": "sun"}],
            "c_profile": {"c_contacts": [{"c_phone": "+1 555"}, {"c_phone": "+44 20"}]},
        })


def test_a_document_array_prefix_exports_its_elements(study, worker):
    diary = make_diary(study)
    entries = diary["c_entries"]
    whole = export(study, objects="c_diaries", prefix=f"{diary['_id']}.c_entries").json()
    moods = export(study, objects="c_diaries", prefix=f"{diary['_id']}/c_entries", paths=["c_mood"],
                   where=json.dumps({"c_mood": "good"}), format="text/csv").json()
    secret = export(study, objects="c_diaries", prefix=f"{diary['_id']}.c_entries", include=["c_secret"]).json()
    nested = export(study, objects="c_diaries", prefix=f"{diary['_id']}.c_profile.c_contacts").json()
    assert nested["prefix"] == f"{diary['_id']}.c_profile.c_contacts"
    run_all(worker)

    read = study.client.get(f"c_diaries/{diary['_id']}").json()
    assert documents(study, whole) == read["c_entries"]
    assert [set(doc) for doc in documents(study, whole)] == [{"_id", "c_mood", "c_note"}] * 3
    assert study.client.get(f"exports/{whole['_id']}").json()["stats"]["docs"]["count"] == 3
    csv = download_zip(study.client, moods["_id"]).read("export-" + moods["created"].replace(":", "_") + ".csv")
    assert csv.decode().splitlines() == ["_id,c_mood", f"{entries[0]['_id']},good", f"{entries[2]['_id']},good"]
    assert documents(study, secret)[0]["c_secret"] == "s1"
    assert documents(study, nested) == read["c_profile"]["c_contacts"]


def test_document_array_prefixes_refuse_what_they_cannot_do(study):
    diary = make_diary(study)
    prefix = f"{diary['_id']}.c_entries"
    cases = [
        ({"paths": ["c_nope"]}, "paths[0]"),
        ({"paths": ["c_title"]}, "paths[0]"),  # the holding object's property, not an element's
        ({"include": ["c_nope"]}, "include[0]"),
        ({"expand": ["c_mood"]}, "expand[0]"),
        ({"where": json.dumps({"c_note": "ran"})}, "where"),  # not indexed
        ({"where": json.dumps({"c_title": "Week 1"})}, "where"),
        ({"exportFiles": True}, "exportFiles"),
    ]
    for body, path in cases:
        fault = assert_fault(export(study, objects="c_diaries", prefix=prefix, **body),
                             "cortex.invalidArgument.validation", 400)
        assert [child["path"] for child in fault["faults"]] == [path], (body, fault)
    for bad in (f"{diary['_id']}.c_title", f"{diary['_id']}.c_profile", f"{diary['_id']}.c_entries.c_mood",
                "0123456789abcdef01234567.c_entries", f"{diary['_id']}.c_nope"):
        fault = assert_fault(export(study, objects="c_diaries", prefix=bad), "cortex.invalidArgument.validation", 400)
        assert [child["path"] for child in fault["faults"]] == ["prefix"], (bad, fault)
    # The provider cannot see the diary: its prefix is refused as an instance it cannot read.
    fault = assert_fault(study.client.post("exports", json={"label": "x", "objects": "c_diaries", "prefix": prefix,
                                                            "principal": study.platform.provider["email"]}),
                         "cortex.invalidArgument.validation", 400)
    assert fault["faults"][0]["path"] == "prefix" and fault["faults"][0]["errCode"] == "cortex.notFound.instance"
