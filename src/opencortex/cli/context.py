"""What every command shares: settings from flags and environment, the runtime they open, and
how a fault becomes an error message."""

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
        """Opened on first use, so ``--help`` and argument errors never touch the database."""
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
            raise faults.org_not_found(f"No org with code {code!r}.", path="org")
        return org


pass_context = click.make_pass_decorator(CommandContext)


class FaultError(click.ClickException):
    """A fault raised by a command: one line on standard error (reason, then path), exit status 1.

    The root group raises it for every fault (``LazyGroup.invoke``); commands do not catch faults.
    """

    exit_code = 1

    def __init__(self, fault: faults.Fault) -> None:
        self.fault = fault
        parts = [_describe(fault)] + [_describe(child) for child in fault.faults]
        super().__init__("; ".join(parts))


def _describe(fault: faults.Fault) -> str:
    detail = f" ({fault.path})" if fault.path else ""
    return f"{fault.reason or fault.message}{detail}"


def fault_to_click(error: faults.Fault) -> click.ClickException:
    """Kept for commands that still catch faults themselves; the root group does it for all."""
    return FaultError(error)
