from __future__ import annotations

import io
import zipfile

import pytest

from opencortex.exports.worker import ExportWorker
from tests.instances.conftest import Study, load_study
from tests.support.platform import CortexClient


@pytest.fixture
def study(platform, http) -> Study:
    site_ids, patient_ids = load_study(platform, 40)
    client = CortexClient(http, platform.code, platform.session_app.key)
    client.login(platform.admin["email"])
    return Study(platform, client, site_ids, patient_ids)


@pytest.fixture
def worker(platform) -> ExportWorker:
    return ExportWorker(platform.runtime, concurrency=1, lease_seconds=30)


def run_all(worker: ExportWorker) -> int:
    ran = 0
    while worker.run_once():
        ran += 1
    return ran


def download_zip(client: CortexClient, export_id: str) -> zipfile.ZipFile:
    response = client.get(f"exports/{export_id}/dataFile/content", headers={"Accept": "application/zip"})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/zip"
    return zipfile.ZipFile(io.BytesIO(response.content))
