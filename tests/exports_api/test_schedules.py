"""Export schedules: the API, one export per tick however many workers race for it, a missed tick
run once, ``since: "previous"`` chains, retention, and ticks whose template no longer works."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from opencortex.clock import as_utc, utcnow
from opencortex.exports import operations, scheduling
from opencortex.exports.worker import ExportWorker
from opencortex.model.objects import delete_object
from opencortex.store.tables import accounts, export_schedules, exports
from tests.exports_api.incremental_support import Items, contents, define
from tests.support.platform import CortexClient, assert_fault

TEMPLATE = {"label": "Nightly items", "objects": "c_items", "format": "application/x-ndjson"}


@pytest.fixture
def client(platform, http) -> CortexClient:
    define(platform, "c_item")
    client = CortexClient(http, platform.code, platform.session_app.key)
    client.login(platform.admin["email"])
    return client


def _create(client: CortexClient, **body):
    response = client.post("exportSchedules", json={"name": "Nightly", "cron": "0 2 * * *", "template": TEMPLATE,
                                                    **body})
    assert response.status_code == 200, response.text
    return response.json()


def _due(platform, schedule_id: str, ago: timedelta = timedelta(minutes=1)) -> None:
    with platform.runtime.database.begin() as connection:
        connection.execute(export_schedules.update().where(export_schedules.c.id == schedule_id)
                           .values(next_run=utcnow() - ago))


def _made(platform, schedule_id: str) -> list[dict]:
    with platform.runtime.database.connect() as connection:
        return [dict(row) for row in connection.execute(
            sa.select(exports.c.id, exports.c.state, exports.c.label).where(exports.c.schedule_id == schedule_id)
            .order_by(exports.c.created)).mappings()]


def test_an_administrator_creates_lists_changes_and_deletes_schedules(client, platform):
    created = _create(client, timezone="Europe/Paris", retention=3)
    assert created["object"] == "exportSchedule" and created["name"] == "Nightly" and created["enabled"] is True
    assert created["cron"] == "0 2 * * *" and created["timezone"] == "Europe/Paris" and created["retention"] == 3
    assert created["template"] == TEMPLATE and created["creator"]["_id"] == platform.admin["id"]
    next_run = as_utc(_parse(created["nextRun"]))
    assert timedelta(0) < next_run - utcnow() <= timedelta(days=1)
    assert next_run.astimezone(ZoneInfo("Europe/Paris")).hour == 2 and "lastRun" not in created
    listed = client.get("exportSchedules").json()
    assert listed["object"] == "list" and [item["_id"] for item in listed["data"]] == [created["_id"]]
    assert client.get(f"exportSchedules/{created['_id']}").json() == created
    changed = client.put(f"exportSchedules/{created['_id']}", json={"cron": "*/15 * * * *", "enabled": True}).json()
    assert changed["cron"] == "*/15 * * * *" and _parse(changed["nextRun"]) - utcnow() <= timedelta(minutes=15)
    assert changed["name"] == "Nightly" and changed["retention"] == 3 and "updated" in changed
    paused = client.put(f"exportSchedules/{created['_id']}", json={"enabled": False}).json()
    assert paused["enabled"] is False and "nextRun" not in paused
    assert client.delete(f"exportSchedules/{created['_id']}").json() == {"object": "result", "data": True}
    assert_fault(client.get(f"exportSchedules/{created['_id']}"), "cortex.notFound.instance", 404)
    assert_fault(client.post("exportSchedules", json={"name": "Again", "cron": "0 2 * * *", "template": TEMPLATE},
                             params={"dryRun": "true"}), "cortex.invalidArgument.query", 400)


def test_a_bad_schedule_is_one_fault_naming_every_property_the_template_under_template(client):
    response = client.post("exportSchedules", json={
        "name": "", "cron": "61 * * * *", "timezone": "Mars/Olympus", "retention": 0, "enabled": "yes",
        "colour": "red", "template": {"objects": "c_items", "where": "{", "since": "soon", "format": "text/nope"}})
    fault = assert_fault(response, "cortex.invalidArgument.validation", 400)
    paths = sorted(child["path"] for child in fault["faults"])
    assert paths == sorted(["colour", "name", "cron", "timezone", "retention", "enabled", "template.label",
                            "template.format", "template.where", "template.since"])
    assert "Bad minute" in next(child for child in fault["faults"] if child["path"] == "cron")["reason"]
    missing = assert_fault(client.post("exportSchedules", json={}), "cortex.invalidArgument.validation", 400)
    assert sorted(child["path"] for child in missing["faults"]) == ["cron", "name", "template"]
    # Checked against the org, as POST /exports is: an unknown object, a where on a property that is not there.
    against = client.post("exportSchedules", json={"name": "X", "cron": "0 2 * * *", "template": {
        **TEMPLATE, "objects": "c_nothing"}})
    assert [child["path"] for child in assert_fault(against, "cortex.invalidArgument.validation", 400)["faults"]] \
        == ["template.objects"]
    # since: previous is for templates; an export by POST /exports is refused it.
    assert _create(client, template={**TEMPLATE, "since": "previous"})["template"]["since"] == "previous"
    taken = client.post("exportSchedules", json={"name": "Nightly", "cron": "0 3 * * *", "template": TEMPLATE})
    assert_fault(taken, "cortex.conflict.exists", 409)


def test_only_administrators_use_schedules(client, platform, http):
    provider = CortexClient(http, platform.code, platform.session_app.key)
    provider.login(platform.provider["email"])
    assert provider.get("exportSchedules").status_code == 403
    assert provider.post("exportSchedules", json={"name": "X", "cron": "0 2 * * *", "template": TEMPLATE}
                         ).status_code == 403


def test_one_tick_makes_one_export_however_many_workers_race_for_it(client, platform):
    schedule = _create(client)
    racers = 8
    for tick in range(3):
        _due(platform, schedule["_id"])
        barrier = threading.Barrier(racers)
        made: list[int] = []
        threads = [threading.Thread(target=_race, args=(platform, barrier, made)) for _ in range(racers)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert sum(made) == 1 and len(made) == racers
        assert len(_made(platform, schedule["_id"])) == tick + 1
    shown = client.get(f"exportSchedules/{schedule['_id']}").json()
    assert shown["lastExport"]["_id"] == _made(platform, schedule["_id"])[-1]["id"]
    assert _parse(shown["nextRun"]) > utcnow() and "lastFault" not in shown
    export = client.get(f"exports/{shown['lastExport']['_id']}").json()
    assert export["schedule"] == schedule["_id"] and export["label"] == "Nightly items"


def test_ticks_missed_while_no_worker_ran_make_one_export(client, platform):
    schedule = _create(client, cron="0 * * * *")
    _due(platform, schedule["_id"], ago=timedelta(days=3))  # 72 hourly ticks missed
    assert len(scheduling.run_due_schedules(platform.runtime)) == 1
    assert scheduling.run_due_schedules(platform.runtime) == []
    assert len(_made(platform, schedule["_id"])) == 1
    next_run = _parse(client.get(f"exportSchedules/{schedule['_id']}").json()["nextRun"])
    assert timedelta(0) < next_run - utcnow() <= timedelta(hours=1)


def test_since_previous_chains_the_schedules_exports(client, platform):
    items, worker = Items(platform, "c_item"), ExportWorker(platform.runtime, concurrency=1)
    first = items.create({"c_n": 1, "c_tag": "a"})
    schedule = _create(client, template={**TEMPLATE, "since": "previous"})
    _tick(platform, worker, schedule["_id"])
    [full] = _made(platform, schedule["_id"])
    full_job = _job(platform, full["id"])
    assert [document["_id"] for document in contents(platform, full_job)[0]] == [first]
    assert any(event["name"] == "since.full" for event in full_job.events)
    second = items.create({"c_n": 2, "c_tag": "a"})
    items.delete(first)
    _tick(platform, worker, schedule["_id"])
    delta_job = _job(platform, _made(platform, schedule["_id"])[-1]["id"])
    data, deleted = contents(platform, delta_job)
    assert [document["_id"] for document in data] == [second] and [line["_id"] for line in deleted] == [first]
    assert any(event["name"] == "since.base" and event["event"]["export"] == full["id"] for event in delta_job.events)


def test_retention_keeps_the_newest_ready_exports_of_the_schedule(client, platform):
    worker = ExportWorker(platform.runtime, concurrency=1)
    schedule = _create(client, retention=2)
    for _number in range(4):
        _tick(platform, worker, schedule["_id"])
    made = _made(platform, schedule["_id"])
    assert len(made) == 2 and all(item["state"] == "ready" for item in made)
    listed = {item["_id"] for item in client.get("exports").json()["data"]}
    assert {item["id"] for item in made} <= listed and len(listed) == 2


def test_a_tick_whose_template_no_longer_works_records_why_and_goes_on(client, platform):
    schedule = _create(client)
    with platform.runtime.database.begin() as connection:
        delete_object(connection, platform.org["id"], "c_item")
    _due(platform, schedule["_id"])
    assert scheduling.run_due_schedules(platform.runtime) == []
    shown = client.get(f"exportSchedules/{schedule['_id']}").json()
    assert shown["lastFault"]["errCode"] == "cortex.invalidArgument.validation"
    assert [child["path"] for child in shown["lastFault"]["faults"]] == ["template.objects"]
    assert _parse(shown["nextRun"]) > utcnow() and "lastExport" not in shown
    assert _made(platform, schedule["_id"]) == []
    # Its creator no longer an administrator: no export is made as them.
    define(platform, "c_item")
    with platform.runtime.database.begin() as connection:
        connection.execute(accounts.update().where(accounts.c.id == platform.admin["id"]).values(roles=[]))
    _due(platform, schedule["_id"])
    assert scheduling.run_due_schedules(platform.runtime) == []
    shown = scheduling.get(platform.runtime, platform.org["id"], schedule["_id"])
    assert shown.last_fault is not None and shown.last_fault["path"] == "creator"


def _race(platform, barrier: threading.Barrier, made: list[int]) -> None:
    """One worker's look at the due schedules, all at the same moment as the others'."""
    barrier.wait()
    made.append(len(scheduling.run_due_schedules(platform.runtime)))


def _tick(platform, worker: ExportWorker, schedule_id: str) -> None:
    """The schedule's tick comes, and its export runs (a worker checks ticks once a second)."""
    _due(platform, schedule_id)
    assert len(scheduling.run_due_schedules(platform.runtime)) == 1
    while worker.run_once():
        pass


def _job(platform, export_id: str):
    return operations.get(platform.runtime, platform.org["id"], export_id)


def _parse(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))
