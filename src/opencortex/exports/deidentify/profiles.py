"""De-identification profiles: the org's named profiles, their storage, and the one entry point of
each operation (create, list, get, replace, delete), for the API routes, the CLI and exports.

Every statement is scoped by org. A profile's HMAC key is made here when the profile is created
(32 random bytes), sealed with the master key for that profile alone, and opened only to build
the ``Deidentifier`` of an export run: no operation returns it, and changing a profile keeps it,
so hashes stay the same across versions. Every change bumps ``version`` and is audited.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from opencortex import faults
from opencortex.clock import as_utc, iso, utcnow
from opencortex.exports.deidentify.rules import ProfileSettings, check_rules, read_profile_body
from opencortex.exports.deidentify.transform import Deidentifier
from opencortex.exports.jobs import account_reference
from opencortex.ids import is_object_id, new_object_id
from opencortex.keys import MasterKey
from opencortex.model.objects import find_object
from opencortex.model.problems import Problems
from opencortex.runtime import Runtime
from opencortex.store.audit import record_audit
from opencortex.store.tables import deidentification_profiles as profiles

OBJECT = "deidentificationProfile"
ROUTE = "/deidentificationProfiles"
KEY_BYTES = 32
MAX_PROFILES = 100
CREATED, UPDATED, DELETED = "deidentify.profile.create", "deidentify.profile.update", "deidentify.profile.delete"


@dataclass(frozen=True)
class Profile:
    id: str
    org_id: str
    name: str
    version: int
    settings: ProfileSettings
    creator: str | None
    created: datetime
    updated: datetime | None

    @classmethod
    def from_row(cls, row: Mapping[Any, Any]) -> Profile:
        return cls(id=row["id"], org_id=row["org_id"], name=row["name"], version=int(row["version"]),
                   settings=ProfileSettings.from_json(row["settings"], row["description"]), creator=row["creator"],
                   created=as_utc(row["created"]),
                   updated=as_utc(row["updated"]) if row["updated"] is not None else None)

    def to_json(self) -> dict[str, Any]:
        """As the API shows it: never the key."""
        document: dict[str, Any] = {"_id": self.id, "object": OBJECT, "name": self.name,
                                    "description": self.settings.description, "version": self.version,
                                    **self.settings.to_json(), "created": iso(self.created),
                                    "updated": iso(self.updated),
                                    "creator": account_reference(self.creator) if self.creator else None}
        return {key: value for key, value in document.items() if value is not None}


def _key_purpose(profile_id: str) -> str:
    return f"deidentification-profile:{profile_id}"


def create_profile(runtime: Runtime, org_id: str, body: Any, *, creator: str | None) -> Profile:
    read = read_profile_body(body, creating=True)
    profile_id, now = new_object_id(), utcnow()
    key = runtime.master_key.seal(os.urandom(KEY_BYTES), _key_purpose(profile_id))
    with runtime.database.begin() as connection:
        _check_pinned(connection, org_id, read.settings, read.problems)
        read.problems.raise_if_any()
        assert read.name is not None
        if _find_row(connection, org_id, read.name) is not None:
            raise faults.already_exists(f"A de-identification profile named {read.name!r} exists.", path="name")
        count = connection.execute(sa.select(sa.func.count()).select_from(profiles)
                                   .where(profiles.c.org_id == org_id)).scalar_one()
        if count >= MAX_PROFILES:
            raise faults.max_allowed(f"An org has at most {MAX_PROFILES} de-identification profiles.", path="name")
        connection.execute(profiles.insert().values(
            id=profile_id, org_id=org_id, name=read.name, description=read.settings.description, version=1,
            settings=read.settings.to_json(), key_sealed=key, creator=creator, created=now, updated=None))
        record_audit(connection, org_id, CREATED, f"{ROUTE}/{profile_id}", principal=creator,
                     details={"name": read.name, "version": 1})
        return _get(connection, org_id, profile_id)


def list_profiles(runtime: Runtime, org_id: str) -> list[Profile]:
    with runtime.database.connect() as connection:
        rows = connection.execute(sa.select(profiles).where(profiles.c.org_id == org_id)
                                  .order_by(profiles.c.name)).mappings()
        return [Profile.from_row(row) for row in rows]


def get_profile(runtime: Runtime, org_id: str, name_or_id: str) -> Profile:
    with runtime.database.connect() as connection:
        return _get(connection, org_id, name_or_id)


def find_profile(connection: Connection, org_id: str, name_or_id: str) -> Profile | None:
    row = _find_row(connection, org_id, name_or_id)
    return None if row is None else Profile.from_row(row)


def replace_profile(runtime: Runtime, org_id: str, name_or_id: str, body: Any, *, principal: str | None) -> Profile:
    """Everything but the name (and the key) is replaced; ``version`` goes up by one."""
    read = read_profile_body(body, creating=False)
    with runtime.database.begin() as connection:
        current = _get(connection, org_id, name_or_id)
        _check_pinned(connection, org_id, read.settings, read.problems)
        read.problems.raise_if_any()
        version = current.version + 1
        connection.execute(profiles.update().where(profiles.c.org_id == org_id, profiles.c.id == current.id)
                           .values(description=read.settings.description, settings=read.settings.to_json(),
                                   version=version, updated=utcnow()))
        record_audit(connection, org_id, UPDATED, f"{ROUTE}/{current.id}", principal=principal,
                     details={"name": current.name, "version": version})
        return _get(connection, org_id, current.id)


def delete_profile(runtime: Runtime, org_id: str, name_or_id: str, *, principal: str | None) -> None:
    """Exports that name it and have not run yet will fail, saying so."""
    with runtime.database.begin() as connection:
        current = _get(connection, org_id, name_or_id)
        connection.execute(profiles.delete().where(profiles.c.org_id == org_id, profiles.c.id == current.id))
        record_audit(connection, org_id, DELETED, f"{ROUTE}/{current.id}", principal=principal,
                     details={"name": current.name, "version": current.version})


def open_deidentifier(connection: Connection, master_key: MasterKey, org_id: str, profile_id: str,
                      object_name: str) -> Deidentifier:
    """What an export run applies: the profile as it is now, with its key opened."""
    row = connection.execute(sa.select(profiles).where(profiles.c.org_id == org_id,
                                                       profiles.c.id == profile_id)).mappings().first()
    if row is None:
        raise faults.invalid_argument("The export's de-identification profile was deleted; nothing is exported "
                                      "without it.", path="deidentify")
    profile = Profile.from_row(row)
    key = master_key.open(row["key_sealed"], _key_purpose(profile.id))
    return Deidentifier(profile.name, profile.version, profile.settings, key, object_name)


def _check_pinned(connection: Connection, org_id: str, settings: ProfileSettings, problems: Problems) -> None:
    """Rules pinned to an object: the object must exist, and the paths in it fit their actions."""
    positions = {rule: index for index, rule in enumerate(settings.rules)}
    for name in sorted({rule.object for rule in settings.rules if rule.object is not None}):
        definition = find_object(connection, org_id, name)
        pinned = tuple(rule for rule in settings.rules if rule.object == name)
        if definition is None:
            for rule in pinned:
                problems.add(faults.object_not_found(f"No object named {name!r}.",
                                                     path=f"rules[{positions[rule]}].object"))
            continue
        check_rules(pinned, definition, problems, positions=positions, pinned_only=True)


def _get(connection: Connection, org_id: str, name_or_id: str) -> Profile:
    row = _find_row(connection, org_id, name_or_id)
    if row is None:
        raise faults.instance_not_found(f"No de-identification profile {name_or_id!r}.", path=name_or_id,
                                        resource=f"{OBJECT}.{name_or_id}")
    return Profile.from_row(row)


def _find_row(connection: Connection, org_id: str, name_or_id: str) -> Mapping[Any, Any] | None:
    column = profiles.c.id if is_object_id(name_or_id) else profiles.c.name
    return connection.execute(sa.select(profiles).where(profiles.c.org_id == org_id, column == name_or_id)
                              ).mappings().first()
