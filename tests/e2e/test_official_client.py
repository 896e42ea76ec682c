"""The official Medable client (@medable/mdctl-api 1.0.73, from npm) against a real server.

It needs Node.js and npm; the package is installed into ``.cache/`` on first use. Under
``CI=true`` a missing Node.js fails the test instead of skipping it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.e2e.conftest import LiveServer

CLIENT_VERSION = "1.0.73"
ROOT = Path(__file__).resolve().parents[2]
CACHE = ROOT / ".cache" / f"mdctl-api-{CLIENT_VERSION}"
DRIVER = Path(__file__).with_name("official_client.js")


@pytest.fixture(scope="session")
def official_client_modules() -> Path:
    node, npm = shutil.which("node"), shutil.which("npm")
    if not node or not npm:
        message = "Node.js and npm are needed to run the official client (apt-get install nodejs npm)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    modules = CACHE / "node_modules"
    if not (modules / "@medable" / "mdctl-api" / "package.json").exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [npm, "install", "--no-audit", "--no-fund", "--no-save", "--prefix", str(CACHE),
             f"@medable/mdctl-api@{CLIENT_VERSION}"],
            check=True, capture_output=True, timeout=600,
        )
    return modules


def run_official_client(modules: Path, config: dict[str, object]) -> dict[str, dict[str, dict]]:
    env = dict(os.environ, NODE_PATH=str(modules), OC_E2E_CONFIG=json.dumps(config))
    for proxy in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY"):
        env.pop(proxy, None)
    completed = subprocess.run(["node", str(DRIVER)], env=env, capture_output=True, text=True, timeout=120)
    assert completed.returncode == 0, completed.stderr
    return json.loads(completed.stdout)


@pytest.mark.e2e
def test_official_client_in_all_three_modes(live_server: LiveServer, official_client_modules: Path):
    demo = live_server.demo
    other = live_server.cli("account", "create", "--org", "demo", "--email", "provider@demo.test",
                            "--role", "provider", "--password-stdin", stdin="provider password\n")
    signing = live_server.cli("app", "create", "--org", "demo", "--name", "Integration", "--signing",
                              "--principal-override", "--principal", demo["email"])
    token = live_server.cli("token", "create", "--org", "demo", "--app", demo["apiKey"], "--account",
                            demo["email"], "--expires-in", "600")["token"]
    results = run_official_client(official_client_modules, {
        "endpoint": live_server.url,
        "org": "demo",
        "email": demo["email"],
        "password": demo["password"],
        "sessionKey": demo["apiKey"],
        "signingKey": signing["key"],
        "signingSecret": signing["secret"],
        "otherAccountId": other["_id"],
        "token": token,
    })

    password = results["password"]
    assert password["login"]["ok"] and password["login"]["value"]["email"] == demo["email"]
    assert password["me"]["ok"] and password["me"]["value"]["email"] == demo["email"]
    assert password["status"]["ok"] and password["status"]["value"]["loggedin"] is True
    assert password["logout"]["ok"] and password["logout"]["value"] is True
    assert password["afterLogout"]["fault"]["code"] == "kNotLoggedIn"
    assert password["name"]["ok"] and set(password["name"]["value"]) == {"first", "last"}  # a result, unwrapped
    assert password["status"]["value"]["account"] == {"_id": password["me"]["value"]["_id"], "object": "account"}

    exports = results["exports"]
    assert exports["created"]["ok"], exports["created"]
    export_id = exports["created"]["value"]["_id"]
    listed = exports["listed"]["value"]
    assert exports["listed"]["ok"] and listed["object"] == "list"
    assert listed["data"] == [{"_id": export_id, "object": "export", "label": "Client export"}]
    assert exports["filteredOut"]["ok"] and exports["filteredOut"]["value"]["data"] == []
    assert exports["patched"]["ok"] and exports["patched"]["value"]["label"] == "Renamed by client"
    assert exports["put"]["ok"] and exports["put"]["value"]["description"] == "Described by client"
    assert exports["label"] == {"ok": True, "value": "Renamed by client"}
    assert exports["docs"]["ok"] and exports["docs"]["value"] in (0, 3000)  # pending, or already ready
    refused = exports["refused"]
    assert not refused["ok"] and refused["fault"]["errCode"] == "cortex.invalidArgument.validation"
    assert refused["fault"]["code"] == "kValidationError"
    unknown = exports["unknownArgument"]
    assert not unknown["ok"] and unknown["fault"]["errCode"] == "cortex.invalidArgument.query"

    signature = results["signature"]
    assert signature["me"]["ok"] and signature["me"]["value"]["email"] == demo["email"]
    assert signature["list"]["ok"] and signature["list"]["value"]["object"] == "list"
    assert signature["asPrincipal"]["ok"] and signature["asPrincipal"]["value"]["_id"] == other["_id"]

    assert results["token"]["me"]["ok"] and results["token"]["me"]["value"]["email"] == demo["email"]

    refused = results["wrongSecret"]["me"]
    assert not refused["ok"] and refused["fault"]["code"] == "kInvalidRequestSignature"
