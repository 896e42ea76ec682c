"""The export-worker options ``serve`` and ``worker`` share: one name each, one environment
variable each (through ``Settings``), one range each."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from opencortex.settings import Settings

F = TypeVar("F", bound=Callable[..., Any])

CONCURRENCY = click.IntRange(1, 64)
# Leases are renewed with every progress update (about twice a second); below a few seconds a
# slow batch would let a healthy job be taken over.
LEASE_SECONDS = click.IntRange(5, 3600)


def worker_options(command: F) -> F:
    command = click.option(
        "--lease-seconds", type=LEASE_SECONDS, default=None,
        help="How long a claimed export stays this worker's without renewal; after that another worker "
             "runs it again [env OPENCORTEX_EXPORT_LEASE_SECONDS, 30].",
    )(command)
    command = click.option(
        "--concurrency", type=CONCURRENCY, default=None,
        help="Export jobs run at once in this process (different orgs) "
             "[env OPENCORTEX_EXPORT_CONCURRENCY, 2].",
    )(command)
    return command


def apply_worker_options(settings: Settings, concurrency: int | None, lease_seconds: int | None) -> Settings:
    """The settings with the flags applied (flags win over the environment), both checked."""
    settings = settings.with_changes(
        export_concurrency=settings.export_concurrency if concurrency is None else concurrency,
        export_lease_seconds=settings.export_lease_seconds if lease_seconds is None else lease_seconds,
    )
    _check("OPENCORTEX_EXPORT_CONCURRENCY", settings.export_concurrency, CONCURRENCY)
    _check("OPENCORTEX_EXPORT_LEASE_SECONDS", settings.export_lease_seconds, LEASE_SECONDS)
    return settings


def worker_json(settings: Settings) -> dict[str, int]:
    return {"concurrency": settings.export_concurrency, "leaseSeconds": settings.export_lease_seconds}


def _check(variable: str, value: int, allowed: click.IntRange) -> None:
    # Flags were checked by click already; a value out of range here came from the environment.
    if not allowed.min <= value <= allowed.max:  # type: ignore[operator]
        raise click.BadParameter(f"{value} is not in the range {allowed.min}-{allowed.max}.", param_hint=variable)
