"""What every command shares: settings from flags and environment, and the runtime they open."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import click

from opencortex import faults
from opencortex.model.orgs import find_org
from opencortex.runtime import Runtime
from opencortex.settings import Settings


@dataclass
class CommandContext:
    settings: Settings
    _runtime: Runtime | None = field(default=None, repr=False)

    @property
    def runtime(self) -> Runtime:
        if self._runtime is None:
            self._runtime = Runtime.open(self.settings)
        return self._runtime

    def close(self) -> None:
        if self._runtime is not None:
            self._runtime.close()

    def org(self, code: str) -> dict[str, Any]:
        with self.runtime.database.connect() as connection:
            org = find_org(connection, code)
        if org is None:
            raise click.ClickException(f"No org with code {code!r}.")
        return org


pass_context = click.make_pass_decorator(CommandContext)


def fault_to_click(error: faults.Fault) -> click.ClickException:
    detail = f" ({error.path})" if error.path else ""
    return click.ClickException(f"{error.reason or error.message}{detail}")
