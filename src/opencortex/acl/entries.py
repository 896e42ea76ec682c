"""ACL entries ``{type, target, allow}``: reading both forms and matching them to a principal.

Definitions may hold entries as objects or as the deployment shorthand
``"<type>.<target>.<level>"`` (``"owner.delete"``, ``"role.administrator.read"``,
``"account.public"``); both are normalised here to ``AclEntry`` values.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from opencortex.acl.levels import LEVEL_NAMES, Access
from opencortex.ids import ANONYMOUS, PUBLIC, ROLE_IDS, is_object_id

ACCOUNT, SELF, ROLE, OWNER, ACCESS = 1, 2, 3, 4, 5
_TYPE_NAMES = {"account": ACCOUNT, "self": SELF, "role": ROLE, "owner": OWNER, "access": ACCESS}
_PRINCIPAL_NAMES = {"anonymous": ANONYMOUS, "public": PUBLIC}


@dataclass(frozen=True)
class AclEntry:
    type: int
    target: str | None
    allow: int


def read_entries(raw: Any) -> list[AclEntry]:
    """Normalise stored entries; entries that cannot grant anything are dropped."""
    if raw is None:
        return []
    items = raw if isinstance(raw, list) else [raw]
    entries = []
    for item in items:
        entry = _read_entry(item)
        if entry is not None:
            entries.append(entry)
    return entries


def _read_entry(item: Any) -> AclEntry | None:
    if isinstance(item, dict):
        kind = item.get("type")
        kind = _TYPE_NAMES.get(kind, kind) if isinstance(kind, str) else kind
        target = item.get("target")
        allow = item.get("allow", Access.READ)
        allow = LEVEL_NAMES.get(allow, allow) if isinstance(allow, str) else allow
        if not isinstance(kind, int) or not isinstance(allow, int):
            return None
        return AclEntry(kind, _target(target), int(allow))
    if isinstance(item, str):
        parts = item.split(".")
        kind = _TYPE_NAMES.get(parts[0])
        if kind is None:
            return None
        if kind in (OWNER, SELF):
            level = LEVEL_NAMES.get(parts[1]) if len(parts) > 1 else Access.READ
            return AclEntry(kind, None, int(level or Access.READ))
        target = _target(parts[1]) if len(parts) > 1 else None
        level = LEVEL_NAMES.get(parts[2]) if len(parts) > 2 else Access.READ
        return AclEntry(kind, target, int(level or Access.READ))
    return None


def _target(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    if is_object_id(value):
        return value
    return ROLE_IDS.get(value.lower()) or _PRINCIPAL_NAMES.get(value.lower())


def entry_matches(
    entry: AclEntry, *, account_id: str, roles: Iterable[str], anonymous: bool, owner: str | None,
    self_id: str | None = None,
) -> bool:
    """Whether the entry applies to this principal for this instance."""
    if entry.type == ACCOUNT:
        if entry.target == ANONYMOUS:
            return True  # granted to everyone, including anonymous callers
        if entry.target == PUBLIC:
            return not anonymous  # any account of the org
        return not anonymous and entry.target == account_id
    if entry.type == ROLE:
        return not anonymous and entry.target in set(roles)
    if entry.type == OWNER:
        return not anonymous and owner is not None and owner == account_id
    if entry.type == SELF:
        return not anonymous and self_id is not None and self_id == account_id
    return False
