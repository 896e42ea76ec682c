"""The console's Schedules page: every schedule with its next and last run and what its template
asks for; creating one (the API's faults next to their fields), pausing, resuming, deleting."""

from __future__ import annotations

import json
from datetime import timedelta

from opencortex.clock import utcnow
from opencortex.exports import scheduling
from opencortex.store.tables import export_schedules

TEMPLATE = {"label": "Nightly patients", "objects": "c_patients", "since": "previous",
            "where": json.dumps({"c_score": {"$gte": 50}})}


def _create(console, **fields):
    page = console.admin.get("/schedules/new")
    assert page.status_code == 200 and 'name="template"' in page.text
    return console.admin.post("/schedules/new", {"name": "Nightly", "cron": "0 2 * * *", "timezone": "UTC",
                                                 "retention": "5", "enabled": "true",
                                                 "template": json.dumps(TEMPLATE), **fields})


def test_the_schedules_page_shows_each_schedule_its_runs_and_its_template(console):
    empty = console.admin.get("/schedules")
    assert empty.status_code == 200 and "No export schedules yet" in empty.text
    assert 'href="/acme/console/schedules"' in empty.text  # in the navigation of every page
    created = _create(console)
    assert created.status_code == 303 and created.headers["location"].endswith("/schedules")
    [schedule] = scheduling.list_all(console.platform.runtime, console.platform.org["id"])
    page = console.admin.get("/schedules").text
    assert "Nightly" in page and "<code>0 2 * * *</code>" in page and "UTC" in page
    assert "“Nightly patients” · c_patients · NDJSON · changes since the previous export · where" in page
    assert schedule.next_run is not None and f'datetime="{schedule.next_run.isoformat()[:16]}' in page
    assert "the 5 newest" in page and "never" in page
    # A tick: the last run and the export it made are shown, with the export's state.
    with console.platform.runtime.database.begin() as connection:
        connection.execute(export_schedules.update().where(export_schedules.c.id == schedule.id)
                           .values(next_run=utcnow() - timedelta(minutes=1)))
    [job] = scheduling.run_due_schedules(console.platform.runtime)
    console.run_exports()
    page = console.admin.get("/schedules").text
    assert f'href="/acme/console/exports/{job.id}"' in page and "state-ready" in page and "never" not in page


def test_a_refused_schedule_shows_each_fault_next_to_its_field(console):
    response = _create(console, cron="99 * * * *", timezone="Nowhere/City",
                       template=json.dumps({"objects": "c_patients", "since": "soon"}))
    assert response.status_code == 400
    text = response.text
    assert 'id="cron-error"' in text and "Bad minute" in text
    assert "Invalid time zone" in text or "IANA" in text
    assert "label: " in text and "since: " in text  # the template's faults, under the template
    assert 'value="99 * * * *"' in text  # what was typed is kept
    not_json = _create(console, template="{nope")
    assert not_json.status_code == 400 and "The template is not JSON" in not_json.text
    assert scheduling.list_all(console.platform.runtime, console.platform.org["id"]) == []


def test_pausing_resuming_and_deleting_a_schedule(console):
    _create(console)
    [schedule] = scheduling.list_all(console.platform.runtime, console.platform.org["id"])
    console.admin.get("/schedules")
    assert console.admin.post(f"/schedules/{schedule.id}/enabled", {"enabled": "false"}).status_code == 303
    paused = scheduling.get(console.platform.runtime, console.platform.org["id"], schedule.id)
    assert paused.enabled is False and paused.next_run is None
    assert "Resume" in console.admin.get("/schedules").text
    assert console.admin.post(f"/schedules/{schedule.id}/enabled", {"enabled": "true"}).status_code == 303
    assert scheduling.get(console.platform.runtime, console.platform.org["id"], schedule.id).next_run is not None
    confirm = console.admin.get(f"/schedules/{schedule.id}/delete")
    assert confirm.status_code == 200 and "Delete the schedule “Nightly”?" in confirm.text
    # Without the page's token the form is refused (and, as in the API, the session ends).
    assert console.admin.post(f"/schedules/{schedule.id}/delete", {}, csrf="wrong").status_code == 403
    assert scheduling.list_all(console.platform.runtime, console.platform.org["id"]) != []
    assert console.admin.login(console.platform.admin["email"]).status_code == 303
    console.admin.get(f"/schedules/{schedule.id}/delete")
    deleted = console.admin.post(f"/schedules/{schedule.id}/delete", {})
    assert deleted.status_code == 303 and deleted.headers["location"].endswith("/schedules")
    assert scheduling.list_all(console.platform.runtime, console.platform.org["id"]) == []
    assert console.admin.get(f"/schedules/{schedule.id}/delete").status_code == 404
