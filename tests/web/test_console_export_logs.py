"""Exporting the org's Logs from the console: the object picker offers them beside the object
definitions, with their record fields as paths, and the export they make is the API's."""

from __future__ import annotations

import re

import orjson

from opencortex.exports import operations
from opencortex.logs import LOG_PROPERTIES, LogQuery, list_logs
from tests.web.test_console_exports import FORM, create, error_for, failed_export


def test_the_picker_offers_the_logs_with_their_fields(console):
    page = console.admin.get("/exports/new").text
    assert '<option value="logs">Logs (logs)</option>' in page
    assert '<option value="c_patients">' in page  # the object definitions are still there
    picked = console.admin.get("/exports/new?objects=logs").text
    assert '<option value="logs" selected>Logs (logs)</option>' in picked
    assert re.findall(r'name="paths" value="([^"]+)"', picked) == list(LOG_PROPERTIES)
    assert 'name="include"' not in picked and 'name="expand"' not in picked  # nothing optional, no references
    assert "No optional properties." in picked and "No expandable references." in picked
    assert '<code>lvl</code> <span class="choice-info">Level · Number</span>' in picked


def test_the_choices_of_the_logs_are_their_record_fields(console):
    for name in ("logs", "log"):
        choices = console.admin.get(f"/objects/{name}/choices.json").json()
        assert [choice["path"] for choice in choices["paths"]] == list(LOG_PROPERTIES)
        assert choices["include"] == [] and choices["expand"] == []
        by_path = {choice["path"]: choice for choice in choices["paths"]}
        assert by_path["lvl"] == {"path": "lvl", "label": "Level", "type": "Number", "depth": 0, "indexed": True}
        assert by_path["dat"]["indexed"] is False  # the Logs' where cannot match it


def test_an_export_of_the_logs_from_the_form(console):
    runtime, org_id = console.platform.runtime, console.platform.org["id"]
    failed = failed_export(console)  # its failure is logged: one error record (lvl 0, src 6)
    console.run_exports()
    export_id = create(console, label="Errors logged", objects="logs", format="application/x-ndjson",
                       paths=["lvl", "src", "src_id", "err"], where='{"lvl": 0}')
    job = operations.get(runtime, org_id, export_id)
    assert job.parameters.objects == "logs" and list(job.parameters.paths) == ["lvl", "src", "src_id", "err"]
    assert job.parameters.where is not None and job.parameters.where.document == {"lvl": 0}
    console.run_exports()
    job = operations.get(runtime, org_id, export_id)
    assert job.state.value == "ready", job.fault
    assert job.stats["docs"]["count"] == len(list_logs_of(console, failed)) == 1
    listed = console.admin.get("/exports?object=logs").text
    assert '<option value="logs" selected>logs</option>' in listed
    assert listed.count("data-export-id=") == 1 and f'data-export-id="{export_id}"' in listed
    assert "<td><code>logs</code></td>" in listed


def list_logs_of(console, export_id: str) -> list[dict[str, object]]:
    """The error records the worker wrote for one export."""
    with console.platform.runtime.database.connect() as connection:
        records, _more = list_logs(connection, console.platform.org["id"],
                                   LogQuery(where=orjson.dumps({"src_id": export_id, "lvl": 0}).decode()))
    return records


def test_a_logs_export_is_refused_as_the_api_refuses_it(console):
    response = console.admin.post("/exports/new", {**FORM, "objects": "logs", "paths": ["lvl", "c_score"],
                                                   "where": '{"dat": 1}', "format": "application/json"})
    assert response.status_code == 400
    page = response.text
    assert error_for(page, "paths") == "Unknown property &#39;c_score&#39; of the Logs."  # escaped
    assert "dat" in (error_for(page, "where") or "")
    assert '<option value="logs" selected>' in page
    assert 'name="paths" value="lvl" checked' in page and 'name="paths" value="c_score" checked' in page
    result = console.admin.post("/exports/validate.json", {**FORM, "objects": "logs", "paths": ["lvl"],
                                                           "where": '{"lvl": {"$lte": 1}}', "format": "text/csv",
                                                           "expand": []}).json()
    assert result == {"ok": True, "errors": {}}
    refreshed = console.admin.post("/exports/new", {**FORM, "objects": "logs", "_action": "refresh"})
    assert refreshed.status_code == 200 and 'name="paths" value="lvl"' in refreshed.text
    assert operations.list_exports(console.platform.runtime, console.platform.org["id"], limit=5)[0] == []
