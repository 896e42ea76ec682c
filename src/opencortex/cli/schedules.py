"""``opencortex schedule``: create, list, show, change and delete export schedules.

Each command calls one operation of ``exports.scheduling``, as the API routes do, so the same
checks, faults and audit records apply. The workers (``serve``, ``worker``) run the ticks.
"""

from __future__ import annotations

from typing import Any, TextIO

import click
import orjson

from opencortex.cli.context import CommandContext, pass_context
from opencortex.cli.output import emit, json_option, table
from opencortex.exports import scheduling
from opencortex.exports.schedules import ExportSchedule, schedule_json
from opencortex.ids import ROLE_ADMINISTRATOR
from opencortex.model.accounts import find_account_by_email


@click.group("schedule")
def schedule_group() -> None:
    """Export schedules: an export template run at the ticks of a cron expression."""


def _administrator(context: CommandContext, org_id: str, email: str) -> str:
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


def _line(schedule: ExportSchedule) -> list[str]:
    shown = schedule_json(schedule)
    return [schedule.id, schedule.name, schedule.cron, schedule.timezone, "yes" if schedule.enabled else "no",
            shown.get("nextRun", "-"), shown.get("lastRun", "-"), str(schedule.template.get("objects", ""))]


@schedule_group.command("create")
@click.option("--org", "org_code", required=True)
@click.option("--as", "email", required=True, help="The administrator the schedule's exports are made as.")
@click.argument("body", type=click.File("r"), default="-")
@json_option()
@pass_context
def schedule_create(context: CommandContext, org_code: str, email: str, body: TextIO, as_json: bool) -> None:
    """Create a schedule; BODY is the JSON of POST /exportSchedules (a file, or - for standard input):
    {"name", "cron", "timezone", "template": <a POST /exports body>, "retention", "enabled"}."""
    org = context.org(org_code)
    schedule = scheduling.create(context.runtime, org, _administrator(context, org["id"], email), _body(body))
    shown = schedule_json(schedule)
    emit(as_json, shown, [f"Created schedule {schedule.id} ({schedule.name}); next run {shown.get('nextRun', '-')}."])


@schedule_group.command("list")
@click.option("--org", "org_code", required=True)
@json_option()
@pass_context
def schedule_list(context: CommandContext, org_code: str, as_json: bool) -> None:
    org = context.org(org_code)
    found = scheduling.list_all(context.runtime, org["id"])
    emit(as_json, {"object": "list", "data": [schedule_json(schedule) for schedule in found], "hasMore": False},
         table([_line(schedule) for schedule in found],
               ["id", "name", "cron", "timezone", "enabled", "next run", "last run", "objects"]) if found
         else ["No export schedules."])


@schedule_group.command("show")
@click.option("--org", "org_code", required=True)
@click.argument("schedule_id")
@json_option()
@pass_context
def schedule_show(context: CommandContext, org_code: str, schedule_id: str, as_json: bool) -> None:
    org = context.org(org_code)
    shown = schedule_json(scheduling.get(context.runtime, org["id"], schedule_id))
    emit(as_json, shown, [orjson.dumps(shown, option=orjson.OPT_INDENT_2).decode()])


@schedule_group.command("update")
@click.option("--org", "org_code", required=True)
@click.option("--as", "email", required=True, help="The administrator making the change.")
@click.argument("schedule_id")
@click.argument("body", type=click.File("r"), default="-")
@json_option()
@pass_context
def schedule_update(context: CommandContext, org_code: str, email: str, schedule_id: str, body: TextIO,
                    as_json: bool) -> None:
    """Change what BODY names (the JSON of PUT /exportSchedules/ID): {"enabled": false} pauses it."""
    org = context.org(org_code)
    principal = _administrator(context, org["id"], email)
    schedule = scheduling.update(context.runtime, org, schedule_id, _body(body), principal=principal)
    shown = schedule_json(schedule)
    emit(as_json, shown, [f"Schedule {schedule.id} ({schedule.name}): next run {shown.get('nextRun', '-')}."])


@schedule_group.command("delete")
@click.option("--org", "org_code", required=True)
@click.argument("schedule_id")
@json_option()
@pass_context
def schedule_delete(context: CommandContext, org_code: str, schedule_id: str, as_json: bool) -> None:
    """Delete a schedule; the exports it made stay until they expire."""
    org = context.org(org_code)
    scheduling.delete(context.runtime, org["id"], schedule_id, principal=None)
    emit(as_json, {"object": "result", "data": True}, [f"Deleted schedule {schedule_id}."])
