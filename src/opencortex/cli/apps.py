"""``opencortex app``: create, list and show apps. A secret is printed once, at creation."""

from __future__ import annotations

from typing import Any

import click
from sqlalchemy import Connection

from opencortex import faults
from opencortex.cli.context import CommandContext, pass_context
from opencortex.cli.output import emit, json_option, table
from opencortex.model.accounts import find_account, find_account_by_email
from opencortex.model.apps import app_json, create_app, find_app_by_key, list_apps

ORG_OPTION = click.option("--org", "org_code", required=True, help="The org's code.")


@click.group("app")
def app_group() -> None:
    """Create, list and show apps (API keys)."""


@app_group.command("create")
@ORG_OPTION
@click.option("--name", required=True)
@click.option("--signing", is_flag=True, help="Issue a secret for signed requests.")
@click.option("--sessions/--no-sessions", default=None,
              help="Allow password sessions (default: on, off for signing apps).")
@click.option("--no-csrf", is_flag=True, help="Do not require the CSRF header on session requests.")
@click.option("--principal-override", is_flag=True, help="Honour Medable-Client-Account on signed requests.")
@click.option("--sign-content", is_flag=True,
              help="Signed requests must also sign their query, body and nonce (docs/api.md, Signed content).")
@click.option("--principal", "principal_email", help="Account that signed requests act as (default: anonymous).")
@json_option()
@pass_context
def app_create(
    context: CommandContext, org_code: str, name: str, signing: bool, sessions: bool | None, no_csrf: bool,
    principal_override: bool, sign_content: bool, principal_email: str | None, as_json: bool,
) -> None:
    """Create an app. Its secret is printed now and never again."""
    org = context.org(org_code)
    runtime = context.runtime
    with runtime.database.begin() as connection:
        principal_id = None
        if principal_email:
            account = find_account_by_email(connection, org["id"], principal_email)
            if account is None:
                raise faults.instance_not_found(f"No account {principal_email!r} in org {org_code!r}.",
                                                path="principal")
            principal_id = account["id"]
        app, key, secret = create_app(
            connection, runtime.master_key, org["id"], name=name, signing=signing, sessions=sessions,
            csrf=not no_csrf, principal_override=principal_override, principal_id=principal_id,
            sign_content=sign_content,
        )
    data = app_json(app) | {"secret": secret}
    lines = [f"Created app {app['name']} ({app['id']}).", f"API key:    {key}"]
    if secret:
        lines += [f"API secret: {secret}", "Keep the secret now: it is not shown again."]
    emit(as_json, data, lines)


@app_group.command("list")
@ORG_OPTION
@json_option()
@pass_context
def app_list(context: CommandContext, org_code: str, as_json: bool) -> None:
    """List an org's apps, oldest first (never their secrets)."""
    org = context.org(org_code)
    with context.runtime.database.connect() as connection:
        data = [_shown(connection, org["id"], app) for app in list_apps(connection, org["id"])]
    lines = table(
        [[app["key"], app["name"], app["_id"], _yes(app["signing"]), _yes(app["sessions"]), _yes(app["csrf"]),
          _yes(app["enabled"]), app["created"] or ""] for app in data],
        ["KEY", "NAME", "ID", "SIGNING", "SESSIONS", "CSRF", "ENABLED", "CREATED"],
    ) if data else ["No apps."]
    emit(as_json, {"object": "list", "data": data, "hasMore": False}, lines)


@app_group.command("show")
@ORG_OPTION
@click.argument("key")
@json_option()
@pass_context
def app_show(context: CommandContext, org_code: str, key: str, as_json: bool) -> None:
    """Show an app by its API key (never its secret or private key)."""
    org = context.org(org_code)
    with context.runtime.database.connect() as connection:
        app = find_app_by_key(connection, org["id"], key)
        if app is None:
            raise faults.app_not_found(f"No app with key {key!r} in org {org_code!r}.", path="key")
        data = _shown(connection, org["id"], app)
    emit(as_json, data, [
        f"App {data['name']}",
        f"  key:                {data['key']}",
        f"  id:                 {data['_id']}",
        f"  signing:            {_yes(data['signing'])}",
        f"  sessions:           {_yes(data['sessions'])}",
        f"  csrf:               {_yes(data['csrf'])}",
        f"  principal:          {data['principal'] or ('anonymous' if data['signing'] else '-')}",
        f"  principal override: {_yes(data['principalOverride'])}",
        f"  sign content:       {_yes(data['signContent'])}",
        f"  enabled:            {_yes(data['enabled'])}",
        f"  session timeout:    {data['authDuration']} s",
        f"  created:            {data['created']}",
    ])


def _shown(connection: Connection, org_id: str, app: dict[str, Any]) -> dict[str, Any]:
    """``app_json`` (no secret, no private key) plus the principal's email."""
    principal = find_account(connection, org_id, app["principal_id"]) if app["principal_id"] else None
    return app_json(app) | {"principal": principal["email"] if principal else None}


def _yes(value: object) -> str:
    return "yes" if value else "no"
