"""The official client with the credentials ``opencortex demo`` prints, in all three modes.

The demo app is the one key the README gives for every mode, and its signed requests act as the
demo administrator: with it, the official client reads the account, object definitions,
instances and exports, and creates an export, as a session, as signed requests and with a bearer
token. A data folder from an older version, whose demo app signed as nobody, is brought up to
date by running ``opencortex demo`` again, keeping the key and secret it printed before.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from opencortex.auth.signatures import sign
from opencortex.runtime import Runtime
from opencortex.settings import Settings
from opencortex.store.tables import apps
from tests.e2e.conftest import OPENCORTEX, LiveServer
from tests.e2e.test_official_client import official_client_modules  # noqa: F401 - the fixture

DRIVER = Path(__file__).with_name("official_client_demo.js")


def run_driver(modules: Path, config: dict[str, object]) -> dict[str, dict[str, dict]]:
    env = dict(os.environ, NODE_PATH=str(modules), OC_E2E_CONFIG=json.dumps(config))
    for proxy in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY"):
        env.pop(proxy, None)
    completed = subprocess.run(["node", str(DRIVER)], env=env, capture_output=True, text=True, timeout=120)
    assert completed.returncode == 0, completed.stderr
    return json.loads(completed.stdout)


@pytest.mark.e2e
def test_the_demo_credentials_work_in_every_mode(live_server: LiveServer, official_client_modules: Path):  # noqa: F811
    """Then, on the same server (a demo load costs seconds), an older demo app is updated."""
    check_every_mode(live_server, official_client_modules)
    check_an_older_demo_app_is_brought_up_to_date(live_server)


def check_every_mode(live_server: LiveServer, official_client_modules: Path) -> None:  # noqa: F811
    demo = live_server.demo
    token = live_server.cli("token", "create", "--org", "demo", "--app", demo["apiKey"], "--account",
                            demo["email"], "--expires-in", "600")["token"]
    results = run_driver(official_client_modules, {
        "endpoint": live_server.url, "org": "demo", "email": demo["email"], "password": demo["password"],
        "apiKey": demo["apiKey"], "apiSecret": demo["apiSecret"], "token": token,
    })
    assert results["password"]["login"]["ok"], results["password"]["login"]
    for mode in ("password", "signature", "token"):
        calls = results[mode]
        failed = {name: call for name, call in calls.items() if not call["ok"]}
        assert not failed, (mode, failed)
        assert calls["me"]["value"]["email"] == demo["email"], mode
        assert {"c_patient", "c_site"} <= {item["name"] for item in calls["objects"]["value"]["data"]}, mode
        patients = calls["patients"]["value"]["data"]
        assert len(patients) == 2 and all(p["object"] == "c_patient" and p["c_site"]["object"] == "c_site"
                                          for p in patients), mode
        created = calls["created"]["value"]
        assert created["object"] == "export" and created["label"] == f"Official client, {mode}", mode
        assert created["creator"]["_id"] == calls["me"]["value"]["_id"], mode
        assert calls["export"]["value"]["_id"] == created["_id"], mode
        assert created["_id"] in {item["_id"] for item in calls["exports"]["value"]["data"]}, mode


def check_an_older_demo_app_is_brought_up_to_date(live_server: LiveServer) -> None:
    demo = live_server.demo
    # What an older version left: a demo app whose signed requests act as nobody.
    runtime = Runtime.open(Settings.from_env(live_server.env))
    try:
        with runtime.database.begin() as connection:
            connection.execute(apps.update().where(apps.c.key == demo["apiKey"]).values(principal_id=None))
    finally:
        runtime.close()
    assert signed_me(live_server, demo).json()["code"] == "kNotLoggedIn"

    first = run_demo(live_server)
    assert first.returncode == 0, first.stderr
    assert f"Updated the demo app {demo['apiKey']}" in first.stderr
    assert f"signed requests act as {demo['email']} (they were anonymous)" in first.stderr
    for value in (demo["apiKey"], demo["apiSecret"], demo["password"]):
        assert value in first.stdout  # the same credentials, printed again
    me = signed_me(live_server, demo)
    assert me.status_code == 200 and me.json()["email"] == demo["email"], me.text

    again = run_demo(live_server)
    assert again.returncode == 0 and "Updated" not in again.stderr, again.stderr
    assert json.loads(run_demo(live_server, "--json").stdout) == demo


def run_demo(server: LiveServer, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([OPENCORTEX, "demo", *args], env=server.env, capture_output=True, text=True, timeout=120)


def signed_me(server: LiveServer, demo: dict[str, str]) -> httpx.Response:
    stamp = int(time.time() * 1000)
    return httpx.get(f"{server.url}/demo/v2/accounts/me", headers={
        "Medable-Client-Key": demo["apiKey"],
        "Medable-Client-Signature": sign(demo["apiKey"], demo["apiSecret"], "/accounts/me", "GET", stamp),
        "Medable-Client-Timestamp": str(stamp),
        "Medable-Client-Nonce": secrets.token_hex(8),
    })
