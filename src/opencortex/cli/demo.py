"""``opencortex demo``: make sure the demo org, its administrator and app exist; print how to log in.

The demo password is random on first run and kept in ``<data_dir>/demo-credentials.json``
(mode 0600), so that running the command again prints credentials that still work. If that
file is gone, or the password was changed, the demo administrator gets a fresh password. The
demo app (``opencortex.demo.app``) signs as the administrator; an older data folder's app is
brought up to date, and what changed is said on standard error.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from opencortex.attachments.demo_images import attach_demo_images
from opencortex.cli.context import CommandContext, pass_context
from opencortex.cli.output import emit, json_option
from opencortex.demo.app import ensure_demo_app
from opencortex.demo.load import DEMO_PATIENTS, ensure_study
from opencortex.model.accounts import create_account, find_account_by_email, set_account_password, unlock_account
from opencortex.model.apps import random_alphanumeric
from opencortex.model.orgs import create_org, find_org
from opencortex.model.passwords import verify_password
from opencortex.runtime import Runtime

DEMO_ORG = "demo"
DEMO_EMAIL = "admin@demo.opencortex.local"


@click.command("demo")
@json_option()
@pass_context
def demo_command(context: CommandContext, as_json: bool) -> None:
    """Create (or find) the demo org and print working credentials."""
    runtime = context.runtime
    credentials = ensure_demo(runtime, notify=lambda line: click.echo(line, err=True))
    with runtime.database.connect() as connection:
        org = find_org(connection, DEMO_ORG)
        admin = find_account_by_email(connection, org["id"], DEMO_EMAIL) if org else None
    if org and admin and ensure_study(runtime, org["id"], admin):
        photos = attach_demo_images(runtime, org)
        click.echo(f"Loaded the demo study model: c_sites and {DEMO_PATIENTS} c_patients "
                   f"({len(photos)} with a photo).", err=True)
    settings = runtime.settings
    url = f"http://{settings.host}:{settings.port}"
    credentials["url"] = url
    credentials["consoleUrl"] = f"{url}/{DEMO_ORG}/console"
    emit(as_json, credentials, [
        "OpenCortex demo",
        f"  URL:        {url}/{DEMO_ORG}/v2",
        f"  Console:    {credentials['consoleUrl']}",
        f"  Org code:   {DEMO_ORG}",
        f"  Email:      {credentials['email']}",
        f"  Password:   {credentials['password']}",
        f"  API key:    {credentials['apiKey']}",
        f"  API secret: {credentials['apiSecret']}",
        "Try:",
        f"  curl -s -H 'Medable-Client-Key: {credentials['apiKey']}' {url}/{DEMO_ORG}/v2",
        "  (log in as above, then GET /c_patients?limit=5&expand[]=c_site)",
    ])


def ensure_demo(runtime: Runtime, notify: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Create or repair the demo org, administrator and app; their credentials. ``notify`` hears
    what was changed in an existing demo app."""
    stored_path = runtime.settings.data_dir / "demo-credentials.json"
    stored = _read_stored(stored_path)
    with runtime.database.begin() as connection:
        org = find_org(connection, DEMO_ORG) or create_org(connection, DEMO_ORG, "OpenCortex Demo")
        account = find_account_by_email(connection, org["id"], DEMO_EMAIL)
        password = stored.get("password", "")
        if account is None:
            password = random_alphanumeric(20)
            account = create_account(connection, org["id"], email=DEMO_EMAIL, password=password,
                                     roles=["administrator"], first_name="Demo", last_name="Administrator")
        elif not password or not verify_password(account["password_hash"], password):
            password = random_alphanumeric(20)
            set_account_password(connection, org["id"], account["id"], password)
        app = ensure_demo_app(connection, runtime.master_key, org["id"], account)
        # The credentials printed next must work now, even after someone mistyped the password.
        unlocked = unlock_account(connection, org["id"], DEMO_EMAIL)
    _write_stored(stored_path, {"email": DEMO_EMAIL, "password": password})
    if notify is not None:
        if app.changes:
            notify(f"Updated the demo app {app.key} for this version: " + "; ".join(app.changes) + ".")
        if unlocked.was_locked or unlocked.lockout is not None:
            notify(f"Unlocked {DEMO_EMAIL} after failed logins.")
    return {
        "org": DEMO_ORG,
        "email": DEMO_EMAIL,
        "password": password,
        "apiKey": app.key,
        "apiSecret": app.secret,
    }


def _read_stored(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write_stored(path: Path, data: dict[str, Any]) -> None:
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        json.dump(data, handle)
