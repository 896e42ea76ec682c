"""Fixtures for exports through the API: a study of 40 patients, a worker, downloads.

The tests run on the local folder on both databases, and on S3 (the run's moto server) on SQLite:
every test but those that look into the local data folder (``LOCAL_ONLY``), whose S3 twins are in
``test_s3_exports.py``, which runs on both databases.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import Any

import pytest

from opencortex.exports.worker import ExportWorker
from tests.instances.conftest import Study, load_study
from tests.support.platform import CortexClient
from tests.support.s3 import deselect_s3_runs, storage_settings

# Tests that look into the local data folder; test_s3_exports.py checks the same in the bucket.
LOCAL_ONLY = frozenset({"test_tampered_archive_is_detected"})


@pytest.fixture(params=["local", "s3"])
def file_storage(request: pytest.FixtureRequest) -> dict[str, Any]:
    return storage_settings(request)


def runs_on_s3(item: pytest.Item, database: str) -> bool:
    if item.path.name == "test_s3_exports.py":
        return True
    return database == "sqlite" and getattr(item, "originalname", item.name) not in LOCAL_ONLY


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    deselect_s3_runs(config, items, Path(__file__).parent, runs_on_s3)


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
