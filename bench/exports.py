"""Our real export path, measured: created through the API, run by a real worker in its own process.

Each run: ``POST /exports`` through an in-process ``TestClient`` of the API app, then
``python -m bench.worker_once`` claims and runs it (``ExportWorker.run_once``), then the export
record gives the time from ``started`` to ``completed`` (what a user waits for once a worker is
free). The archive is checked (decrypted, its manifest read: records and data size), then the
export is deleted so that runs do not pile up archives.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from fastapi.testclient import TestClient

from bench.dataset import ADMIN, PASSWORD, BenchData
from opencortex.api.app import create_app
from opencortex.clock import as_utc
from opencortex.exports.queue import get_export
from opencortex.exports.service import archive_key
from opencortex.files import open_file_store
from opencortex.runtime import Runtime

ROOT = Path(__file__).resolve().parent.parent
NDJSON, JSON, CSV = "application/x-ndjson", "application/json", "text/csv"


@dataclass(frozen=True)
class Scenario:
    key: str
    label: str
    body: dict[str, Any] = field(default_factory=dict)
    share: float = 1.0
    """The fraction of patients it selects (checked against what the export wrote)."""


SCENARIOS = (
    Scenario("ndjson", "export NDJSON", {"format": NDJSON}),
    Scenario("json", "export JSON", {"format": JSON}),
    Scenario("csv", "export CSV", {"format": CSV}),
    Scenario("expand", "export NDJSON, expand c_site", {"format": NDJSON, "expand": ["c_site"]}),
    Scenario("where", "export NDJSON, where c_score < 20 (~20%)",
             {"format": NDJSON, "where": '{"c_score": {"$lt": 20}}'}, share=0.2),
    Scenario("principal", "export NDJSON, principal sees half",
             {"format": NDJSON, "principal": "monitor@bench.test"}, share=0.5),
)


@dataclass
class Run:
    seconds: float
    cpu: float | None = None
    docs: int = 0
    data_bytes: int = 0
    archive_bytes: int = 0
    peak_rss: int | None = None
    rss_before: int | None = None


class ApiClient:
    """The administrator, logged in to the bench org through the API (session + CSRF)."""

    def __init__(self, runtime: Runtime, data: BenchData) -> None:
        self.http = TestClient(create_app(runtime=runtime), base_url="http://testserver")
        self.key = data.app_key
        self.csrf: str | None = None
        response = self.request("POST", "accounts/login", {"email": ADMIN, "password": PASSWORD})
        if response.status_code != 200:
            raise RuntimeError(f"cannot log in to the bench org: {response.text}")

    def request(self, method: str, path: str, body: Any = None) -> Any:
        headers = {"Medable-Client-Key": self.key}
        if self.csrf:
            headers["medable-csrf-token"] = self.csrf
        response = self.http.request(method, f"/bench/v2/{path}", json=body, headers=headers)
        self.csrf = response.headers.get("medable-csrf-token") or self.csrf
        return response

    def close(self) -> None:
        self.http.close()


def run_export(runtime: Runtime, data: BenchData, client: ApiClient, scenario: Scenario) -> Run:
    created = client.request("POST", "exports", {"label": f"bench {scenario.key}", "objects": "c_patients",
                                                 **scenario.body})
    if created.status_code != 200:
        raise RuntimeError(f"{scenario.key}: the API refused the export: {created.text}")
    export_id = created.json()["_id"]
    child = subprocess.run(
        [sys.executable, "-m", "bench.worker_once", "--data-dir", str(data.data_dir),
         "--database-url", data.database_url],
        cwd=ROOT, capture_output=True, text=True, check=False,
    )
    if child.returncode != 0:
        raise RuntimeError(f"{scenario.key}: the worker failed:\n{child.stderr[-3000:]}")
    measured = orjson.loads(child.stdout.strip().splitlines()[-1])
    with runtime.database.connect() as connection:
        row = get_export(connection, data.org_id, export_id)
    if not measured["ran"] or row["state"] != "ready":
        raise RuntimeError(f"{scenario.key}: the export ended {row['state']}: {row['fault']}")
    seconds = (as_utc(row["completed"]) - as_utc(row["started"])).total_seconds()
    docs = int(row["stats"]["docs"]["count"])
    expected = data.docs * scenario.share
    # "where" selects at random (c_score is uniform): allow for chance, five standard deviations.
    if abs(docs - expected) > max(1.0, 5 * (expected * (1 - scenario.share)) ** 0.5):
        raise RuntimeError(f"{scenario.key}: exported {docs} documents, expected about {expected:.0f}")
    data_bytes = _data_entry_size(runtime, row, docs)
    client.request("DELETE", f"exports/{export_id}")
    return Run(seconds=seconds, cpu=measured["cpu"], docs=docs, data_bytes=data_bytes,
               archive_bytes=int(row["data_file"]["size"]), peak_rss=measured["peak_rss"],
               rss_before=measured["rss_before"])


def _data_entry_size(runtime: Runtime, row: dict[str, Any], docs: int) -> int:
    """Decrypts the archive and reads its manifest: the data entry's size (its records checked)."""
    store = open_file_store(runtime.settings, runtime.master_key)
    with tempfile.TemporaryFile() as copy:
        with store.open_reader(archive_key(row["id"], row["attempts"])) as reader:
            for chunk in reader:
                copy.write(chunk)
        copy.seek(0)
        with zipfile.ZipFile(copy) as archive:
            manifest = orjson.loads(archive.read("manifest.json"))
    entry = manifest["entries"][0]
    if entry["records"] != docs:
        raise RuntimeError(f"the manifest lists {entry['records']} records, the export {docs}")
    return int(entry["size"])
