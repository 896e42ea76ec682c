"""An export's afterScript runs once after the job ends, and what it logs is read back from GET /logs."""

from __future__ import annotations

import json

from opencortex.ids import ANONYMOUS
from opencortex.store.tables import orgs
from tests.exports_api.conftest import run_all
from tests.logs.conftest import SEED_SCRIPT, Org


def event_names(export: dict) -> list[str]:
    return [event["name"] for event in export["events"]]


def completed_event(export: dict) -> dict:
    [completed] = [event for event in export["events"] if event["name"] == "afterScript.completed"]
    return dict(completed["event"])


def logs_of(org: Org, export_id: str, **params: str) -> list[dict]:
    response = org.logs(where=json.dumps({"src_id": export_id}), **params)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["object"] == "list"
    return list(body["data"])


def test_the_seed_script_logs_the_export_document(org, worker):
    export = org.export(afterScript=SEED_SCRIPT)
    assert run_all(worker) == 1
    ended = org.read_export(export["_id"])
    assert ended["state"] == "ready"
    assert event_names(ended)[-2:] == ["afterScript.started", "afterScript.completed"]
    assert completed_event(ended)["err"] is None

    records = logs_of(org, export["_id"], sort='{"_id": 1}')
    [logged] = [record for record in records
                if record["lvl"] == 2 and record["dat"].get("object") == "export"]
    document = logged["dat"]
    assert document["_id"] == export["_id"] and document["state"] == "ready"
    assert document["stats"]["docs"]["count"] == 3
    assert document["afterScript"] == SEED_SCRIPT.strip()
    admin_id = org.fixture.admin["id"]
    assert logged["object"] == "log" and logged["org"] == org.id
    assert logged["src"] == 6 and logged["src_id"] == export["_id"]
    assert logged["pid"] == admin_id and logged["oid"] == admin_id
    assert logged["err"] is None
    assert logged["trc"] and logged["trc"][0]["line"] == 2
    for key in ("beg", "end", "exp", "created"):
        assert logged[key].endswith("Z") and len(logged[key]) == 24, logged[key]
    assert logged["exp"] > logged["created"]
    assert set(logged) == {"_id", "object", "org", "req", "pid", "oid", "beg", "end", "src", "lvl", "dat",
                           "err", "trc", "sts", "src_id", "exp", "created"}

    # The run itself is one more record, after the logger's, at info.
    run = records[-1]
    assert run["lvl"] == 2 and run["dat"]["message"] == "afterScript ran." and run["dat"]["logs"] == 1
    assert len(records) == 2

    # Found by source too.
    by_source = org.logs(where=json.dumps({"src": 6, "lvl": 2})).json()["data"]
    assert logged["_id"] in [record["_id"] for record in by_source]


def test_after_a_failed_export_the_script_gets_its_fault(org, worker):
    with org.fixture.runtime.database.begin() as connection:
        connection.execute(orgs.update().where(orgs.c.id == org.id)
                           .values(settings={"storageLimitBytes": 10}))
    export = org.export(afterScript=SEED_SCRIPT)
    run_all(worker)
    ended = org.read_export(export["_id"])
    assert ended["state"] == "error"
    fault = ended["fault"]
    assert event_names(ended)[-3:] == ["error", "afterScript.started", "afterScript.completed"]
    assert completed_event(ended)["err"] is None  # the script itself ran fine

    records = logs_of(org, export["_id"], sort='{"_id": 1}')
    failure, logged, run = records
    # The export's failure is logged first, at error, with its fault.
    assert failure["lvl"] == 0 and failure["src"] == 6 and failure["err"] == fault
    assert failure["sts"] == fault["status"] and failure["pid"] == org.fixture.admin["id"]
    # Then what the script logged: script.arguments.err, the same fault.
    assert logged["lvl"] == 2 and logged["dat"] == fault
    assert run["lvl"] == 2 and run["err"] is None


def test_the_script_runs_as_the_export_principal(org, worker):
    provider = org.fixture.provider
    export = org.export(principal=provider["email"],
                        afterScript="require('logger').warn(script.principal, script.arguments.err)")
    run_all(worker)
    [logged] = [record for record in logs_of(org, export["_id"]) if record["lvl"] == 1]
    principal, err = logged["dat"]
    assert principal["_id"] == provider["id"] and principal["email"] == provider["email"]
    assert principal["roles"] == provider["roles"]
    assert err is None
    assert logged["pid"] == provider["id"] and logged["oid"] == org.fixture.admin["id"]

    anonymous = org.export(principal=ANONYMOUS, afterScript="require('logger').warn(script.principal)")
    run_all(worker)
    [logged] = [record for record in logs_of(org, anonymous["_id"]) if record["lvl"] == 1]
    assert logged["dat"] == {"_id": ANONYMOUS, "roles": []} and logged["pid"] == ANONYMOUS


def test_without_a_script_nothing_runs(org, worker):
    export = org.export()
    run_all(worker)
    ended = org.read_export(export["_id"])
    assert ended["state"] == "ready"
    assert not [name for name in event_names(ended) if name.startswith("afterScript")]
    assert logs_of(org, export["_id"]) == []


def test_a_cancelled_export_runs_its_script(org, worker, platform):
    from opencortex.exports.queue import claim_next_export

    export = org.export(afterScript="require('logger').error(script.arguments.err.errCode)")
    database = platform.runtime.database
    with database.begin() as connection:
        job = claim_next_export(connection, database.dialect, worker.worker_id, 30)
    org.client.post(f"exports/{export['_id']}/cancel", json={})
    worker.run_job(job)
    ended = org.read_export(export["_id"])
    assert ended["state"] == "error" and ended["fault"]["errCode"] == "cortex.error.aborted"
    assert event_names(ended)[-3:] == ["aborted", "afterScript.started", "afterScript.completed"]
    dats = [record["dat"] for record in logs_of(org, export["_id"]) if record["lvl"] == 0]
    assert "cortex.error.aborted" in dats


def test_a_logged_nul_character_is_stored(org, worker):
    """PostgreSQL's JSONB cannot hold \\u0000; the logs table uses JSON, which can."""
    export = org.export(afterScript="require('logger').info('a\\u0000b')")
    run_all(worker)
    assert "a\u0000b" in [record["dat"] for record in logs_of(org, export["_id"])]
