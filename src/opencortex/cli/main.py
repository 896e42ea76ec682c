"""``opencortex``: set up data, administer orgs, accounts and apps, and serve the API."""

from __future__ import annotations

from pathlib import Path

import click

from opencortex import __version__
from opencortex.cli.admin import account_group, app_group, org_group, token_group
from opencortex.cli.context import CommandContext
from opencortex.cli.demo import demo_command
from opencortex.cli.exports import export_group
from opencortex.cli.imports import import_command
from opencortex.cli.output import emit
from opencortex.cli.serve import serve_command
from opencortex.cli.workers import worker_command
from opencortex.settings import Settings


@click.group()
@click.version_option(__version__, prog_name="opencortex")
@click.option("--data-dir", type=click.Path(path_type=Path), help="Data folder [env OPENCORTEX_DATA_DIR, ./var].")
@click.option("--database-url", help="Database URL [env OPENCORTEX_DATABASE_URL; SQLite in the data folder].")
@click.pass_context
def cli(ctx: click.Context, data_dir: Path | None, database_url: str | None) -> None:
    settings = Settings.from_env(data_dir=data_dir, database_url=database_url)
    ctx.obj = CommandContext(settings)
    ctx.call_on_close(ctx.obj.close)


@cli.command("init")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def init_command(context: CommandContext, as_json: bool) -> None:
    """Create the data folder, the master key and the database schema (safe to repeat)."""
    runtime = context.runtime
    data = {
        "dataDir": str(runtime.settings.data_dir.resolve()),
        "database": runtime.database.dialect,
    }
    emit(as_json, data, [f"Initialised {data['dataDir']} ({data['database']})."])


for command in (org_group, account_group, app_group, token_group, serve_command, demo_command, worker_command,
                export_group, import_command):
    cli.add_command(command)
