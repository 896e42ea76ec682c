"""A long `opencortex import` on SQLite while the server exports and takes API writes.

The import commits in short transactions and shares the write lock, so the export's lease
renewals go through (it is never reclaimed), and every API write succeeds or, at worst, is a 503
with Retry-After: never a 500. SIGTERM stops an import and deletes what it had committed.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest
import sqlalchemy as sa

from opencortex.demo.study import patient_bodies
from opencortex.runtime import Runtime
from opencortex.settings import Settings
from opencortex.store.tables import documents
from tests.e2e.conftest import OPENCORTEX, free_port, stop, wait_for
from tests.e2e.test_exports_e2e import PASSWORD, seed_org

EXPORTED = 150_000  # patients in the org before the import: an export of them runs for a while
IMPORTED = 200_000  # a file that takes the import well past an export lease (30 s) on SQLite


class ServedOrg:
    """``opencortex serve`` (with its export worker) over a seeded SQLite data folder."""

    def __init__(self, tmp_path: Path) -> None:
        port = free_port()
        self.env = dict(os.environ, OPENCORTEX_DATA_DIR=str(tmp_path / "var"), OPENCORTEX_PORT=str(port),
                        OPENCORTEX_DATABASE_URL=f"sqlite:///{tmp_path / 'var' / 'opencortex.db'}")
        self.url = f"http://127.0.0.1:{port}"
        self.runtime = Runtime.open(Settings.from_env(self.env))
        self.key, self.email = seed_org(self.runtime, "delta", EXPORTED)
        with self.runtime.database.connect() as connection:
            self.org_id, self.site_ids = _org_and_sites(connection)
        self.log = (tmp_path / "server.log").open("wb")
        self.process = subprocess.Popen([OPENCORTEX, "serve"], env=self.env, stdout=self.log,
                                        stderr=subprocess.STDOUT)
        wait_for(self._up, 60, "the server")
        self.http = httpx.Client(base_url=f"{self.url}/delta/v2", headers={"Medable-Client-Key": self.key},
                                 timeout=120)
        login = self.http.post("/accounts/login", json={"email": self.email, "password": PASSWORD})
        assert login.status_code == 200, login.text
        self.http.headers["medable-csrf-token"] = login.headers["medable-csrf-token"]

    def _up(self) -> bool:
        try:
            return httpx.get(f"{self.url}/delta/v2").status_code < 500
        except httpx.TransportError:
            return False

    def patients(self) -> int:
        with self.runtime.database.connect() as connection:
            return connection.execute(sa.select(sa.func.count()).select_from(documents).where(
                documents.c.org_id == self.org_id, documents.c.object == "c_patient")).scalar_one()

    def close(self) -> None:
        self.http.close()
        stop(self.process)
        self.log.close()
        self.runtime.close()


def _org_and_sites(connection: sa.Connection) -> tuple[str, list[str]]:
    sites = connection.execute(sa.select(documents.c.org_id, documents.c.id).where(
        documents.c.object == "c_site").order_by(documents.c.id)).all()
    return sites[0][0], [row[1] for row in sites]


@pytest.fixture
def served(tmp_path: Path) -> Iterator[ServedOrg]:
    server = ServedOrg(tmp_path)
    try:
        yield server
    finally:
        server.close()


def write_patients(path: Path, count: int, site_ids: list[str]) -> Path:
    with path.open("wb") as handle:
        for body in patient_bodies(count, site_ids):
            handle.write(orjson.dumps(body) + b"\n")
    return path


def start_import(served: ServedOrg, path: Path) -> subprocess.Popen[str]:
    return subprocess.Popen([OPENCORTEX, "import", "--org", "delta", "--object", "c_patients", "--as", served.email,
                             "--json", str(path)], env=served.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


@pytest.mark.e2e
def test_an_import_longer_than_a_lease_while_an_export_runs_and_api_writes_happen(
    served: ServedOrg, tmp_path: Path
) -> None:
    source = write_patients(tmp_path / "patients.ndjson", IMPORTED, served.site_ids)
    some_patient = served.http.get("/c_patients?limit=1").json()["data"][0]["_id"]
    answers: list[tuple[int, str | None, dict]] = []
    importing = threading.Event()

    def api_writes() -> None:  # what users do meanwhile: small writes, a few a second
        number = 0
        while importing.is_set():
            number += 1
            response = served.http.put(f"/c_patients/{some_patient}", json={"c_notes": f"note {number}"})
            answers.append((response.status_code, response.headers.get("Retry-After"), response.json()))
            time.sleep(0.2)

    importer = start_import(served, source)
    importing.set()
    writer = threading.Thread(target=api_writes)
    writer.start()
    try:
        wait_for(lambda: served.patients() > EXPORTED, 120, "the import's first commit")
        export = served.http.post("/exports", json={"label": "during the import", "objects": "c_patients",
                                                    "expand": ["c_site"]})
        assert export.status_code == 200, export.text
        output, errors = importer.communicate(timeout=900)
    finally:
        importing.clear()
        writer.join()
        if importer.poll() is None:
            importer.kill()
            importer.communicate()
    assert importer.returncode == 0, errors
    report = json.loads(output)
    assert report["committed"] and report["imported"] == IMPORTED
    assert report["transactions"] > 10 and report["longestTransactionSeconds"] < 5, report

    export_id = export.json()["_id"]
    done = wait_for(lambda: (lambda e: e if e["state"] in ("ready", "error") else None)(
        served.http.get(f"/exports/{export_id}?include[]=events").json()), 600, "the export")
    assert done["state"] == "ready", done
    names = [event["name"] for event in done["events"]]
    assert "reclaimed" not in names and names.count("started") == 1, names  # its lease renewals went through

    statuses = [status for status, _retry, _body in answers]
    assert statuses and 500 not in statuses, [body for status, _r, body in answers if status >= 500][:3]
    assert statuses.count(200) > len(statuses) // 2, statuses
    for status, retry_after, body in answers:
        assert status == 200 or (status == 503 and retry_after and body["errCode"] == "cortex.tooBusy.database")
    assert served.patients() == EXPORTED + IMPORTED


@pytest.mark.e2e
def test_sigterm_stops_an_import_and_deletes_what_it_committed(served: ServedOrg, tmp_path: Path) -> None:
    source = write_patients(tmp_path / "patients.ndjson", IMPORTED, served.site_ids)
    importer = start_import(served, source)
    try:
        wait_for(lambda: served.patients() > EXPORTED + 10_000, 180, "several committed transactions")
        importer.send_signal(signal.SIGTERM)
        _output, errors = importer.communicate(timeout=300)
    finally:
        if importer.poll() is None:
            importer.kill()
            importer.communicate()
    assert importer.returncode == 1, errors
    assert served.patients() == EXPORTED, errors  # the org is as it was before the import
