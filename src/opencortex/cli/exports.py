"""``opencortex export``: create, list, show, cancel and download exports; verify archives.

Each command calls one export operation (``exports.operations``), as the API routes do.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TextIO

import click
import orjson

from opencortex import faults
from opencortex.cli.context import CommandContext, fault_to_click, pass_context
from opencortex.cli.output import emit
from opencortex.exports import operations
from opencortex.exports.jobs import export_json
from opencortex.exports.verify import verify_archive
from opencortex.ids import ROLE_ADMINISTRATOR
from opencortex.model.accounts import find_account_by_email

JSON_OPTION = click.option("--json", "as_json", is_flag=True, help="Print JSON.")
VIA = "cli"
"""How a download through the command line is recorded in the audit trail."""


@click.group("export")
def export_group() -> None:
    """Exports, for administrators."""


def _administrator(context: CommandContext, org_id: str, email: str) -> str:
    with context.runtime.database.connect() as connection:
        account = find_account_by_email(connection, org_id, email)
    if account is None or ROLE_ADMINISTRATOR not in account["roles"]:
        raise click.ClickException(f"{email!r} is not an administrator of this org.")
    return str(account["id"])


@export_group.command("create")
@click.option("--org", "org_code", required=True)
@click.option("--as", "email", required=True, help="The administrator creating the export.")
@click.argument("body", type=click.File("r"), default="-")
@JSON_OPTION
@pass_context
def export_create(context: CommandContext, org_code: str, email: str, body: TextIO, as_json: bool) -> None:
    """Queue an export; BODY is the JSON of POST /exports (a file, or - for standard input)."""
    org = context.org(org_code)
    creator = _administrator(context, org["id"], email)
    try:
        request = orjson.loads(body.read())
        job = operations.create(context.runtime, org, creator, request)
    except orjson.JSONDecodeError as error:
        raise click.ClickException(f"The body is not JSON: {error}") from None
    except faults.Fault as error:
        raise fault_to_click(error) from None
    emit(as_json, export_json(job), [f"Queued export {job.id} ({job.parameters.objects})."])


@export_group.command("list")
@click.option("--org", "org_code", required=True)
@JSON_OPTION
@pass_context
def export_list(context: CommandContext, org_code: str, as_json: bool) -> None:
    org = context.org(org_code)
    jobs, more = operations.list_exports(context.runtime, org["id"], limit=1000)
    emit(as_json, {"object": "list", "data": [export_json(job) for job in jobs], "hasMore": more},
         [f"{job.id}  {job.state:<8} {job.parameters.objects:<20} {job.label}" for job in jobs])


@export_group.command("show")
@click.option("--org", "org_code", required=True)
@click.argument("export_id")
@JSON_OPTION
@pass_context
def export_show(context: CommandContext, org_code: str, export_id: str, as_json: bool) -> None:
    org = context.org(org_code)
    try:
        job = operations.get(context.runtime, org["id"], export_id)
    except faults.Fault as error:
        raise fault_to_click(error) from None
    shown = export_json(job, include_events=True)
    emit(as_json, shown, [orjson.dumps(shown, option=orjson.OPT_INDENT_2).decode()])


@export_group.command("cancel")
@click.option("--org", "org_code", required=True)
@click.argument("export_id")
@JSON_OPTION
@pass_context
def export_cancel(context: CommandContext, org_code: str, export_id: str, as_json: bool) -> None:
    org = context.org(org_code)
    try:
        job = operations.cancel(context.runtime, org["id"], export_id, principal=None)
    except faults.Fault as error:
        raise fault_to_click(error) from None
    emit(as_json, export_json(job), [f"Export {export_id}: {job.state} (cancel requested)."])


@export_group.command("download")
@click.option("--org", "org_code", required=True)
@click.argument("export_id")
@click.option("--output", "-o", type=click.Path(path_type=Path), required=True)
@JSON_OPTION
@pass_context
def export_download(context: CommandContext, org_code: str, export_id: str, output: Path, as_json: bool) -> None:
    """Write the decrypted archive of a ready export to a file."""
    org = context.org(org_code)
    runtime = context.runtime
    try:
        archive = operations.download_archive(runtime, org["id"], export_id,
                                              path=f"/exports/{export_id}/dataFile/content", principal=None, via=VIA)
        with output.open("wb") as handle, runtime.file_store.open_reader(archive.key) as reader:
            for chunk in reader:
                handle.write(chunk)
    except faults.Fault as error:
        raise fault_to_click(error) from None
    size = output.stat().st_size
    if as_json:
        emit(True, {"exportId": export_id, "path": str(output.resolve()), "size": size}, [])
    else:
        click.echo(f"Wrote {output} ({size} bytes).", err=True)


@export_group.command("verify")
@click.argument("archive", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@JSON_OPTION
def export_verify(archive: Path, as_json: bool) -> None:
    """Check an archive against its manifest: sizes, SHA-256, record counts, nothing extra."""
    report = verify_archive(archive)
    problems = [{"entry": problem.entry, "code": problem.code, "message": problem.message}
                for problem in report.problems]
    emit(as_json, {"ok": report.ok, "problems": problems},
         ["OK: the archive matches its manifest." if report.ok else "The archive does NOT match its manifest:"]
         + [f"  {p['entry'] or '-'}: {p['message']}" for p in problems])
    if not report.ok:
        sys.exit(1)
