"""``opencortex init``: the data folder, the master key and the database schema."""

from __future__ import annotations

import click

from opencortex.cli.context import CommandContext, pass_context
from opencortex.cli.output import emit, json_option


@click.command("init")
@json_option()
@pass_context
def init_command(context: CommandContext, as_json: bool) -> None:
    """Create the data folder, the master key and the database schema (safe to repeat)."""
    runtime = context.runtime
    data = {
        "dataDir": str(runtime.settings.data_dir.resolve()),
        "database": runtime.database.dialect,
    }
    emit(as_json, data, [f"Initialised {data['dataDir']} ({data['database']})."])
