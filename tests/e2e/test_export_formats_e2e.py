"""Every format, byte for byte, through a real server and a real worker process.

The fixture data has nested documents, arrays, unicode, nulls, dates, a reference to expand and
files. The expected bytes are built from the read API's own documents (an export must serialise
exactly as the read API does) and from the layout rules of the Export specification.
"""

from __future__ import annotations

import csv
import io
import time
import zipfile

import orjson
import pytest

from opencortex.attachments.demo_images import attach_demo_images
from tests.e2e.conftest import start_worker, stop, wait_for
from tests.e2e.test_exports_e2e import LONG_EXPORT_PATIENTS, PASSWORD, Admin, close_admins, seed_org

__all__ = ["close_admins"]  # the autouse fixture applies to this module's tests too


def flatten(value, prefix, out):
    """The spec's CSV flattening: ``a.b`` for documents, ``a[0]`` for arrays, leaves only."""
    if isinstance(value, dict):
        for key, item in value.items():
            flatten(item, f"{prefix}.{key}" if prefix else key, out)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            flatten(item, f"{prefix}[{index}]", out)
    else:
        out[prefix] = value


def cell(value):
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return orjson.dumps(value).decode() if isinstance(value, (int, float)) else value


def expected_csv(documents):
    rows = []
    columns: set[str] = set()
    for document in documents:
        flat: dict = {}
        flatten(document, "", flat)
        rows.append(flat)
        columns |= set(flat)
    header = ["_id"] + sorted(columns - {"_id"}, key=lambda name: name.encode("utf-16-be"))
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow([cell(row.get(column)) for column in header])
    return text.getvalue().encode()


@pytest.mark.e2e
def test_formats_byte_for_byte_with_files_prefix_and_principal(cluster, database_url):
    server, runtime, tmp_path = cluster
    key, email = seed_org(runtime, "delta", 12)
    admin = Admin(server.url, "delta", key, email)
    patients = admin.http.get("/c_patients?limit=1000").json()["data"]
    ids = sorted(patient["_id"] for patient in patients)
    # Unicode, quotes, commas and newlines, and nulls in the data.
    admin.http.put(f"/c_patients/{ids[0]}", json={"c_notes": "Zoë \"quoted\", line\nbreak 🧪 مرحبا",
                                                  "c_name": {"c_first": "Ånna", "c_last": None}})
    attach_demo_images(runtime, "delta", instance_ids=ids[:2])

    selection = {"expand": ["c_site"], "include": ["c_notes"]}
    exports = {
        "ndjson": admin.export(format="application/x-ndjson", **selection),
        "json": admin.export(format="application/json", **selection),
        "csv": admin.export(format="text/csv", **selection),
        "files": admin.export(exportFiles=True, zipFiles=True, paths=["c_number", "c_photo"]),
    }
    site = patients[0]["c_site"]["_id"]
    provider = admin.http.post("/accounts", json={"email": "p@delta.test", "password": PASSWORD,
                                                  "roles": ["provider"]}).json()
    exports["prefix"] = admin.export(objects="c_sites", principal=provider["_id"], prefix=f"{site}.c_patients")
    worker = start_worker(server, tmp_path / "worker.log", "--concurrency", "1")
    try:
        wait_for(lambda: all(admin.get(e["_id"])["state"] in ("ready", "error") for e in exports.values()),
                 180, "the exports")
    finally:
        stop(worker)

    def archive(name):
        export = admin.get(exports[name]["_id"])
        assert export["state"] == "ready", export
        content = admin.http.get(f"/exports/{export['_id']}/dataFile/content").content
        zipped = zipfile.ZipFile(io.BytesIO(content))
        data_name = "export-" + export["created"].replace(":", "_") + "." + {"csv": "csv", "json": "json"}.get(
            name, "ndjson")
        assert zipped.namelist()[0] == data_name and zipped.namelist()[-1] == "manifest.json"
        return zipped, zipped.read(data_name)

    read = [admin.http.get(f"/c_patients/{i}", params={"expand[]": "c_site", "include[]": "c_notes"}).json()
            for i in ids]
    encoded = [orjson.dumps(document) for document in read]
    assert archive("ndjson")[1] == b"\n".join(encoded)
    assert archive("json")[1] == b"[\n" + b",\n".join(encoded) + b"\n]"
    assert archive("csv")[1] == expected_csv(read)

    zipped, data = archive("files")
    exported = [orjson.loads(line) for line in data.split(b"\n")]
    with_files = [doc for doc in exported if doc.get("c_photo")]
    assert len(with_files) == 2
    for document in with_files:
        entry = document["c_photo"]["path"].lstrip("/")
        original = admin.http.get(f"/c_patients/{document['_id']}/c_photo/content").content
        assert zipped.read(entry) == original

    _zipped, data = archive("prefix")
    listed = admin.http.get(f"/c_sites/{site}/c_patients?limit=1000").json()["data"]
    assert sorted(orjson.loads(line)["_id"] for line in data.split(b"\n") if line) == sorted(
        doc["_id"] for doc in listed)


@pytest.mark.e2e
def test_cancel_stops_a_running_export_within_two_seconds(cluster):
    server, runtime, tmp_path = cluster
    key, email = seed_org(runtime, "epsilon", LONG_EXPORT_PATIENTS)
    admin = Admin(server.url, "epsilon", key, email)
    export = admin.export(format="text/csv", expand=["c_site"])
    worker = start_worker(server, tmp_path / "worker.log", "--concurrency", "1")
    try:
        wait_for(lambda: (admin.get(export["_id"]).get("progress") or {}).get("docs", 0) > 0, 120, "running")
        asked = time.monotonic()
        admin.http.post(f"/exports/{export['_id']}/cancel", json={})
        wait_for(lambda: admin.get(export["_id"])["state"] == "error", 10, "the cancel")
        assert time.monotonic() - asked < 2.0
    finally:
        stop(worker)
    ended = admin.get(export["_id"])
    assert ended["fault"]["errCode"] == "cortex.error.aborted" and ended["events"][-1]["name"] == "aborted"
