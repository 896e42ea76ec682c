"""Orgs: the tenants. Every other record belongs to exactly one."""

from __future__ import annotations

import re
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from opencortex import faults
from opencortex.clock import iso, utcnow
from opencortex.ids import new_object_id
from opencortex.store.tables import orgs

_ORG_CODE = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}$")
# Path segments the server uses itself can't be org codes.
RESERVED_CODES = frozenset({"v2", "health", "static", "favicon.ico", "docs", "openapi.json"})


def create_org(connection: Connection, code: str, name: str) -> dict[str, Any]:
    if not _ORG_CODE.match(code) or code in RESERVED_CODES:
        raise faults.invalid_argument(
            "An org code is 1-40 characters: lowercase letters, digits and '-', starting with a letter or digit.",
            path="code",
        )
    if not name.strip() or len(name) > 200:
        raise faults.invalid_argument("An org name is 1-200 characters.", path="name")
    if find_org(connection, code) is not None:
        raise faults.already_exists(f"An org with code {code!r} already exists.", path="code")
    row = {
        "id": new_object_id(),
        "code": code,
        "name": name.strip(),
        "state": "enabled",
        "settings": {},
        "created": utcnow(),
        "updated": None,
    }
    connection.execute(orgs.insert().values(**row))
    return row


def find_org(connection: Connection, code: str) -> dict[str, Any] | None:
    row = connection.execute(sa.select(orgs).where(orgs.c.code == code)).mappings().first()
    return dict(row) if row else None


def list_orgs(connection: Connection) -> list[dict[str, Any]]:
    """Every org, by code (for operators: the CLI's ``org list``)."""
    return [dict(row) for row in connection.execute(sa.select(orgs).order_by(orgs.c.code)).mappings()]


def org_public_json(org: dict[str, Any]) -> dict[str, Any]:
    """What ``GET /{org}/v2`` shows to anyone holding an app key."""
    return {
        "_id": org["id"],
        "object": "org",
        "code": org["code"],
        "name": org["name"],
        "state": org["state"],
        "created": iso(org["created"]),
    }
