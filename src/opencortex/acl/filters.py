"""The same access rules as ``Viewer.instance_access``, as a SQL condition on ``documents``.

List queries filter in SQL, so ``limit``, ``hasMore`` and keyset paging stay exact: a page is
never fetched and then thinned out. The object's ``defaultAcl`` is known before the query, so it
folds into a constant; only owner entries and the instance's own ``acl`` need SQL.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement

from opencortex.acl.entries import ACCOUNT, OWNER, ROLE, AclEntry, read_entries
from opencortex.acl.levels import VISIBLE
from opencortex.acl.viewer import Viewer
from opencortex.ids import ANONYMOUS, PUBLIC
from opencortex.store.tables import documents

_names = itertools.count()


def access_filter(
    viewer: Viewer, settings: Mapping[str, Any], dialect: str, needed: int = VISIBLE
) -> ColumnElement[bool]:
    """True for the instances where ``viewer`` has at least ``needed`` access."""
    if viewer.full_access:
        return sa.true()
    default_entries = read_entries(settings.get("defaultAcl"))
    static = viewer.grant([entry for entry in default_entries if entry.type != OWNER], owner=None)
    if static >= needed:
        return sa.true()
    conditions: list[ColumnElement[bool]] = []
    if not viewer.anonymous and any(
        entry.type == OWNER and entry.allow >= needed for entry in default_entries
    ):
        conditions.append(documents.c.owner == viewer.account_id)
    conditions.append(_instance_acl_grants(viewer, dialect, needed))
    return sa.or_(*conditions)


def readable_filter(
    viewer: Viewer, settings: Mapping[str, Any], dialect: str, read_access: int,
    property_acl: Sequence[AclEntry],
) -> ColumnElement[bool]:
    """True for the instances where ``viewer`` can read a property with this ``readAccess`` and
    ``acl``: instance access (or the property's own entries) reaching ``read_access``.

    A ``where`` or ``sort`` naming a property applies only to these instances, so that a query
    never tells apart values that a read of the same instances would hide."""
    if viewer.full_access:
        return sa.true()
    if viewer.grant([entry for entry in property_acl if entry.type != OWNER], owner=None) >= read_access:
        return sa.true()
    condition = access_filter(viewer, settings, dialect, read_access)
    as_owner = max((entry.allow for entry in property_acl if entry.type == OWNER), default=0)
    if not viewer.anonymous and as_owner >= read_access:
        condition = sa.or_(condition, documents.c.owner == viewer.account_id)
    return condition


def _instance_acl_grants(viewer: Viewer, dialect: str, needed: int) -> ColumnElement[bool]:
    """EXISTS an entry in ``documents.acl`` that matches the viewer with ``allow >= needed``."""
    suffix = next(_names)
    targets = [ANONYMOUS] if viewer.anonymous else [ANONYMOUS, PUBLIC, viewer.account_id]
    roles = sorted(viewer.roles) or ["-"]
    if dialect == "sqlite":
        element = "json_each(documents.acl) AS entry"
        kind, target, allow = (f"json_extract(entry.value, '$.{key}')" for key in ("type", "target", "allow"))
    else:
        element = "json_array_elements(documents.acl) AS entry"
        kind, target = "(entry ->> 'type')::int", "(entry ->> 'target')"
        allow = "(entry ->> 'allow')::int"
    owner_clause = "" if viewer.anonymous else f" OR ({kind} = {OWNER} AND documents.owner = :acl_me_{suffix})"
    # Only constants and a generated suffix are interpolated; every value is a bound parameter.
    sql = (
        f"EXISTS (SELECT 1 FROM {element} WHERE {allow} >= :acl_needed_{suffix} AND ("  # noqa: S608
        f"({kind} = {ACCOUNT} AND {target} IN :acl_targets_{suffix})"
        f" OR ({kind} = {ROLE} AND {target} IN :acl_roles_{suffix}){owner_clause}))"
    )
    clause = sa.text(sql).bindparams(
        sa.bindparam(f"acl_targets_{suffix}", targets, expanding=True),
        sa.bindparam(f"acl_roles_{suffix}", roles, expanding=True),
        sa.bindparam(f"acl_needed_{suffix}", int(needed)),
    )
    if not viewer.anonymous:
        clause = clause.bindparams(sa.bindparam(f"acl_me_{suffix}", viewer.account_id))
    return sa.and_(clause)
