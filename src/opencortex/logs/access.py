"""Who may read an org's Logs: Administrators and Developers (the Logs API's ACL, in one place).

The ``GET /logs`` route and an export of the ``logs`` object (``exports``, which reads them as
its principal, or as its creator) both ask here.
"""

from __future__ import annotations

from collections.abc import Collection

from opencortex import faults
from opencortex.ids import ROLE_ADMINISTRATOR, ROLE_DEVELOPER

LOG_READER_ROLES = frozenset({ROLE_ADMINISTRATOR, ROLE_DEVELOPER})


def can_read_logs(roles: Collection[str]) -> bool:
    return any(role in LOG_READER_ROLES for role in roles)


def require_log_reader(roles: Collection[str], path: str | None = None) -> None:
    """The access-denied fault unless ``roles`` may read the Logs."""
    if not can_read_logs(roles):
        raise faults.access_denied("The Logs are read by Administrators and Developers only.", path=path)
