"""CDISC ODM exports and ``maxEntryBytes`` through the API: what is accepted and refused at create,
what the archive holds, and that verify agrees with it."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import orjson
import pytest

from opencortex.acl.viewer import Viewer
from opencortex.exports.formats import CSV, JSON, NDJSON, ODM
from opencortex.exports.verify import verify_archive
from opencortex.instances.service import Instances
from opencortex.model.objects import get_object
from tests.exports.odm_support import assert_valid_odm, parse_odm
from tests.exports_api.conftest import download_zip, run_all
from tests.support.platform import CortexClient, assert_fault

MIB = 1024 * 1024
NS = {"odm": "http://www.cdisc.org/ns/odm/v1.3"}


def create(client: CortexClient, **body: Any) -> dict[str, Any]:
    response = client.post("exports", json={"label": "Patients", "objects": "c_patients", **body})
    assert response.status_code == 200, response.text
    return response.json()


def child_faults(response: Any) -> list[str]:
    return [child["path"] for child in assert_fault(response, "cortex.invalidArgument.validation", 400)["faults"]]


def test_an_odm_export_of_the_study_is_valid_and_keyed_by_subject_number(study, worker, tmp_path):
    export = create(study.client, format=ODM, odm={"subjectKey": "c_number"}, include=["c_notes"])
    assert export["format"] == ODM and export["odm"] == {"subjectKey": "c_number"}
    run_all(worker)
    ready = study.client.get(f"exports/{export['_id']}").json()
    assert ready["state"] == "ready" and ready["stats"]["docs"]["count"] == 40
    archive = download_zip(study.client, export["_id"])
    name = "export-" + export["created"].replace(":", "_") + ".xml"
    assert archive.namelist() == [name, "manifest.sig", "manifest.json"]
    data = archive.read(name)
    assert_valid_odm(data)
    root = parse_odm(data)
    subjects = root.findall(".//odm:SubjectData", NS)
    first = study.client.get(f"c_patients/{study.patient_ids[0]}").json()
    assert [subject.get("SubjectKey") for subject in subjects][:2] == ["S-0000001", "S-0000002"]
    items = {item.get("ItemOID"): item.get("Value") for item in subjects[0].iterfind(".//odm:ItemData", NS)}
    assert items["IT.c_patient._id"] == first["_id"] and items["IT.c_patient.c_site"] == first["c_site"]["_id"]
    assert items["IT.c_patient.c_name.c_first"] == first["c_name"]["c_first"]
    assert items["IT.c_patient.c_dob"] == first["c_dob"]
    manifest = json.loads(archive.read("manifest.json"))
    assert manifest["entries"][0]["records"] == 40 and manifest["parameters"]["odm"] == {"subjectKey": "c_number"}
    path = tmp_path / "archive.zip"
    path.write_bytes(study.client.get(f"exports/{export['_id']}/dataFile/content").content)
    assert verify_archive(path).ok


def test_what_odm_cannot_write_is_refused_at_create(study):
    client = study.client
    assert child_faults(client.post("exports", json={"label": "x", "objects": "c_patients", "format": ODM,
                                                     "expand": ["c_site"]})) == ["expand"]
    assert child_faults(client.post("exports", json={"label": "x", "objects": "logs", "format": ODM})) == ["format"]
    assert child_faults(client.post("exports", json={"label": "x", "objects": "c_patients", "format": ODM,
                                                     "odm": {"subjectKey": "c_number", "bogus": 1}})) == ["odm.bogus"]
    assert child_faults(client.post("exports", json={"label": "x", "objects": "c_patients", "format": ODM,
                                                     "odm": {"subjectKey": "c_tags"}})) == ["odm.subjectKey"]
    assert child_faults(client.post("exports", json={"label": "x", "objects": "c_patients", "format": ODM,
                                                     "paths": ["c_dob"], "odm": {"subjectKey": "c_number"}})) == [
        "odm.subjectKey"]
    assert child_faults(client.post("exports", json={"label": "x", "objects": "c_patients", "format": CSV,
                                                     "odm": {"subjectKey": "c_number"}})) == ["odm"]


@pytest.mark.parametrize("value", [MIB - 1, 4 * 1024**3 + 1, "2000000", 1.5e6, True, -1])
def test_max_entry_bytes_is_a_whole_number_in_range(study, value):
    response = study.client.post("exports", json={"label": "x", "objects": "c_patients", "maxEntryBytes": value})
    assert child_faults(response) == ["maxEntryBytes"]


def test_max_entry_bytes_in_a_form(study):
    response = study.client.post("exports", content=f"label=x&objects=c_patients&maxEntryBytes={MIB}".encode(),
                                 headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert response.status_code == 200, response.text
    assert response.json()["maxEntryBytes"] == MIB
    refused = study.client.post("exports", content=b"label=x&objects=c_patients&maxEntryBytes=1MB",
                                headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert child_faults(refused) == ["maxEntryBytes"]


def add_long_notes(study) -> None:
    """Every patient gets ~90 KB of notes: 40 patients make about 3.6 MB of data."""
    platform = study.platform
    org_id = platform.org["id"]
    with platform.runtime.database.begin() as connection:
        definition = get_object(connection, org_id, "c_patient")
        instances = Instances(connection, platform.runtime.database.dialect, org_id, definition,
                              Viewer(org_id, platform.admin["id"], frozenset(platform.admin["roles"])))
        for number, instance_id in enumerate(study.patient_ids):
            instances.update(instance_id, {"c_notes": f"note {number}: " + "lorem ipsum dolor " * 5000})


@pytest.mark.parametrize("media_type", [NDJSON, JSON, CSV, ODM])
def test_a_big_data_entry_is_cut_into_valid_parts(study, worker, tmp_path, media_type):
    add_long_notes(study)
    export = create(study.client, format=media_type, include=["c_notes"], maxEntryBytes=MIB)
    assert export["maxEntryBytes"] == MIB
    run_all(worker)
    ready = study.client.get(f"exports/{export['_id']}").json()
    assert ready["state"] == "ready", ready
    assert ready["stats"]["docs"]["count"] == 40
    assert ready["dataFile"]["filename"] == "export-" + export["created"].replace(":", "_") + "." + (
        "xml" if media_type == ODM else media_type.split("/")[-1].replace("x-", ""))
    archive = download_zip(study.client, export["_id"])
    manifest = json.loads(archive.read("manifest.json"))
    parts = [entry for entry in manifest["entries"] if entry["kind"] == "data"]
    assert len(parts) >= 4
    assert manifest["parameters"]["maxEntryBytes"] == MIB
    stem = "export-" + export["created"].replace(":", "_")
    keys = []
    for number, entry in enumerate(parts, start=1):
        assert entry["name"].startswith(f"{stem}.part-{number:04d}.")
        data = archive.read(entry["name"])
        assert len(data) <= MIB and entry["records"] > 0
        if media_type == NDJSON:
            documents = [orjson.loads(line) for line in data.split(b"\n")]
        elif media_type == JSON:
            documents = orjson.loads(data)
        elif media_type == CSV:
            documents = list(csv.DictReader(io.StringIO(data.decode(), newline="")))
        else:
            assert_valid_odm(data)  # each part a whole ODM document, keyed by _id
            documents = [{"_id": subject.get("SubjectKey")} for subject in
                         parse_odm(data).iterfind(".//odm:SubjectData", NS)]
        assert len(documents) == entry["records"]
        keys += [document["_id"] for document in documents]
    assert keys == study.patient_ids  # every instance once, in order, across the parts
    path = tmp_path / "archive.zip"
    path.write_bytes(study.client.get(f"exports/{export['_id']}/dataFile/content").content)
    report = verify_archive(path)
    assert report.ok and report.records == 40
