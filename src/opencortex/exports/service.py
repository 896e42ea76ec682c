"""Export operations for the API and the CLI: each one transaction, org-scoped."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection

from opencortex.exports.jobs import DEFAULT_TTL_DAYS, expiry_after, validate_export_request
from opencortex.exports.pipeline import archive_key, output_prefix
from opencortex.exports.queue import (
    create_export,
    delete_export_record,
    get_export,
    list_exports,
    request_cancel,
)
from opencortex.files.accounting import release
from opencortex.runtime import Runtime
from opencortex.store.audit import record_audit

__all__ = ["archive_key", "create", "delete", "get_export", "list_exports", "remove_output", "request_cancel"]


def create(connection: Connection, runtime: Runtime, org: dict[str, Any], creator: str, body: Any) -> dict[str, Any]:
    request = validate_export_request(connection, runtime.database.dialect, org["id"], body)
    days = org["settings"].get("exportTtlDays", DEFAULT_TTL_DAYS)
    return create_export(connection, org["id"], creator, request, expiry_after(int(days)))


def delete(runtime: Runtime, org_id: str, export_id: str, *, principal: str | None) -> None:
    """Cancel (if running), then delete the record, its archive and files, and release their bytes.

    A running job's worker sees the record gone at its next heartbeat and stops.
    """
    with runtime.database.begin() as connection:
        get_export(connection, org_id, export_id)
        delete_export_record(connection, org_id, export_id)
        record_audit(connection, org_id, "export.delete", f"/exports/{export_id}", principal=principal)
    remove_output(runtime, org_id, export_id)


def remove_output(runtime: Runtime, org_id: str, export_id: str, attempt: int | None = None) -> None:
    """Delete what an export stored (one attempt's output, or all of it) and stop counting it."""
    store = runtime.file_store
    keys = list(store.list_keys(output_prefix(export_id, attempt)))
    with runtime.database.begin() as connection:
        for key in keys:
            release(connection, org_id, key)
    for key in keys:
        store.delete(key)
