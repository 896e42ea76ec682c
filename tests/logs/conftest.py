"""Fixtures for the Logs tests: an org with a small object to export, a worker, short script limits."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from opencortex.acl.viewer import Viewer
from opencortex.exports.worker import ExportWorker
from opencortex.instances.service import Instances
from opencortex.model.accounts import create_account
from opencortex.model.objects import create_object
from tests.scripting.helpers import script_processes
from tests.support.platform import (
    PASSWORD,
    CortexClient,
    OrgFixture,
    make_runtime,
    seed_org,
)

# Short enough to keep the suite fast, long enough for a loaded two-core machine to start a child.
SCRIPT_TIMEOUT_SECONDS = 1
SEED_SCRIPT = "import logger from 'logger';\nlogger.info(script.arguments.err || script.arguments.export);\n"

NOTES = {
    "name": "c_note",
    "label": "Note",
    "defaultAcl": [{"type": 4, "allow": 7}],
    "createAcl": [{"type": 4}],
    "properties": [{"name": "c_text", "label": "Text", "type": "String", "indexed": True}],
}


@dataclass
class Org:
    fixture: OrgFixture
    client: CortexClient  # logged in as the org's administrator
    developer: dict[str, Any]

    @property
    def id(self) -> str:
        return str(self.fixture.org["id"])

    def export(self, **body: Any) -> dict[str, Any]:
        response = self.client.post("exports", json={"label": "Notes", "objects": "c_notes", **body})
        assert response.status_code == 200, response.text
        return dict(response.json())

    def read_export(self, export_id: str) -> dict[str, Any]:
        return dict(self.client.get(f"exports/{export_id}?include[]=events").json())

    def logs(self, **params: Any) -> Any:
        return self.client.get("logs", params=params)


def seed_notes(fixture: OrgFixture, count: int = 3) -> dict[str, Any]:
    """The ``c_note`` object with ``count`` notes, and a developer account; returns the developer."""
    runtime = fixture.runtime
    org_id = fixture.org["id"]
    with runtime.database.begin() as connection:
        definition = create_object(connection, org_id, NOTES)
        notes = Instances(connection, runtime.database.dialect, org_id, definition, Viewer.system(org_id))
        for index in range(count):
            notes.create({"c_text": f"note {index}"})
        return create_account(connection, org_id, email=f"developer@{fixture.code}.test", password=PASSWORD,
                              roles=["developer"])


def logged_in(http: Any, fixture: OrgFixture, email: str) -> CortexClient:
    client = CortexClient(http, fixture.code, fixture.session_app.key)
    response = client.login(email)
    assert response.status_code == 200, response.text
    return client


@pytest.fixture
def platform(database_url: str, tmp_path: Path) -> Iterator[OrgFixture]:
    """The shared fixture's org, on a runtime whose scripts time out after one second."""
    runtime = make_runtime(database_url, tmp_path / "var", script_timeout_seconds=SCRIPT_TIMEOUT_SECONDS)
    yield seed_org(runtime)
    runtime.close()


@pytest.fixture
def org(platform: OrgFixture, http: Any) -> Org:
    developer = seed_notes(platform)
    return Org(platform, logged_in(http, platform, platform.admin["email"]), developer)


@pytest.fixture
def worker(platform: OrgFixture) -> ExportWorker:
    return ExportWorker(platform.runtime, concurrency=1, lease_seconds=30)


@pytest.fixture(autouse=True)
def no_script_children() -> Iterator[None]:
    yield
    assert script_processes() == [], "a script child process was left behind"
