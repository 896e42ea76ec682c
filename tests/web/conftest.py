from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient

from opencortex.exports.worker import ExportWorker
from tests.instances.conftest import load_study
from tests.support.platform import OrgFixture
from tests.web.console_client import ConsoleClient


@dataclass
class ConsoleStudy:
    platform: OrgFixture
    http: TestClient
    admin: ConsoleClient  # logged in as the org's administrator
    site_ids: list[str]
    patient_ids: list[str]
    worker: ExportWorker
    browsers: list[TestClient]

    def run_exports(self) -> int:
        ran = 0
        while self.worker.run_once():
            ran += 1
        return ran

    def client(self) -> ConsoleClient:
        """Another browser: its own cookies, on the same server."""
        browser = TestClient(self.http.app, base_url=str(self.http.base_url))
        self.browsers.append(browser)
        return ConsoleClient(browser, self.platform.code)


@pytest.fixture
def console(platform: OrgFixture, http: TestClient) -> Iterator[ConsoleStudy]:
    site_ids, patient_ids = load_study(platform, 12)
    admin = ConsoleClient(http, platform.code)
    assert admin.login(platform.admin["email"]).status_code == 303
    study = ConsoleStudy(platform, http, admin, site_ids, patient_ids,
                         ExportWorker(platform.runtime, concurrency=1, lease_seconds=30), [])
    yield study
    for browser in study.browsers:
        browser.close()
