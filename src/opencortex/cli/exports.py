"""``opencortex export``: create, list, show, cancel and download exports; verify archives.

Each command calls one export operation (``exports.operations``), as the API routes do.
"""

from __future__ import annotations

import os
import secrets
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import TextIO

import click
import orjson

from opencortex import faults
from opencortex.cli.context import CommandContext, fault_to_click, pass_context
from opencortex.cli.export_wait import WaitTimedOut, wait_for_export
from opencortex.cli.output import emit
from opencortex.exports import operations
from opencortex.exports.jobs import ExportJob, ExportState, export_json
from opencortex.exports.manifest import SignatureCheck
from opencortex.exports.verify import verify_archive
from opencortex.ids import ROLE_ADMINISTRATOR
from opencortex.keys import MasterKey
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
@click.option("--wait", is_flag=True,
              help="Follow the export until it ends (progress on standard error); exit 1 if it ends in error.")
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True), default=None,
              help="With --wait: give up waiting after this many seconds (the export goes on).")
@JSON_OPTION
@pass_context
def export_create(context: CommandContext, org_code: str, email: str, body: TextIO, wait: bool,
                  timeout: float | None, as_json: bool) -> None:
    """Queue an export; BODY is the JSON of POST /exports (a file, or - for standard input).

    A worker runs it: `opencortex serve` (which has one) or `opencortex worker`, on the same data."""
    if timeout is not None and not wait:
        raise click.UsageError("--timeout goes with --wait.")
    org = context.org(org_code)
    creator = _administrator(context, org["id"], email)
    try:
        request = orjson.loads(body.read())
        job = operations.create(context.runtime, org, creator, request)
    except orjson.JSONDecodeError as error:
        raise click.ClickException(f"The body is not JSON: {error}") from None
    except faults.Fault as error:
        raise fault_to_click(error) from None
    if not wait:
        emit(as_json, export_json(job), [f"Queued export {job.id} ({job.parameters.objects})."])
        return
    click.echo(f"Queued export {job.id} ({job.parameters.objects}).", err=True)
    try:
        job = wait_for_export(context.runtime, org["id"], job.id, timeout=timeout)
    except WaitTimedOut as timed_out:
        raise click.ClickException(str(timed_out)) from None
    emit(as_json, export_json(job), [_outcome_line(job)])
    if job.state is not ExportState.READY:
        sys.exit(1)


def _outcome_line(job: ExportJob) -> str:
    if job.state is ExportState.READY:
        size = (job.data_file or {}).get("size")
        shown = f", {size:,} bytes" if isinstance(size, int) else ""
        return f"Export {job.id} is ready{shown}: opencortex export download {job.id} -o FILE"
    fault = job.fault or {}
    return f"Export {job.id} ended in error: {fault.get('errCode')}: {fault.get('reason') or fault.get('message')}"


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
        before = operations.get(context.runtime, org["id"], export_id)
        job = operations.cancel(context.runtime, org["id"], export_id, principal=None)
    except faults.Fault as error:
        raise fault_to_click(error) from None
    emit(as_json, export_json(job), [_cancel_line(before, job)])


def _cancel_line(before: ExportJob, after: ExportJob) -> str:
    """What a cancel did, in plain words: nothing, if the export had already ended."""
    if before.state.ended:
        return f"Export {after.id} had already finished ({before.state}); nothing was cancelled."
    if after.state.ended:
        return f"Export {after.id} was cancelled before it started."
    return f"Export {after.id} is running; it stops at its next batch (opencortex export show {after.id})."


@export_group.command("download")
@click.option("--org", "org_code", required=True)
@click.argument("export_id")
@click.option("--output", "-o", type=click.Path(path_type=Path), required=True)
@JSON_OPTION
@pass_context
def export_download(context: CommandContext, org_code: str, export_id: str, output: Path, as_json: bool) -> None:
    """Write the decrypted archive of a ready export to a file.

    The archive is written beside OUTPUT under a temporary name and renamed into place once
    complete: a download that fails (the archive damaged at rest, the disk full, an interrupt)
    leaves no partial file, and an existing OUTPUT as it was."""
    org = context.org(org_code)
    runtime = context.runtime
    try:
        archive = operations.download_archive(runtime, org["id"], export_id,
                                              path=f"/exports/{export_id}/dataFile/content", principal=None, via=VIA)
        with runtime.file_store.open_reader(archive.key) as reader:
            _write_whole(output, reader)
    except faults.Fault as error:
        raise fault_to_click(error) from None
    except OSError as error:
        raise click.ClickException(f"Cannot write {output}: {error.strerror or error}") from None
    size = output.stat().st_size
    if as_json:
        emit(True, {"exportId": export_id, "path": str(output.resolve()), "size": size}, [])
    else:
        click.echo(f"Wrote {output} ({size} bytes).", err=True)


@export_group.command("verify")
@click.argument("archive", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--offline", is_flag=True,
              help="Check the archive against its manifest only, not the signature (even where the server's key is).")
@JSON_OPTION
@pass_context
def export_verify(context: CommandContext, archive: Path, offline: bool, as_json: bool) -> None:
    """Check an archive against its manifest: sizes, SHA-256, record counts, nothing extra; and,
    with the server's master key (its data folder, or OPENCORTEX_MASTER_KEY), the manifest's
    signature, which proves the archive is the one the server wrote. Exit status 1 on any problem."""
    # Loaded, never made: a machine without the key checks what it can, and says what it could not.
    try:
        master_key = None if offline else MasterKey.load(context.settings.data_dir, context.settings.master_key)
    except ValueError as error:  # a configured key that is not one
        raise click.ClickException(str(error)) from None
    report = verify_archive(archive, master_key)
    problems = [{"entry": problem.entry, "code": problem.code, "message": problem.message}
                for problem in report.problems]
    signature = report.signature
    export_id = (report.manifest or {}).get("exportId")
    shown = {"ok": report.ok, "problems": problems, "exportId": export_id, "sha256": report.sha256,
             "signature": {"status": signature.status, "org": signature.org, "keyId": signature.key_id}}
    lines = ["OK: the archive matches its manifest." if report.ok else "The archive does NOT match its manifest:"]
    lines += [f"  {p['entry'] or '-'}: {p['message']}" for p in problems]
    lines.append(_signature_line(signature, offline))
    if report.sha256 is not None:
        lines.append(f"sha256 {report.sha256}: compare it with the export's sha256 "
                     f"(opencortex export show, or GET /<org>/v2/exports/{export_id or '<id>'}/sha256).")
    emit(as_json, shown, lines)
    if not report.ok:
        sys.exit(1)


def _signature_line(signature: SignatureCheck, offline: bool) -> str:
    if signature.status == "valid":
        return (f"Signature: valid, by this server's key for org {signature.org}: the manifest, and so "
                "every entry it lists, is as the server wrote it.")
    if signature.status == "unchecked":
        why = "--offline" if offline else "no server key here (the data folder's master.key, or OPENCORTEX_MASTER_KEY)"
        return f"Signature: not checked ({why}): the archive is consistent, not proven to be the server's."
    if signature.status == "unsigned":
        return "Signature: none (manifest.sig is missing)."
    return f"Signature: {signature.status}: the archive is NOT proven to be the server's."


def _write_whole(output: Path, chunks: Iterable[bytes]) -> None:
    """Write ``chunks`` to ``output`` through a temporary file beside it, renamed into place when
    complete; the temporary file is removed when anything fails (or is interrupted) before."""
    temporary = output.with_name(f".{output.name}.{secrets.token_hex(8)}.part")
    # Created as a new file would be (the umask decides its mode), and never over another.
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            for chunk in chunks:
                handle.write(chunk)
        os.replace(temporary, output)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
