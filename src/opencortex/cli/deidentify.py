"""``opencortex deidentify``: an org's de-identification profiles (list, show, create, update, delete).

Each command calls one operation of ``exports.deidentify.profiles``, as the API routes do, so the
same checks, faults and audit records apply. BODY is the JSON of ``POST`` (or ``PUT``)
``/deidentificationProfiles``: a file, or ``-`` for standard input. No command prints a key.
"""

from __future__ import annotations

from typing import Any, TextIO

import click
import orjson

from opencortex.cli.context import CommandContext, pass_context
from opencortex.cli.output import emit, json_option, table
from opencortex.exports.deidentify import profiles
from opencortex.ids import ROLE_ADMINISTRATOR
from opencortex.model.accounts import find_account_by_email

ORG_OPTION = click.option("--org", "org_code", required=True, help="The org's code.")


@click.group("deidentify")
def deidentify_group() -> None:
    """De-identification profiles: list, show, create, update, delete."""


def _administrator(context: CommandContext, org_id: str, email: str | None) -> str | None:
    if email is None:
        return None
    with context.runtime.database.connect() as connection:
        account = find_account_by_email(connection, org_id, email)
    if account is None or ROLE_ADMINISTRATOR not in account["roles"]:
        raise click.ClickException(f"{email!r} is not an administrator of this org.")
    return str(account["id"])


def _body(source: TextIO) -> Any:
    try:
        return orjson.loads(source.read())
    except orjson.JSONDecodeError as error:
        raise click.ClickException(f"The body is not JSON: {error}") from None


def _lines(profile: profiles.Profile) -> list[str]:
    shown = profile.to_json()
    return [orjson.dumps(shown, option=orjson.OPT_INDENT_2).decode()]


@deidentify_group.command("list")
@ORG_OPTION
@json_option()
@pass_context
def profile_list(context: CommandContext, org_code: str, as_json: bool) -> None:
    org = context.org(org_code)
    found = profiles.list_profiles(context.runtime, org["id"])
    rows = [[profile.name, str(profile.version), str(len(profile.settings.rules)), profile.id] for profile in found]
    emit(as_json, {"object": "list", "data": [profile.to_json() for profile in found], "hasMore": False},
         table(rows, ["name", "version", "rules", "_id"]) if rows else ["No de-identification profiles."])


@deidentify_group.command("show")
@ORG_OPTION
@click.argument("profile")
@json_option()
@pass_context
def profile_show(context: CommandContext, org_code: str, profile: str, as_json: bool) -> None:
    """PROFILE is a profile's name or _id."""
    org = context.org(org_code)
    found = profiles.get_profile(context.runtime, org["id"], profile)
    emit(as_json, found.to_json(), _lines(found))


@deidentify_group.command("create")
@ORG_OPTION
@click.option("--as", "email", required=True, help="The administrator creating the profile.")
@click.argument("body", type=click.File("r"), default="-")
@json_option()
@pass_context
def profile_create(context: CommandContext, org_code: str, email: str, body: TextIO, as_json: bool) -> None:
    """Create a profile; BODY is {name, rules, [description, dateShift, hashLength]}."""
    org = context.org(org_code)
    creator = _administrator(context, org["id"], email)
    created = profiles.create_profile(context.runtime, org["id"], _body(body), creator=creator)
    emit(as_json, created.to_json(), [f"Created de-identification profile {created.name} (version 1)."])


@deidentify_group.command("update")
@ORG_OPTION
@click.option("--as", "email", help="The administrator changing the profile (for the audit trail).")
@click.argument("profile")
@click.argument("body", type=click.File("r"), default="-")
@json_option()
@pass_context
def profile_update(context: CommandContext, org_code: str, email: str | None, profile: str, body: TextIO,
                   as_json: bool) -> None:
    """Replace everything but the name; the version goes up by one."""
    org = context.org(org_code)
    principal = _administrator(context, org["id"], email)
    changed = profiles.replace_profile(context.runtime, org["id"], profile, _body(body), principal=principal)
    emit(as_json, changed.to_json(), [f"Updated de-identification profile {changed.name} (version {changed.version})."])


@deidentify_group.command("delete")
@ORG_OPTION
@click.option("--as", "email", help="The administrator deleting the profile (for the audit trail).")
@click.argument("profile")
@json_option()
@pass_context
def profile_delete(context: CommandContext, org_code: str, email: str | None, profile: str, as_json: bool) -> None:
    """Exports that name it and have not run yet will fail, saying so."""
    org = context.org(org_code)
    principal = _administrator(context, org["id"], email)
    profiles.delete_profile(context.runtime, org["id"], profile, principal=principal)
    emit(as_json, {"object": "result", "data": True}, [f"Deleted de-identification profile {profile}."])
