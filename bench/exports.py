"""Our real export path, measured: created through the API, run by a real worker in its own process.

Each run: ``POST /exports`` through an in-process ``TestClient`` of the API app, then
``python -m bench.worker_once`` claims and runs it (``ExportWorker.run_once``), then the export
record gives the time from ``started`` to ``completed`` (what a user waits for once a worker is
free). The archive is checked (decrypted, its manifest read: records and data size; with
``exportFiles``, every file entry's size and SHA-256 against the uploaded file's), then the
export is deleted so that runs do not pile up archives.

The ``files`` scenarios read only the patients that hold the bench's files (``dataset.ensure_files``,
selected by the export's ``where``): ``files`` with ``exportFiles`` and ``zipFiles`` (the files
inside the archive), ``files-base`` the same export without them, for comparison.
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
import sqlalchemy as sa
from fastapi.testclient import TestClient

from bench.dataset import ADMIN, PASSWORD, BenchData
from opencortex.api.app import create_app
from opencortex.clock import as_utc
from opencortex.exports.output import archive_key
from opencortex.runtime import Runtime
from opencortex.store.tables import exports

ROOT = Path(__file__).resolve().parent.parent
NDJSON, JSON, CSV = "application/x-ndjson", "application/json", "text/csv"


@dataclass(frozen=True)
class Scenario:
    key: str
    label: str
    body: dict[str, Any] = field(default_factory=dict)
    share: float = 1.0
    """The fraction of patients it selects (checked against what the export wrote)."""
    group: str = ""
    """``--only <group>`` selects it too."""
    file_patients: bool = False
    """Reads only the patients holding the bench's files (``BenchData.files``), by their ``where``."""

    def selected(self, wanted: set[str] | None) -> bool:
        return wanted is None or self.key in wanted or bool(self.group and self.group in wanted)


SCENARIOS = (
    Scenario("ndjson", "export NDJSON", {"format": NDJSON}),
    Scenario("json", "export JSON", {"format": JSON}),
    Scenario("csv", "export CSV", {"format": CSV}),
    Scenario("expand", "export NDJSON, expand c_site", {"format": NDJSON, "expand": ["c_site"]}),
    Scenario("where", "export NDJSON, where c_score < 20 (~20%)",
             {"format": NDJSON, "where": '{"c_score": {"$lt": 20}}'}, share=0.2),
    Scenario("principal", "export NDJSON, principal sees half",
             {"format": NDJSON, "principal": "monitor@bench.test"}, share=0.5),
    Scenario("files", "export NDJSON + files in the zip", {"format": NDJSON, "exportFiles": True, "zipFiles": True},
             group="files", file_patients=True),
    Scenario("files-base", "export NDJSON, the same patients, no files", {"format": NDJSON},
             group="files", file_patients=True),
)
FILE_SCENARIOS = frozenset(scenario.key for scenario in SCENARIOS if scenario.file_patients) | {"filecopy"}
"""Rows over the patients holding files (and the files copy limit): a docs/s figure says nothing there."""


@dataclass
class Run:
    seconds: float
    cpu: float | None = None
    docs: int = 0
    data_bytes: int = 0
    archive_bytes: int = 0
    peak_rss: int | None = None
    rss_before: int | None = None
    files: int = 0
    file_bytes: int = 0


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


def export_body(scenario: Scenario, data: BenchData) -> dict[str, Any]:
    """The ``POST /exports`` body of a scenario on this data set."""
    body = {"label": f"bench {scenario.key}", "objects": "c_patients", **scenario.body}
    if scenario.file_patients:
        if data.files is None:
            raise RuntimeError(f"{scenario.key}: the data set has no files (bench.dataset.ensure_files)")
        body["where"] = data.files["where"]
    return body


def run_export(runtime: Runtime, data: BenchData, client: ApiClient, scenario: Scenario) -> Run:
    created = client.request("POST", "exports", export_body(scenario, data))
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
        row = dict(connection.execute(sa.select(exports).where(exports.c.org_id == data.org_id,
                                                               exports.c.id == export_id)).mappings().one())
    if not measured["ran"] or row["state"] != "ready":
        raise RuntimeError(f"{scenario.key}: the export ended {row['state']}: {row['fault']}")
    seconds = (as_utc(row["completed"]) - as_utc(row["started"])).total_seconds()
    docs = int(row["stats"]["docs"]["count"])
    if scenario.file_patients:
        assert data.files is not None
        if docs != data.files["count"]:
            raise RuntimeError(f"{scenario.key}: exported {docs} documents, expected {data.files['count']}")
    else:
        expected = data.docs * scenario.share
        # "where" selects at random (c_score is uniform): allow for chance, five standard deviations.
        if abs(docs - expected) > max(1.0, 5 * (expected * (1 - scenario.share)) ** 0.5):
            raise RuntimeError(f"{scenario.key}: exported {docs} documents, expected about {expected:.0f}")
    manifest, methods = _manifest(runtime, row)
    data_bytes = _data_entry_size(manifest, docs)
    files = file_bytes = 0
    if scenario.body.get("exportFiles"):
        assert data.files is not None
        files, file_bytes = _check_files(manifest, methods, data.files)
        if int(row["stats"]["files"]["count"]) != files:
            raise RuntimeError(f"{scenario.key}: the export counts {row['stats']['files']['count']} files, "
                               f"its archive holds {files}")
    client.request("DELETE", f"exports/{export_id}")
    return Run(seconds=seconds, cpu=measured["cpu"], docs=docs, data_bytes=data_bytes,
               archive_bytes=int(row["data_file"]["size"]), peak_rss=measured["peak_rss"],
               rss_before=measured["rss_before"], files=files, file_bytes=file_bytes)


def _manifest(runtime: Runtime, row: dict[str, Any]) -> tuple[dict[str, Any], dict[str, int]]:
    """Decrypts the archive (to a temporary file: a zip's directory is at its end); its manifest, and
    each entry's zip method (stored or deflated)."""
    store = runtime.file_store
    with tempfile.TemporaryFile() as copy:
        with store.open_reader(archive_key(row["id"], row["attempts"])) as reader:
            for chunk in reader:
                copy.write(chunk)
        copy.seek(0)
        with zipfile.ZipFile(copy) as archive:
            methods = {info.filename: info.compress_type for info in archive.infolist()}
            return orjson.loads(archive.read("manifest.json")), methods


def _data_entry_size(manifest: dict[str, Any], docs: int) -> int:
    """The data entry's size, its records checked against the export's count."""
    entry = manifest["entries"][0]
    if entry["records"] != docs:
        raise RuntimeError(f"the manifest lists {entry['records']} records, the export {docs}")
    return int(entry["size"])


def _check_files(manifest: dict[str, Any], methods: dict[str, int], files: dict[str, Any]) -> tuple[int, int]:
    """Every uploaded file is in the archive, whole (SHA-256 of the bytes the zip writer got) and
    stored or deflated as its type says; returns (files, their bytes)."""
    entries = [entry for entry in manifest["entries"] if entry["kind"] == "file"]
    wanted = sorted(item["sha256"] for item in files["items"])
    if sorted(entry["sha256"] for entry in entries) != wanted or manifest["totals"]["files"] != len(wanted):
        raise RuntimeError(f"the archive's {len(entries)} file entries are not the {len(wanted)} uploaded files")
    if any(entry["size"] != files["size"] for entry in entries):
        raise RuntimeError("a file entry has the wrong size")
    method = zipfile.ZIP_DEFLATED if files["ext"] == "bin" else zipfile.ZIP_STORED
    if any(methods.get(entry["name"]) != method for entry in entries):
        raise RuntimeError(f"file entries should all be {'deflated' if method else 'stored'}")
    return len(entries), sum(int(entry["size"]) for entry in entries)
