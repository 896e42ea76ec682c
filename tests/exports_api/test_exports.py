"""The Export API in-process: create, run (a real worker claims it), download, verify."""

from __future__ import annotations

import csv
import hashlib
import io
import json

import orjson
import pytest
import sqlalchemy as sa

from opencortex.exports.verify import verify_archive
from opencortex.store.tables import exports
from tests.exports_api.conftest import download_zip, run_all
from tests.support.platform import CortexClient, assert_fault


def create(client: CortexClient, **body):
    response = client.post("exports", json={"label": "Patients", "objects": "c_patients", **body})
    assert response.status_code == 200, response.text
    return response.json()


def test_ndjson_export_matches_the_read_api(study, worker, tmp_path):
    export = create(study.client)
    assert export["state"] == "pending" and export["object"] == "export" and export["format"] == "application/x-ndjson"
    assert_fault(study.client.get(f"exports/{export['_id']}/dataFile/content"), "cortex.accepted.mediaNotReady", 202)
    assert run_all(worker) == 1
    ready = study.client.get(f"exports/{export['_id']}?include[]=events").json()
    assert ready["state"] == "ready", ready
    assert ready["stats"]["docs"]["count"] == 40
    assert ready["dataFile"]["mime"] == "application/zip" and ready["dataFile"]["state"] == 2
    assert ready["dataFile"]["path"] == f"/exports/{export['_id']}/dataFile/content"
    assert [event["name"] for event in ready["events"]][:4] == ["queued", "started", "cursor.started",
                                                                 "cursor.completed"]
    archive = download_zip(study.client, export["_id"])
    name = "export-" + export["created"].replace(":", "_") + ".ndjson"
    assert archive.namelist() == [name, "manifest.sig", "manifest.json"]
    lines = archive.read(name).split(b"\n")
    assert not archive.read(name).endswith(b"\n")
    documents = [orjson.loads(line) for line in lines]
    assert [doc["_id"] for doc in documents] == study.patient_ids  # creation order
    assert documents[5] == study.client.get(f"c_patients/{study.patient_ids[5]}").json()

    raw = study.client.get(f"exports/{export['_id']}/dataFile/content").content
    assert hashlib.sha256(raw).hexdigest() == ready["sha256"]
    path = tmp_path / "archive.zip"
    path.write_bytes(raw)
    assert verify_archive(path).ok
    manifest = json.loads(archive.read("manifest.json"))
    assert manifest["entries"][0]["records"] == 40


def test_json_and_csv_formats(study, worker):
    as_json = create(study.client, format="application/json", paths=["c_number", "c_name"])
    as_csv = create(study.client, format="text/csv", paths=["c_number", "c_tags", "c_visits"],
                    csv={"bom": True, "formulaGuard": True, "dictionary": True})
    run_all(worker)
    archive = download_zip(study.client, as_json["_id"])
    body = archive.read(archive.namelist()[0])
    assert body.startswith(b"[\n") and body.endswith(b"\n]")
    parsed = orjson.loads(body)
    assert len(parsed) == 40 and set(parsed[0]) == {"_id", "object", "c_number", "c_name"}

    archive = download_zip(study.client, as_csv["_id"])
    names = archive.namelist()
    assert names[0].endswith(".csv") and "dictionary.csv" in names and names[-1] == "manifest.json"
    text = archive.read(names[0]).decode("utf-8")
    assert text.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    assert rows[0][0] == "_id" and rows[0][1:] == sorted(rows[0][1:])
    assert len(rows) == 41
    assert any(column.startswith("c_visits[0].") for column in rows[0])


def test_where_paths_expand_and_principal(study, worker, platform):
    where = json.dumps({"c_score": {"$gte": 50}})
    filtered = create(study.client, where=where, expand=["c_site"], paths=["c_score", "c_site"])
    as_provider = create(study.client, principal=platform.provider["email"], paths=["c_number"])
    run_all(worker)
    documents = [orjson.loads(line) for line in
                 download_zip(study.client, filtered["_id"]).read(_data_name(filtered)).split(b"\n") if line]
    expected = study.client.get("c_patients", params={"where": where, "limit": "1000"}).json()["data"]
    assert sorted(doc["_id"] for doc in documents) == sorted(doc["_id"] for doc in expected)
    assert all(doc["c_score"] >= 50 and doc["c_site"]["c_name"] for doc in documents)

    provider_view = CortexClient(study.client.http, platform.code, platform.session_app.key)
    provider_docs = download_zip(study.client, as_provider["_id"]).read(_data_name(as_provider))
    ready = study.client.get(f"exports/{as_provider['_id']}").json()
    assert ready["state"] == "ready" and ready["principal"] == platform.provider["id"]
    assert provider_view is not None and provider_docs.count(b"\n") + 1 == 40


def _data_name(export):
    return "export-" + export["created"].replace(":", "_") + ".ndjson"


@pytest.mark.parametrize("body, path", [
    ({"label": ""}, "label"),
    ({"label": "x" * 101}, "label"),
    ({"description": "x" * 256}, "description"),
    ({"objects": "accounts"}, "objects"),
    ({"objects": "c_nothing"}, "objects"),
    ({"format": "text/plain"}, "format"),
    ({"paths": ["c_nothing"]}, "paths[0]"),
    ({"paths": [f"c_{i}" for i in range(101)]}, "paths"),
    ({"where": json.dumps({"c_notes": "x"})}, "where"),
    ({"where": "{" + " " * 1030 + "}"}, "where"),
    ({"prefix": "0123456789abcdef01234567.c_patients"}, "prefix"),
    ({"principal": "nobody@nowhere.test"}, "principal"),
    ({"afterScript": "x" * (50 * 1024 + 1)}, "afterScript"),
    ({"exportFiles": "yes"}, "exportFiles"),
    ({"bogus": 1}, "bogus"),
])
def test_create_validation(study, body, path):
    """Cortex's validation fault (kValidationError), its child naming the failing property; the
    child used to be the top fault itself, which could only ever name one property."""
    response = study.client.post("exports", json={"label": "L", "objects": "c_patients", **body})
    fault = assert_fault(response, "cortex.invalidArgument.validation", 400, "kValidationError")
    assert [child["path"] for child in fault["faults"]] == [path], fault
    assert 400 <= fault["faults"][0]["status"] < 500 and fault["faults"][0]["object"] == "fault"
    assert study.client.get("exports").json()["data"] == []


def test_create_validation_names_every_failing_property(study):
    body = {"label": "", "objects": "c_patients", "format": "text/plain", "paths": ["c_number", "c_nothing"],
            "include": ["c_nope"], "where": json.dumps({"c_notes": "x"}), "exportFiles": "yes",
            "afterScript": "logger.info(", "bogus": 1}
    fault = assert_fault(study.client.post("exports", json=body), "cortex.invalidArgument.validation", 400)
    by_path = {child["path"]: child for child in fault["faults"]}
    assert set(by_path) == {"bogus", "label", "format", "paths[1]", "include[0]", "where", "exportFiles",
                            "afterScript"}
    assert by_path["label"]["errCode"] == "cortex.invalidArgument.invalidString"
    assert by_path["format"]["errCode"] == "cortex.invalidArgument.enumValue"
    assert by_path["where"]["errCode"] == "cortex.invalidArgument.query" and "c_notes" in by_path["where"]["reason"]
    assert "c_nothing" in by_path["paths[1]"]["reason"]
    assert by_path["afterScript"]["errCode"] == "cortex.invalidArgument.scriptCompile"
    missing = assert_fault(study.client.post("exports", json={}), "cortex.invalidArgument.validation", 400)
    assert {(child["path"], child["errCode"]) for child in missing["faults"]} == {
        ("label", "cortex.invalidArgument.required"), ("objects", "cortex.invalidArgument.required")}
    not_an_object = assert_fault(study.client.post("exports", json=[1]), "cortex.invalidArgument.unspecified", 400)
    assert not_an_object["path"] == "body"
    assert study.client.get("exports").json()["data"] == []


def test_reads_follow_the_export_acl_and_the_rest_is_for_administrators(study, platform, http):
    """Non-administrators list (and read) what the export's ACL lets them read: their own, so none
    when they never could create one; create, change, cancel, delete and download stay
    administrators-only. (The list and the reads used to answer 403.)"""
    export = create(study.client)
    from fastapi.testclient import TestClient

    with TestClient(http.app) as other:
        provider = CortexClient(other, platform.code, platform.session_app.key)
        provider.login(platform.provider["email"])
        assert provider.get("exports").json() == {"object": "list", "data": [], "hasMore": False}
        assert provider.get("exports?total=true").json()["total"] == 0
        assert_fault(provider.get(f"exports/{export['_id']}"), "cortex.notFound.instance", 404)
        assert_fault(provider.get(f"exports/{export['_id']}/state"), "cortex.notFound.instance", 404)
        for method, path in [("POST", "exports"), ("DELETE", f"exports/{export['_id']}"),
                             ("PUT", f"exports/{export['_id']}"), ("PATCH", f"exports/{export['_id']}"),
                             ("POST", f"exports/{export['_id']}/cancel"),
                             ("GET", f"exports/{export['_id']}/dataFile/content")]:
            response = provider.request(method, path, json=[] if method == "PATCH" else {} if method != "GET"
                                        else None)
            assert_fault(response, "cortex.accessDenied.unspecified", 403)
    assert study.client.get(f"exports/{export['_id']}").json()["label"] == "Patients"  # nothing changed


def test_cancel_pending_and_delete(study, worker, platform):
    export = create(study.client)
    cancelled = study.client.post(f"exports/{export['_id']}/cancel", json={}).json()
    assert cancelled["state"] == "error" and cancelled["fault"]["errCode"] == "cortex.error.aborted"
    assert run_all(worker) == 0  # an errored export is never run

    done = create(study.client)
    run_all(worker)
    assert study.client.get("stats/storage").status_code in (200, 404)
    assert study.client.delete(f"exports/{done['_id']}").json() == {"object": "result", "data": True}
    assert_fault(study.client.get(f"exports/{done['_id']}"), "cortex.notFound.instance", 404)

    store = platform.runtime.file_store
    assert list(store.list_keys(f"exports/{done['_id']}/")) == []


def test_cancel_a_running_export_stops_it(study, worker, platform):
    export = create(study.client)
    database = platform.runtime.database
    with database.begin() as connection:
        from opencortex.exports.queue import claim_next_export

        job = claim_next_export(connection, database.dialect, worker.worker_id, 30)
    study.client.post(f"exports/{export['_id']}/cancel", json={})
    worker.run_job(job)
    ended = study.client.get(f"exports/{export['_id']}?include[]=events").json()
    assert ended["state"] == "error" and ended["fault"]["errCode"] == "cortex.error.aborted"
    assert ended["events"][-1]["name"] == "aborted"


def test_quota_refusal(study, worker, platform):
    from opencortex.store.tables import orgs

    with platform.runtime.database.begin() as connection:
        connection.execute(orgs.update().where(orgs.c.id == platform.org["id"])
                           .values(settings={"storageLimitBytes": 100}))
    export = create(study.client)
    run_all(worker)
    ended = study.client.get(f"exports/{export['_id']}").json()
    assert ended["state"] == "error"
    assert "storage" in ended["fault"]["errCode"].lower() + ended["fault"]["message"].lower()


def test_per_org_order_and_lease_reclaim(study, worker, platform):
    from datetime import timedelta

    from opencortex.clock import utcnow
    from opencortex.exports.queue import claim_next_export, reclaim_expired_leases

    first, second = create(study.client), create(study.client)
    database = platform.runtime.database
    with database.begin() as connection:
        job = claim_next_export(connection, database.dialect, "worker-a", 30)
        assert job.id == first["_id"]
        assert claim_next_export(connection, database.dialect, "worker-b", 30) is None  # one at a time per org
    with database.begin() as connection:
        connection.execute(exports.update().where(exports.c.id == first["_id"])
                           .values(lease_expires=utcnow() - timedelta(seconds=1)))
        assert [lost.id for lost in reclaim_expired_leases(connection)] == [first["_id"]]
        again = claim_next_export(connection, database.dialect, worker.worker_id, 30)
        assert again.id == first["_id"] and again.attempts == 2
    worker.run_job(again)
    run_all(worker)
    states = {row["_id"]: row["state"] for row in study.client.get("exports").json()["data"]}
    assert states == {first["_id"]: "ready", second["_id"]: "ready"}
    with database.connect() as connection:
        started = dict(connection.execute(sa.select(exports.c.id, exports.c.started)).all())
    assert started[first["_id"]] <= started[second["_id"]]


def test_signed_url_downloads_without_credentials(study, worker, http):
    export = create(study.client)
    run_all(worker)
    facet = study.client.get(f"exports/{export['_id']}/dataFile/content", headers={"Accept": "application/json"}).json()
    assert facet["url"].startswith("http")
    from urllib.parse import urlsplit

    parts = urlsplit(facet["url"])
    anonymous = http.get(f"{parts.path}?{parts.query}", headers={"Cookie": ""})
    assert anonymous.status_code == 200 and anonymous.content[:2] == b"PK"


def test_tampered_archive_is_detected(study, worker, platform):
    export = create(study.client)
    run_all(worker)
    files = platform.runtime.settings.data_dir / "files"
    stored = next(path for path in files.rglob("archive.zip"))
    data = bytearray(stored.read_bytes())
    data[len(data) // 2] ^= 0xFF
    stored.write_bytes(bytes(data))
    try:
        response = study.client.get(f"exports/{export['_id']}/dataFile/content")
    except Exception:  # the server aborted the stream mid-body: never the wrong bytes
        return
    assert response.status_code == 500 or len(response.content) < int(response.headers.get("content-length", 0))


def test_expired_exports_are_reaped(study, worker, platform):
    from datetime import timedelta

    from opencortex.clock import utcnow
    from opencortex.exports.reaper import reap_expired_exports

    kept, expiring = create(study.client), create(study.client)
    assert expiring["expiresAt"] > expiring["created"]
    run_all(worker)
    with platform.runtime.database.begin() as connection:
        connection.execute(exports.update().where(exports.c.id == expiring["_id"])
                           .values(expires_at=utcnow() - timedelta(minutes=1)))
    assert reap_expired_exports(platform.runtime) == 1
    assert_fault(study.client.get(f"exports/{expiring['_id']}"), "cortex.notFound.instance", 404)
    assert study.client.get(f"exports/{kept['_id']}").json()["state"] == "ready"
    store = platform.runtime.file_store
    assert list(store.list_keys(f"exports/{expiring['_id']}/")) == []


@pytest.mark.parametrize("zip_files", [True, False])
def test_export_files(study, worker, platform, zip_files):
    from opencortex.attachments.demo_images import attach_demo_images

    filled = attach_demo_images(platform.runtime, platform.org, instance_ids=study.patient_ids[:3])
    assert len(filled) == 3
    export = create(study.client, exportFiles=True, zipFiles=zip_files, paths=["c_number", "c_photo"])
    run_all(worker)
    ready = study.client.get(f"exports/{export['_id']}?include[]=events").json()
    assert ready["state"] == "ready", ready
    assert ready["stats"]["files"]["count"] == 3
    archive = download_zip(study.client, export["_id"])
    documents = [orjson.loads(line) for line in archive.read(archive.namelist()[0]).split(b"\n")]
    photos = [doc["c_photo"] for doc in documents if doc.get("c_photo")]
    assert len(photos) == 3 and all("storageId" not in photo for photo in photos)
    original = study.client.get(f"c_patients/{study.patient_ids[0]}/c_photo/content").content
    assert original[:8] == b"\x89PNG\r\n\x1a\n"
    if zip_files:
        names = [name for name in archive.namelist() if name.startswith("files/")]
        assert len(names) == 3 and names[0].startswith("files/0000000000.c_patients.")
        assert names[0].endswith(".png")
        assert sorted("/" + name for name in names) == sorted(photo["path"] for photo in photos)
        assert archive.read(names[0]) == original
        assert ready["stats"]["files"]["size"] == 0
    else:
        listed = study.client.get(f"exports/{export['_id']}/files").json()
        assert listed["object"] == "list" and len(listed["data"]) == 3
        assert all("key" not in facet and facet["object"] == "facet" for facet in listed["data"])
        one = study.client.get(f"exports/{export['_id']}/files/0000000000", headers={"Accept": "application/json"})
        assert one.json()["object"] == "facet" and one.json()["name"] == "0000000000"
        first = study.client.get(f"exports/{export['_id']}/files/0000000000")
        assert first.status_code == 200 and first.content == original
        assert ready["stats"]["files"]["size"] == sum(facet["size"] for facet in listed["data"])
        assert_fault(study.client.get(f"exports/{export['_id']}/files/12"), "cortex.invalidArgument.unspecified", 400)
        assert_fault(study.client.get(f"exports/{export['_id']}/files/0000000099"), "cortex.notFound.file", 404)
    assert "files.completed" in [event["name"] for event in ready["events"]]
