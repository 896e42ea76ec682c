"""One structured log line per export lifecycle event, from wherever the transition happens, with
ids, counts and codes, and never a label, a description, a where, a script or a document value."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from opencortex.acl.viewer import Viewer
from opencortex.clock import utcnow
from opencortex.exports import operations, scheduling
from opencortex.exports.queue import claim_next_export
from opencortex.exports.reaper import reap_expired_exports
from opencortex.exports.worker import ExportWorker
from opencortex.instances.service import Instances
from opencortex.logging_setup import JsonLinesFormatter, configure_logging, log_event, uvicorn_log_config
from opencortex.model.objects import find_object
from opencortex.settings import Settings
from opencortex.store.tables import export_schedules, exports, orgs
from tests.instances.conftest import load_study

MARKER = "MARKER-7f3a9c"
ORG_FIELDS = {"event", "export", "org", "state", "time", "level", "logger"}


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    """The root logger as ``serve`` and ``worker`` set it up in JSON mode, writing to a buffer."""
    root = logging.getLogger()
    level = root.level
    stream = io.StringIO()
    handler = configure_logging(Settings(log_format="json", log_level="debug"), stream)
    yield stream
    root.removeHandler(handler)
    root.setLevel(level)


def events(stream: io.StringIO, export_id: str | None = None) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]  # every line is JSON
    return [line for line in lines if line.get("event", "").startswith("export.")
            and (export_id is None or line["export"] == export_id)]


def body(label: str, **extra: Any) -> dict[str, Any]:
    return {"label": f"{label} {MARKER}", "description": f"secret plans {MARKER}", "objects": "c_patients",
            "where": json.dumps({"$or": [{"c_number": {"$gte": ""}}, {"c_number": MARKER}]}),
            "paths": ["c_number", "c_notes"],
            "afterScript": f"// {MARKER}\nconsole.log('{MARKER}')", **extra}


def test_an_export_logs_each_step_of_its_life_as_json(platform, captured):
    _, patient_ids = load_study(platform, 5)
    runtime, org, admin = platform.runtime, platform.org, platform.admin["id"]
    with runtime.database.begin() as connection:  # a document value that must never reach the logs
        definition = find_object(connection, org["id"], "c_patient")
        assert definition is not None
        viewer = Viewer(org["id"], admin, frozenset(platform.admin["roles"]))
        Instances(connection, runtime.database.dialect, org["id"], definition, viewer).update(
            patient_ids[0], {"c_notes": f"notes {MARKER}"})

    worker = ExportWorker(runtime, concurrency=1)
    finished = operations.create(runtime, org, admin, body("finished"))
    assert worker.run_once()
    cancelled = operations.create(runtime, org, admin, body("cancelled while pending"))
    operations.cancel(runtime, org["id"], cancelled.id, principal=admin)
    deleted = operations.create(runtime, org, admin, body("deleted"))
    assert worker.run_once()
    operations.delete(runtime, org["id"], deleted.id, principal=admin)

    # Stopped while running: the worker ends it and says so.
    stopped = operations.create(runtime, org, admin, body("cancelled while running"))
    with runtime.database.begin() as connection:
        job = claim_next_export(connection, runtime.database.dialect, worker.worker_id, 30)
    assert job is not None and job.id == stopped.id
    operations.cancel(runtime, org["id"], stopped.id, principal=admin)
    worker.run_job(job)

    # A worker dies: its lease runs out, another reclaims the export and runs it again.
    reclaimed = operations.create(runtime, org, admin, body("reclaimed"))
    with runtime.database.begin() as connection:
        assert claim_next_export(connection, runtime.database.dialect, "dead-worker", 30) is not None
        connection.execute(exports.update().where(exports.c.id == reclaimed.id)
                           .values(lease_expires=utcnow() - timedelta(seconds=1)))
    assert worker.run_once()

    # Fails: the org's storage is full.
    with runtime.database.begin() as connection:
        connection.execute(orgs.update().where(orgs.c.id == org["id"]).values(settings={"storageLimitBytes": 10}))
    failed = operations.create(runtime, org, admin, body("failed"))
    assert worker.run_once()

    # Expires.
    with runtime.database.begin() as connection:
        connection.execute(exports.update().where(exports.c.id == finished.id)
                           .values(expires_at=utcnow() - timedelta(minutes=1)))
    assert reap_expired_exports(runtime) == 1

    org_id = org["id"]
    names = {export_id: [line["event"] for line in events(captured, export_id)] for export_id in
             (finished.id, cancelled.id, deleted.id, stopped.id, reclaimed.id, failed.id)}
    assert names == {
        finished.id: ["export.queued", "export.started", "export.finished", "export.expired"],
        cancelled.id: ["export.queued", "export.cancelled"],
        deleted.id: ["export.queued", "export.started", "export.finished", "export.deleted"],
        stopped.id: ["export.queued", "export.started", "export.cancelled"],
        reclaimed.id: ["export.queued", "export.reclaimed", "export.started", "export.finished"],
        failed.id: ["export.queued", "export.started", "export.failed"],
    }
    for line in events(captured):
        assert set(line) >= ORG_FIELDS and line["org"] == org_id and line["logger"] == "opencortex.exports"

    queued, started, done, expired = events(captured, finished.id)
    assert queued["state"] == "pending" and queued["objects"] == "c_patients" and queued["level"] == "INFO"
    assert queued["format"] == "application/x-ndjson"
    assert started["state"] == "running" and started["attempt"] == 1 and started["worker"] == worker.worker_id
    assert done["state"] == "ready" and done["docs"] == 5 and done["bytes"] > 0 and done["durationMs"] >= 0
    assert done["attempt"] == 1 and done["worker"] == worker.worker_id
    assert expired["state"] == "ready"

    pending_cancel = events(captured, cancelled.id)[-1]
    assert pending_cancel["state"] == "error" and pending_cancel["errCode"] == "cortex.error.aborted"
    assert "worker" not in pending_cancel
    running_cancel = events(captured, stopped.id)[-1]
    assert running_cancel["errCode"] == "cortex.error.aborted" and running_cancel["worker"] == worker.worker_id
    assert running_cancel["durationMs"] >= 0 and running_cancel["attempt"] == 1

    lost, again, _ = events(captured, reclaimed.id)[1:]
    assert lost["worker"] == "dead-worker" and lost["attempt"] == 1 and lost["state"] == "pending"
    assert lost["level"] == "WARNING" and again["attempt"] == 2 and lost["reason"] == "leaseExpired"

    refused = events(captured, failed.id)[-1]
    assert refused["state"] == "error" and refused["errCode"] == "cortex.tooLarge.storageLimit"
    assert refused["level"] == "WARNING" and refused["durationMs"] >= 0

    assert events(captured, deleted.id)[-1]["state"] == "ready"
    # Nothing the exports were told or read: no label, description, where, script or value.
    assert MARKER not in captured.getvalue()
    assert "secret plans" not in captured.getvalue() and "c_number" not in captured.getvalue()


def test_a_schedules_export_logs_its_queueing_like_one_made_through_the_api(platform, captured):
    load_study(platform, 3)
    runtime, org = platform.runtime, platform.org
    schedule = scheduling.create(runtime, org, platform.admin["id"], {
        "name": f"Nightly {MARKER}", "cron": "0 2 * * *",
        "template": {"label": f"Scheduled {MARKER}", "objects": "c_patients", "format": "text/csv"}})
    with runtime.database.begin() as connection:  # its tick has come
        connection.execute(export_schedules.update().where(export_schedules.c.id == schedule.id)
                           .values(next_run=utcnow() - timedelta(minutes=1)))
    [made] = scheduling.run_due_schedules(runtime)
    [queued] = events(captured, made.id)
    assert queued["event"] == "export.queued" and queued["state"] == "pending" and queued["org"] == org["id"]
    assert (queued["objects"], queued["format"], queued["schedule"]) == ("c_patients", "text/csv", schedule.id)
    assert queued["level"] == "INFO" and MARKER not in captured.getvalue()

    assert ExportWorker(runtime, concurrency=1).run_once()
    assert [line["event"] for line in events(captured, made.id)] == ["export.queued", "export.started",
                                                                      "export.finished"]


def test_text_lines_by_default_and_json_lines_on_request():
    record_text, record_json = io.StringIO(), io.StringIO()
    log = logging.getLogger("opencortex.test.lines")
    root = logging.getLogger()
    level = root.level
    try:
        configure_logging(Settings(), record_text)
        log_event(log, "export.queued", export="e1", org="o1", docs=None)
        log.warning("plain %s", "words")
        configure_logging(Settings(log_format="json"), record_json)  # replaces the handler: no double lines
        log_event(log, "export.queued", export="e1", org="o1")
        try:
            raise RuntimeError("boom")
        except RuntimeError:
            log.exception("it broke")
    finally:
        for handler in [handler for handler in root.handlers if handler.get_name() == "opencortex"]:
            root.removeHandler(handler)
        root.setLevel(level)
    text = record_text.getvalue().splitlines()
    assert text[0].endswith("INFO opencortex.test.lines: export.queued export=e1 org=o1")
    assert text[1].endswith("WARNING opencortex.test.lines: plain words") and len(text) == 2
    event, failure = (json.loads(line) for line in record_json.getvalue().splitlines())
    assert event["event"] == "export.queued" and event["export"] == "e1" and "message" not in event
    assert event["time"].endswith("Z") and event["level"] == "INFO"
    assert failure["message"] == "it broke" and "RuntimeError: boom" in failure["exception"]


def test_log_settings_are_checked_and_uvicorn_writes_json_too():
    with pytest.raises(ValueError, match="OPENCORTEX_LOG_FORMAT"):
        Settings.from_env({"OPENCORTEX_LOG_FORMAT": "xml"})
    with pytest.raises(ValueError, match="OPENCORTEX_LOG_LEVEL"):
        Settings(log_level="chatty")
    assert Settings.from_env({"OPENCORTEX_LOG_LEVEL": "warning"}).log_level == "warning"
    base = {"version": 1, "formatters": {"default": {"fmt": "%(message)s"}, "access": {"fmt": "%(message)s"}}}
    assert uvicorn_log_config(base, Settings()) == base
    changed = uvicorn_log_config(base, Settings(log_format="json"))
    assert changed["formatters"] == {name: {"()": "opencortex.logging_setup.JsonLinesFormatter"}
                                     for name in ("default", "access")}
    record = logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s"', ("1.2.3.4", "GET", "/x"),
                               None)
    assert json.loads(JsonLinesFormatter().format(record))["message"] == '1.2.3.4 - "GET /x"'
