"""The audit trail: who did what to which resource, and when (the ``audit`` table).

Generic on purpose: file downloads through signed links record ``file.download.signed``; export
downloads and other sensitive reads record their own actions the same way.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from opencortex.clock import as_utc, iso, utcnow
from opencortex.ids import new_object_id
from opencortex.store.tables import audit

SIGNED_DOWNLOAD = "file.download.signed"


def record_audit(
    connection: Connection,
    org_id: str,
    action: str,
    resource: str,
    *,
    principal: str | None = None,
    details: dict[str, Any] | None = None,
    time: datetime | None = None,
) -> str:
    """Append one audit record in the caller's transaction; returns its ``_id``."""
    record_id = new_object_id()
    connection.execute(
        audit.insert().values(
            id=record_id,
            org_id=org_id,
            time=time or utcnow(),
            principal=principal,
            action=action,
            resource=resource[:1024],
            details=details,
        )
    )
    return record_id


def audit_records(
    connection: Connection, org_id: str, action: str | None = None, limit: int = 100
) -> list[dict[str, Any]]:
    """The org's most recent records first, as JSON."""
    statement = sa.select(audit).where(audit.c.org_id == org_id)
    if action is not None:
        statement = statement.where(audit.c.action == action)
    rows = connection.execute(
        statement.order_by(audit.c.time.desc(), audit.c.id.desc()).limit(limit)
    ).mappings()
    return [
        {
            "_id": row["id"],
            "object": "audit",
            "time": iso(as_utc(row["time"])),
            "principal": row["principal"],
            "action": row["action"],
            "resource": row["resource"],
            "details": row["details"],
        }
        for row in rows
    ]
