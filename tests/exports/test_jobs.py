"""The typed export job: the stored ``params`` JSON keeps its shape, values parse once, and the
API shape of an export."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from opencortex.exports.formats import CSV, NDJSON
from opencortex.exports.formats.csv_writer import CsvOptions
from opencortex.exports.jobs import ExportJob, ExportParameters, ExportPrefix, ExportState, ExportWhere, export_json

# What the ``params`` column held before the typed job existed; existing databases hold these.
STORED_NDJSON = {
    "objects": "c_patients", "object": "c_patient", "format": NDJSON, "paths": [], "include": ["c_notes"],
    "expand": [], "where": '{"c_score": {"$gte": 50}}', "principal": None, "prefix": None,
    "exportFiles": False, "zipFiles": False, "afterScript": "", "storageId": "medable",
    "csv": {"bom": False, "formulaGuard": False, "dictionary": False},
}  # fmt: skip
STORED_CSV = {
    "objects": "c_sites", "object": "c_site", "format": CSV, "paths": ["c_name", "c_patients"], "include": [],
    "expand": ["c_owner"], "where": None, "principal": "65f0c0ffee0000000000bb01",
    "prefix": "65f0c0ffee0000000000aa01.c_patients", "exportFiles": True, "zipFiles": True,
    "afterScript": "require('logger').info(1)", "storageId": "medable",
    "csv": {"bom": True, "formulaGuard": False, "dictionary": True},
}  # fmt: skip
CREATED = datetime(2024, 4, 1, 12, 0, 0, 512000)  # as SQLite hands it back: naive, in UTC


@pytest.mark.parametrize("stored", [STORED_NDJSON, STORED_CSV])
def test_stored_parameters_keep_their_shape(stored):
    parameters = ExportParameters.from_json(stored)
    assert parameters.to_json() == stored
    assert list(parameters.to_json()) == list(stored)  # same keys, same order


def test_stored_parameters_are_parsed_once_into_values():
    ndjson, csv = ExportParameters.from_json(STORED_NDJSON), ExportParameters.from_json(STORED_CSV)
    assert ndjson.format.media_type == NDJSON and ndjson.csv is None
    assert ndjson.where == ExportWhere('{"c_score": {"$gte": 50}}', None)
    assert ndjson.where is not None and ndjson.where.document == {"c_score": {"$gte": 50}}
    assert csv.csv == CsvOptions(bom=True, dictionary=True)
    assert csv.prefix == ExportPrefix("65f0c0ffee0000000000aa01", "c_patients")
    assert (csv.export_files, csv.zip_files, csv.paths, csv.expand) == (True, True, ("c_name", "c_patients"),
                                                                        ("c_owner",))


def test_prefix():
    assert ExportPrefix.parse("65f0c0ffee0000000000aa01/c_list") == ExportPrefix("65f0c0ffee0000000000aa01", "c_list")
    assert str(ExportPrefix.parse("65f0c0ffee0000000000aa01/c_list")) == "65f0c0ffee0000000000aa01.c_list"
    # A document array nested in a Document: the path is kept dotted, whatever the separator.
    nested = ExportPrefix.parse("65f0c0ffee0000000000aa01/c_profile/c_contacts")
    assert nested == ExportPrefix("65f0c0ffee0000000000aa01", "c_profile.c_contacts")
    assert str(nested) == "65f0c0ffee0000000000aa01.c_profile.c_contacts"
    for bad in ("65f0c0ffee0000000000aa01", "xyz.c_list", "65f0c0ffee0000000000aa01.c-list", 12, None,
                "65f0c0ffee0000000000aa01.c_a..c_b", "65f0c0ffee0000000000aa01.c_a."):
        assert ExportPrefix.parse(bad) is None


def test_where():
    assert ExportWhere.from_text("  ").document is None
    assert ExportWhere.from_text("{}").document == {}
    with pytest.raises(ValueError):
        ExportWhere.from_text("[1]")


def test_states():
    assert [state.value for state in ExportState] == ["pending", "running", "ready", "error"]
    assert [state.ended for state in ExportState] == [False, False, True, True]
    assert ExportState("running") is ExportState.RUNNING and ExportState.RUNNING == "running"


def row(**changes):
    base = {
        "id": "65f0c0ffee0000000000cc01", "org_id": "65f0c0ffee0000000000dd01", "state": "ready", "label": "L",
        "description": None, "params": STORED_NDJSON, "creator": "65f0c0ffee0000000000ee01",
        "owner": "65f0c0ffee0000000000ee01", "created": CREATED, "updated": CREATED, "started": None,
        "completed": CREATED, "expires_at": None, "stats": {"docs": {"count": 2}}, "progress": None,
        "events": [{"name": "queued"}], "fault": None, "data_file": {"name": "content", "size": 9},
        "files": [{"name": "0000000000", "key": "secret/key", "size": 3}], "sha256": "ab" * 32,
        "lease_owner": None, "lease_expires": None, "cancel_requested": 0, "attempts": 1, "sequence": 3,
    }  # fmt: skip
    return {**base, **changes}


def test_a_row_becomes_a_job():
    job = ExportJob.from_row(row())
    assert job.state is ExportState.READY and job.cancel_requested is False
    assert job.created == CREATED.replace(tzinfo=UTC) and job.started is None
    assert job.reads_as == "65f0c0ffee0000000000ee01"
    assert ExportJob.from_row(row(params=STORED_CSV)).reads_as == "65f0c0ffee0000000000bb01"


def test_the_api_shape():
    """Properties that were never set are left out, as the Export page's examples show (they
    used to be written as null, and empty arrays as []); creator and owner carry their path."""
    shown = export_json(ExportJob.from_row(row()), include_events=True)
    assert shown["_id"] == "65f0c0ffee0000000000cc01" and shown["object"] == "export"
    assert shown["state"] == "ready" and shown["access"] == 7
    assert {key: shown[key] for key in ("objects", "format", "include", "where", "exportFiles", "zipFiles",
                                        "storageId")} == {key: STORED_NDJSON[key] for key in (
        "objects", "format", "include", "where", "exportFiles", "zipFiles", "storageId")}
    for never_set in ("description", "paths", "expand", "principal", "prefix", "afterScript", "csv", "progress",
                      "started", "fault", "expiresAt"):
        assert never_set not in shown, never_set
    assert None not in shown.values()
    assert shown["created"] == shown["completed"] == "2024-04-01T12:00:00.512Z"
    assert shown["creator"] == {"_id": "65f0c0ffee0000000000ee01", "object": "account",
                                "path": "/accounts/65f0c0ffee0000000000ee01"}
    assert shown["owner"] == shown["creator"]
    assert shown["files"] == [{"name": "0000000000", "size": 3}]  # never the store key
    assert shown["dataFile"] == {"name": "content", "size": 9} and shown["events"] == [{"name": "queued"}]
    assert "events" not in export_json(ExportJob.from_row(row()))

    csv = export_json(ExportJob.from_row(row(params=STORED_CSV, description="About", updated=None)))
    assert csv["csv"] == STORED_CSV["csv"] and csv["paths"] == STORED_CSV["paths"]
    assert csv["principal"] == STORED_CSV["principal"] and csv["prefix"] == STORED_CSV["prefix"]
    assert csv["afterScript"] == STORED_CSV["afterScript"] and csv["description"] == "About"
    assert "updated" not in csv and "where" not in csv and "include" not in csv
