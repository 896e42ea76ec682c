"""The shape of ACL entries in definitions (``createAcl``, ``defaultAcl``, ``shareAcl``, property
``acl``) and of ``shareChain``.

Only the shape is checked here; what the entries grant is the access-control layer's business.
Entries are stored as given (objects, or the ``"<type>.<target>.<level>"`` shorthand that
deployments use), except that a lone entry is wrapped in a list so readers see one form.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from opencortex import faults
from opencortex.ids import is_object_id
from opencortex.model.problems import Problems, child_path

AclKind = Literal["create", "default", "share", "property"]

# Entry types (Cortex's numbering).
ACCOUNT, SELF, ROLE, OWNER, ACCESS = 1, 2, 3, 4, 5
ENTRY_TYPES = {"account": ACCOUNT, "self": SELF, "role": ROLE, "owner": OWNER, "access": ACCESS}

# Access levels 1..8, by their shorthand names.
ACCESS_LEVELS = {
    "public": 1,
    "connected": 2,
    "reserved": 3,
    "read": 4,
    "share": 5,
    "update": 6,
    "delete": 7,
    "script": 8,
}
_CODE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def check_acl(value: Any, path: str, kind: AclKind, problems: Problems) -> list[Any]:
    """Validate an ACL list (or a lone entry); returns it as a list, each entry as given."""
    if value is None:
        return []
    entries = value if isinstance(value, list) else [value]
    if len(entries) > 100:
        problems.add(faults.invalid_definition("An ACL holds at most 100 entries.", path=path))
        return []
    for index, entry in enumerate(entries):
        entry_path = child_path(path, index) if isinstance(value, list) else path
        problem = (
            _string_entry_problem(entry, kind)
            if isinstance(entry, str)
            else _object_entry_problem(entry, kind)
            if isinstance(entry, dict)
            else "An ACL entry is an object {type, target, allow} or a string like 'owner.delete'."
        )
        if problem:
            problems.add(faults.invalid_definition(problem, path=entry_path))
    return list(entries)


def check_share_chain(value: Any, path: str, problems: Problems) -> list[Any]:
    """``shareChain`` is a list of access levels, as numbers or names, highest first."""
    if not isinstance(value, list) or len(value) > 8:
        problems.add(faults.invalid_definition("shareChain is a list of at most 8 access levels.", path=path))
        return []
    for index, level in enumerate(value):
        if access_level(level) is None:
            problems.add(faults.invalid_definition(_LEVEL_REASON, path=child_path(path, index)))
    return list(value)


def access_level(value: Any) -> int | None:
    """An access level 1..8 from its number or its name, else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if 1 <= value <= 8 else None
    if isinstance(value, str):
        return ACCESS_LEVELS.get(value)
    return None


_LEVEL_REASON = "An access level is 1-8 or one of " + ", ".join(ACCESS_LEVELS) + "."


def _object_entry_problem(entry: dict[str, Any], kind: AclKind) -> str | None:
    unknown = set(entry) - {"type", "target", "allow"}
    if unknown:
        return f"Unknown ACL entry key {sorted(unknown)[0]!r}; entries are {{type, target, allow}}."
    entry_type = entry.get("type")
    if isinstance(entry_type, bool) or entry_type not in (ACCOUNT, SELF, ROLE, OWNER, ACCESS):
        return "An ACL entry type is 1 (account), 2 (self), 3 (role), 4 (owner) or 5 (access)."
    target, allow = entry.get("target"), entry.get("allow")
    if entry_type == ACCESS:
        if kind != "share":
            return "Access (type 5) entries are only allowed in shareAcl."
        if access_level(target) is None:
            return "The target of an access (type 5) entry is an access level. " + _LEVEL_REASON
    elif entry_type in (ACCOUNT, ROLE):
        if not is_object_id(target):
            return "Account and role entries need a target: a 24-digit hex id."
    elif target is not None:
        return "Self and owner entries take no target."
    if allow is None:
        # createAcl entries grant creation itself, and shareAcl entries may leave the level open.
        return None if kind in ("create", "share") else "An ACL entry needs allow: " + _LEVEL_REASON
    return None if access_level(allow) is not None else _LEVEL_REASON


def _string_entry_problem(entry: str, kind: AclKind) -> str | None:
    parts = entry.split(".")
    entry_type = ENTRY_TYPES.get(parts[0])
    if entry_type is None:
        return "ACL shorthand is '<account|role|owner|self|access>.<target>.<level>', e.g. 'owner.delete'."
    targeted = entry_type in (ACCOUNT, ROLE, ACCESS)
    rest = parts[2:] if targeted else parts[1:]
    if targeted:
        if len(parts) < 2:
            return f"'{parts[0]}' entries need a target, e.g. 'account.public' or 'role.administrator'."
        target = parts[1]
        if entry_type == ACCESS:
            if kind != "share":
                return "Access entries are only allowed in shareAcl."
            if access_level(target) is None:
                return _LEVEL_REASON
        elif entry_type == ACCOUNT and target not in ("public", "anonymous") and not is_object_id(target):
            return "An account target is 'public', 'anonymous' or a 24-digit hex id."
        elif entry_type == ROLE and not _CODE.match(target):
            return "A role target is a role code or id."
    if len(rest) > 1:
        return "Too many parts in ACL shorthand; the form is '<type>.<target>.<level>'."
    if not rest:
        return None if kind == "create" else f"The entry {entry!r} needs a level, e.g. '{entry}.read'."
    return None if access_level(rest[0]) is not None else _LEVEL_REASON
