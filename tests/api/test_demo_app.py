"""The demo app (``opencortex demo``): one key for every mode, signing as the demo administrator;
an older data folder's demo app is brought up to date in place, keeping its key and secret."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from opencortex.cli.demo import DEMO_EMAIL, ensure_demo
from opencortex.runtime import Runtime
from opencortex.store.tables import apps
from tests.support.platform import CortexClient, make_runtime, open_test_client


@pytest.fixture
def runtime(database_url: str, tmp_path: Path) -> Iterator[Runtime]:
    opened = make_runtime(database_url, tmp_path / "var")
    yield opened
    opened.close()


def signed_me(runtime: Runtime, credentials: dict[str, Any]) -> Any:
    with open_test_client(runtime) as http:
        return CortexClient(http, "demo", credentials["apiKey"], credentials["apiSecret"]).get(
            "accounts/me", signed=True)


def session_me(runtime: Runtime, credentials: dict[str, Any]) -> Any:
    with open_test_client(runtime) as http:
        client = CortexClient(http, "demo", credentials["apiKey"])
        assert client.login(DEMO_EMAIL, credentials["password"]).status_code == 200
        return client.get("accounts/me")


def test_a_new_demo_app_signs_as_the_administrator(runtime):
    notices: list[str] = []
    credentials = ensure_demo(runtime, notify=notices.append)
    assert notices == []
    response = signed_me(runtime, credentials)
    assert response.status_code == 200 and response.json()["email"] == DEMO_EMAIL, response.text
    assert session_me(runtime, credentials).json()["email"] == DEMO_EMAIL


@pytest.mark.parametrize(("older", "notice"), [
    ({"principal_id": None}, f"signed requests act as {DEMO_EMAIL} (they were anonymous)"),
    ({"principal_id": "0123456789abcdef01234567"}, "(they acted as another account)"),
    ({"enabled": False}, "it was disabled: it is enabled"),
    ({"sessions": False}, "password sessions are on"),
    ({"csrf": False}, "session writes need the CSRF token"),
    ({"sign_content": True}, "signed requests need not sign their query and body"),
    ({"secret_sealed": None}, "it had no secret"),
])
def test_an_older_demo_app_is_brought_up_to_date(runtime, older, notice):
    before = ensure_demo(runtime)
    with runtime.database.begin() as connection:
        connection.execute(apps.update().where(apps.c.key == before["apiKey"]).values(**older))

    notices: list[str] = []
    after = ensure_demo(runtime, notify=notices.append)
    assert len(notices) == 1 and notice in notices[0] and before["apiKey"] in notices[0], notices
    assert after["apiKey"] == before["apiKey"] and after["password"] == before["password"]
    if "secret_sealed" in older:  # the only case that needs a new secret: it is the one printed
        assert after["apiSecret"] != before["apiSecret"] and len(after["apiSecret"]) == 64
    else:
        assert after["apiSecret"] == before["apiSecret"]
    response = signed_me(runtime, after)
    assert response.status_code == 200 and response.json()["email"] == DEMO_EMAIL, response.text
    assert session_me(runtime, after).json()["email"] == DEMO_EMAIL

    again: list[str] = []
    assert ensure_demo(runtime, notify=again.append) == after and again == []
    with runtime.database.connect() as connection:
        assert connection.execute(sa.select(sa.func.count()).select_from(apps)).scalar() == 1  # no second app
