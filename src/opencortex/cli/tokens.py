"""``opencortex token``: bearer tokens (RS256 JWTs signed with an app's key pair)."""

from __future__ import annotations

from datetime import UTC, datetime

import click
import jwt

from opencortex import faults
from opencortex.auth.tokens import issue_token
from opencortex.cli.context import CommandContext, pass_context
from opencortex.cli.output import emit, json_option
from opencortex.clock import iso
from opencortex.model.accounts import find_account_by_email
from opencortex.model.apps import app_private_key, find_app_by_key


@click.group("token")
def token_group() -> None:
    """Issue bearer tokens."""


@token_group.command("create")
@click.option("--org", "org_code", required=True, help="The org's code.")
@click.option("--app", "app_key", required=True, help="The API key of the app that issues the token.")
@click.option("--account", "email", required=True, help="Email of the account the token acts as.")
@click.option("--expires-in", type=click.IntRange(1, 10 * 365 * 24 * 3600), default=None,
              help="Lifetime in seconds [env OPENCORTEX_TOKEN_DEFAULT_EXPIRY_SECONDS, 3600].")
@json_option()
@pass_context
def token_create(
    context: CommandContext, org_code: str, app_key: str, email: str, expires_in: int | None, as_json: bool
) -> None:
    """Print an RS256 JWT for an account, signed with the app's key pair.

    Without --json the token alone goes to standard output (so $(...) captures it) and its
    expiry to standard error.
    """
    org = context.org(org_code)
    runtime = context.runtime
    with runtime.database.connect() as connection:
        app = find_app_by_key(connection, org["id"], app_key)
        account = find_account_by_email(connection, org["id"], email)
    if app is None:
        raise faults.app_not_found(f"No app with key {app_key!r} in org {org_code!r}.", path="app")
    if account is None:
        raise faults.instance_not_found(f"No account {email!r} in org {org_code!r}.", path="account")
    lifetime = expires_in or runtime.settings.token_default_expiry_seconds
    token = issue_token(app_private_key(runtime.master_key, app), app_key=app["key"], account_id=account["id"],
                        email=account["email"], expires_in=lifetime)
    # The expiry the token itself carries, not a second reading of the clock.
    expires = datetime.fromtimestamp(jwt.decode(token, options={"verify_signature": False})["exp"], UTC)
    emit(as_json, {"token": token, "expiresAt": iso(expires), "expiresIn": lifetime, "account": account["id"]},
         [token])
    if not as_json:
        click.echo(f"expires at {iso(expires)}", err=True)
