"""Deleting exports past their ``expiresAt``, with their archives and storage accounting; purging
the tombstones of deleted instances that no incremental export can need any more."""

from __future__ import annotations

from datetime import timedelta

from opencortex.clock import utcnow
from opencortex.exports import operations
from opencortex.exports.tombstones import purge_tombstones
from opencortex.runtime import Runtime


def reap_expired_exports(runtime: Runtime, limit: int = 100) -> int:
    """Delete up to ``limit`` expired exports (running ones wait until they end); returns how many."""
    deleted = 0
    for job in operations.expired(runtime, limit):
        if operations.expire(runtime, job):  # which logs export.expired
            deleted += 1
    return deleted


def reap_tombstones(runtime: Runtime) -> int:
    """Purge tombstones past ``OPENCORTEX_TOMBSTONE_DAYS`` (``exports.tombstones``); returns how many."""
    with runtime.database.begin() as connection:
        return purge_tombstones(connection, utcnow(), timedelta(days=runtime.settings.tombstone_days))
