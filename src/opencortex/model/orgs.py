"""Orgs: the tenants. Every other record belongs to exactly one."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from opencortex import faults
from opencortex.clock import iso, utcnow
from opencortex.ids import new_object_id
from opencortex.query.parse import RESTRICTED_OPERATORS
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


def allowed_restricted_operators(settings: Mapping[str, Any] | None) -> frozenset[str]:
    """The restricted query operators (``$ne``, ``$nin``, ``$type``; ``*`` for all) that an org's
    ``settings`` allow: Cortex's ``configuration.queries.allowedRestrictedMatchOps``. None when
    it is unset (Cortex's default); a name that is not a restricted operator counts for nothing."""
    value: Any = settings or {}
    for key in ("configuration", "queries", "allowedRestrictedMatchOps"):
        value = value.get(key) if isinstance(value, Mapping) else None
    if not isinstance(value, list):
        return frozenset()
    return frozenset(name for name in value if name == "*" or name in RESTRICTED_OPERATORS)


def org_allowed_restricted_operators(connection: Connection, org_id: str) -> frozenset[str]:
    """``allowed_restricted_operators`` of the org with this id (none when there is no such org)."""
    settings = connection.execute(sa.select(orgs.c.settings).where(orgs.c.id == org_id)).scalar()
    return allowed_restricted_operators(settings)


def set_allowed_restricted_operators(connection: Connection, code: str, operators: Iterable[str]) -> dict[str, Any]:
    """Store the org's ``allowedRestrictedMatchOps``: some of ``$ne``, ``$nin``, ``$type``, or
    ``*`` for all, or nothing (all refused). Returns the updated org."""
    org = find_org(connection, code)
    if org is None:
        raise faults.org_not_found(f"No org with code {code!r}.", path="code")
    given = set(operators)
    unknown = sorted(given - {"*", *RESTRICTED_OPERATORS})
    if unknown:
        raise faults.invalid_argument(
            f"{', '.join(unknown)}: the restricted operators are {', '.join(RESTRICTED_OPERATORS)} (or * for all).",
            path="allowedRestrictedMatchOps",
        )
    allowed = ["*"] if "*" in given else [name for name in RESTRICTED_OPERATORS if name in given]
    settings = dict(org["settings"] or {})
    configuration = dict(settings.get("configuration") or {})
    configuration["queries"] = {**(configuration.get("queries") or {}), "allowedRestrictedMatchOps": allowed}
    settings["configuration"] = configuration
    updated = utcnow()
    connection.execute(orgs.update().where(orgs.c.id == org["id"]).values(settings=settings, updated=updated))
    return {**org, "settings": settings, "updated": updated}


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
