"""Fixtures for files through the API: an object with File properties, and clients for two roles.

Every test here runs on the local folder, on both databases, and on S3 (the run's moto server),
on SQLite (``deselect_s3_runs``), but the 200 MiB round trip over HTTP, which stays on the local
folder: tests/files/test_s3_large.py holds S3's memory to flat, measured without HTTP around it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from opencortex.files import LocalFileStore
from opencortex.ids import ROLE_ADMINISTRATOR, ROLE_PROVIDER
from opencortex.model.objects import create_object
from opencortex.runtime import Runtime
from tests.support.platform import CortexClient, OrgFixture
from tests.support.s3 import deselect_s3_runs, storage_settings
from tests.support.stored import StoredObjectBytes

MIB = 1024 * 1024

PATIENTS = {
    "name": "c_patient",
    "label": "Patient",
    "defaultAcl": [
        {"type": 3, "target": ROLE_ADMINISTRATOR, "allow": 7},
        {"type": 3, "target": ROLE_PROVIDER, "allow": 4},
        {"type": 4, "allow": 7},
    ],
    "createAcl": [{"type": 3, "target": ROLE_ADMINISTRATOR}, {"type": 3, "target": ROLE_PROVIDER}],
    "properties": [
        {"name": "c_name", "label": "Name", "type": "String"},
        {"name": "c_photo", "label": "Photo", "type": "File"},
        {
            "name": "c_scan",
            "label": "Scan",
            "type": "File",
            "processors": [{"name": "content", "mimes": ["image/*"], "allowUpload": True}],
        },
        {
            "name": "c_consent",
            "label": "Consent",
            "type": "Document",
            "properties": [
                {"name": "c_signed", "label": "Signed", "type": "Date"},
                {"name": "c_form", "label": "Form", "type": "File"},
            ],
        },
    ],
}


class TokenClient(CortexClient):
    """Authenticates each request with a bearer token, so it never shares the test client's cookies."""

    def __init__(self, http: Any, org_code: str, key: str, token: str) -> None:
        super().__init__(http, org_code, key)
        self.token = token

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        kwargs["headers"] = {"Authorization": f"Bearer {self.token}", **(kwargs.get("headers") or {})}
        return super().request(method, path, **kwargs)


@dataclass
class FilesWorld:
    platform: OrgFixture
    http: Any
    admin: CortexClient  # logged in with a session (CSRF and all)
    provider: TokenClient  # may read the admin's patients, not change them
    patient_id: str  # created by the admin

    @property
    def runtime(self) -> Runtime:
        return self.platform.runtime

    @property
    def base(self) -> str:
        return f"c_patients/{self.patient_id}"

    def stored_keys(self) -> list[str]:
        return list(self.runtime.file_store.list_keys(f"orgs/{self.platform.org['id']}/"))

    def stored_path(self, key: str) -> Path | StoredObjectBytes:
        """The ciphertext stored under ``key``, to damage on purpose: its file in the local store,
        or (with the same ``read_bytes``/``write_bytes``) the object in S3."""
        backend = self.runtime.file_store.backend
        if isinstance(backend, LocalFileStore):
            return backend.root / key
        return StoredObjectBytes(backend, key)

    def usage(self) -> dict[str, Any]:
        response = self.admin.get("stats/storage")
        assert response.status_code == 200, response.text
        return dict(response.json())

    def new_patient(self, client: CortexClient | None = None, **body: Any) -> str:
        response = (client or self.admin).post("c_patients", json={"c_name": "Ada", **body})
        assert response.status_code == 200, response.text
        return str(response.json()["_id"])

    def upload(
        self,
        content: bytes,
        filename: str = "face.png",
        *,
        mime: str = "image/png",
        path: str | None = None,
        method: str = "PUT",
        client: CortexClient | None = None,
    ) -> Any:
        """A direct multipart upload into c_photo (or ``path``)."""
        return (client or self.admin).request(
            method, path or f"{self.base}/c_photo", files={"file": (filename, content, mime)}
        )


def upload_token(upload_url: str) -> str:
    match = re.search(r"/uploads/([^/?]+)$", upload_url)
    assert match, upload_url
    return match.group(1)


@pytest.fixture(params=["local", "s3"])
def file_storage(request: pytest.FixtureRequest) -> dict[str, Any]:
    return storage_settings(request)


def runs_on_s3(item: pytest.Item, database: str) -> bool:
    return item.path.name != "test_large.py" and database == "sqlite"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    deselect_s3_runs(config, items, Path(__file__).parent, runs_on_s3)


@pytest.fixture
def world(platform: OrgFixture, http: Any) -> FilesWorld:
    with platform.runtime.database.begin() as connection:
        create_object(connection, platform.org["id"], PATIENTS)
    admin = CortexClient(http, platform.code, platform.session_app.key)
    assert admin.login(platform.admin["email"]).status_code == 200
    provider = TokenClient(
        http, platform.code, platform.session_app.key, platform.token_for(platform.provider)
    )
    created = admin.post("c_patients", json={"c_name": "Ada"})
    assert created.status_code == 200, created.text
    return FilesWorld(platform, http, admin, provider, created.json()["_id"])


class LiveServer:
    """The API app under uvicorn on a loopback port, in a thread of this process (so the test's
    RSS covers the server too). For what the in-process test client cannot show: request bodies
    streamed from a generator, and connections aborted mid-response."""

    def __init__(self, runtime: Runtime) -> None:
        import socket
        import threading

        import uvicorn

        from opencortex.api.app import create_app

        self.socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.socket.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.socket.getsockname()[1]}"
        config = uvicorn.Config(create_app(runtime=runtime), log_level="warning", lifespan="off")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.socket]}, daemon=True)

    def __enter__(self) -> LiveServer:
        import time

        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the test server did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *_exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)
        self.socket.close()


@pytest.fixture
def live(world: FilesWorld) -> Any:
    with LiveServer(world.runtime) as server:
        yield server
