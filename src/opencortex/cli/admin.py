"""``org``, ``account``, ``app`` and ``token`` commands for operators."""

from __future__ import annotations

import sys

import click

from opencortex import faults
from opencortex.auth.tokens import issue_token
from opencortex.cli.context import CommandContext, fault_to_click, pass_context
from opencortex.cli.output import emit
from opencortex.model.accounts import account_json, create_account, find_account_by_email
from opencortex.model.apps import app_json, app_private_key, create_app, find_app_by_key
from opencortex.model.orgs import create_org

JSON_OPTION = click.option("--json", "as_json", is_flag=True, help="Print JSON.")


@click.group("org")
def org_group() -> None:
    """Manage orgs."""


@org_group.command("create")
@click.argument("code")
@click.option("--name", required=True, help="Display name.")
@JSON_OPTION
@pass_context
def org_create(context: CommandContext, code: str, name: str, as_json: bool) -> None:
    """Create an org whose API lives at /CODE/v2."""
    try:
        with context.runtime.database.begin() as connection:
            org = create_org(connection, code, name)
    except faults.Fault as error:
        raise fault_to_click(error) from None
    emit(as_json, {"_id": org["id"], "object": "org", "code": org["code"], "name": org["name"]},
         [f"Created org {org['code']} ({org['id']})."])


@click.group("account")
def account_group() -> None:
    """Manage accounts."""


@account_group.command("create")
@click.option("--org", "org_code", required=True)
@click.option("--email", required=True)
@click.option("--password", help="The password (prefer --password-stdin: arguments show in `ps`).")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@click.option("--role", "roles", multiple=True,
              type=click.Choice(["administrator", "developer", "support", "provider"]), help="Repeatable.")
@click.option("--first-name", default="")
@click.option("--last-name", default="")
@JSON_OPTION
@pass_context
def account_create(
    context: CommandContext, org_code: str, email: str, password: str | None, password_stdin: bool,
    roles: tuple[str, ...], first_name: str, last_name: str, as_json: bool,
) -> None:
    """Create an account in an org."""
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    if not password:
        raise click.UsageError("Give --password or --password-stdin.")
    org = context.org(org_code)
    try:
        with context.runtime.database.begin() as connection:
            account = create_account(connection, org["id"], email=email, password=password, roles=list(roles),
                                     first_name=first_name, last_name=last_name)
    except faults.Fault as error:
        raise fault_to_click(error) from None
    emit(as_json, account_json(account), [f"Created account {account['email']} ({account['id']})."])


@click.group("app")
def app_group() -> None:
    """Manage apps (API keys)."""


@app_group.command("create")
@click.option("--org", "org_code", required=True)
@click.option("--name", required=True)
@click.option("--signing", is_flag=True, help="Issue a secret for signed requests.")
@click.option("--sessions/--no-sessions", default=None,
              help="Allow password sessions (default: on, off for signing apps).")
@click.option("--no-csrf", is_flag=True, help="Do not require the CSRF header on session requests.")
@click.option("--principal-override", is_flag=True, help="Honour Medable-Client-Account on signed requests.")
@click.option("--principal", "principal_email", help="Account that signed requests act as (default: anonymous).")
@JSON_OPTION
@pass_context
def app_create(
    context: CommandContext, org_code: str, name: str, signing: bool, sessions: bool | None, no_csrf: bool,
    principal_override: bool, principal_email: str | None, as_json: bool,
) -> None:
    """Create an app. Its secret is printed now and never again."""
    org = context.org(org_code)
    runtime = context.runtime
    try:
        with runtime.database.begin() as connection:
            principal_id = None
            if principal_email:
                account = find_account_by_email(connection, org["id"], principal_email)
                if account is None:
                    raise click.ClickException(f"No account {principal_email!r} in org {org_code!r}.")
                principal_id = account["id"]
            app, key, secret = create_app(
                connection, runtime.master_key, org["id"], name=name, signing=signing, sessions=sessions,
                csrf=not no_csrf, principal_override=principal_override, principal_id=principal_id,
            )
    except faults.Fault as error:
        raise fault_to_click(error) from None
    data = app_json(app) | {"secret": secret}
    lines = [f"Created app {app['name']} ({app['id']}).", f"API key:    {key}"]
    if secret:
        lines += [f"API secret: {secret}", "Keep the secret now: it is not shown again."]
    emit(as_json, data, lines)


@click.group("token")
def token_group() -> None:
    """Issue bearer tokens."""


@token_group.command("create")
@click.option("--org", "org_code", required=True)
@click.option("--app", "app_key", required=True, help="The API key of the app that issues the token.")
@click.option("--account", "email", required=True, help="Email of the account the token acts as.")
@click.option("--expires-in", type=click.IntRange(1, 10 * 365 * 24 * 3600), default=None,
              help="Lifetime in seconds [default 3600].")
@JSON_OPTION
@pass_context
def token_create(
    context: CommandContext, org_code: str, app_key: str, email: str, expires_in: int | None, as_json: bool
) -> None:
    """Print an RS256 JWT for an account, signed with the app's key pair."""
    org = context.org(org_code)
    runtime = context.runtime
    with runtime.database.connect() as connection:
        app = find_app_by_key(connection, org["id"], app_key)
        account = find_account_by_email(connection, org["id"], email)
    if app is None:
        raise click.ClickException(f"No app with key {app_key!r} in org {org_code!r}.")
    if account is None:
        raise click.ClickException(f"No account {email!r} in org {org_code!r}.")
    lifetime = expires_in or runtime.settings.token_default_expiry_seconds
    token = issue_token(app_private_key(runtime.master_key, app), app_key=app["key"], account_id=account["id"],
                        email=account["email"], expires_in=lifetime)
    emit(as_json, {"token": token, "expiresIn": lifetime, "account": account["id"]}, [token])
