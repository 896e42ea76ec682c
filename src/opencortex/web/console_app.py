"""The console's app record: each org's console logs in through an app of its own.

Sessions belong to the app they were made through (``auth/sessions.py``), so the console gets a
dedicated session app per org, created at the first login: sessions on, CSRF on, no signing secret. It
is an ordinary app row, so ``opencortex app list`` shows it and disabling it closes the console
(the API's own ``cortex.accessDenied.appDisabled``). An app of the same name that does not have
those properties (say, one made by hand with ``--no-csrf``) is never used as the console's.
"""

from __future__ import annotations

from typing import Any

from opencortex.model.apps import create_app, list_apps
from opencortex.runtime import Runtime

CONSOLE_APP_NAME = "OpenCortex Console"


def find_console_app(runtime: Runtime, org: dict[str, Any]) -> dict[str, Any] | None:
    """The org's console app; None before anyone logged in to its console (so no session either)."""
    return _find(runtime, org["id"])


def console_app(runtime: Runtime, org: dict[str, Any]) -> dict[str, Any]:
    """The org's console app, created at the first login to its console."""
    found = _find(runtime, org["id"])
    if found is not None:
        return found
    with runtime.database.begin() as connection:
        create_app(connection, runtime.master_key, org["id"], name=CONSOLE_APP_NAME, signing=False, sessions=True,
                   csrf=True)
    # Read again after committing: if two first requests raced, both now settle on the oldest.
    found = _find(runtime, org["id"])
    assert found is not None
    return found


def _find(runtime: Runtime, org_id: str) -> dict[str, Any] | None:
    with runtime.database.connect() as connection:
        return next((app for app in list_apps(connection, org_id) if _is_console_app(app)), None)


def _is_console_app(app: dict[str, Any]) -> bool:
    return (app["name"] == CONSOLE_APP_NAME and app["sessions"] and app["csrf"]
            and app["secret_sealed"] is None and not app["principal_override"] and app["principal_id"] is None)
