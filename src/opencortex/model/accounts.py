"""Accounts: people who log in to one org, with roles.

``ACCOUNT_LIST`` describes the accounts table to ``where``/``sort`` (``model.table_lists``): the
properties an account read shows and the list may match or order by, each mapped to its column
(``roles`` through a JSON document holding it). The password hash is not among them, so no
query can name it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.sql.elements import ColumnElement

from opencortex import faults
from opencortex.clock import iso, utcnow
from opencortex.ids import ROLE_IDS, ROLE_NAMES, expand_roles, is_object_id, new_object_id
from opencortex.model.passwords import hash_password
from opencortex.model.table_lists import TableList, TableQuery, count_rows, list_page, table_schema
from opencortex.query.compile import QueryTarget
from opencortex.query.schema import QueryableProperty
from opencortex.store.tables import accounts, login_throttle

_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")


def normalise_email(email: object) -> str:
    if not isinstance(email, str) or len(email) > 254 or not _EMAIL.match(email.strip()):
        raise faults.invalid_argument("A valid email address is required.", path="email")
    return email.strip().lower()


def role_ids(roles: list[str]) -> list[str]:
    """Accept role names (``administrator``) or ids; return ids."""
    resolved = []
    for index, role in enumerate(roles):
        role_id = ROLE_IDS.get(role.lower()) if isinstance(role, str) else None
        role_id = role_id or (role if role in ROLE_NAMES else None)
        if role_id is None:
            raise faults.invalid_argument(
                f"Unknown role {role!r}; expected one of {', '.join(ROLE_IDS)}.", path=f"roles[{index}]"
            )
        if role_id not in resolved:
            resolved.append(role_id)
    return resolved


def create_account(
    connection: Connection,
    org_id: str,
    *,
    email: str,
    password: str,
    roles: list[str] | None = None,
    first_name: str = "",
    last_name: str = "",
) -> dict[str, Any]:
    email = normalise_email(email)
    for path, value in (("name.first", first_name), ("name.last", last_name)):
        if not isinstance(value, str) or len(value) > 100:
            raise faults.invalid_argument("A name is at most 100 characters.", path=path)
    if find_account_by_email(connection, org_id, email) is not None:
        raise faults.already_exists("An account with this email already exists.", path="email")
    row = {
        "id": new_object_id(),
        "org_id": org_id,
        "email": email,
        "password_hash": hash_password(password),
        "name_first": first_name,
        "name_last": last_name,
        "roles": role_ids(roles or []),
        "state": "verified",
        "locked": False,
        "last_login": None,
        "created": utcnow(),
        "updated": None,
    }
    connection.execute(accounts.insert().values(**row))
    return row


def find_account(connection: Connection, org_id: str, account_id: str) -> dict[str, Any] | None:
    if not is_object_id(account_id):
        return None
    query = sa.select(accounts).where(accounts.c.org_id == org_id, accounts.c.id == account_id)
    row = connection.execute(query).mappings().first()
    return dict(row) if row else None


def find_account_by_email(connection: Connection, org_id: str, email: str) -> dict[str, Any] | None:
    query = sa.select(accounts).where(accounts.c.org_id == org_id, accounts.c.email == email.strip().lower())
    row = connection.execute(query).mappings().first()
    return dict(row) if row else None


def find_account_by_id_or_email(connection: Connection, org_id: str, ref: str) -> dict[str, Any] | None:
    return find_account(connection, org_id, ref) if is_object_id(ref) else find_account_by_email(
        connection, org_id, ref
    )


def list_accounts(
    connection: Connection, org_id: str, *, limit: int, starting_after: str | None = None
) -> tuple[list[dict[str, Any]], bool]:
    """Newest first, keyset-paged on ``_id``; returns (rows, has_more)."""
    query = sa.select(accounts).where(accounts.c.org_id == org_id)
    if starting_after:
        query = query.where(accounts.c.id < starting_after)
    query = query.order_by(accounts.c.id.desc()).limit(limit + 1)
    rows = [dict(row) for row in connection.execute(query).mappings()]
    return rows[:limit], len(rows) > limit


def _account_document(dialect: str) -> ColumnElement[Any]:
    """``{"roles": [...]}``: the one account property stored as JSON, as a document to query."""
    if dialect == "postgresql":
        return sa.func.jsonb_build_object(sa.literal_column("'roles'"), sa.cast(accounts.c.roles, JSONB),
                                          type_=JSONB)
    return sa.func.json_object(sa.literal_column("'roles'"), sa.func.json(accounts.c.roles))


def _column(path: str, kind: str, column: str) -> QueryableProperty:
    return QueryableProperty(path=path, type=kind, indexed=True, column=column)


# What ``account_json`` shows, as stored data (``inherited_roles`` and ``access`` are computed).
ACCOUNT_LIST = TableList(
    noun="account",
    target=QueryTarget(accounts, _account_document),
    schema=table_schema("account", (
        _column("_id", "ObjectId", "id"),
        _column("email", "String", "email"),
        _column("name.first", "String", "name_first"),
        _column("name.last", "String", "name_last"),
        QueryableProperty(path="roles", type="ObjectId", array=True, indexed=True),
        _column("state", "String", "state"),
        _column("locked", "Boolean", "locked"),
        _column("created", "Date", "created"),
        _column("updated", "Date", "updated"),
        _column("stats.lastLogin.time", "Date", "last_login"),
    )),
)


def query_accounts(connection: Connection, org_id: str, query: TableQuery) -> tuple[list[dict[str, Any]], bool]:
    """A page of the org's accounts (rows) with ``where``, ``sort`` and paging; newest first by default."""
    return list_page(connection, org_id, ACCOUNT_LIST, query)


def count_matching_accounts(connection: Connection, org_id: str, where: str | None) -> int:
    return count_rows(connection, org_id, ACCOUNT_LIST, where)


def count_accounts(connection: Connection, org_id: str) -> int:
    query = sa.select(sa.func.count()).select_from(accounts).where(accounts.c.org_id == org_id)
    return int(connection.execute(query).scalar() or 0)


def set_account_password(connection: Connection, org_id: str, account_id: str, password: str) -> None:
    """Replace the password (same rules as on create). Sessions are the caller's business."""
    password_hash = hash_password(password)
    connection.execute(
        accounts.update()
        .where(accounts.c.org_id == org_id, accounts.c.id == account_id)
        .values(password_hash=password_hash, updated=utcnow())
    )


@dataclass(frozen=True)
class LoginLockout:
    """The failed-login count of one (org, email), and the lock it earned, if any."""

    failures: int
    locked_until: datetime | None

    def to_json(self) -> dict[str, Any]:
        return {"failures": self.failures, "lockedUntil": iso(self.locked_until)}


def find_login_lockout(connection: Connection, org_id: str, email: str) -> LoginLockout | None:
    query = sa.select(login_throttle.c.failures, login_throttle.c.locked_until).where(
        login_throttle.c.org_id == org_id, login_throttle.c.email == email.strip().lower()
    )
    row = connection.execute(query).first()
    return LoginLockout(failures=int(row.failures or 0), locked_until=row.locked_until) if row else None


@dataclass(frozen=True)
class Unlocked:
    """What ``unlock_account`` cleared."""

    account: dict[str, Any]  # the row after unlocking
    lockout: LoginLockout | None  # the failed-login count and lock that were removed
    was_locked: bool  # the account's own ``locked`` flag was set


def unlock_account(connection: Connection, org_id: str, email: str) -> Unlocked:
    """Let the account log in again: forget its failed logins and clear its ``locked`` flag."""
    account = find_account_by_email(connection, org_id, email)
    if account is None:
        raise faults.instance_not_found(f"No account {email!r} in this org.", path="email")
    lockout = find_login_lockout(connection, org_id, account["email"])
    connection.execute(
        login_throttle.delete().where(login_throttle.c.org_id == org_id, login_throttle.c.email == account["email"])
    )
    was_locked = bool(account["locked"])
    if was_locked:
        updated = utcnow()
        connection.execute(
            accounts.update()
            .where(accounts.c.org_id == org_id, accounts.c.id == account["id"])
            .values(locked=False, updated=updated)
        )
        account = account | {"locked": False, "updated": updated}
    return Unlocked(account=account, lockout=lockout, was_locked=was_locked)


def record_login(connection: Connection, account_id: str) -> None:
    connection.execute(accounts.update().where(accounts.c.id == account_id).values(last_login=utcnow()))


def account_json(row: dict[str, Any], *, access: int | None = None) -> dict[str, Any]:
    """The account document, as Cortex shows it. Never includes the password hash."""
    document: dict[str, Any] = {
        "_id": row["id"],
        "object": "account",
        "email": row["email"],
        "name": {"first": row["name_first"], "last": row["name_last"]},
        "roles": list(row["roles"]),
        "inherited_roles": expand_roles(list(row["roles"])),
        "state": row["state"],
        "locked": bool(row["locked"]),
        "created": iso(row["created"]),
        "updated": iso(row["updated"]),
    }
    if row.get("last_login") is not None:
        document["stats"] = {"lastLogin": {"time": iso(row["last_login"])}}
    if access is not None:
        document["access"] = access
    return document
