"""De-identified exports through the API: profiles are managed by administrators, their key never
leaves the server, and no value a profile removes reaches any byte of an archive: data in every
format, the CSV dictionary, file entry names, the manifest."""

from __future__ import annotations

import json
import zipfile
from datetime import datetime
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from opencortex.acl.viewer import Viewer
from opencortex.attachments.demo_images import attach_demo_images
from opencortex.demo.study import ADMIN_DELETE
from opencortex.exports.formats import CSV, JSON, NDJSON, ODM
from opencortex.ids import ROLE_ADMINISTRATOR
from opencortex.instances.service import Instances
from opencortex.model.objects import create_object, update_object
from opencortex.store.audit import audit_records
from opencortex.store.tables import deidentification_profiles
from tests.exports.odm_support import assert_valid_odm
from tests.exports_api.conftest import download_zip, run_all
from tests.support.platform import CortexClient, OrgFixture, assert_fault

COUNT = 6
SUBJECTS: dict[str, Any] = {
    "name": "c_subject", "label": "Subject",
    "defaultAcl": [ADMIN_DELETE],
    "createAcl": [{"type": 3, "target": ROLE_ADMINISTRATOR}],
    "properties": [
        {"name": "c_number", "label": "Number", "type": "String", "indexed": True, "unique": True},
        {"name": "c_name", "label": "Name", "type": "Document", "properties": [
            {"name": "c_first", "label": "First name", "type": "String"},
            {"name": "c_last", "label": "Last name", "type": "String"}]},
        {"name": "c_notes", "label": "Notes", "type": "String"},
        {"name": "c_postal", "label": "Postal code", "type": "String"},
        {"name": "c_dob", "label": "Born", "type": "Date", "dateOnly": True},
        {"name": "c_enrolled", "label": "Enrolled", "type": "Date"},
        {"name": "c_score", "label": "Score", "type": "Number", "indexed": True},
        {"name": "c_visits", "label": "Visits", "type": "Document", "array": True, "properties": [
            {"name": "c_when", "label": "When", "type": "Date"},
            {"name": "c_kind", "label": "Kind", "type": "String"}]},
        {"name": "c_photo", "label": "Photo", "type": "File"},
    ],
}
BUDDY = {"name": "c_buddy", "label": "Buddy", "type": "Reference", "sourceObject": "c_subject"}
RULES = [
    {"path": "_id", "action": "hash"},
    {"path": "c_number", "action": "hash"},
    {"path": "c_name", "action": "drop", "object": "c_subject"},
    {"path": "c_notes", "action": "drop"},
    {"path": "c_postal", "action": "truncate", "keep": 3},
    {"path": "c_dob", "action": "dateToYear"},
    {"path": "c_enrolled", "action": "shiftDate"},
    {"path": "c_visits.c_when", "action": "shiftDate"},
    {"path": "c_buddy", "action": "hash"},
    {"path": "c_photo.filename", "action": "drop"},
]
# Shifts of 40 to 364 days back: no shifted date can equal any original one (all in early 1911).
PROFILE = {"name": "trial-a", "description": "For the sponsor", "rules": RULES,
           "dateShift": {"minDays": -364, "maxDays": -40}}


def original(number: int) -> dict[str, Any]:
    return {
        "c_number": f"MRKNUM{number:04d}ZZ",
        "c_name": {"c_first": f"MRKFIRST{number}QQ", "c_last": f"MRKLAST{number}QQ"},
        "c_notes": f"MRKNOTE{number} lives at the corner",
        "c_postal": f"P9{number}XMRKPOSTAL",
        "c_dob": f"1913-0{number + 1}-1{number}",
        "c_enrolled": f"1911-01-1{number}T11:11:11.111Z",
        "c_score": number,
        "c_visits": [{"c_when": f"1911-02-1{number}T22:22:22.222Z", "c_kind": "screening"}],
    }


MARKERS = ["MRKNUM", "MRKFIRST", "MRKLAST", "MRKNOTE", "MRKPOSTAL", "1911-01-1", "1911-02-1", "1913-0",
           "portrait-"]


def load_subjects(platform: OrgFixture) -> list[str]:
    runtime, org_id = platform.runtime, platform.org["id"]
    with runtime.database.begin() as connection:
        create_object(connection, org_id, SUBJECTS)
        definition = update_object(connection, org_id, "c_subject", {"properties": [*SUBJECTS["properties"], BUDDY]})
        admin = Viewer(org_id, platform.admin["id"], frozenset(platform.admin["roles"]))
        instances = Instances(connection, runtime.database.dialect, org_id, definition, admin)
        ids: list[str] = []
        for number in range(COUNT):
            body = original(number) | ({"c_buddy": ids[-1]} if ids else {})
            ids.append(instances.create(body)["_id"])
    attach_demo_images(runtime, platform.org, object_name="c_subject", instance_ids=ids)
    return ids


@pytest.fixture
def admin(platform, http) -> CortexClient:
    client = CortexClient(http, platform.code, platform.session_app.key)
    client.login(platform.admin["email"])
    return client


def create_profile(client: CortexClient, body: dict[str, Any] | None = None) -> dict[str, Any]:
    response = client.post("deidentificationProfiles", json=body or PROFILE)
    assert response.status_code == 200, response.text
    return response.json()


def export(client: CortexClient, worker, **body: Any) -> tuple[dict[str, Any], zipfile.ZipFile]:
    response = client.post("exports", json={"label": "De-identified", "objects": "c_subjects", **body})
    assert response.status_code == 200, response.text
    run_all(worker)
    done = client.get(f"exports/{response.json()['_id']}").json()
    assert done["state"] == "ready", done
    return done, download_zip(client, done["_id"])


def everything(archive: zipfile.ZipFile) -> bytes:
    """Every entry's name and uncompressed bytes."""
    return b"\n".join(info.filename.encode() + b"\n" + archive.read(info) for info in archive.infolist())


def assert_nothing_leaks(archive: zipfile.ZipFile, ids: list[str]) -> None:
    seen = everything(archive)
    for marker in [*MARKERS, *ids]:
        assert marker.encode() not in seen, marker


def ndjson_documents(archive: zipfile.ZipFile) -> list[dict[str, Any]]:
    return [json.loads(line) for line in archive.read(archive.namelist()[0]).split(b"\n")]


def test_profiles_are_managed_by_administrators_and_never_show_their_key(platform, http, admin):
    with platform.runtime.database.begin() as connection:
        create_object(connection, platform.org["id"], SUBJECTS)  # a rule is pinned to it
    created = create_profile(admin)
    assert created["object"] == "deidentificationProfile" and created["version"] == 1
    assert created["rules"] == RULES and created["dateShift"] == {"minDays": -364, "maxDays": -40}
    assert created["hashLength"] == 24 and created["creator"]["_id"] == platform.admin["id"]
    assert "key" not in json.dumps(created).lower().replace("keep", "")
    assert admin.get(f"deidentificationProfiles/{created['_id']}").json() == created
    assert admin.get("deidentificationProfiles/trial-a").json() == created
    assert [profile["name"] for profile in admin.get("deidentificationProfiles").json()["data"]] == ["trial-a"]

    changed = admin.put("deidentificationProfiles/trial-a", json={"rules": RULES[:2], "hashLength": 32})
    assert changed.status_code == 200, changed.text
    assert changed.json()["version"] == 2 and changed.json()["rules"] == RULES[:2]
    assert "description" not in changed.json()
    renamed = admin.put("deidentificationProfiles/trial-a", json={"name": "other", "rules": []})
    fault = assert_fault(renamed, "cortex.invalidArgument.validation", 400)
    assert [child["path"] for child in fault["faults"]] == ["name"]
    assert_fault(admin.post("deidentificationProfiles", json=PROFILE), "cortex.conflict.exists", 409)
    bad = admin.post("deidentificationProfiles", json={**PROFILE, "name": "x", "rules": [
        {"path": "c_name", "action": "drop", "object": "c_nothing"}]})
    assert [child["path"] for child in assert_fault(bad, "cortex.invalidArgument.validation", 400)["faults"]] == [
        "rules[0].object"]

    with platform.runtime.database.connect() as connection:
        [sealed] = connection.execute(sa.select(deidentification_profiles.c.key_sealed)).scalars().all()
    assert len(sealed) > 32  # sealed: nonce, ciphertext and tag, never the bare key
    actions = [record["action"] for record in audit_records_of(platform)]
    assert actions.count("deidentify.profile.create") == 1 and actions.count("deidentify.profile.update") == 1

    with TestClient(http.app) as other:
        provider = CortexClient(other, platform.code, platform.session_app.key)
        provider.login(platform.provider["email"])
        for method, path in (("GET", "deidentificationProfiles"), ("GET", "deidentificationProfiles/trial-a"),
                             ("POST", "deidentificationProfiles"), ("PUT", "deidentificationProfiles/trial-a"),
                             ("DELETE", "deidentificationProfiles/trial-a")):
            assert_fault(provider.request(method, path, json={}), "cortex.accessDenied.unspecified", 403)
    assert admin.delete("deidentificationProfiles/trial-a").json() == {"object": "result", "data": True}
    assert_fault(admin.get("deidentificationProfiles/trial-a"), "cortex.notFound.instance", 404)


def audit_records_of(platform: OrgFixture) -> list[dict[str, Any]]:
    with platform.runtime.database.connect() as connection:
        return audit_records(connection, platform.org["id"])


@pytest.mark.parametrize("media_type", [NDJSON, JSON, CSV, ODM])
def test_no_removed_value_reaches_any_byte_of_the_archive(platform, admin, worker, media_type):
    ids = load_subjects(platform)
    create_profile(admin)
    options: dict[str, Any] = {"csv": {"dictionary": True, "bom": True}} if media_type == CSV else {}
    if media_type == ODM:
        options = {"odm": {"subjectKey": "c_number"}}
    done, archive = export(admin, worker, format=media_type, deidentify="trial-a", exportFiles=True, zipFiles=True,
                           where=json.dumps({"c_number": {"$in": [original(n)["c_number"] for n in range(COUNT)]}}),
                           **options)
    assert done["deidentify"] == "trial-a" and done["stats"]["docs"]["count"] == COUNT
    assert done["stats"]["files"]["count"] == COUNT
    names = archive.namelist()
    assert len([name for name in names if name.startswith("files/")]) == COUNT
    assert_nothing_leaks(archive, ids)
    # The check can fail: the same export without the profile holds every marker.
    _plain, control = export(admin, worker, format=media_type, exportFiles=True, zipFiles=True, **options)
    shown = everything(control)
    missing = [marker for marker in [*MARKERS, *ids] if marker.encode() not in shown]
    assert missing == (["portrait-"] if media_type == ODM else [])  # ODM writes a file as its path
    manifest = json.loads(archive.read("manifest.json"))
    assert manifest["deidentification"] == {"profile": "trial-a", "version": 1}
    assert manifest["parameters"]["deidentify"] == "trial-a"
    assert manifest["parameters"]["where"] == "[redacted: de-identified export]"
    assert all(entry["source"].split("/")[2] not in ids for entry in manifest["entries"] if entry["kind"] == "file")
    data = archive.read(names[0])
    if media_type == CSV:
        header = data.decode("utf-8-sig").split("\n", 1)[0].split(",")
        assert "c_postal" in header and not any(column.startswith(("c_name", "c_notes")) for column in header)
        dictionary = archive.read("dictionary.csv").decode("utf-8-sig")
        assert "c_name" not in dictionary and "c_notes" not in dictionary
        assert "c_postal,String,Postal code" in dictionary
    if media_type == ODM:
        assert_valid_odm(data)
        assert b'ItemOID="IT.c_subject.c_name' not in data and b'Name="c_notes"' not in data
        assert b'OID="IT.c_subject.c_dob" Name="c_dob" DataType="partialDate"' in data
        assert b'Value="P90"' in data


def test_hashes_join_within_a_profile_and_differ_across_profiles(platform, admin, worker):
    ids = load_subjects(platform)
    create_profile(admin)
    create_profile(admin, {**PROFILE, "name": "trial-b"})
    _done, first = export(admin, worker, deidentify="trial-a", include=["c_buddy"])
    _done, again = export(admin, worker, deidentify="trial-a")
    _done, other = export(admin, worker, deidentify="trial-b")
    one, two, three = ndjson_documents(first), ndjson_documents(again), ndjson_documents(other)
    assert [doc["_id"] for doc in one] == [doc["_id"] for doc in two]
    assert [doc["c_number"] for doc in one] == [doc["c_number"] for doc in two]
    assert not {doc["_id"] for doc in one} & {doc["_id"] for doc in three}
    assert not {doc["c_number"] for doc in one} & {doc["c_number"] for doc in three}
    assert not set(ids) & {doc["_id"] for doc in one}
    # A reference's _id is hashed as the _id it refers to: the buddy chain still joins.
    for earlier, later in zip(one, one[1:], strict=False):
        assert later["c_buddy"]["_id"] == earlier["_id"]
    # Every date of an instance moves by the same number of days; different instances differ.
    offsets = []
    for number, document in enumerate(one):
        source = original(number)
        enrolled = days_between(source["c_enrolled"], document["c_enrolled"])
        assert days_between(source["c_visits"][0]["c_when"], document["c_visits"][0]["c_when"]) == enrolled
        assert -364 <= enrolled <= -40
        offsets.append(enrolled)
        assert document["c_dob"] == "1913" and document["c_postal"] == f"P9{number}"
        assert "c_name" not in document and "c_notes" not in document and "filename" not in document["c_photo"]
    assert len(set(offsets)) > 1
    assert [doc["c_enrolled"] for doc in one] == [doc["c_enrolled"] for doc in two]


def days_between(before: str, after: str) -> int:
    return (datetime.fromisoformat(after.replace("Z", "+00:00"))
            - datetime.fromisoformat(before.replace("Z", "+00:00"))).days


def test_the_profile_as_it_is_when_the_export_runs_is_applied_and_recorded(platform, admin, worker):
    load_subjects(platform)
    create_profile(admin)
    pending = admin.post("exports", json={"label": "x", "objects": "c_subjects", "deidentify": "trial-a"}).json()
    more = [*RULES, {"path": "c_score", "action": "drop"}]
    assert admin.put("deidentificationProfiles/trial-a", json={"rules": more}).status_code == 200
    run_all(worker)
    archive = download_zip(admin, pending["_id"])
    assert json.loads(archive.read("manifest.json"))["deidentification"] == {"profile": "trial-a", "version": 2}
    assert all("c_score" not in document for document in ndjson_documents(archive))

    doomed = admin.post("exports", json={"label": "x", "objects": "c_subjects", "deidentify": "trial-a"}).json()
    admin.delete("deidentificationProfiles/trial-a")
    create_profile(admin)  # the same name again: another profile, with another key
    run_all(worker)
    failed = admin.get(f"exports/{doomed['_id']}").json()
    assert failed["state"] == "error" and failed["fault"]["path"] == "deidentify"


def test_exports_refuse_what_deidentify_cannot_do(platform, admin):
    load_subjects(platform)
    create_profile(admin)
    create_profile(admin, {"name": "wrong-type", "rules": [{"path": "c_score", "action": "shiftDate"}]})

    def faults_of(**body: Any) -> list[tuple[str, str]]:
        response = admin.post("exports", json={"label": "x", "objects": "c_subjects", **body})
        fault = assert_fault(response, "cortex.invalidArgument.validation", 400)
        return [(child["path"], child["reason"]) for child in fault["faults"]]

    [(path, reason)] = faults_of(deidentify="nobody")
    assert path == "deidentify" and "nobody" in reason
    [(path, reason)] = faults_of(deidentify="wrong-type")
    assert path == "deidentify" and "shiftDate does not fit 'c_score'" in reason and "rules[0].path" in reason
    [(path, _reason)] = faults_of(deidentify=5)
    assert path == "deidentify"
    [(path, _reason)] = faults_of(objects="logs", deidentify="trial-a")
    assert path == "deidentify"
    create_profile(admin, {"name": "no-id", "rules": [{"path": "_id", "action": "drop"}]})
    [(path, _reason)] = faults_of(deidentify="no-id", format=ODM)
    assert path == "odm.subjectKey"


def test_deidentify_is_shown_stored_and_offered_by_the_cli(platform, admin, tmp_path):
    from click.testing import CliRunner

    from opencortex.cli.main import cli

    load_subjects(platform)
    created = admin.post("exports", json={"label": "x", "objects": "c_subjects", "deidentify": "none-yet"})
    assert_fault(created, "cortex.invalidArgument.validation", 400)
    runner = CliRunner()
    settings = platform.runtime.settings
    base = ["--data-dir", str(settings.data_dir), "--database-url", settings.database_url]
    body = tmp_path / "profile.json"
    body.write_text(json.dumps({**PROFILE, "name": "from-cli"}))
    made = runner.invoke(cli, [*base, "deidentify", "create", "--org", platform.code, "--as", platform.admin["email"],
                               str(body), "--json"])
    assert made.exit_code == 0, made.output
    assert json.loads(made.output)["name"] == "from-cli" and "key_sealed" not in made.output
    listed = runner.invoke(cli, [*base, "deidentify", "list", "--org", platform.code])
    assert listed.exit_code == 0 and "from-cli" in listed.output
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"name": "x", "rules": [{"path": "c_x", "action": "erase"}]}))
    refused = runner.invoke(cli, [*base, "deidentify", "create", "--org", platform.code, "--as",
                                  platform.admin["email"], str(bad)])
    assert refused.exit_code == 1 and "rules[0].action" in refused.output
    export = admin.post("exports", json={"label": "x", "objects": "c_subjects", "deidentify": "from-cli"}).json()
    assert export["deidentify"] == "from-cli"
    assert admin.get(f"exports/{export['_id']}/deidentify").json() == {"object": "result", "data": "from-cli"}
    deleted = runner.invoke(cli, [*base, "deidentify", "delete", "--org", platform.code, "from-cli"])
    assert deleted.exit_code == 0, deleted.output
