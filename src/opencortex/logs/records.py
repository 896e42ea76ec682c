"""Log records: writing them (batched), showing them as Cortex does, and purging expired ones.

A record keeps the Cortex Logs object's short field names (cortex-api.md section 4.4): ``src`` is
where it came from, ``lvl`` how severe it is, ``dat`` what the logger was given, ``err`` a fault,
``trc`` a stack trace. Every record expires ``LOG_TTL`` after it is written (Cortex: 30 days).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from opencortex.clock import iso, utcnow
from opencortex.ids import new_object_id
from opencortex.store.tables import logs

# Sources (``src``).
LOGGER, API, SCRIPT, REQUEST, AUDIT, DEPLOYMENT, EXPORT = 0, 1, 2, 3, 4, 5, 6
# Levels (``lvl``), as the script logger's.
ERROR, WARN, INFO, DEBUG, TRACE = 0, 1, 2, 3, 4

LOG_TTL = timedelta(days=30)
_INSERT_BATCH = 500


@dataclass(frozen=True)
class LogEntry:
    """One record to write; the store adds ``_id``, ``org``, ``exp`` and ``created``."""

    src: int
    lvl: int
    dat: Any = None
    err: dict[str, Any] | None = None
    trc: list[dict[str, Any]] | None = None
    pid: str | None = None
    oid: str | None = None
    req: str | None = None
    beg: datetime | None = None
    end: datetime | None = None
    sts: int | None = None
    src_id: str | None = None


def write_logs(connection: Connection, org_id: str, records: Iterable[LogEntry],
               *, now: datetime | None = None) -> list[str]:
    """Insert the records in the caller's transaction, a batch of rows per statement; returns their ids."""
    now = now or utcnow()
    ids: list[str] = []
    batch: list[dict[str, Any]] = []
    for record in records:
        record_id = new_object_id()
        ids.append(record_id)
        batch.append({
            "id": record_id, "org_id": org_id, "req": record.req, "pid": record.pid, "oid": record.oid,
            "beg": record.beg or now, "end": record.end or record.beg or now, "src": record.src,
            "src_id": record.src_id, "lvl": record.lvl, "sts": record.sts, "dat": record.dat,
            "err": record.err, "trc": record.trc or None, "exp": now + LOG_TTL, "created": now,
        })
        if len(batch) >= _INSERT_BATCH:
            connection.execute(logs.insert(), batch)
            batch = []
    if batch:
        connection.execute(logs.insert(), batch)
    return ids


def purge_expired_logs(connection: Connection, now: datetime, *, batch: int = 5000,
                       max_batches: int = 20) -> int:
    """Delete records whose ``exp`` has passed, at most ``batch * max_batches`` per call; returns how many."""
    deleted = 0
    for _ in range(max_batches):
        expired = sa.select(logs.c.id).where(logs.c.exp < now).limit(batch).scalar_subquery()
        count = connection.execute(logs.delete().where(logs.c.id.in_(expired))).rowcount
        deleted += count
        if count < batch:
            break
    return deleted


# A record's properties as the API shows them (``log_json``), with their types: what ``paths[]``
# may name, and the data dictionary of a CSV export of the Logs. ``src_id`` is left out when unset.
LOG_PROPERTIES: dict[str, str] = {
    "_id": "ObjectId", "object": "String", "org": "ObjectId", "req": "ObjectId", "pid": "ObjectId",
    "oid": "ObjectId", "beg": "Date", "end": "Date", "src": "Number", "lvl": "Number", "dat": "Any",
    "err": "Any", "trc": "Any", "sts": "Number", "exp": "Date", "created": "Date", "src_id": "ObjectId",
}  # fmt: skip


def log_json(row: dict[str, Any]) -> dict[str, Any]:
    """A record as the API shows it: the Cortex Logs shape, plus ``created`` (when it was stored)."""
    document: dict[str, Any] = {
        "_id": row["id"],
        "object": "log",
        "org": row["org_id"],
        "req": row["req"],
        "pid": row["pid"],
        "oid": row["oid"],
        "beg": iso(row["beg"]),
        "end": iso(row["end"]),
        "src": row["src"],
        "lvl": row["lvl"],
        "dat": row["dat"],
        "err": row["err"],
        "trc": row["trc"],
        "sts": row["sts"],
        "exp": iso(row["exp"]),
        "created": iso(row["created"]),
    }
    if row["src_id"] is not None:
        document["src_id"] = row["src_id"]
    return document
