"""The demo's API app: one key for every way to authenticate, as the README shows them.

Password sessions (with CSRF tokens), signed requests and bearer tokens all go through this one
app, and a signed request acts as the demo administrator, so that every example works as
printed. A data folder made by an older version may hold an app that lacks some of this (its
signed requests were anonymous): it is brought up to date in place, keeping its key and secret,
and each change is reported. Only an app without a secret gets a new one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection

from opencortex.keys import MasterKey
from opencortex.model.apps import app_secret, create_app, issue_app_secret, list_apps, update_app

DEMO_APP = "Demo"


@dataclass(frozen=True)
class DemoApp:
    key: str
    secret: str
    changes: tuple[str, ...]  # what an existing app lacked and now has, in words; empty when nothing


def ensure_demo_app(connection: Connection, master_key: MasterKey, org_id: str, admin: dict[str, Any]) -> DemoApp:
    """Create the demo app, or bring an existing one up to what the README needs (idempotent)."""
    app = next((row for row in list_apps(connection, org_id) if row["name"] == DEMO_APP), None)
    if app is None:
        _row, key, secret = create_app(connection, master_key, org_id, name=DEMO_APP, signing=True,
                                       sessions=True, principal_id=admin["id"])
        assert secret is not None  # a signing app always has one
        return DemoApp(key=key, secret=secret, changes=())
    wanted = _settings(admin)
    changes = {name: value for name, value in wanted.items() if app[name] != value}
    update_app(connection, org_id, app["id"], **changes)
    described = [_describe(name, app[name], admin) for name in changes]
    secret = app_secret(master_key, app)
    if secret is None:
        secret = issue_app_secret(connection, master_key, org_id, app["id"])
        described.append("it had no secret, so it could not sign requests: it has a new one (below)")
    return DemoApp(key=app["key"], secret=secret, changes=tuple(described))


def _settings(admin: dict[str, Any]) -> dict[str, Any]:
    """The demo app's settings that the README's examples rely on."""
    return {"enabled": True, "sessions": True, "csrf": True, "sign_content": False, "principal_id": admin["id"]}


def _describe(setting: str, old: Any, admin: dict[str, Any]) -> str:
    if setting == "principal_id":
        before = "they were anonymous" if old is None else "they acted as another account"
        return f"signed requests act as {admin['email']} ({before})"
    return {
        "enabled": "it was disabled: it is enabled",
        "sessions": "password sessions are on",
        "csrf": "session writes need the CSRF token",
        "sign_content": "signed requests need not sign their query and body (the README's do not)",
    }[setting]
