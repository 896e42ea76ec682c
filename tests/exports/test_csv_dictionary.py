"""The CSV data dictionary of real exports: every column with its type and its label.

An export of an object with system properties, nested Documents, arrays, an Any, a Geometry, an
``include``d reference and a reference ``expand``ed two levels deep; an export of a document
array's elements; an export of the Logs. Each runs through the API and a worker, on both
databases, and ``dictionary.csv`` is compared row by row with what it must say.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import pytest

from opencortex.acl.viewer import Viewer
from opencortex.exports.dictionary_columns import (
    LABEL_SEPARATOR,
    LOG_LABELS,
    describe_element_columns,
    describe_instance_columns,
    describe_log_column,
)
from opencortex.exports.worker import ExportWorker
from opencortex.ids import ROLE_ADMINISTRATOR
from opencortex.instances.service import Instances
from opencortex.logs import LOG_PROPERTIES, LogEntry, write_logs
from opencortex.logs.records import LOGGER, TRACE
from opencortex.model.definitions import ObjectDefinition
from opencortex.model.objects import create_object
from tests.exports_api.conftest import download_zip, run_all
from tests.support.platform import CortexClient, OrgFixture

ADMINS = {"createAcl": [{"type": 3, "target": ROLE_ADMINISTRATOR}],
          "defaultAcl": [{"type": 3, "target": ROLE_ADMINISTRATOR, "allow": 7}]}
REGION = {"name": "c_region", "label": "Region", **ADMINS, "properties": [
    {"name": "c_name", "label": "Name", "type": "String"},
]}
CLINIC = {"name": "c_clinic", "label": "Clinic", **ADMINS, "properties": [
    {"name": "c_name", "label": "Name", "type": "String"},
    {"name": "c_address", "label": "Address", "type": "Document", "properties": [
        {"name": "c_city", "label": "City", "type": "String"},
    ]},
    {"name": "c_region", "label": "Region", "type": "Reference", "sourceObject": "c_region", "expandable": True},
]}
SUBJECT = {"name": "c_subject", "label": "Subject", **ADMINS, "properties": [
    {"name": "c_code", "label": "Code", "type": "String"},
    {"name": "c_profile", "label": "Profile", "type": "Document", "properties": [
        {"name": "c_height", "label": "Height", "type": "Number"},
        {"name": "c_born", "label": "Born", "type": "Date"},
    ]},
    {"name": "c_tags", "label": "Tags", "type": "String", "array": True},
    {"name": "c_visits", "label": "Visits", "type": "Document", "array": True, "properties": [
        {"name": "c_day", "label": "Day", "type": "Number"},
        {"name": "c_done", "label": "Done", "type": "Boolean"},
    ]},
    {"name": "c_clinic", "label": "Clinic", "type": "Reference", "sourceObject": "c_clinic", "expandable": True},
    {"name": "c_referrer", "label": "Referred by", "type": "Reference", "sourceObject": "c_clinic",
     "optional": True},
    {"name": "c_extra", "label": "Extra", "type": "Any"},
    {"name": "c_home", "label": "Home", "type": "Geometry"},
]}


def instance_rows(column: str, label: str) -> list[tuple[str, str, str]]:
    """What every instance read shows, under ``column`` (an expanded reference: "" for the
    exported instance itself), labelled after ``label``: ``_id`` and ``object`` carry the
    reference's own label, the other system properties their own after it."""
    at = f"{column}." if column else ""
    prefix = f"{label}{LABEL_SEPARATOR}" if label else ""
    return [
        (f"{at}_id", "ObjectId", label or "Id"),
        (f"{at}access", "Number", f"{prefix}Access"),
        (f"{at}created", "Date", f"{prefix}Created"),
        (f"{at}creator._id", "ObjectId", f"{prefix}Creator"),
        (f"{at}creator.object", "String", f"{prefix}Creator"),
        (f"{at}object", "String", label or "Object"),
        (f"{at}owner._id", "ObjectId", f"{prefix}Owner"),
        (f"{at}owner.object", "String", f"{prefix}Owner"),
        (f"{at}updated", "Date", f"{prefix}Updated"),
    ]


EXPECTED_SUBJECT_DICTIONARY = sorted([
    *instance_rows("", ""),
    ("c_code", "String", "Code"),
    ("c_profile.c_born", "Date", "Born"),
    ("c_profile.c_height", "Number", "Height"),
    ("c_tags[0]", "String", "Tags"),
    ("c_tags[1]", "String", "Tags"),
    ("c_visits[0]._id", "ObjectId", "Id"),
    ("c_visits[0].c_day", "Number", "Day"),
    ("c_visits[0].c_done", "Boolean", "Done"),
    ("c_visits[1]._id", "ObjectId", "Id"),
    ("c_visits[1].c_day", "Number", "Day"),
    # Expanded: the clinic's own columns, labelled "Clinic: ...", and its region's "Clinic: Region: ...".
    *instance_rows("c_clinic", "Clinic"),
    ("c_clinic.c_name", "String", "Clinic: Name"),
    ("c_clinic.c_address.c_city", "String", "Clinic: City"),
    *instance_rows("c_clinic.c_region", "Clinic: Region"),
    ("c_clinic.c_region.c_name", "String", "Clinic: Region: Name"),
    # Included, not expanded: the reference as reads show it.
    ("c_referrer._id", "ObjectId", "Referred by"),
    ("c_referrer.object", "String", "Referred by"),
    ("c_extra.note", "Any", "Extra: note"),
    ("c_extra.score.raw[0]", "Any", "Extra: score.raw"),
    ("c_extra.score.raw[1]", "Any", "Extra: score.raw"),
    ("c_home.coordinates[0]", "Number", "Home: Coordinates"),
    ("c_home.coordinates[1]", "Number", "Home: Coordinates"),
    ("c_home.type", "String", "Home: Type"),
], key=lambda row: row[0])

EXPECTED_LOG_DICTIONARY = [
    ("_id", "ObjectId", "Id"),
    ("beg", "Date", "Began"),
    ("created", "Date", "Created"),
    ("dat.n", "Any", "Data: n"),
    ("dat.tags[0]", "Any", "Data: tags"),
    ("end", "Date", "Ended"),
    ("err.code", "Any", "Error: code"),
    ("exp", "Date", "Expires"),
    ("lvl", "Number", "Level"),
    ("object", "String", "Object"),
    ("oid", "ObjectId", "Original principal"),
    ("org", "ObjectId", "Org"),
    ("pid", "ObjectId", "Principal"),
    ("req", "ObjectId", "Request"),
    ("src", "Number", "Source"),
    ("src_id", "ObjectId", "Source id"),
    ("sts", "Number", "Status"),
    ("trc[0].file", "Any", "Trace: file"),
    ("trc[0].line", "Any", "Trace: line"),
]


def seed_subject(platform: OrgFixture) -> str:
    """The three objects, a region, two clinics and one subject; returns the subject's ``_id``."""
    runtime, org_id = platform.runtime, platform.org["id"]
    admin = Viewer(org_id, platform.admin["id"], frozenset(platform.admin["roles"]))
    with runtime.database.begin() as connection:
        regions, clinics, subjects = (
            Instances(connection, runtime.database.dialect, org_id, create_object(connection, org_id, body), admin)
            for body in (REGION, CLINIC, SUBJECT)
        )
        region = regions.create({"c_name": "North"})["_id"]
        clinic = clinics.create({"c_name": "Lyon", "c_address": {"c_city": "Lyon"}, "c_region": region})["_id"]
        referrer = clinics.create({"c_name": "Osaka"})["_id"]
        return str(subjects.create({
            "c_code": "S-1",
            "c_profile": {"c_height": 1.7, "c_born": "1990-05-01T00:00:00.000Z"},
            "c_tags": ["a", "b"],
            "c_visits": [{"c_day": 1, "c_done": True}, {"c_day": 2}],
            "c_clinic": clinic,
            "c_referrer": referrer,
            "c_extra": {"note": "x", "score": {"raw": [1, 2]}},
            "c_home": {"type": "Point", "coordinates": [4.84, 45.76]},
        })["_id"])


def exported_dictionary(platform: OrgFixture, http: Any, **body: Any) -> tuple[list[str], list[tuple[str, ...]]]:
    """Runs a CSV export with a dictionary: (the data entry's header, the dictionary's rows)."""
    client = CortexClient(http, platform.code, platform.session_app.key)
    client.login(platform.admin["email"])
    response = client.post("exports", json={"label": "Dictionary", "format": "text/csv",
                                            "csv": {"dictionary": True}, **body})
    assert response.status_code == 200, response.text
    export = response.json()
    assert run_all(ExportWorker(platform.runtime, concurrency=1, lease_seconds=30)) == 1
    archive = download_zip(client, export["_id"])
    data = archive.read("export-" + export["created"].replace(":", "_") + ".csv").decode()
    header = next(csv.reader(io.StringIO(data)))
    rows = list(csv.reader(io.StringIO(archive.read("dictionary.csv").decode())))
    assert rows[0] == ["column", "type", "label"]
    return header, [tuple(row) for row in rows[1:]]


def test_an_instance_export_describes_every_column(platform, http):
    seed_subject(platform)
    header, rows = exported_dictionary(platform, http, objects="c_subjects", include=["c_referrer"],
                                       expand=["c_clinic", "c_clinic.c_region"])
    assert [row[0] for row in rows] == header  # one row per column, in the data's order
    assert sorted(rows) == sorted(EXPECTED_SUBJECT_DICTIONARY)
    assert all(column and kind and label for column, kind, label in rows)


def test_a_document_array_export_describes_its_elements(platform, http):
    subject = seed_subject(platform)
    header, rows = exported_dictionary(platform, http, objects="c_subjects", prefix=f"{subject}.c_visits",
                                       principal=platform.admin["email"])
    assert header == ["_id", "c_day", "c_done"]
    assert rows == [("_id", "ObjectId", "Id"), ("c_day", "Number", "Day"), ("c_done", "Boolean", "Done")]


def test_a_logs_export_describes_every_column(platform, http):
    admin = platform.admin["id"]
    with platform.runtime.database.begin() as connection:
        write_logs(connection, platform.org["id"], [LogEntry(
            src=LOGGER, lvl=TRACE, dat={"n": 1, "tags": ["x"]}, err={"code": "kError"},
            trc=[{"file": "route.js", "line": 3}], pid=admin, oid=admin, req="65f0c0ffee0000000000aa01", sts=500,
            src_id="65f0c0ffee0000000000aa02",
        )])
    header, rows = exported_dictionary(platform, http, objects="logs", where=json.dumps({"lvl": TRACE}))
    assert [row[0] for row in rows] == header
    assert rows == EXPECTED_LOG_DICTIONARY


# The walk itself, on definitions alone: what the exports above do not hold.

FILES = ObjectDefinition.from_json({"name": "c_scan", "label": "Scan", "properties": [
    {"name": "c_photo", "label": "Photo", "type": "File"},
    {"name": "c_bytes", "label": "Bytes", "type": "Binary", "outputEncoding": "array"},
    {"name": "c_links", "label": "Links", "type": "Reference", "sourceObject": "c_scan", "array": True,
     "expandable": True},
    {"name": "c_sections", "label": "Sections", "type": "Document", "array": True, "properties": [
        {"name": "c_owner", "label": "Section owner", "type": "Reference", "sourceObject": "c_scan",
         "expandable": True},
    ]},
], "objectTypes": [{"name": "c_mri", "label": "MRI", "properties": [
    {"name": "c_tesla", "label": "Field strength", "type": "Number"},
]}]})


@pytest.mark.parametrize(("column", "described"), [
    ("type", ("String", "Type")),
    ("updater._id", ("ObjectId", "Updater")),
    ("c_tesla", ("Number", "Field strength")),  # an object type's property
    ("c_photo", ("File", "Photo")),
    ("c_photo.mime", ("String", "Photo: MIME type")),
    ("c_photo.state", ("Number", "Photo: State")),
    ("c_photo.facets[0].name", ("String", "Photo: Facet: Name")),
    ("c_photo.facets[1].size", ("Number", "Photo: Facet: Size")),
    ("c_photo.fault.code", ("Any", "Photo: Fault: code")),
    ("c_photo.someday", ("Any", "Photo: someday")),  # a key no table knows: still described
    ("c_bytes[3]", ("Number", "Bytes")),
    ("c_links[1]._id", ("ObjectId", "Links")),
    ("c_links[1].c_photo.filename", ("String", "Links: Photo: Filename")),
    ("c_links[0].c_links[0].c_tesla", ("Number", "Links: Links: Field strength")),
    ("c_sections[0].c_owner.c_sections[2]._id", ("ObjectId", "Section owner: Id")),
    ("c_sections[0].c_owner.owner.object", ("String", "Section owner: Owner")),
    ("c_nothing", None),
    ("c_tesla.x", None),
    ("access.x", None),
    ("_id[0]", None),
    ("", None),
])
def test_the_walk_through_a_definition(column: str, described: tuple[str, str] | None) -> None:
    describe = describe_instance_columns(FILES, {"c_scan": FILES}.get)
    assert describe(column) == described


def test_a_reference_to_an_object_that_is_gone_keeps_its_system_properties() -> None:
    describe = describe_instance_columns(FILES, lambda name: None)
    assert describe("c_links[0].created") == ("Date", "Links: Created")
    assert describe("c_links[0].c_photo.mime") is None


def test_a_document_arrays_elements() -> None:
    describe = describe_element_columns(FILES.properties["c_sections"].properties, {"c_scan": FILES}.get)  # type: ignore[attr-defined]
    assert describe("_id") == ("ObjectId", "Id")
    assert describe("c_owner._id") == ("ObjectId", "Section owner")
    assert describe("c_owner.c_bytes[0]") == ("Number", "Section owner: Bytes")
    assert describe("created") is None  # elements have no system properties


def test_every_log_property_has_a_label() -> None:
    assert set(LOG_LABELS) == set(LOG_PROPERTIES)
    assert describe_log_column("trc") == ("Any", "Trace")
    assert describe_log_column("lvl.x") is None and describe_log_column("nope") is None
