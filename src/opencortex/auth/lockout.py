"""Failed logins, counted per (org, email) in ``login_throttle``, and the locks they earn.

Counting is one statement, ``INSERT ... ON CONFLICT DO UPDATE SET failures = failures + 1 ...
RETURNING failures``, whose update applies only while the address is not locked, so parallel
wrong guesses can neither lose a count nor slip past a lock: each one either is counted (and
the count it returns decides the lock) or finds the lock and is refused as locked, uncounted.
The row stays locked (PostgreSQL) or the database write-locked (SQLite) until the transaction
ends, so the lock a count earns is written before the next guess can look.

From ``login_lock_threshold`` failures on, the address is locked for ``login_lock_base_seconds``,
doubling with each further failure up to ``login_lock_max_seconds``. ``account unlock`` (the CLI)
deletes the row.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from opencortex import faults
from opencortex.clock import as_utc, iso
from opencortex.settings import Settings
from opencortex.store.tables import login_throttle


class RetryLater(faults.Fault):
    """A refused login that may succeed later: the API adds ``Retry-After`` (seconds)."""

    def __init__(self, kind: faults.FaultKind, retry_after_seconds: int, **details: Any) -> None:
        super().__init__(kind, **details)
        self.retry_after_seconds = max(1, retry_after_seconds)


def locked_out(unlocks_at: datetime, now: datetime) -> RetryLater:
    """The fault for a locked address, saying when it unlocks (time and seconds from now)."""
    seconds = max(1, math.ceil((unlocks_at - now).total_seconds()))
    return RetryLater(
        faults.account_locked,
        seconds,
        message=(
            f"Account access has been disabled after too many failed logins; it unlocks at "
            f"{iso(unlocks_at)} (in {seconds} s)."
        ),
        path="email",
    )


def login_throttled(wait_seconds: int) -> RetryLater:
    return RetryLater(
        faults.login_throttled,
        1,
        reason=f"No password check came free within {wait_seconds} s; nothing was counted against the account.",
    )


@dataclass(frozen=True)
class Failure:
    """What recording one failed login did."""

    counted: bool  # False: the address was already locked, and this guess is refused as such
    locked_until: datetime | None  # the lock in force after this guess, if any


def lock_in_force(connection: Connection, org_id: str, email: str, now: datetime, *, for_update: bool = False
                  ) -> datetime | None:
    """When the address unlocks, if it is locked now. ``for_update`` waits for (and then holds) the
    row's lock on PostgreSQL, so a failure being recorded at this moment is seen."""
    query = sa.select(login_throttle.c.locked_until).where(
        login_throttle.c.org_id == org_id, login_throttle.c.email == email
    )
    if for_update:
        query = query.with_for_update()
    locked_until = connection.execute(query).scalar()
    if locked_until is None:
        return None
    locked_until = as_utc(locked_until)
    return locked_until if locked_until > now else None


def record_failure(connection: Connection, settings: Settings, org_id: str, email: str, now: datetime) -> Failure:
    """Count one failed login unless the address is locked; lock it once the count reaches the threshold."""
    values = {"org_id": org_id, "email": email, "failures": 1, "locked_until": None}
    conflict: dict[str, Any] = {
        "index_elements": [login_throttle.c.org_id, login_throttle.c.email],
        "set_": {"failures": login_throttle.c.failures + 1},
        "where": sa.or_(login_throttle.c.locked_until.is_(None), login_throttle.c.locked_until <= now),
    }
    statement: sa.Insert
    if connection.dialect.name == "postgresql":
        statement = postgresql_insert(login_throttle).values(**values).on_conflict_do_update(**conflict)
    else:
        statement = sqlite_insert(login_throttle).values(**values).on_conflict_do_update(**conflict)
    failures = connection.execute(statement.returning(login_throttle.c.failures)).scalar()
    if failures is None:  # the update's condition failed: the address is locked
        return Failure(counted=False, locked_until=lock_in_force(connection, org_id, email, now))
    if failures < settings.login_lock_threshold:
        return Failure(counted=True, locked_until=None)
    locked_until = now + timedelta(seconds=lock_seconds(settings, failures))
    connection.execute(
        login_throttle.update()
        .where(login_throttle.c.org_id == org_id, login_throttle.c.email == email)
        .values(locked_until=locked_until)
    )
    return Failure(counted=True, locked_until=locked_until)


def lock_seconds(settings: Settings, failures: int) -> int:
    extra = failures - settings.login_lock_threshold
    return min(settings.login_lock_base_seconds * (2 ** min(extra, 20)), settings.login_lock_max_seconds)


def forget_failures(connection: Connection, org_id: str, email: str) -> None:
    """A successful login starts the count again."""
    connection.execute(
        login_throttle.delete().where(login_throttle.c.org_id == org_id, login_throttle.c.email == email)
    )
