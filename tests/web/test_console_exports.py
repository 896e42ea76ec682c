"""Export jobs through the console, in-process: the list, the form, an export's page and actions."""

from __future__ import annotations

import hashlib
import re

import orjson

from opencortex.exports import operations
from opencortex.exports.verify import verify_archive
from opencortex.model.objects import create_object, delete_object
from opencortex.store.audit import audit_records

FORM = {
    "label": "Enrolled patients",
    "description": "Scores of 10 and more",
    "objects": "c_patients",
    "format": "text/csv",
    "paths": ["c_number", "c_name.c_first", "c_score"],
    "where": '{"c_score": {"$gte": 10}}',
    "csv.bom": "on",
    "csv.dictionary": "on",
}


def create(console, **fields):
    response = console.admin.post("/exports/new", {**FORM, **fields})
    assert response.status_code == 303, response.text
    return response.headers["location"].rsplit("/", 1)[1]


def error_for(page, field):
    found = re.search(rf'data-error-for="{field}" role="alert"( hidden)?>([^<]*)<', page)
    assert found is not None, field
    return None if found.group(1) else found.group(2)


def test_the_form_offers_objects_properties_formats_and_accounts(console):
    page = console.admin.get("/exports/new?objects=c_patients").text
    assert '<option value="c_patients" selected>' in page and '<option value="c_sites">' in page
    for path in ("c_number", "c_name", "c_name.c_first", "c_visits.c_when", "c_site"):
        assert f'name="paths" value="{path}"' in page
    assert 'name="include" value="c_notes"' in page and 'name="include" value="c_number"' not in page
    assert 'name="expand" value="c_site"' in page and 'name="expand" value="c_score"' not in page
    for media_type in ("application/x-ndjson", "application/json", "text/csv"):
        assert f'name="format" value="{media_type}"' in page
    assert f'<option value="{console.platform.provider["email"]}">' in page
    for name in ("csv.bom", "csv.formulaGuard", "csv.dictionary", "exportFiles", "zipFiles", "afterScript",
                 "prefix", "description", "where"):
        assert f'name="{name}"' in page
    choices = console.admin.get("/objects/c_patients/choices.json").json()
    assert {"path": "c_name.c_first", "label": "First name", "type": "String", "depth": 1, "indexed": True} \
        in choices["paths"]
    assert [choice["path"] for choice in choices["expand"]] == ["c_site"]
    assert console.admin.get("/objects/c_nothing/choices.json").json()["errCode"] == "cortex.invalidArgument.object"


def test_creating_an_export_queues_exactly_what_the_form_says(console):
    export_id = create(console, principal=console.platform.provider["email"], afterScript="return 1")
    job = operations.get(console.platform.runtime, console.platform.org["id"], export_id)
    assert job.label == "Enrolled patients" and job.description == "Scores of 10 and more"
    assert job.creator == console.platform.admin["id"]
    parameters = job.parameters
    assert parameters.objects == "c_patients" and parameters.format.media_type == "text/csv"
    assert list(parameters.paths) == ["c_number", "c_name.c_first", "c_score"]
    assert parameters.where is not None and parameters.where.text == '{"c_score": {"$gte": 10}}'
    assert parameters.principal == console.platform.provider["id"]
    assert parameters.csv is not None and parameters.csv.bom and parameters.csv.dictionary
    assert not parameters.csv.formula_guard
    assert parameters.after_script == "return 1"


def test_csv_options_are_sent_only_for_csv(console):
    export_id = create(console, format="application/json")  # the CSV boxes stay ticked in the form
    job = operations.get(console.platform.runtime, console.platform.org["id"], export_id)
    assert job.parameters.format.media_type == "application/json" and job.parameters.csv is None


def test_a_bad_where_is_shown_next_to_its_field_and_nothing_typed_is_lost(console):
    typed = {**FORM, "where": '{"c_nope": 1}', "afterScript": "console.log('done')",
             "principal": console.platform.admin["email"], "csv.formulaGuard": "on"}
    response = console.admin.post("/exports/new", typed)
    assert response.status_code == 400
    page = response.text
    assert error_for(page, "where") == "Unknown property c_nope."
    assert error_for(page, "label") is None
    assert 'id="where" name="where"' in page and "&#34;c_nope&#34;: 1}</textarea>" in page
    assert 'value="Enrolled patients"' in page and "Scores of 10 and more</textarea>" in page
    assert "console.log(&#39;done&#39;)</textarea>" in page
    for path in FORM["paths"]:
        assert f'name="paths" value="{path}" checked' in page
    assert 'name="format" value="text/csv" checked' in page
    assert 'name="csv.bom" checked' in page and 'name="csv.formulaGuard" checked' in page
    assert 'name="csv.dictionary" checked' in page
    principal = console.platform.admin["email"]
    assert f'name="principal" type="text" list="accounts" autocomplete="off" value="{principal}"' in page
    assert operations.list_exports(console.platform.runtime, console.platform.org["id"], limit=5)[0] == []


def test_faults_go_to_the_field_they_concern(console):
    cases = [
        ({"label": ""}, "label", "label is 1-100 characters."),
        ({"objects": ""}, "objects", None),
        ({"where": "{bad"}, "where", None),
        ({"paths": ["c_nope"]}, "paths", "Unknown property 'c_nope'."),
        ({"expand": ["c_score"]}, "expand", None),
        ({"principal": "nobody@nowhere.test"}, "principal", "No such account in this org."),
        ({"prefix": "123"}, "prefix", None),
    ]
    for fields, field, message in cases:
        response = console.admin.post("/exports/validate.json", {**FORM, **fields})
        result = response.json()
        assert response.status_code == 200 and result["ok"] is False, fields
        assert list(result["errors"]) == [field], (fields, result)
        if message is not None:
            assert result["errors"][field] == message
    assert console.admin.post("/exports/validate.json", FORM).json() == {"ok": True, "errors": {}}
    assert operations.list_exports(console.platform.runtime, console.platform.org["id"], limit=5)[0] == []


def test_showing_the_properties_of_another_object_keeps_the_form(console):
    response = console.admin.post("/exports/new", {**FORM, "objects": "c_sites", "_action": "refresh"})
    assert response.status_code == 200
    assert 'name="paths" value="c_country"' in response.text and 'value="Enrolled patients"' in response.text
    assert operations.list_exports(console.platform.runtime, console.platform.org["id"], limit=5)[0] == []


def test_the_list_shows_each_export_newest_first(console):
    first = create(console, label="First")
    second = create(console, label="Second", format="application/x-ndjson")
    console.run_exports()
    page = console.admin.get("/exports").text
    assert page.index(f'data-export-id="{second}"') < page.index(f'data-export-id="{first}"')
    rows = {row["id"]: row for row in console.admin.get("/exports.json").json()["rows"]}
    ready = rows[first]
    assert ready["shownState"] == "ready" and ready["object"] == "c_patients" and ready["formatName"] == "CSV"
    assert ready["creatorText"] == console.platform.admin["email"] and ready["recordsText"] == str(ready["records"])
    assert ready["records"] == operations.get(console.platform.runtime, console.platform.org["id"],
                                              first).stats["docs"]["count"] > 0
    assert ready["sizeText"] and ready["expiresText"].endswith("UTC") and not ready["active"]
    assert rows[second]["formatName"] == "NDJSON"
    for text in ("First", "Second", "c_patients", "Scores of 10 and more", console.platform.admin["email"]):
        assert text in page


def test_the_list_is_filtered_by_state_and_object_and_paged(console):
    ids = [create(console, label=f"Export {number}") for number in range(26)]
    sites = create(console, label="Sites", objects="c_sites", paths=["c_name"], where="")
    operations.cancel(console.platform.runtime, console.platform.org["id"], ids[0],
                      principal=console.platform.admin["id"])
    first_page = console.admin.get("/exports").text
    assert first_page.count("data-export-id=") == 25 and "1–25 of 27" in first_page and "27 exports" in first_page
    assert 'href="/acme/console/exports?skip=25">Older exports' in first_page
    second_page = console.admin.get("/exports?skip=25").text
    assert second_page.count("data-export-id=") == 2 and f'data-export-id="{ids[0]}"' in second_page
    assert "26–27 of 27" in second_page and 'href="/acme/console/exports?skip=0">Newer exports' in second_page
    errors = console.admin.get("/exports?state=error").text  # a cancelled export is not an error
    assert errors.count("data-export-id=") == 0 and "0 exports match" in errors and "No export matches." in errors
    cancelled = console.admin.get("/exports?state=cancelled").text
    assert cancelled.count("data-export-id=") == 1 and f'data-export-id="{ids[0]}"' in cancelled
    assert "state-cancelled" in cancelled and "1 export matches" in cancelled
    only_sites = console.admin.get("/exports?object=c_sites").text
    assert only_sites.count("data-export-id=") == 1 and f'data-export-id="{sites}"' in only_sites
    assert '<option value="c_sites" selected>' in only_sites
    patients = console.admin.get("/exports?object=c_patients&state=pending&skip=25").text
    assert patients.count("data-export-id=") == 0 and "No export matches." in patients
    polled = console.admin.get("/exports.json?object=c_sites").json()
    assert [row["id"] for row in polled["rows"]] == [sites] and polled["hasMore"] is False
    assert console.admin.get("/exports?state=sideways").status_code == 400


def failed_export(console) -> str:
    """An export that really fails when it runs: its object is deleted while it waits."""
    org_id = console.platform.org["id"]
    with console.platform.runtime.database.begin() as connection:
        create_object(connection, org_id, {"name": "c_scratch", "label": "Scratch", "properties": [
            {"name": "c_note", "label": "Note", "type": "String"}]})
    export_id = create(console, label="Doomed", objects="c_scratches", paths=["c_note"], where="")
    with console.platform.runtime.database.begin() as connection:
        delete_object(connection, org_id, "c_scratch")
    return export_id


def test_cancelled_exports_are_filtered_apart_from_failed_ones_and_paged(console):
    org_id, runtime = console.platform.org["id"], console.platform.runtime
    cancelled = [create(console, label=f"Cancelled {number}") for number in range(26)]
    for export_id in cancelled:
        operations.cancel(runtime, org_id, export_id, principal=console.platform.admin["id"])
    failed = failed_export(console)
    ready = create(console, label="Finished")
    console.run_exports()
    assert operations.get(runtime, org_id, failed).state.value == "error"
    assert operations.get(runtime, org_id, ready).state.value == "ready"

    first_page = console.admin.get("/exports?state=cancelled").text
    assert first_page.count("data-export-id=") == 25 and first_page.count("state state-cancelled") == 25
    assert "1–25 of 26" in first_page and "26 exports match" in first_page
    assert '<option value="cancelled" selected>cancelled</option>' in first_page
    assert 'href="/acme/console/exports?skip=25&amp;state=cancelled">Older exports' in first_page
    second_page = console.admin.get("/exports?state=cancelled&skip=25").text
    assert second_page.count("data-export-id=") == 1 and f'data-export-id="{cancelled[0]}"' in second_page
    assert "26–26 of 26" in second_page and "Older exports" not in second_page

    errors = console.admin.get("/exports?state=error").text
    assert errors.count("data-export-id=") == 1 and f'data-export-id="{failed}"' in errors
    assert "state state-error" in errors and "state-cancelled" not in errors and "1 export matches" in errors
    assert '<option value="error" selected>error</option>' in errors
    assert console.admin.get("/exports?state=error&object=c_patients").text.count("data-export-id=") == 0
    assert console.admin.get("/exports?state=cancelled&object=c_scratches").text.count("data-export-id=") == 0
    assert "28 exports" in console.admin.get("/exports").text  # unfiltered, every one

    polled = console.admin.get("/exports.json?state=cancelled").json()
    assert len(polled["rows"]) == 25 and polled["hasMore"] is True
    assert {row["shownState"] for row in polled["rows"]} == {"cancelled"}
    assert {row["state"] for row in polled["rows"]} == {"error"}  # the API's state stays error
    polled = console.admin.get("/exports.json?state=error").json()
    assert [(row["id"], row["shownState"]) for row in polled["rows"]] == [(failed, "error")]
    assert console.admin.get(f"/exports/{failed}/status.json").json()["shownState"] == "error"
    assert console.admin.get(f"/exports/{cancelled[3]}/status.json").json()["shownState"] == "cancelled"
    page = console.admin.get(f"/exports/{failed}").text
    assert "<h3>Failed</h3>" in page and "state state-error" in page and "state-cancelled" not in page


def test_an_exports_page_shows_every_property_the_timeline_and_the_manifest(console):
    export_id = create(console, afterScript="import logger from 'logger'; logger.info('after the export')")
    pending = console.admin.get(f"/exports/{export_id}").text
    assert "Waiting for its turn" in pending and "Cancel export" in pending and "Download archive" not in pending
    console.run_exports()
    page = console.admin.get(f"/exports/{export_id}").text
    job = operations.get(console.platform.runtime, console.platform.org["id"], export_id)
    assert job.state.value == "ready"
    for text in ("Enrolled patients", "Scores of 10 and more", "c_name.c_first",
                 "{&#34;c_score&#34;: {&#34;$gte&#34;: 10}}", job.sha256, job.data_file["filename"], "bom on",
                 "dictionary on", "Download archive"):
        assert text in page, text
    for event in ("queued", "started", "cursor.started", "cursor.completed", "afterScript.started",
                  "afterScript.completed"):
        assert f"<strong>{event}</strong>" in page
    assert "after the export" in page  # the afterScript's own log line
    assert "afterScript ran." in page
    manifest = console.admin.get(f"/exports/{export_id}/manifest?fragment=1").text
    assert "Verified:" in manifest
    for entry in (job.data_file["filename"], "dictionary.csv"):
        assert f"<code>{entry}</code>" in manifest
    records = job.stats["docs"]["count"]
    assert f'<td class="number">{records:,}</td>' in manifest


def test_the_archive_downloads_and_verifies(console, tmp_path):
    export_id = create(console)
    console.run_exports()
    response = console.admin.get(f"/exports/{export_id}/download")
    assert response.status_code == 200 and response.headers["content-type"] == "application/zip"
    assert response.headers["content-disposition"].startswith("attachment;")
    job = operations.get(console.platform.runtime, console.platform.org["id"], export_id)
    assert hashlib.sha256(response.content).hexdigest() == job.sha256
    archive = tmp_path / "export.zip"
    archive.write_bytes(response.content)
    assert verify_archive(archive).ok
    with console.platform.runtime.database.connect() as connection:
        downloads = audit_records(connection, console.platform.org["id"], "export.download")
    assert downloads and downloads[0]["principal"] == console.platform.admin["id"]
    assert downloads[0]["details"] == {"via": "console"}
    # Before it is ready, there is nothing to download.
    pending = create(console, label="Not yet")
    assert console.admin.get(f"/exports/{pending}/download").status_code == 202


def test_cancel_and_delete(console):
    export_id = create(console)
    console.admin.get(f"/exports/{export_id}")
    response = console.admin.post(f"/exports/{export_id}/cancel")
    assert response.status_code == 303 and response.headers["location"].endswith(f"/exports/{export_id}")
    page = console.admin.get(f"/exports/{export_id}").text
    assert "state-cancelled" in page and "Cancelled" in page and "Cancel export" not in page
    confirm = console.admin.get(f"/exports/{export_id}/delete").text
    assert "Delete “Enrolled patients”?" in confirm and "Delete the export" in confirm
    response = console.admin.post(f"/exports/{export_id}/delete")
    assert response.status_code == 303 and response.headers["location"].endswith("/exports?notice=deleted")
    assert "The export was deleted" in console.admin.get("/exports?notice=deleted").text
    assert console.admin.get(f"/exports/{export_id}").status_code == 404
    # A notice is one of the console's own sentences, never text from the URL.
    assert "<b>" not in console.admin.get("/exports?notice=%3Cb%3Ehi").text


def test_a_large_archive_waits_to_be_asked_before_its_manifest_is_read(console, monkeypatch):
    from opencortex.web.routes import export_page

    export_id = create(console)
    console.run_exports()
    monkeypatch.setattr(export_page, "AUTOLOAD_MANIFEST_BYTES", 10)
    assert 'data-autoload="false"' in console.admin.get(f"/exports/{export_id}").text
    monkeypatch.undo()
    assert 'data-autoload="true"' in console.admin.get(f"/exports/{export_id}").text


def test_status_json_follows_the_export(console):
    export_id = create(console)
    status = console.admin.get(f"/exports/{export_id}/status.json").json()
    assert status["shownState"] == "pending" and status["active"] and status["progress"]["phase"] == "queued"
    console.run_exports()
    status = console.admin.get(f"/exports/{export_id}/status.json").json()
    assert status["shownState"] == "ready" and not status["active"] and status["progress"] is None
    assert orjson.loads(orjson.dumps(status)) == status


def test_editing_the_label_and_description(console):
    export_id = create(console)
    page = console.admin.get(f"/exports/{export_id}/edit").text
    assert 'value="Enrolled patients"' in page and "Scores of 10 and more</textarea>" in page
    response = console.admin.post(f"/exports/{export_id}/edit", {"label": "Renamed <b>", "description": ""})
    assert response.status_code == 303 and response.headers["location"].endswith(f"/exports/{export_id}")
    job = operations.get(console.platform.runtime, console.platform.org["id"], export_id)
    assert job.label == "Renamed <b>" and job.description is None
    assert "Renamed &lt;b&gt;" in console.admin.get(f"/exports/{export_id}").text
    console.admin.get(f"/exports/{export_id}/edit")
    refused = console.admin.post(f"/exports/{export_id}/edit", {"label": "", "description": "kept as typed"})
    assert refused.status_code == 400
    assert error_for(refused.text, "label") and "kept as typed</textarea>" in refused.text
    assert operations.get(console.platform.runtime, console.platform.org["id"], export_id).label == "Renamed <b>"
    with console.platform.runtime.database.connect() as connection:
        updates = audit_records(connection, console.platform.org["id"], "export.update")
    assert updates and updates[0]["principal"] == console.platform.admin["id"]
