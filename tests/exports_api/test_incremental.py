"""``since``: what an incremental export holds (its documents, ``deleted.ndjson``, its manifest),
what it refuses at create, and what makes a run fail rather than write a wrong delta."""

from __future__ import annotations

import json
import time
from datetime import timedelta

import sqlalchemy as sa

from opencortex.acl.viewer import Viewer
from opencortex.clock import iso, utcnow
from opencortex.exports import operations, queue
from opencortex.exports.pipeline import run_export
from opencortex.exports.reaper import reap_tombstones
from opencortex.exports.verify import verify_archive
from opencortex.exports.worker import ExportWorker
from opencortex.instances.bulk import import_ndjson
from opencortex.instances.service import Instances
from opencortex.model.objects import get_object, update_object
from opencortex.store.tables import deleted_documents, deleted_documents_purged, exports
from tests.exports_api.conftest import run_all
from tests.exports_api.incremental_support import Items, archive, archive_bytes, contents, define, export, manifest
from tests.instances.conftest import load_study
from tests.support.platform import CortexClient, assert_fault


def _setup(platform, name: str = "c_item") -> tuple[Items, ExportWorker, list[str]]:
    define(platform, name)
    items = Items(platform, name)
    return items, ExportWorker(platform.runtime, concurrency=1), [
        items.create({"c_n": number, "c_tag": "a"}) for number in (1, 6, 8)]


def test_an_incremental_export_holds_what_changed_and_lists_what_was_deleted(platform, tmp_path):
    items, worker, (kept, changed, removed) = _setup(platform)
    full = export(platform, worker, objects="c_items")
    items.update(changed, {"c_n": 7})
    items.delete(removed)
    added = items.create({"c_n": 2, "c_tag": "b"})
    delta = export(platform, worker, objects="c_items", since=full.id)
    data, deleted = contents(platform, delta)
    assert sorted(document["_id"] for document in data) == sorted([changed, added])
    assert next(document for document in data if document["_id"] == changed)["c_n"] == 7
    assert len(deleted) == 1 and set(deleted[0]) == {"_id", "object", "deleted"}
    assert deleted[0]["_id"] == removed and deleted[0]["object"] == "c_item"
    assert deleted[0]["deleted"].endswith("Z") and deleted[0]["deleted"] <= iso(utcnow())
    assert delta.stats["docs"]["count"] == 2

    written = manifest(platform, delta)
    assert written["parameters"]["since"] == full.id
    assert written["changes"]["since"]["export"] == full.id
    assert written["changes"]["since"]["asOf"] == manifest(platform, full)["changes"]["asOf"]
    entry = next(entry for entry in written["entries"] if entry["name"] == "deleted.ndjson")
    assert entry["kind"] == "deleted" and entry["records"] == 1 and entry["format"] == "application/x-ndjson"
    assert written["totals"]["records"] == 2  # the documents; deletions are counted in their entry
    path = tmp_path / "delta.zip"
    path.write_bytes(archive_bytes(platform, delta))
    assert verify_archive(path).ok
    # A full export has no deleted.ndjson, and says it is not incremental.
    assert "deleted.ndjson" not in archive(platform, full).namelist()
    written = manifest(platform, full)
    assert written["changes"]["since"] is None and "since" not in written["parameters"]
    # Nothing changed since the delta: an empty delta, still with its (empty) deletions.
    again = export(platform, worker, objects="c_items", since=delta.id)
    assert contents(platform, again) == ([], [])
    assert kept not in {document["_id"] for document in data}


def test_the_api_shows_since_and_a_delta_of_a_delta_continues(platform, http):
    items, worker, (_kept, changed, _removed) = _setup(platform)
    client = CortexClient(http, platform.code, platform.session_app.key)
    client.login(platform.admin["email"])
    full = client.post("exports", json={"label": "Full", "objects": "c_items"}).json()
    run_all(worker)
    created = client.post("exports", json={"label": "Delta", "objects": "c_items", "since": full["_id"]})
    assert created.status_code == 200, created.text
    assert created.json()["since"] == full["_id"]
    run_all(worker)
    shown = client.get(f"exports/{created.json()['_id']}").json()
    assert shown["state"] == "ready" and shown["since"] == full["_id"] and "schedule" not in shown
    assert "since" not in client.get(f"exports/{full['_id']}").json()
    items.update(changed, {"c_n": 9})
    second = client.post("exports", json={"label": "Delta 2", "objects": "c_items", "since": shown["_id"]}).json()
    run_all(worker)
    job = queue_job(platform, second["_id"])
    assert [document["_id"] for document in contents(platform, job)[0]] == [changed]


def test_since_is_refused_where_a_delta_could_not_be_exact(platform, http):
    site_ids, _patients = load_study(platform, 3)
    client = CortexClient(http, platform.code, platform.session_app.key)
    client.login(platform.admin["email"])
    worker = ExportWorker(platform.runtime, concurrency=1)
    full = client.post("exports", json={"label": "Full", "objects": "c_patients"}).json()
    run_all(worker)
    failed = client.post("exports", json={"label": "Bad", "objects": "c_patients", "where": '{"c_score": 1}'}).json()
    with platform.runtime.database.begin() as connection:
        connection.execute(exports.update().where(exports.c.id == failed["_id"]).values(state="error"))
    admin = platform.admin["email"]
    cases = {
        "not a date": {"since": "yesterday"},
        "a number": {"since": 5},
        "previous outside a schedule": {"since": "previous"},
        "principal": {"since": full["_id"], "principal": admin},
        "a List prefix": {"since": full["_id"], "principal": admin, "prefix": f"{site_ids[0]}.c_patients",
                          "objects": "c_sites"},
        "expand": {"since": full["_id"], "expand": ["c_site"]},
        "a path through a reference": {"since": full["_id"], "paths": ["c_number", "c_site.c_name"]},
        "the Logs": {"since": full["_id"], "objects": "logs"},
        "an unknown export": {"since": "0" * 24},
        "another request": {"since": full["_id"], "where": '{"c_score": {"$gte": 1}}'},
        "another format": {"since": full["_id"], "format": "text/csv"},
        "a failed base": {"since": failed["_id"], "where": '{"c_score": 1}'},
        "a future date": {"since": iso(utcnow() + timedelta(days=1))},
    }
    for case, body in cases.items():
        response = client.post("exports", json={"label": "Delta", "objects": "c_patients", **body})
        fault = assert_fault(response, "cortex.invalidArgument.validation", 400)
        assert [child["path"] for child in fault["faults"]] == ["since"], (case, fault)
    # The same base, with what may differ: the label, the afterScript.
    accepted = client.post("exports", json={"label": "Other label", "objects": "c_patients", "since": full["_id"],
                                            "afterScript": "console.log('done')"})
    assert accepted.status_code == 200, accepted.text
    by_date = client.post("exports", json={"label": "Dated", "objects": "c_patients", "since": "2020-01-01"})
    assert by_date.status_code == 200 and by_date.json()["since"] == "2020-01-01T00:00:00.000Z"


def test_a_delta_after_the_object_definition_changed_fails_instead_of_guessing(platform):
    items, worker, _ids = _setup(platform)
    full = export(platform, worker, objects="c_items")
    with platform.runtime.database.begin() as connection:
        update_object(connection, platform.org["id"], "c_item", {"properties": [
            {"name": "c_extra", "label": "Extra", "type": "String"}]})
    delta = export(platform, worker, objects="c_items", since=full.id)
    assert delta.state.value == "error"
    assert delta.fault is not None and delta.fault["path"] == "since"
    assert "definition" in delta.fault["reason"] and "full export" in delta.fault["reason"]
    items.create({"c_n": 3, "c_tag": "a"})
    # A full export after the change is a base again.
    refreshed = export(platform, worker, objects="c_items")
    assert export(platform, worker, objects="c_items", since=refreshed.id).state.value == "ready"


def test_a_delta_whose_base_is_older_than_the_kept_deletions_fails(platform):
    _items, worker, _ids = _setup(platform)
    full = export(platform, worker, objects="c_items")
    with platform.runtime.database.begin() as connection:
        connection.execute(deleted_documents_purged.insert().values(org_id=platform.org["id"],
                                                                     purged_before=utcnow()))
    delta = export(platform, worker, objects="c_items", since=full.id)
    assert delta.state.value == "error" and delta.fault is not None and delta.fault["path"] == "since"
    assert "no longer recorded" in delta.fault["reason"]


def test_since_a_date_reads_created_updated_and_deleted_after_it(platform):
    items, worker, (kept, changed, removed) = _setup(platform)
    time.sleep(0.01)
    moment = iso(utcnow())
    time.sleep(0.01)
    items.update(changed, {"c_n": 0})
    items.delete(removed)
    added = items.create({"c_n": 4, "c_tag": "b"})
    data, deleted = contents(platform, export(platform, worker, objects="c_items", since=moment))
    assert sorted(document["_id"] for document in data) == sorted([changed, added])
    assert [line["_id"] for line in deleted] == [removed]
    assert kept not in {document["_id"] for document in data}


def test_an_instance_deleted_then_imported_again_is_data_not_a_deletion(platform):
    items, worker, (kept, _changed, _removed) = _setup(platform)
    full = export(platform, worker, objects="c_items")
    items.delete(kept)
    admin = Viewer(platform.org["id"], platform.admin["id"], frozenset(platform.admin["roles"]))
    line = json.dumps({"_id": kept, "c_n": 5, "c_tag": "again"}).encode()
    report = import_ndjson(platform.runtime.database, platform.org["id"], "c_item", admin, [line], keep_ids=True)
    assert report.committed
    data, deleted = contents(platform, export(platform, worker, objects="c_items", since=full.id))
    assert [document["_id"] for document in data] == [kept] and data[0]["c_tag"] == "again"
    assert deleted == []


def test_a_write_committed_after_the_base_was_read_is_in_the_next_delta(platform):
    """The race a ``since`` by time would lose: the write is stamped (and its ``updated`` set)
    before the base export reads, but commits after; the next delta has it."""
    items, worker, (_kept, late, _removed) = _setup(platform)
    runtime, org_id = platform.runtime, platform.org["id"]
    base = _queued(platform, "c_items")
    with runtime.database.begin() as connection:
        claimed = queue.claim_next_export(connection, runtime.database.dialect, "test-worker", 30)
    assert claimed is not None and claimed.id == base.id
    admin = Viewer(org_id, platform.admin["id"], frozenset(platform.admin["roles"]))
    with runtime.database.engine.connect() as writer:
        transaction = writer.begin()
        definition = get_object(writer, org_id, "c_item")
        Instances(writer, runtime.database.dialect, org_id, definition, admin).update(late, {"c_n": 99})
        outcome = run_export(runtime, claimed, lambda _progress: True)  # reads while the write is open
        transaction.commit()
    with runtime.database.begin() as connection:
        assert queue.finish_export(connection, base.id, "test-worker", stats=outcome.stats,
                                   data_file=outcome.data_file, sha256=outcome.sha256, files=None,
                                   progress={}, new_events=[], changes=outcome.changes)
    base = queue_job(platform, base.id)
    assert {document["_id"]: document["c_n"] for document in contents(platform, base)[0]}[late] == 6
    delta = export(platform, worker, objects="c_items", since=base.id)
    assert [(document["_id"], document["c_n"]) for document in contents(platform, delta)[0]] == [(late, 99)]


def _queued(platform, objects: str):
    body = {"label": "Base", "objects": objects}
    return operations.create(platform.runtime, platform.org, platform.admin["id"], body)


def queue_job(platform, export_id: str):
    with platform.runtime.database.connect() as connection:
        return queue.get_export(connection, platform.org["id"], export_id)


def test_tombstones_go_after_the_retention_but_stay_while_an_export_may_need_them(platform, http):
    items, worker, (first, second, _third) = _setup(platform)
    items.delete(first)
    items.delete(second)
    now = utcnow()
    base = export(platform, worker, objects="c_items")
    database, org_id = platform.runtime.database, platform.org["id"]
    with database.begin() as connection:
        for instance_id, days in ((first, 40), (second, 35)):
            connection.execute(deleted_documents.update().where(deleted_documents.c.id == instance_id)
                               .values(deleted=now - timedelta(days=days)))
        connection.execute(exports.update().where(exports.c.id == base.id).values(created=now - timedelta(days=36)))
    assert reap_tombstones(platform.runtime) == 1  # the export created 36 days ago keeps the one of 35 days
    assert _tombstones(platform) == [second]
    assert export(platform, worker, objects="c_items", since=base.id).state.value == "ready"
    operations.delete(platform.runtime, org_id, base.id, principal=None)
    assert reap_tombstones(platform.runtime) == 1 and _tombstones(platform) == []
    # Deletions older than what is kept cannot be listed: a since before that is refused.
    client = CortexClient(http, platform.code, platform.session_app.key)
    client.login(platform.admin["email"])
    response = client.post("exports", json={"label": "Old", "objects": "c_items",
                                            "since": iso(now - timedelta(days=31))})
    fault = assert_fault(response, "cortex.invalidArgument.validation", 400)
    assert fault["faults"][0]["path"] == "since" and "no longer recorded" in fault["faults"][0]["reason"]
    recent = client.post("exports", json={"label": "Recent", "objects": "c_items",
                                          "since": iso(now - timedelta(days=29))})
    assert recent.status_code == 200, recent.text


def _tombstones(platform) -> list[str]:
    with platform.runtime.database.connect() as connection:
        return [row[0] for row in connection.execute(sa.select(deleted_documents.c.id))]
