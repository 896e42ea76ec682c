"""Deleting exports past their ``expiresAt``, with their archives and storage accounting."""

from __future__ import annotations

import logging

from opencortex.exports import operations
from opencortex.runtime import Runtime

log = logging.getLogger("opencortex.exports")


def reap_expired_exports(runtime: Runtime, limit: int = 100) -> int:
    """Delete up to ``limit`` expired exports (running ones wait until they end); returns how many."""
    deleted = 0
    for job in operations.expired(runtime, limit):
        if operations.expire(runtime, job):
            deleted += 1
            log.info("export %s expired and was deleted", job.id)
    return deleted
