"""The Export API as the Export page and Cortex's list, update, property-path and fault shapes say."""

from __future__ import annotations

import json
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient

from opencortex.clock import utcnow
from opencortex.store.tables import accounts, exports
from tests.exports_api.conftest import download_zip, run_all
from tests.support.platform import PASSWORD, CortexClient, assert_fault


def create(client: CortexClient, **body):
    response = client.post("exports", json={"label": "Patients", "objects": "c_patients", **body})
    assert response.status_code == 200, response.text
    return response.json()


def ids(response) -> list[str]:
    assert response.status_code == 200, response.text
    return [document["_id"] for document in response.json()["data"]]


def test_created_export_has_cortex_shape(study):
    export = create(study.client, paths=["c_number"])
    admin = study.platform.admin["id"]
    assert export["creator"] == export["owner"] == {"_id": admin, "object": "account", "path": f"/accounts/{admin}"}
    assert export["paths"] == ["c_number"] and export["exportFiles"] is False and export["zipFiles"] is False
    # Never set: left out, not null.
    for absent in ("description", "where", "principal", "prefix", "afterScript", "include", "expand", "csv",
                   "dataFile", "fault", "started", "completed", "updated", "progress"):
        assert absent not in export, absent
    assert None not in export.values()


def test_list_where_sort_paging_and_total(study, worker):
    client = study.client
    first = create(client, label="Alpha", format="text/csv")
    second = create(client, label="Bravo", objects="c_sites")
    third = create(client, label="Charlie")
    run_all(worker)
    cancelled = create(client, label="Delta")
    client.post(f"exports/{cancelled['_id']}/cancel", json={})
    everyone = [cancelled["_id"], third["_id"], second["_id"], first["_id"]]  # newest first
    assert ids(client.get("exports")) == everyone

    assert ids(client.get("exports", params={"where": json.dumps({"state": "error"})})) == [cancelled["_id"]]
    assert ids(client.get("exports", params={"where": json.dumps({"objects": "c_sites"})})) == [second["_id"]]
    assert ids(client.get("exports", params={"where": json.dumps({"format": "text/csv"})})) == [first["_id"]]
    assert ids(client.get("exports", params={"where": json.dumps({"label": {"$regex": "/^(a|c)/i"}})})) == [
        third["_id"], first["_id"]]
    admin = study.platform.admin["id"]
    assert ids(client.get("exports", params={"where": json.dumps({"creator": admin, "state": "ready"})})) == [
        third["_id"], second["_id"], first["_id"]]
    after = json.dumps({"created": {"$gt": second["created"]}})
    later = [export["_id"] for export in (cancelled, third, second, first) if export["created"] > second["created"]]
    assert cancelled["_id"] in later and ids(client.get("exports", params={"where": after})) == later
    assert ids(client.get("exports", params={"where": json.dumps({"label": {"$in": ["Bravo", "Delta"]}})})) == [
        cancelled["_id"], second["_id"]]

    assert ids(client.get("exports", params={"sort": json.dumps({"label": 1})})) == everyone[::-1]
    assert ids(client.get("exports", params={"sort": "label", "skip": "1", "limit": "2"})) == [
        second["_id"], third["_id"]]
    page = client.get("exports", params={"limit": "2", "total": "true"}).json()
    assert [doc["_id"] for doc in page["data"]] == everyone[:2] and page["hasMore"] is True and page["total"] == 4
    assert ids(client.get("exports", params={"startingAfter": third["_id"]})) == everyone[2:]
    assert ids(client.get("exports", params={"endingBefore": second["_id"], "limit": "1"})) == [third["_id"]]
    ready = client.get("exports", params={"where": json.dumps({"state": "ready"}), "total": "true",
                                          "limit": "1"}).json()
    assert ready["total"] == 3 and len(ready["data"]) == 1

    # The instance lists' faults, for the same mistakes.
    fault = assert_fault(client.get("exports", params={"where": json.dumps({"stats.docs.count": 1})}),
                         "cortex.invalidArgument.query", 400)
    assert fault["path"] == "stats.docs.count"
    assert_fault(client.get("exports", params={"where": json.dumps({"state": {"$bogus": 1}})}),
                 "cortex.invalidArgument.query", 400)
    assert_fault(client.get("exports", params={"where": "{nope"}), "cortex.invalidArgument.query", 400)
    assert_fault(client.get("exports", params={"where": json.dumps({"state": "ready"}),
                                               "startingAfter": third["_id"]}), "cortex.invalidArgument.query", 400)
    assert_fault(client.get("exports", params={"limit": "0"}), "cortex.invalidArgument.query", 400)
    assert_fault(client.get("exports", params={"total": "maybe"}), "cortex.invalidArgument.query", 400)


def test_list_and_read_paths_include_and_expand(study):
    client = study.client
    export = create(client, description="About patients")
    admin = study.platform.admin

    [limited] = client.get("exports", params={"paths[]": ["state", "stats.docs"]}).json()["data"]
    assert limited == {"_id": export["_id"], "object": "export", "state": "pending",
                       "stats": {"docs": {"count": 0}}}
    read = client.get(f"exports/{export['_id']}", params={"paths[]": "label"}).json()
    assert read == {"_id": export["_id"], "object": "export", "label": "Patients"}
    with_events = client.get(f"exports/{export['_id']}", params={"include[]": "events"}).json()
    assert [event["name"] for event in with_events["events"]] == ["queued"]
    assert "events" not in client.get(f"exports/{export['_id']}").json()

    expanded = client.get(f"exports/{export['_id']}", params={"expand[]": "creator"}).json()
    assert expanded["creator"]["email"] == admin["email"] and expanded["creator"]["object"] == "account"
    assert expanded["creator"]["path"] == f"/accounts/{admin['id']}" and "_id" in expanded["owner"]
    [implicit] = client.get("exports", params={"paths[]": "creator.email"}).json()["data"]
    assert implicit["creator"] == {"email": admin["email"]}

    fault = assert_fault(client.get("exports", params={"paths[]": "c_nothing"}), "cortex.invalidArgument.unspecified",
                         400)
    assert fault["path"] == "c_nothing"
    assert_fault(client.get("exports", params={"expand[]": "label"}), "cortex.invalidArgument.unspecified", 400)


def test_a_demoted_creator_still_lists_its_own_exports(study, platform, http):
    """The export's ACL: its owner reads it whatever its roles are now; other exports stay hidden."""
    client = study.client
    mine = create(client, label="Mine")
    with platform.runtime.database.begin() as connection:
        from opencortex.model.accounts import create_account

        boss = create_account(connection, platform.org["id"], email="boss@acme.test", password=PASSWORD,
                              roles=["administrator"])
    with TestClient(http.app) as other:
        former = CortexClient(other, platform.code, platform.session_app.key)
        former.login("boss@acme.test")
        theirs = create(former, label="Theirs")
        with platform.runtime.database.begin() as connection:
            connection.execute(accounts.update().where(accounts.c.id == boss["id"]).values(roles=["provider"]))
        assert ids(former.get("exports")) == [theirs["_id"]]
        assert former.get(f"exports/{theirs['_id']}/label").json() == {"object": "result", "data": "Theirs"}
        assert_fault(former.get(f"exports/{mine['_id']}"), "cortex.notFound.instance", 404)
        assert_fault(former.get(f"exports/{theirs['_id']}/dataFile/content"), "cortex.accessDenied.unspecified", 403)
    assert ids(client.get("exports")) == [theirs["_id"], mine["_id"]]  # administrators read every export


def test_put_and_patch_change_label_and_description_only(study):
    client = study.client
    export = create(client)
    changed = client.put(f"exports/{export['_id']}", json={"label": "Renamed", "description": "Now described"})
    assert changed.status_code == 200, changed.text
    assert changed.json()["label"] == "Renamed" and changed.json()["description"] == "Now described"
    assert changed.json()["updated"] >= export["created"]

    patched = client.request("PATCH", f"exports/{export['_id']}", json=[
        {"op": "set", "path": "label", "value": "Patched"}, {"op": "unset", "path": "description"}])
    assert patched.status_code == 200, patched.text
    assert patched.json()["label"] == "Patched" and "description" not in patched.json()
    whole = client.request("PATCH", f"exports/{export['_id']}", json=[{"op": "$set", "value": {"description": "D"}}])
    assert whole.json()["description"] == "D" and whole.json()["label"] == "Patched"
    as_form = client.put(f"exports/{export['_id']}", content=b"label=From+a+form",
                         headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert as_form.status_code == 200 and as_form.json()["label"] == "From a form"
    client.put(f"exports/{export['_id']}", json={"label": "Patched"})

    refused = client.put(f"exports/{export['_id']}", json={"label": "ok", "format": "text/csv", "state": "ready",
                                                           "c_bogus": 1})
    fault = assert_fault(refused, "cortex.invalidArgument.validation", 400)
    assert {(child["path"], child["errCode"]) for child in fault["faults"]} == {
        ("format", "cortex.invalidArgument.creatableOnly"), ("state", "cortex.accessDenied.propertyUpdate"),
        ("c_bogus", "cortex.notFound.property")}
    fault = assert_fault(client.put(f"exports/{export['_id']}", json={"label": ""}),
                         "cortex.invalidArgument.validation", 400)
    assert fault["faults"][0]["path"] == "label"
    for operations, path in [([{"op": "set", "path": "paths", "value": ["c_name"]}], "paths"),
                             ([{"op": "push", "path": "label", "value": "x"}], "[0].op"),
                             ([{"op": "unset", "path": "label"}], "label")]:
        response = client.request("PATCH", f"exports/{export['_id']}", json=operations)
        body = response.json()
        assert response.status_code == 400 or response.status_code == 403, body
        assert body["object"] == "fault" and body["index"] == 0, body
        assert path in [body.get("path"), *(child["path"] for child in body.get("faults", []))], body
    again = client.get(f"exports/{export['_id']}").json()
    assert again["label"] == "Patched" and again["description"] == "D" and again["format"] == export["format"]
    assert_fault(client.put("exports/000000000000000000000099", json={"label": "x"}), "cortex.notFound.instance", 404)


def test_property_paths_answer_result_envelopes(study, worker):
    client = study.client
    export = create(client, paths=["c_number", "c_name"])
    assert client.get(f"exports/{export['_id']}/state").json() == {"object": "result", "data": "pending"}
    run_all(worker)
    assert client.get(f"exports/{export['_id']}/stats/docs/count").json() == {"object": "result", "data": 40}
    assert client.get(f"exports/{export['_id']}/paths").json() == {"object": "list", "data": ["c_number", "c_name"],
                                                                  "hasMore": False}
    assert client.get(f"exports/{export['_id']}/creator/path").json()["data"] == \
        f"/accounts/{study.platform.admin['id']}"
    assert client.get(f"exports/{export['_id']}/events").json()["object"] == "list"
    assert_fault(client.get(f"exports/{export['_id']}/nothing"), "cortex.notFound.property", 404)
    assert_fault(client.get(f"exports/{export['_id']}/stats/nothing"), "cortex.notFound.property", 404)
    assert_fault(client.get("exports/000000000000000000000099/state"), "cortex.notFound.instance", 404)
    me = client.get("accounts/me/name").json()
    assert me["object"] == "result" and me["data"] == {"first": "Ada", "last": "Admin"}


def test_a_form_encoded_create_works_like_json(study, worker):
    form = ("label=My+Export&format=text%2Fcsv&objects=c_patients&paths%5B%5D=_id&paths%5B%5D=c_number"
            "&csv%5Bbom%5D=true&exportFiles=false&where=%7B%22c_score%22%3A%7B%22%24gte%22%3A50%7D%7D")
    response = study.client.post("exports", content=form.encode(),
                                 headers={"Content-Type": "application/x-www-form-urlencoded; charset=UTF-8"})
    assert response.status_code == 200, response.text
    export = response.json()
    assert export["label"] == "My Export" and export["paths"] == ["_id", "c_number"]
    assert export["csv"]["bom"] is True and export["exportFiles"] is False
    assert export["where"] == '{"c_score":{"$gte":50}}'
    run_all(worker)
    text = download_zip(study.client, export["_id"]).read(f"export-{export['created'].replace(':', '_')}.csv")
    assert text.startswith(b"\xef\xbb\xbf_id,c_number,object\n")  # _id and object always come along

    bad = ("label=x&objects=c_patients&exportFiles=yes&csv%5Bbom%5D=1&format=text%2Fcsv"
           "&where%5Bc_score%5D=50")
    fault = assert_fault(study.client.post("exports", content=bad.encode(),
                                           headers={"Content-Type": "application/x-www-form-urlencoded"}),
                         "cortex.invalidArgument.validation", 400)
    assert {child["path"] for child in fault["faults"]} == {"exportFiles", "csv.bom", "where"}
    twice = assert_fault(study.client.post("exports", content=b"label=a&label=b&objects=c_patients",
                                           headers={"Content-Type": "application/x-www-form-urlencoded"}),
                         "cortex.invalidArgument.unspecified", 400)
    assert twice["path"] == "label"


def test_download_name_facets_and_faults(study, worker, platform):
    client = study.client
    export = create(client, format="text/csv")
    pending = assert_fault(client.get(f"exports/{export['_id']}/dataFile/content"), "cortex.accepted.mediaNotReady",
                           202)
    assert pending["path"] == f"/exports/{export['_id']}/dataFile/content"
    run_all(worker)
    response = client.get(f"exports/{export['_id']}/dataFile/content")
    ready = client.get(f"exports/{export['_id']}").json()
    assert ready["dataFile"]["filename"].endswith(".csv")  # the facet as Cortex shows it
    assert response.headers["content-disposition"] == f'attachment; filename="{ready["dataFile"]["filename"]}.zip"'
    assert response.content[:2] == b"PK"
    facet = client.get(f"exports/{export['_id']}/dataFile").json()
    as_json = client.get(f"exports/{export['_id']}/dataFile/content", headers={"Accept": "application/json"}).json()
    assert facet["object"] == as_json["object"] == "facet" and facet["url"] and "object" not in ready["dataFile"]

    failed = create(client)
    client.post(f"exports/{failed['_id']}/cancel", json={})
    for path in (f"exports/{failed['_id']}/dataFile/content", f"exports/{failed['_id']}/dataFile"):
        fault = assert_fault(client.get(path), "cortex.error.exportFailed", 409)
        assert fault["faults"][0]["errCode"] == "cortex.error.aborted" and "cortex.error.aborted" in fault["reason"]
    assert_fault(client.get(f"exports/{failed['_id']}/dataFile/content", headers={"Accept": "application/json"}),
                 "cortex.error.exportFailed", 409)

    # Past expiresAt the archive is not served, though the reaper has not run yet.
    with platform.runtime.database.begin() as connection:
        connection.execute(exports.update().where(exports.c.id == export["_id"])
                           .values(expires_at=utcnow() - timedelta(seconds=1)))
    assert_fault(client.get(f"exports/{export['_id']}/dataFile/content"), "cortex.expired.export", 410)
    assert_fault(client.get(f"exports/{export['_id']}/dataFile/content", headers={"Accept": "application/json"}),
                 "cortex.expired.export", 410)
    parts = urlsplit(facet["url"])
    assert_fault(study.client.http.get(f"{parts.path}?{parts.query}"), "cortex.expired.export", 410)


def test_an_export_that_failed_is_not_waited_for(study, worker, platform):
    with platform.runtime.database.begin() as connection:
        from opencortex.store.tables import orgs

        connection.execute(orgs.update().where(orgs.c.id == platform.org["id"])
                           .values(settings={"storageLimitBytes": 100}))
    export = create(study.client)
    run_all(worker)
    fault = assert_fault(study.client.get(f"exports/{export['_id']}/dataFile/content"), "cortex.error.exportFailed",
                         409)
    assert "storage" in fault["faults"][0]["errCode"]


def export_folders(platform) -> list[str]:
    """What the store holds under ``exports/`` (on the local folder, its folders too: none may be
    left empty)."""
    stored = sorted(key.removeprefix("exports/") for key in platform.runtime.file_store.list_keys("exports/"))
    root = platform.runtime.settings.data_dir / "files" / "exports"
    if root.exists():
        folders = sorted(str(path.relative_to(root)) for path in root.rglob("*") if path.is_dir())
        return sorted(stored + folders)
    return stored


def test_deleted_cancelled_and_failed_exports_leave_no_folders(study, worker, platform):
    client = study.client
    done = create(client)
    run_all(worker)
    archive = f"{done['_id']}/1/archive.zip"
    local = (platform.runtime.settings.data_dir / "files" / "exports").exists()
    assert export_folders(platform) == ([done["_id"], f"{done['_id']}/1", archive] if local else [archive])
    client.delete(f"exports/{done['_id']}")
    assert export_folders(platform) == []

    from opencortex.exports.queue import claim_next_export

    running = create(client)
    database = platform.runtime.database
    with database.begin() as connection:
        job = claim_next_export(connection, database.dialect, worker.worker_id, 30)
    client.post(f"exports/{running['_id']}/cancel", json={})
    worker.run_job(job)
    assert client.get(f"exports/{running['_id']}").json()["state"] == "error"
    assert export_folders(platform) == []

    deleted_while_running = create(client)
    with database.begin() as connection:
        job = claim_next_export(connection, database.dialect, worker.worker_id, 30)
    client.delete(f"exports/{deleted_while_running['_id']}")
    worker.run_job(job)
    assert export_folders(platform) == []

    with database.begin() as connection:
        from opencortex.store.tables import orgs

        connection.execute(orgs.update().where(orgs.c.id == platform.org["id"])
                           .values(settings={"storageLimitBytes": 100}))
    create(client)
    run_all(worker)
    assert export_folders(platform) == []


@pytest.mark.parametrize("path", ["exports/", "exports//"])
def test_a_trailing_slash_answers_as_without_it(study, path):
    export = create(study.client)
    response = study.client.get(path)
    assert response.status_code == 200 and "location" not in response.headers
    assert ids(response) == [export["_id"]]
    one = study.client.get(f"exports/{export['_id']}/")
    assert one.status_code == 200 and one.json()["_id"] == export["_id"]
    created = study.client.post(path, json={"label": "Slash", "objects": "c_patients"})
    assert created.status_code == 200 and created.json()["label"] == "Slash"
