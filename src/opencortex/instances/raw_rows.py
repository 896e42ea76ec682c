"""``documents`` rows as the driver hands them out, for scans over many instances.

Turning a million rows into ``RowMapping`` dicts, with SQLAlchemy's JSON and date processing on
every value, cost an export more than serialising them. A scan selects only the columns a
document needs, as plain tuples (``RAW_COLUMNS`` order) with no result processing: ``acl`` and
``body`` as JSON text (on SQLite the very text stored; PostgreSQL writes jsonb out with its own
key order and spacing), ``created``/``updated`` as the stored text on SQLite. ``to_row`` makes the dict the
serialiser takes from one of them, the same as reading the row through the table's types.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson
import sqlalchemy as sa

from opencortex.store.tables import documents

RAW_COLUMNS = ("id", "type", "owner", "creator", "updater", "created", "updated", "acl", "body")
ID, TYPE, OWNER, CREATOR, UPDATER, CREATED, UPDATED, ACL, BODY = range(len(RAW_COLUMNS))

RawRow = tuple[Any, ...]


def raw_columns(dialect: str) -> list[Any]:
    """The select list of a raw scan: the table's columns without result processing. On
    PostgreSQL the JSON columns are read as text: psycopg's jsonb loading costs four times what
    ``orjson.loads`` of the text does."""
    if dialect == "postgresql":
        return [sa.cast(documents.c[name], sa.Text).label(name) if name in ("acl", "body") else documents.c[name]
                for name in RAW_COLUMNS]
    plain = {"created", "updated", "acl", "body"}
    return [sa.type_coerce(documents.c[name], sa.Text).label(name) if name in plain else documents.c[name]
            for name in RAW_COLUMNS]


def to_row(raw: RawRow) -> dict[str, Any]:
    """The row as ``dict(connection.execute(select(documents)).mappings().one())`` gives it,
    for the columns a document is serialised from."""
    return {
        "id": raw[ID], "type": raw[TYPE], "owner": raw[OWNER], "creator": raw[CREATOR],
        "updater": raw[UPDATER], "created": _moment(raw[CREATED]), "updated": _moment(raw[UPDATED]),
        "acl": _json(raw[ACL]), "body": _json(raw[BODY]),
    }


def _json(value: Any) -> Any:
    # Text on SQLite (a number if SQLite's numeric affinity turned it into one); already parsed on
    # PostgreSQL.
    return orjson.loads(value) if isinstance(value, (str, bytes)) else value


def _moment(value: Any) -> datetime | None:
    # SQLite stores 'YYYY-MM-DD HH:MM:SS.ffffff' and SQLAlchemy reads it back as a naive datetime.
    return datetime.fromisoformat(value) if isinstance(value, str) else value
