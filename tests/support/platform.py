"""Test helpers: an org with accounts and apps, and an in-process client that speaks Cortex."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from opencortex.api.app import create_app
from opencortex.auth.signatures import sign
from opencortex.auth.tokens import issue_token
from opencortex.model.accounts import create_account
from opencortex.model.apps import app_private_key
from opencortex.model.apps import create_app as create_api_app
from opencortex.model.orgs import create_org
from opencortex.runtime import Runtime
from opencortex.settings import Settings

PASSWORD = "correct horse battery"


@dataclass
class AppKeys:
    row: dict[str, Any]
    key: str
    secret: str | None


@dataclass
class OrgFixture:
    """One org with an administrator, a provider, and apps of every kind."""

    runtime: Runtime
    org: dict[str, Any]
    admin: dict[str, Any]
    provider: dict[str, Any]
    session_app: AppKeys
    signing_app: AppKeys
    override_app: AppKeys
    accounts: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def code(self) -> str:
        return str(self.org["code"])

    def token_for(self, account: dict[str, Any], app: AppKeys | None = None, expires_in: int = 600) -> str:
        app = app or self.session_app
        return issue_token(
            app_private_key(self.runtime.master_key, app.row), app_key=app.key, account_id=account["id"],
            email=account["email"], expires_in=expires_in,
        )


def make_runtime(database_url: str, data_dir: Path, **settings: Any) -> Runtime:
    # Links (signed URLs, upload URLs) point at the test client's own base URL, as a deployment's
    # point at its OPENCORTEX_PUBLIC_URL.
    settings.setdefault("public_url", "http://testserver")
    return Runtime.open(Settings(data_dir=data_dir, database_url=database_url, **settings), migrate=True)


def seed_org(runtime: Runtime, code: str = "acme") -> OrgFixture:
    with runtime.database.begin() as connection:
        org = create_org(connection, code, f"{code.title()} Research")
        admin = create_account(connection, org["id"], email=f"admin@{code}.test", password=PASSWORD,
                               roles=["administrator"], first_name="Ada", last_name="Admin")
        provider = create_account(connection, org["id"], email=f"provider@{code}.test", password=PASSWORD,
                                  roles=["provider"])
        session_app = AppKeys(*create_api_app(connection, runtime.master_key, org["id"], name="Web"))
        signing_app = AppKeys(*create_api_app(connection, runtime.master_key, org["id"], name="Server",
                                              signing=True, principal_id=admin["id"]))
        override_app = AppKeys(*create_api_app(connection, runtime.master_key, org["id"], name="Integration",
                                               signing=True, principal_override=True))
    return OrgFixture(runtime, org, admin, provider, session_app, signing_app, override_app)


class CortexClient:
    """A TestClient bound to one org and app, able to sign requests like the official client."""

    def __init__(self, http: TestClient, org_code: str, key: str, secret: str | None = None) -> None:
        self.http = http
        self.org_code = org_code
        self.key = key
        self.secret = secret
        self.csrf_token: str | None = None

    def url(self, path: str) -> str:
        return f"/{self.org_code}/v2/{path.lstrip('/')}"

    def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        content: bytes | None = None,
        headers: dict[str, str] | None = None,
        signed: bool = False,
        timestamp_ms: int | None = None,
        nonce: str | None = None,
        **kwargs: Any,
    ) -> Any:
        all_headers = {"Medable-Client-Key": self.key}
        if self.csrf_token:
            all_headers["medable-csrf-token"] = self.csrf_token
        if signed:
            assert self.secret is not None
            stamp = timestamp_ms if timestamp_ms is not None else int(time.time() * 1000)
            all_headers.update({
                "medable-client-signature": sign(self.key, self.secret, path, method, stamp),
                "medable-client-timestamp": str(stamp),
                "medable-client-nonce": nonce or secrets.token_hex(8),
            })
        all_headers.update(headers or {})
        response = self.http.request(method, self.url(path), json=json, content=content, headers=all_headers,
                                     **kwargs)
        if response.headers.get("medable-csrf-token"):
            self.csrf_token = response.headers["medable-csrf-token"]
        return response

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> Any:
        return self.request("POST", path, **kwargs)

    def put(self, path: str, **kwargs: Any) -> Any:
        return self.request("PUT", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> Any:
        return self.request("DELETE", path, **kwargs)

    def login(self, email: str, password: str = PASSWORD) -> Any:
        return self.post("accounts/login", json={"email": email, "password": password})


def open_test_client(runtime: Runtime) -> TestClient:
    return TestClient(create_app(runtime=runtime), base_url="http://testserver")


def assert_fault(response: Any, err_code: str, status: int, code: str | None = None) -> dict[str, Any]:
    body = response.json()
    assert body.get("object") == "fault", body
    assert body["errCode"] == err_code, body
    assert response.status_code == status == body["status"], (response.status_code, body)
    if code is not None:
        assert body["code"] == code, body
    assert response.headers["content-type"].startswith("application/json")
    assert "medable-server-time" in response.headers
    return dict(body)
