"""``opencortex``: set up data, administer orgs, accounts and apps, serve the API, run workers."""

from __future__ import annotations

from pathlib import Path

import click

from opencortex import __version__
from opencortex.cli.context import CommandContext
from opencortex.cli.group import LazyCommand, LazyGroup
from opencortex.settings import Settings

COMMANDS = {
    "init": LazyCommand("opencortex.cli.initialise:init_command",
                        "Create the data folder, the master key and the database schema (safe to repeat)."),
    "org": LazyCommand("opencortex.cli.orgs:org_group", "Create, list, show and configure orgs."),
    "account": LazyCommand("opencortex.cli.accounts:account_group",
                           "Create, list, show and unlock accounts; set passwords."),
    "app": LazyCommand("opencortex.cli.apps:app_group", "Create, list and show apps (API keys)."),
    "token": LazyCommand("opencortex.cli.tokens:token_group", "Issue bearer tokens."),
    "serve": LazyCommand("opencortex.cli.serve:serve_command",
                         "Serve the API (with an in-process export worker unless --no-worker)."),
    "worker": LazyCommand("opencortex.cli.workers:worker_command", "Run export workers until interrupted."),
    "export": LazyCommand("opencortex.cli.exports:export_group", "Exports, for administrators."),
    "schedule": LazyCommand("opencortex.cli.schedules:schedule_group",
                            "Export schedules: an export template run at the ticks of a cron expression."),
    "deidentify": LazyCommand("opencortex.cli.deidentify:deidentify_group",
                              "De-identification profiles: list, show, create, update, delete."),
    "import": LazyCommand("opencortex.cli.imports:import_command",
                          "Import FILE (NDJSON, one instance per line; - for standard input) into an object."),
    "demo": LazyCommand("opencortex.cli.demo:demo_command",
                        "Create (or find) the demo org and print working credentials."),
}


@click.group(cls=LazyGroup, lazy_commands=COMMANDS)
@click.version_option(__version__, prog_name="opencortex")
@click.option("--data-dir", type=click.Path(path_type=Path), help="Data folder [env OPENCORTEX_DATA_DIR, ./var].")
@click.option("--database-url", help="Database URL [env OPENCORTEX_DATABASE_URL; SQLite in the data folder].")
@click.pass_context
def cli(ctx: click.Context, data_dir: Path | None, database_url: str | None) -> None:
    """OpenCortex: a server for the Medable Cortex v2 API. Every command takes --json."""
    try:
        settings = Settings.from_env(data_dir=data_dir, database_url=database_url)
    except ValueError as error:
        raise click.ClickException(str(error)) from None
    ctx.obj = CommandContext(settings)
    ctx.call_on_close(ctx.obj.close)
