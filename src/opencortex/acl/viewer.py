"""The principal as access control sees it, and the access it resolves to.

``Viewer`` is what every instance read and write carries: who is asking, with which roles. A
system viewer (an export without ``principal``) has full access; it never comes from a request.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import Connection

from opencortex import faults
from opencortex.acl.entries import OWNER, AclEntry, entry_matches, read_entries
from opencortex.acl.levels import Access
from opencortex.auth.principal import Principal
from opencortex.ids import ANONYMOUS, PUBLIC, ROLE_NAMES, SYSTEM, expand_roles
from opencortex.model.accounts import find_account_by_id_or_email

_RESOLVED_LIMIT = 4096  # distinct instance acls remembered per resolver


@dataclass(frozen=True)
class Viewer:
    org_id: str
    account_id: str
    roles: frozenset[str] = frozenset()
    full_access: bool = False

    @property
    def anonymous(self) -> bool:
        return self.account_id == ANONYMOUS

    @classmethod
    def of(cls, principal: Principal) -> Viewer:
        return cls(principal.org_id, principal.account_id, frozenset(principal.all_roles))

    @classmethod
    def system(cls, org_id: str) -> Viewer:
        """Full access, for server-side reads that no ACL limits (an export without a principal)."""
        return cls(org_id, SYSTEM, full_access=True)

    def matches(self, entry: AclEntry, owner: str | None, self_id: str | None = None) -> bool:
        return entry_matches(entry, account_id=self.account_id, roles=self.roles, anonymous=self.anonymous,
                             owner=owner, self_id=self_id)

    def grant(self, entries: list[AclEntry], owner: str | None) -> int:
        """The highest level that the matching entries allow."""
        return max((entry.allow for entry in entries if self.matches(entry, owner)), default=Access.NONE)

    def instance_access(self, settings: Mapping[str, Any], owner: str | None, instance_acl: Any) -> int:
        """Resolved access to one instance: its object's ``defaultAcl`` plus the instance's own ``acl``."""
        if self.full_access:
            return Access.DELETE  # as Cortex reads an export without principal: "grant Delete"
        entries = read_entries(settings.get("defaultAcl")) + read_entries(instance_acl)
        return self.grant(entries, owner)

    def access_resolver(self, settings: Mapping[str, Any]) -> Callable[[str | None, Any], int]:
        """``instance_access`` for many instances of one object: the object's ACL is read once,
        so each instance costs only its owner check and its own (usually empty) ``acl``."""
        if self.full_access:
            return lambda _owner, _acl: Access.DELETE
        entries = read_entries(settings.get("defaultAcl"))
        static = self.grant([entry for entry in entries if entry.type != OWNER], owner=None)
        as_owner = max((entry.allow for entry in entries if entry.type == OWNER), default=Access.NONE)

        # Instances share a handful of distinct ``acl`` lists, so each is resolved once. What an
        # entry grants depends on the instance's owner only through "is the viewer the owner".
        resolved: dict[tuple[bool, Any], int] = {}

        def resolve(owner: str | None, instance_acl: Any) -> int:
            is_owner = owner is not None and owner == self.account_id and not self.anonymous
            level = as_owner if is_owner and as_owner > static else static
            if not instance_acl or instance_acl == "[]":
                return int(level)
            key = (is_owner, instance_acl if isinstance(instance_acl, str) else orjson.dumps(instance_acl))
            found = resolved.get(key)
            if found is None:
                entries = orjson.loads(instance_acl) if isinstance(instance_acl, str) else instance_acl
                found = int(max(level, self.grant(read_entries(entries), owner)))
                if len(resolved) < _RESOLVED_LIMIT:
                    resolved[key] = found
            return found

        return resolve

    def can_create(self, settings: Mapping[str, Any]) -> bool:
        if self.full_access:
            return True
        return any(self.matches(entry, owner=None) for entry in read_entries(settings.get("createAcl")))

    def property_access(self, prop: Any, instance_access: int, owner: str | None) -> int:
        """A property's ``acl`` can raise the caller's access for that property only."""
        extra = read_entries(prop.option("acl")) if prop.option("acl") else []
        return max(instance_access, self.grant(extra, owner)) if extra else instance_access

    def can_read_property(self, prop: Any, instance_access: int, owner: str | None) -> bool:
        if not prop.readable:
            return False
        needed = prop.option("readAccess") or Access.READ
        return self.full_access or self.property_access(prop, instance_access, owner) >= needed

    def can_write_property(self, prop: Any, instance_access: int, owner: str | None) -> bool:
        needed = prop.option("writeAccess") or Access.UPDATE
        return self.full_access or self.property_access(prop, instance_access, owner) >= needed


def as_principal(connection: Connection, org_id: str, account_ref: str) -> Viewer:
    """The viewer for an account of the org (by ``_id`` or email): how exports read as a principal."""
    if account_ref in (SYSTEM, PUBLIC) or account_ref in ROLE_NAMES:
        raise faults.principal_denied(path="principal")
    if account_ref == ANONYMOUS:
        return Viewer(org_id, ANONYMOUS)
    account = find_account_by_id_or_email(connection, org_id, account_ref)
    if account is None:
        raise faults.principal_denied("No such account in this org.", path="principal")
    roles = list(account["roles"])
    return Viewer(org_id, account["id"], frozenset(roles + expand_roles(roles)))
