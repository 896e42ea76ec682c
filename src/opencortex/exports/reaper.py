"""Deleting exports past their ``expiresAt``, with their archives and storage accounting."""

from __future__ import annotations

import logging

from opencortex.clock import utcnow
from opencortex.exports.queue import delete_export_record, expired_exports
from opencortex.exports.service import remove_output
from opencortex.runtime import Runtime
from opencortex.store.audit import record_audit

log = logging.getLogger("opencortex.exports")


def reap_expired_exports(runtime: Runtime, limit: int = 100) -> int:
    """Delete up to ``limit`` expired exports (running ones wait until they end); returns how many."""
    with runtime.database.begin() as connection:
        rows = expired_exports(connection, utcnow(), limit)
        for row in rows:
            delete_export_record(connection, row["org_id"], row["id"])
            record_audit(connection, row["org_id"], "export.expire", f"/exports/{row['id']}")
    for row in rows:
        remove_output(runtime, row["org_id"], row["id"])
        log.info("export %s expired and was deleted", row["id"])
    return len(rows)
