"""``opencortex org``: create, list, show and configure orgs."""

from __future__ import annotations

from typing import Any

import click
from sqlalchemy import Connection

from opencortex import faults
from opencortex.cli.context import CommandContext, pass_context
from opencortex.cli.output import emit, json_option, table
from opencortex.clock import iso
from opencortex.files.accounting import storage_usage
from opencortex.model.accounts import count_accounts
from opencortex.model.apps import list_apps
from opencortex.model.orgs import (
    allowed_restricted_operators,
    create_org,
    find_org,
    list_orgs,
    set_allowed_restricted_operators,
)
from opencortex.settings import Settings


@click.group("org")
def org_group() -> None:
    """Create, list, show and configure orgs."""


@org_group.command("create")
@click.argument("code")
@click.option("--name", required=True, help="Display name.")
@json_option()
@pass_context
def org_create(context: CommandContext, code: str, name: str, as_json: bool) -> None:
    """Create an org whose API lives at /CODE/v2."""
    with context.runtime.database.begin() as connection:
        org = create_org(connection, code, name)
    emit(as_json, {"_id": org["id"], "object": "org", "code": org["code"], "name": org["name"]},
         [f"Created org {org['code']} ({org['id']})."])


@org_group.command("list")
@json_option()
@pass_context
def org_list(context: CommandContext, as_json: bool) -> None:
    """List every org, by code, with its account and app counts."""
    with context.runtime.database.connect() as connection:
        data = [org_summary(connection, org) for org in list_orgs(connection)]
    rows = [[org["code"], org["name"], org["_id"], org["created"] or "", str(org["accounts"]), str(org["apps"])]
            for org in data]
    lines = table(rows, ["CODE", "NAME", "ID", "CREATED", "ACCOUNTS", "APPS"]) if data else ["No orgs."]
    emit(as_json, {"object": "list", "data": data, "hasMore": False}, lines)


@org_group.command("show")
@click.argument("code")
@json_option()
@pass_context
def org_show(context: CommandContext, code: str, as_json: bool) -> None:
    """Show an org: its counts and its storage used against its limit."""
    settings = context.runtime.settings
    with context.runtime.database.connect() as connection:
        org = find_org(connection, code)
        if org is None:
            raise faults.org_not_found(f"No org with code {code!r}.", path="code")
        data = org_detail(connection, settings, org)
    emit(as_json, data, detail_lines(data))


@org_group.command("set")
@click.argument("code")
@click.option("--allow-restricted-ops", "restricted", metavar="OPS",
              help="The restricted query operators the org allows in where and $match, comma-separated: "
                   "some of $ne,$nin,$type, or * for all, or '' for none (the default). Quote it: '$ne,$nin'.")
@json_option()
@pass_context
def org_set(context: CommandContext, code: str, restricted: str | None, as_json: bool) -> None:
    """Change an org's settings, then show the org as `org show` does."""
    if restricted is None:
        raise click.UsageError("Nothing to set: give --allow-restricted-ops.")
    operators = [name.strip() for name in restricted.split(",") if name.strip()]
    with context.runtime.database.begin() as connection:
        org = set_allowed_restricted_operators(connection, code, operators)
        data = org_detail(connection, context.runtime.settings, org)
    emit(as_json, data, detail_lines(data))


def detail_lines(data: dict[str, Any]) -> list[str]:
    storage = data["storage"]
    allowed = data["configuration"]["queries"]["allowedRestrictedMatchOps"]
    return [
        f"Org {data['code']}: {data['name']}",
        f"  id:        {data['_id']}",
        f"  state:     {data['state']}",
        f"  created:   {data['created']}",
        f"  accounts:  {data['accounts']}",
        f"  apps:      {data['apps']}",
        f"  storage:   {format_bytes(storage['used'])} of {format_bytes(storage['limit'])} used "
        f"({storage['files']} file{'s' if storage['files'] != 1 else ''})",
        "  restricted query operators allowed: "
        + ("all (*)" if allowed == ["*"] else ", ".join(allowed) if allowed else "none ($ne, $nin, $type refused)"),
    ]


def org_summary(connection: Connection, org: dict[str, Any]) -> dict[str, Any]:
    return {
        "_id": org["id"],
        "object": "org",
        "code": org["code"],
        "name": org["name"],
        "state": org["state"],
        "created": iso(org["created"]),
        "accounts": count_accounts(connection, org["id"]),
        "apps": len(list_apps(connection, org["id"])),
    }


def org_detail(connection: Connection, settings: Settings, org: dict[str, Any]) -> dict[str, Any]:
    usage = storage_usage(connection, settings, org["id"]).to_json()
    usage.pop("object")
    allowed = allowed_restricted_operators(org["settings"])
    operators = ["*"] if "*" in allowed else sorted(allowed)
    return org_summary(connection, org) | {
        "storage": usage,
        "configuration": {"queries": {"allowedRestrictedMatchOps": operators}},
    }


def format_bytes(size: int) -> str:
    units = ("bytes", "KiB", "MiB", "GiB", "TiB")
    value, step = float(size), 0
    while value >= 1024 and step < len(units) - 1:
        value, step = value / 1024, step + 1
    return f"{size} bytes" if step == 0 else f"{value:.1f} {units[step]}"
