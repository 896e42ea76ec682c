"""``opencortex account``: create, list, show and unlock accounts; set their passwords."""

from __future__ import annotations

import sys
from typing import Any

import click

from opencortex import faults
from opencortex.auth.sessions import end_sessions_of
from opencortex.cli.context import CommandContext, pass_context
from opencortex.cli.output import emit, json_option, table
from opencortex.clock import iso
from opencortex.ids import ROLE_NAMES, is_object_id
from opencortex.model.accounts import (
    account_json,
    create_account,
    find_account_by_email,
    find_account_by_id_or_email,
    find_login_lockout,
    list_accounts,
    set_account_password,
    unlock_account,
)

ORG_OPTION = click.option("--org", "org_code", required=True, help="The org's code.")


@click.group("account")
def account_group() -> None:
    """Create, list, show and unlock accounts; set passwords."""


@account_group.command("create")
@ORG_OPTION
@click.option("--email", required=True)
@click.option("--password", help="The password (prefer --password-stdin: arguments show in `ps`).")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@click.option("--role", "roles", multiple=True,
              type=click.Choice(["administrator", "developer", "support", "provider"]), help="Repeatable.")
@click.option("--first-name", default="")
@click.option("--last-name", default="")
@json_option()
@pass_context
def account_create(
    context: CommandContext, org_code: str, email: str, password: str | None, password_stdin: bool,
    roles: tuple[str, ...], first_name: str, last_name: str, as_json: bool,
) -> None:
    """Create an account in an org."""
    if password_stdin:
        if password is not None:
            raise click.UsageError("Give --password or --password-stdin, not both.")
        password = _read_password()
    if not password:
        raise click.UsageError("Give --password or --password-stdin.")
    org = context.org(org_code)
    with context.runtime.database.begin() as connection:
        account = create_account(connection, org["id"], email=email, password=password, roles=list(roles),
                                 first_name=first_name, last_name=last_name)
    emit(as_json, account_json(account), [f"Created account {account['email']} ({account['id']})."])


@account_group.command("list")
@ORG_OPTION
@click.option("--limit", type=click.IntRange(1, 1000), default=100, show_default=True, help="Accounts per page.")
@click.option("--starting-after", "starting_after", metavar="ID",
              help="Continue after this account _id (the last one of the previous page).")
@json_option()
@pass_context
def account_list(context: CommandContext, org_code: str, limit: int, starting_after: str | None,
                 as_json: bool) -> None:
    """List an org's accounts, newest first."""
    if starting_after is not None and not is_object_id(starting_after):
        raise click.BadParameter("an account _id is 24 hexadecimal digits.", param_hint="'--starting-after'")
    org = context.org(org_code)
    with context.runtime.database.connect() as connection:
        rows, has_more = list_accounts(connection, org["id"], limit=limit, starting_after=starting_after)
    data = [account_json(row) for row in rows]
    lines = table(
        [[row["_id"], row["email"], ",".join(_role_names(row["roles"])) or "-", row["state"],
          "yes" if row["locked"] else "no", _last_login(row) or "never"] for row in data],
        ["ID", "EMAIL", "ROLES", "STATE", "LOCKED", "LAST LOGIN"],
    ) if data else ["No accounts."]
    if has_more:
        lines.append(f"More: --starting-after {data[-1]['_id']}")
    emit(as_json, {"object": "list", "data": data, "hasMore": has_more}, lines)


@account_group.command("show")
@ORG_OPTION
@click.argument("account_ref", metavar="EMAIL|ID")
@json_option()
@pass_context
def account_show(context: CommandContext, org_code: str, account_ref: str, as_json: bool) -> None:
    """Show an account and its login lockout (never its password hash)."""
    org = context.org(org_code)
    with context.runtime.database.connect() as connection:
        account = find_account_by_id_or_email(connection, org["id"], account_ref)
        if account is None:
            raise faults.instance_not_found(f"No account {account_ref!r} in org {org_code!r}.", path="account")
        lockout = find_login_lockout(connection, org["id"], account["email"])
    data = account_json(account) | {"lockout": lockout.to_json() if lockout else None}
    emit(as_json, data, [
        f"Account {data['email']}",
        f"  id:          {data['_id']}",
        f"  name:        {' '.join(part for part in data['name'].values() if part) or '-'}",
        f"  roles:       {', '.join(_role_names(data['roles'])) or '-'}",
        f"  state:       {data['state']}",
        f"  locked:      {'yes' if data['locked'] else 'no'}",
        f"  failed logins: {lockout.failures if lockout else 0}"
        + (f", locked until {iso(lockout.locked_until)}" if lockout and lockout.locked_until else ""),
        f"  created:     {data['created']}",
        f"  last login:  {_last_login(data) or 'never'}",
    ])


@account_group.command("unlock")
@ORG_OPTION
@click.argument("email")
@json_option()
@pass_context
def account_unlock(context: CommandContext, org_code: str, email: str, as_json: bool) -> None:
    """Clear an account's login lockout and locked flag, so it can log in again."""
    org = context.org(org_code)
    with context.runtime.database.begin() as connection:
        unlocked = unlock_account(connection, org["id"], email)
    cleared = {
        "failures": unlocked.lockout.failures if unlocked.lockout else 0,
        "lockedUntil": iso(unlocked.lockout.locked_until) if unlocked.lockout else None,
        "locked": unlocked.was_locked,
    }
    what = []
    if cleared["failures"]:
        what.append(f"{cleared['failures']} failed login{'s' if cleared['failures'] != 1 else ''}")
    if cleared["lockedUntil"]:
        what.append(f"a lock until {cleared['lockedUntil']}")
    if cleared["locked"]:
        what.append("the account's locked flag")
    account = unlocked.account
    emit(as_json, account_json(account) | {"cleared": cleared},
         [f"Unlocked {account['email']}: cleared {', '.join(what)}." if what
          else f"{account['email']} was not locked out; nothing to clear."])


@account_group.command("set-password")
@ORG_OPTION
@click.argument("email")
@click.option("--password-stdin", is_flag=True, help="Read the new password from standard input (first line).")
@json_option()
@pass_context
def account_set_password(context: CommandContext, org_code: str, email: str, password_stdin: bool,
                         as_json: bool) -> None:
    """Set an account's password, read from standard input (8-256 characters)."""
    if not password_stdin:
        raise click.UsageError("Give --password-stdin and the new password on standard input.")
    password = _read_password()
    org = context.org(org_code)
    with context.runtime.database.begin() as connection:
        account = find_account_by_email(connection, org["id"], email)
        if account is None:
            raise faults.instance_not_found(f"No account {email!r} in org {org_code!r}.", path="email")
        set_account_password(connection, org["id"], account["id"], password)
        # Whoever knew the old password must not keep a session it opened.
        end_sessions_of(connection, org["id"], account["id"], reason="logout")
    emit(as_json, {"_id": account["id"], "object": "account", "email": account["email"], "passwordSet": True},
         [f"Set the password of {account['email']}; its open sessions were ended."])


def _read_password() -> str:
    return sys.stdin.readline().rstrip("\r\n")


def _role_names(role_ids: list[str]) -> list[str]:
    return [ROLE_NAMES.get(role_id, role_id) for role_id in role_ids]


def _last_login(account: dict[str, Any]) -> str | None:
    time: str | None = account.get("stats", {}).get("lastLogin", {}).get("time")
    return time
