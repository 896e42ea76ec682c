"""Instances through the API: create, read, update, delete, validation and property access."""

from __future__ import annotations

from tests.support.platform import assert_fault

PATIENT = {"c_number": "S-9000001", "c_name": {"c_first": "Ada", "c_last": "Lovelace"}, "c_gender": "f",
           "c_dob": "1815-12-10", "c_tags": ["cohort-a"], "c_score": 12.5,
           "c_visits": [{"c_when": "2024-03-01T09:30:00+01:00", "c_kind": "baseline", "c_systolic": 120}]}


def test_create_read_update_delete(study):
    client = study.client
    created = client.post("c_patients", json={**PATIENT, "c_site": study.site_ids[0]})
    assert created.status_code == 200, created.text
    patient = created.json()
    assert patient["object"] == "c_patient" and len(patient["_id"]) == 24
    assert patient["owner"] == {"_id": study.platform.admin["id"], "object": "account"}
    assert patient["access"] == 7
    assert patient["c_dob"] == "1815-12-10"
    assert patient["c_visits"][0]["c_when"] == "2024-03-01T08:30:00.000Z" and len(patient["c_visits"][0]["_id"]) == 24
    assert patient["c_site"] == {"_id": study.site_ids[0], "object": "c_site"}
    assert "c_notes" not in patient  # optional: only with include[]

    read = client.get(f"c_patients/{patient['_id']}").json()
    assert read == patient

    updated = client.put(f"c_patients/{patient['_id']}", json={"c_score": 99, "c_name": {"c_last": "King"}}).json()
    assert updated["c_score"] == 99 and updated["c_name"] == {"c_first": "Ada", "c_last": "King"}
    assert updated["updated"] and updated["updater"]["_id"] == study.platform.admin["id"]

    assert client.delete(f"c_patients/{patient['_id']}").json() == {"object": "result", "data": True}
    assert_fault(client.get(f"c_patients/{patient['_id']}"), "cortex.notFound.instance", 404)
    assert_fault(client.delete(f"c_patients/{patient['_id']}"), "cortex.notFound.instance", 404)


def test_validation_collects_every_bad_path(study):
    response = study.client.post("c_patients", json={
        "c_gender": "x", "c_score": "high", "c_dob": "yesterday", "c_unknown": 1, "_id": "6b0b206b660cb1d895e35acc",
        "c_home": {"type": "Point", "coordinates": [200, 10]},
    })
    fault = assert_fault(response, "cortex.invalidArgument.validation", 400)
    paths = {child["path"] for child in fault["faults"]}
    assert {"c_gender", "c_score", "c_dob", "c_unknown", "_id"} <= paths
    assert any(path.startswith("c_home") for path in paths)
    assert study.client.get("c_patients?limit=1000").json()["data"].__len__() == 30  # nothing written


def test_unique_property(study):
    first = study.client.post("c_patients", json={"c_number": "S-1"})
    assert first.status_code == 200, first.text
    assert_fault(study.client.post("c_patients", json={"c_number": "S-1"}), "cortex.conflict.exists", 409)


def test_malformed_and_hostile_bodies(study):
    client = study.client
    assert_fault(client.post("c_patients", content=b"{nope", headers={"Content-Type": "application/json"}),
                 "cortex.invalidArgument.invalidJSON", 400)
    assert_fault(client.post("c_patients", json=["not", "an", "object"]), "cortex.invalidArgument.unspecified", 400)
    # A long value with no length validator is stored whole, never truncated. (Not an indexed one:
    # those hold at most 2,048 bytes, see test_write_limits.)
    long_notes = client.post("c_patients", json={"c_notes": "x" * 5000})
    assert long_notes.status_code == 200, long_notes.text
    stored = client.get(f"c_patients/{long_notes.json()['_id']}", params={"include[]": "c_notes"}).json()
    assert stored["c_notes"] == "x" * 5000
    assert_fault(client.get("c_patients/not-an-id"), "cortex.notFound.instance", 404)
    assert_fault(client.get("c_nothings"), "cortex.notFound.route", 404)


def test_property_access_push_and_pull(study):
    client = study.client
    patient = client.post("c_patients", json={**PATIENT, "c_tags": ["a", "b", "a"]}).json()
    base = f"c_patients/{patient['_id']}"
    assert client.get(f"{base}/c_name/c_first").json() == {"object": "result", "data": "Ada"}
    assert client.get(f"{base}/c_tags").json() == {"object": "list", "data": ["a", "b", "a"], "hasMore": False}
    visit_id = patient["c_visits"][0]["_id"]
    assert client.get(f"{base}/c_visits/{visit_id}/c_kind").json()["data"] == "baseline"
    assert_fault(client.get(f"{base}/c_visits/000000000000000000000000"), "cortex.notFound.property", 404)
    assert_fault(client.get(f"{base}/c_nothing"), "cortex.notFound.property", 404)

    pushed = client.post(f"{base}/c_tags", json=["c"]).json()
    assert pushed["c_tags"] == ["a", "b", "a", "c"]
    assert client.delete(f"{base}/c_tags/a").json()["data"] is True
    assert client.get(f"{base}/c_tags").json()["data"] == ["b", "c"]
    assert client.delete(f"{base}/c_tags/zzz").json()["data"] is False

    more = client.post(f"{base}/c_visits", json={"c_kind": "follow-up", "c_when": "2024-04-01T00:00:00Z"}).json()
    assert [visit["c_kind"] for visit in more["c_visits"]] == ["baseline", "follow-up"]
    assert more["c_visits"][0]["_id"] == visit_id and more["c_visits"][0]["c_systolic"] == 120
    changed = client.put(f"{base}/c_visits/{visit_id}/c_systolic", json=135).json()
    assert changed["c_visits"][0]["c_systolic"] == 135 and changed["c_visits"][0]["c_kind"] == "baseline"
    assert client.delete(f"{base}/c_visits/{visit_id}").json()["data"] is True
    assert [visit["c_kind"] for visit in client.get(base).json()["c_visits"]] == ["follow-up"]

    assert client.put(f"{base}/c_name/c_first", json="Augusta").json()["c_name"]["c_first"] == "Augusta"
    assert_fault(client.post(f"{base}/c_score", json=1), "cortex.invalidArgument.unspecified", 400)


def test_list_property_reads_linked_instances(study):
    site = study.site_ids[0]
    listed = study.client.get(f"c_sites/{site}/c_patients?limit=1000").json()
    assert listed["object"] == "list"
    assert listed["data"] and all(patient["c_site"]["_id"] == site for patient in listed["data"])
    everyone = study.client.get("c_patients?limit=1000").json()["data"]
    assert len(listed["data"]) == sum(1 for patient in everyone if patient["c_site"]["_id"] == site)


def test_object_types(study):
    client = study.client
    definition = client.post("objects", json={
        "name": "c_assessment", "label": "Assessment",
        "defaultAcl": ["owner.delete"], "createAcl": ["account.public"],
        "properties": [{"name": "c_when", "label": "When", "type": "Date", "indexed": True}],
        "objectTypes": [
            {"name": "c_blood", "label": "Blood",
             "properties": [{"name": "c_group", "label": "Group", "type": "String"}]},
            {"name": "c_mood", "label": "Mood",
             "properties": [{"name": "c_score", "label": "Score", "type": "Number"}]},
        ],
    })
    assert definition.status_code == 200, definition.text
    fault = assert_fault(client.post("c_assessments", json={"c_when": "2024-01-01"}),
                         "cortex.invalidArgument.validation", 400)
    assert any(child.get("path") == "type" for child in fault.get("faults", [])) or fault.get("path") == "type"
    blood = client.post("c_assessments", json={"type": "c_blood", "c_group": "AB+"}).json()
    assert blood["type"] == "c_blood" and blood["c_group"] == "AB+"
    wrong = client.post("c_assessments", json={"type": "c_mood", "c_group": "AB+"})
    assert_fault(wrong, "cortex.invalidArgument.validation", 400)
