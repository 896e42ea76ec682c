"""Exports across real processes: a server without a worker, and `opencortex worker` processes.

Per-org order while another org runs in parallel, and a worker killed with SIGKILL in the middle
of a large export whose job another worker then finishes from the start.
"""

from __future__ import annotations

import io
import json
import signal
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import httpx
import orjson
import pytest

from opencortex.acl.viewer import Viewer
from opencortex.clock import utcnow
from opencortex.demo.study import PATIENTS, SITES, patient_bodies, site_bodies
from opencortex.exports.verify import verify_archive
from opencortex.ids import new_object_id
from opencortex.instances.service import Instances
from opencortex.model.accounts import create_account
from opencortex.model.apps import create_app
from opencortex.model.objects import create_object, get_object, update_object
from opencortex.model.orgs import create_org, find_org
from opencortex.model.validation import validate_create
from opencortex.runtime import Runtime
from opencortex.store.tables import documents
from tests.e2e.conftest import start_worker, stop, wait_for

PASSWORD = "e2e password 1"


class Admin:
    """An administrator's logged-in HTTP session against one org of the live server."""

    opened: ClassVar[list[Admin]] = []  # closed after each test (close_admins)

    def __init__(self, url: str, org: str, key: str, email: str) -> None:
        self.http = httpx.Client(base_url=f"{url}/{org}/v2", headers={"Medable-Client-Key": key}, timeout=60)
        Admin.opened.append(self)
        login = self.http.post("/accounts/login", json={"email": email, "password": PASSWORD})
        assert login.status_code == 200, login.text
        self.http.headers["medable-csrf-token"] = login.headers["medable-csrf-token"]

    def export(self, **body: object) -> dict:
        response = self.http.post("/exports", json={"label": "e2e", "objects": "c_patients", **body})
        assert response.status_code == 200, response.text
        return response.json()

    def get(self, export_id: str) -> dict:
        return self.http.get(f"/exports/{export_id}?include[]=events").json()


@pytest.fixture(autouse=True)
def close_admins() -> Iterator[None]:
    """Every ``Admin`` session of a test is closed after it (an open socket is a warning, so an error)."""
    yield
    while Admin.opened:
        Admin.opened.pop().http.close()


# Sizes that keep each export running for seconds at the speed exports reach on a 2-core machine
# (~40,000 docs/s for CSV, ~90,000 for NDJSON): long enough for exports of two orgs to overlap, and
# for a worker to be killed, or an export cancelled, while it runs, not after it has finished.
FIFO_PATIENTS = 50_000
LONG_EXPORT_PATIENTS = 150_000


def seed_org(runtime: Runtime, code: str, patients: int) -> tuple[str, str]:
    """An org with an administrator, an app and ``patients`` patients (inserted in bulk)."""
    with runtime.database.begin() as connection:
        org = find_org(connection, code) or create_org(connection, code, code.title())
        email = f"admin@{code}.test"
        admin = create_account(connection, org["id"], email=email, password=PASSWORD, roles=["administrator"])
        _row, key, _ = create_app(connection, runtime.master_key, org["id"], name="E2E")
        create_object(connection, org["id"], {**SITES, "properties": [p for p in SITES["properties"]
                                                                      if p["type"] != "List"]})
        definition = create_object(connection, org["id"], PATIENTS)
        update_object(connection, org["id"], "c_site", {"properties": SITES["properties"]})
        viewer = Viewer(org["id"], admin["id"], frozenset(admin["roles"]))
        sites = Instances(connection, runtime.database.dialect, org["id"],
                          get_object(connection, org["id"], "c_site"), viewer)
        site_ids = [sites.create(body)["_id"] for body in site_bodies()]
        # Validate a few hundred distinct bodies, then insert many rows of them: fast and real.
        templates = [validate_create(definition, body) for body in patient_bodies(300, site_ids)]
        now = utcnow()
        rows = []
        for index in range(patients):
            body = dict(templates[index % len(templates)])
            body["c_number"] = f"E-{index:08d}"
            rows.append({"org_id": org["id"], "object": "c_patient", "id": new_object_id(), "type": None,
                         "owner": admin["id"], "creator": admin["id"], "updater": None, "created": now,
                         "updated": None, "sequence": 0, "acl": [], "body": body})
            if len(rows) == 5000:
                connection.execute(documents.insert(), rows)
                rows = []
        if rows:
            connection.execute(documents.insert(), rows)
    return key, email


@pytest.mark.e2e
def test_per_org_fifo_while_other_orgs_run_in_parallel(cluster):
    server, runtime, tmp_path = cluster
    key_a, email_a = seed_org(runtime, "alpha", FIFO_PATIENTS)
    key_b, email_b = seed_org(runtime, "beta", FIFO_PATIENTS)
    alpha, beta = Admin(server.url, "alpha", key_a, email_a), Admin(server.url, "beta", key_b, email_b)
    queued_a = [alpha.export(format="text/csv") for _ in range(3)]
    queued_b = beta.export(format="text/csv")
    workers = [start_worker(server, tmp_path / "workers.log", "--concurrency", "2") for _ in range(2)]
    try:
        done = wait_for(lambda: all(alpha.get(e["_id"])["state"] == "ready" for e in queued_a)
                        and beta.get(queued_b["_id"])["state"] == "ready", 240, "all exports")
        assert done
    finally:
        for worker in workers:
            stop(worker)
    runs_a = [alpha.get(e["_id"]) for e in queued_a]
    run_b = beta.get(queued_b["_id"])
    # Org alpha: one at a time, in creation order.
    for earlier, later in zip(runs_a, runs_a[1:], strict=False):
        assert earlier["completed"] <= later["started"], (earlier, later)
    # Org beta ran at the same time as alpha's first export, not after it.
    assert run_b["started"] < runs_a[0]["completed"] and runs_a[0]["started"] < run_b["completed"]
    assert all(run["stats"]["docs"]["count"] == FIFO_PATIENTS for run in runs_a + [run_b])


@pytest.mark.e2e
def test_a_killed_worker_loses_nothing(cluster):
    server, runtime, tmp_path = cluster
    key, email = seed_org(runtime, "gamma", LONG_EXPORT_PATIENTS)
    admin = Admin(server.url, "gamma", key, email)
    export = admin.export(expand=["c_site"])
    first = start_worker(server, tmp_path / "worker1.log", "--concurrency", "1", "--lease-seconds", "5")
    try:
        wait_for(lambda: (admin.get(export["_id"]).get("progress") or {}).get("docs", 0) > 0, 120,
                 "the export to be running with documents written")
        first.send_signal(signal.SIGKILL)
        first.wait()
    finally:
        stop(first)
    assert admin.get(export["_id"])["state"] == "running"  # the dead worker's lease still holds it
    second = start_worker(server, tmp_path / "worker2.log", "--concurrency", "1", "--lease-seconds", "5")
    try:
        wait_for(lambda: admin.get(export["_id"])["state"] in ("ready", "error"), 300, "the export to finish")
    finally:
        stop(second)
    finished = admin.get(export["_id"])
    assert finished["state"] == "ready", finished
    names = [event["name"] for event in finished["events"]]
    assert "reclaimed" in names and names.count("started") == 2
    archive_bytes = admin.http.get(f"/exports/{export['_id']}/dataFile/content").content
    path = tmp_path / "archive.zip"
    path.write_bytes(archive_bytes)
    report = verify_archive(path)
    assert report.ok, report.problems
    archive = zipfile.ZipFile(io.BytesIO(archive_bytes))
    data = archive.read(archive.namelist()[0])
    ids = [orjson.loads(line)["_id"] for line in data.split(b"\n")]
    assert len(ids) == LONG_EXPORT_PATIENTS and len(set(ids)) == LONG_EXPORT_PATIENTS
    assert json.loads(archive.read("manifest.json"))["entries"][0]["records"] == LONG_EXPORT_PATIENTS
    stored = list((Path(server.env["OPENCORTEX_DATA_DIR"]) / "files").rglob("*.zip"))
    assert len(stored) == 1  # the first attempt's partial output is gone
