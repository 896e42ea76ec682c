"""ACL entries, the principals they match, and the access a ``Viewer`` resolves to.

The last tests hold the SQL filters (``acl.filters``) to the Python rules (``Viewer``) on both
databases: for every viewer, object ACL and level, a list query must select exactly the
instances that a read of each one would allow.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa

from opencortex.acl.entries import ACCOUNT, OWNER, ROLE, SELF, AclEntry, entry_matches, read_entries
from opencortex.acl.filters import access_filter, readable_filter
from opencortex.acl.levels import Access
from opencortex.acl.viewer import Viewer
from opencortex.auth.principal import Principal
from opencortex.ids import (
    ANONYMOUS,
    PUBLIC,
    ROLE_ADMINISTRATOR,
    ROLE_DEVELOPER,
    ROLE_PROVIDER,
    ROLE_SUPPORT,
)
from opencortex.model.orgs import create_org
from opencortex.model.problems import Problems
from opencortex.model.properties import PropertyDefinition, parse_property
from opencortex.store.database import Database
from opencortex.store.tables import documents

ORG = "5f00000000000000000000aa"
ME = "5f00000000000000000000a1"
SOMEONE = "5f00000000000000000000a2"


def prop(**options: Any) -> PropertyDefinition:
    problems = Problems()
    parsed = parse_property({"name": "c_p", "label": "P", "type": "String", **options}, "p", problems)
    assert parsed is not None, problems
    return parsed


def viewer(account: str = ME, *roles: str) -> Viewer:
    if account == ANONYMOUS:
        return Viewer.of(Principal.anonymous(ORG))
    return Viewer.of(Principal(ORG, account, roles=roles))


# read_entries


@pytest.mark.parametrize(("raw", "entry"), [
    ("owner.delete", AclEntry(OWNER, None, Access.DELETE)),
    ("owner", AclEntry(OWNER, None, Access.READ)),
    ("self.update", AclEntry(SELF, None, Access.UPDATE)),
    ("role.administrator.read", AclEntry(ROLE, ROLE_ADMINISTRATOR, Access.READ)),
    ("role.provider", AclEntry(ROLE, ROLE_PROVIDER, Access.READ)),
    ("role.Developer.script", AclEntry(ROLE, ROLE_DEVELOPER, Access.SCRIPT)),
    (f"role.{ROLE_SUPPORT}.share", AclEntry(ROLE, ROLE_SUPPORT, Access.SHARE)),
    ("account.public", AclEntry(ACCOUNT, PUBLIC, Access.READ)),
    ("account.anonymous.public", AclEntry(ACCOUNT, ANONYMOUS, Access.PUBLIC)),
    (f"account.{ME}.connected", AclEntry(ACCOUNT, ME, Access.CONNECTED)),
    ({"type": 3, "target": ROLE_ADMINISTRATOR, "allow": 7}, AclEntry(ROLE, ROLE_ADMINISTRATOR, 7)),
    ({"type": "role", "target": "administrator", "allow": "delete"}, AclEntry(ROLE, ROLE_ADMINISTRATOR, 7)),
    ({"type": 1, "target": PUBLIC}, AclEntry(ACCOUNT, PUBLIC, Access.READ)),  # createAcl: no allow
    ({"type": 4, "allow": 6}, AclEntry(OWNER, None, Access.UPDATE)),
    ("role.nosuchrole.read", AclEntry(ROLE, None, Access.READ)),  # matches nobody
], ids=repr)
def test_entry_forms(raw: Any, entry: AclEntry) -> None:
    assert read_entries(raw) == [entry]
    assert read_entries([raw, raw]) == [entry, entry]


def test_entries_that_cannot_grant_are_dropped() -> None:
    assert read_entries(None) == []
    assert read_entries([]) == []
    garbage = [42, "nonsense.thing", {"type": "nonsense"}, {"type": 1, "allow": "lots"}, None]
    assert read_entries(garbage) == []


def test_a_role_entry_without_a_known_target_matches_nobody() -> None:
    (entry,) = read_entries("role.nosuchrole.delete")
    assert not viewer(ME, ROLE_ADMINISTRATOR, ROLE_PROVIDER).matches(entry, owner=ME)


# entry_matches


def matches(entry: str | dict[str, Any], *, account: str = ME, roles: tuple[str, ...] = (),
            owner: str | None = None, self_id: str | None = None) -> bool:
    (parsed,) = read_entries(entry)
    return entry_matches(parsed, account_id=account, roles=roles, anonymous=account == ANONYMOUS, owner=owner,
                         self_id=self_id)


def test_anonymous_means_everyone() -> None:
    assert matches("account.anonymous.read", account=ANONYMOUS)
    assert matches("account.anonymous.read", account=ME)


def test_public_means_every_logged_in_account() -> None:
    assert matches("account.public.read", account=ME)
    assert not matches("account.public.read", account=ANONYMOUS)


def test_account_entries_name_one_account() -> None:
    assert matches(f"account.{ME}.read", account=ME)
    assert not matches(f"account.{ME}.read", account=SOMEONE)
    assert not matches(f"account.{ME}.read", account=ANONYMOUS)


def test_role_entries_need_the_role_and_a_login() -> None:
    assert matches("role.provider.read", roles=(ROLE_PROVIDER,))
    assert not matches("role.provider.read", roles=(ROLE_ADMINISTRATOR,))
    assert not matches("role.provider.read", account=ANONYMOUS, roles=(ROLE_PROVIDER,))


def test_owner_and_self_entries() -> None:
    assert matches("owner.delete", owner=ME)
    assert not matches("owner.delete", owner=SOMEONE)
    assert not matches("owner.delete", owner=None)
    assert not matches("owner.delete", account=ANONYMOUS, owner=ANONYMOUS)
    assert matches("self.read", self_id=ME)
    assert not matches("self.read", self_id=SOMEONE)


# Viewer


def test_administrators_inherit_developer_and_support() -> None:
    admin = viewer(ME, ROLE_ADMINISTRATOR)
    assert admin.roles == {ROLE_ADMINISTRATOR, ROLE_DEVELOPER, ROLE_SUPPORT}
    settings = {"defaultAcl": ["role.developer.update", "role.support.read"]}
    assert admin.instance_access(settings, owner=None, instance_acl=[]) == Access.UPDATE
    developer = viewer(ME, ROLE_DEVELOPER)
    assert developer.instance_access({"defaultAcl": ["role.administrator.read"]}, None, []) == Access.NONE
    assert viewer(ME, ROLE_PROVIDER).roles == {ROLE_PROVIDER}


def test_administrators_get_no_bypass() -> None:
    admin = viewer(ME, ROLE_ADMINISTRATOR)
    assert not admin.full_access
    assert admin.instance_access({"defaultAcl": ["owner.delete"]}, SOMEONE, instance_acl=[]) == Access.NONE
    assert not admin.can_create({"createAcl": ["role.provider"]})
    assert not admin.can_create({})


def test_instance_access_is_the_highest_matching_grant() -> None:
    settings = {"defaultAcl": ["owner.delete", "role.provider.read", "account.public.public"]}
    provider = viewer(ME, ROLE_PROVIDER)
    assert provider.instance_access(settings, owner=ME, instance_acl=[]) == Access.DELETE
    assert provider.instance_access(settings, owner=SOMEONE, instance_acl=[]) == Access.READ
    shared = [{"type": 1, "target": ME, "allow": 6}]
    assert provider.instance_access(settings, owner=SOMEONE, instance_acl=shared) == Access.UPDATE
    assert viewer(SOMEONE).instance_access(settings, owner=ME, instance_acl=shared) == Access.PUBLIC
    assert viewer(ANONYMOUS).instance_access(settings, owner=None, instance_acl=shared) == Access.NONE


def test_create_acl() -> None:
    logged_in = {"createAcl": ["account.public"]}
    assert viewer(ME).can_create(logged_in) and not viewer(ANONYMOUS).can_create(logged_in)
    everyone = {"createAcl": [{"type": 1, "target": ANONYMOUS}]}
    assert viewer(ANONYMOUS).can_create(everyone)
    by_role = {"createAcl": ["role.administrator"]}
    assert viewer(ME, ROLE_ADMINISTRATOR).can_create(by_role)
    assert not viewer(ME, ROLE_PROVIDER).can_create(by_role)


def test_the_system_viewer_has_full_access() -> None:
    system = Viewer.system(ORG)
    assert system.full_access and not system.anonymous
    assert system.instance_access({}, owner=None, instance_acl=[]) >= Access.DELETE
    assert system.can_create({})
    hidden = prop(readAccess=8, writeAccess=8)
    assert system.can_read_property(hidden, Access.NONE, None) and system.can_write_property(hidden, 0, None)


def test_property_levels_and_property_acl() -> None:
    me = viewer(ME, ROLE_PROVIDER)
    restricted = prop(readAccess=6, writeAccess=7, acl=["role.provider.update"])
    assert me.property_access(restricted, Access.READ, owner=None) == Access.UPDATE
    assert me.can_read_property(restricted, Access.READ, None)
    assert not me.can_write_property(restricted, Access.READ, None)
    plain = prop()
    assert me.can_read_property(plain, Access.READ, None)
    assert not me.can_read_property(plain, Access.CONNECTED, None)
    assert me.can_write_property(plain, Access.UPDATE, None)
    assert not me.can_write_property(plain, Access.SHARE, None)
    owners = prop(readAccess=7, acl=["owner.delete"])
    assert me.can_read_property(owners, Access.READ, owner=ME)
    assert not me.can_read_property(owners, Access.READ, owner=SOMEONE)
    assert not me.can_read_property(prop(readable=False), Access.SCRIPT, None)


# The SQL filters agree with the Viewer.


DEFAULT_ACLS = [
    [],
    ["owner.delete"],
    ["owner.read", "role.administrator.update"],
    ["role.provider.share", "account.public.public"],
    ["account.anonymous.connected", "owner.update"],
    [f"account.{ME}.update"],
]
INSTANCE_ACLS = [
    [],
    [{"type": 1, "target": ME, "allow": 5}],
    [{"type": 1, "target": SOMEONE, "allow": 7}],
    [{"type": 3, "target": ROLE_PROVIDER, "allow": 6}],
    [{"type": 3, "target": ROLE_DEVELOPER, "allow": 4}],
    [{"type": 1, "target": PUBLIC, "allow": 2}],
    [{"type": 1, "target": ANONYMOUS, "allow": 1}, {"type": 1, "target": ME, "allow": 7}],
    [{"type": 4, "allow": 6}],
]
VIEWERS = {
    "me": viewer(ME),
    "provider": viewer(ME, ROLE_PROVIDER),
    "administrator": viewer(ME, ROLE_ADMINISTRATOR),
    "someone": viewer(SOMEONE),
    "anonymous": viewer(ANONYMOUS),
    "system": Viewer.system(ORG),
}
PROPERTY_ACLS = [None, ["owner.delete"], ["role.provider.update"], [f"account.{SOMEONE}.read"]]


def test_sql_filters_select_what_the_viewer_allows(database: Database) -> None:
    owners = [ME, SOMEONE, None]
    created = datetime.now(UTC)
    rows = []
    for number, (owner, instance_acl) in enumerate(itertools.product(owners, INSTANCE_ACLS)):
        rows.append({"org_id": ORG, "object": "c_thing", "id": f"{number:024x}", "type": None, "owner": owner,
                     "creator": owner, "updater": None, "created": created, "updated": None, "sequence": 0,
                     "acl": instance_acl, "body": {}})
    with database.begin() as connection:
        org_id = create_org(connection, "acme", "Acme")["id"]
        for row in rows:
            row["org_id"] = org_id
        connection.execute(documents.insert(), rows)
        checked = 0
        for default_acl, (name, who) in itertools.product(DEFAULT_ACLS, VIEWERS.items()):
            settings = {"defaultAcl": default_acl}
            who = Viewer(org_id, who.account_id, who.roles, who.full_access)
            for needed in (Access.PUBLIC, Access.READ, Access.SHARE, Access.UPDATE, Access.DELETE):
                expected = {row["id"] for row in rows
                            if who.instance_access(settings, row["owner"], row["acl"]) >= needed}
                statement = sa.select(documents.c.id).where(
                    documents.c.org_id == org_id, access_filter(who, settings, database.dialect, needed))
                assert set(connection.execute(statement).scalars()) == expected, (default_acl, name, needed)
                checked += 1
            for property_acl in PROPERTY_ACLS:
                restricted = prop(readAccess=6, **({"acl": property_acl} if property_acl else {}))
                expected = {row["id"] for row in rows if who.can_read_property(
                    restricted, who.instance_access(settings, row["owner"], row["acl"]), row["owner"])}
                condition = readable_filter(who, settings, database.dialect, 6, read_entries(property_acl))
                statement = sa.select(documents.c.id).where(documents.c.org_id == org_id, condition)
                found = set(connection.execute(statement).scalars())
                assert found == expected, (default_acl, name, property_acl)
        assert checked == len(DEFAULT_ACLS) * len(VIEWERS) * 5
