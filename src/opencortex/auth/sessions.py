"""Password login and sessions: cookie ``md.sid``, CSRF tokens, sliding expiry, lockout.

The cookie holds a random session id; the database holds only its SHA-256, so a database
leak does not leak live sessions. A session is bound to the app it was made through. Failed
logins are counted per (org, email), whether or not the account exists, so a wrong email and a
wrong password cannot be told apart (``auth/lockout.py``).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from anyio import to_thread
from sqlalchemy import Connection

from opencortex import faults
from opencortex.auth.lockout import forget_failures, lock_in_force, locked_out, login_throttled, record_failure
from opencortex.auth.login_slots import LoginSlots
from opencortex.auth.principal import Caller, Principal
from opencortex.clock import as_utc, utcnow
from opencortex.model.accounts import find_account, find_account_by_email, record_login
from opencortex.model.passwords import verify_password
from opencortex.settings import Settings
from opencortex.store.database import Database
from opencortex.store.tables import sessions

MUTATING_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


@dataclass
class NewSession:
    cookie_value: str
    csrf_token: str | None
    account: dict[str, Any]


def hash_session_id(cookie_value: str) -> str:
    return hashlib.sha256(cookie_value.encode()).hexdigest()


@dataclass(frozen=True)
class LoginAttempt:
    """What a login knows before its password is checked."""

    org: dict[str, Any]
    app: dict[str, Any]
    email: str
    account: dict[str, Any] | None  # None: no such account (the check still costs one hash)

    @property
    def password_hash(self) -> str | None:
        return self.account["password_hash"] if self.account else None


async def password_login(
    database: Database,
    settings: Settings,
    slots: LoginSlots,
    *,
    org: dict[str, Any],
    app: dict[str, Any],
    email: object,
    password: object,
    fingerprint: str | None,
) -> NewSession:
    """Log in without holding a database connection or write lock while the password is hashed.

    One short read, the argon2 check (in a worker thread, once a slot of ``slots`` is free), then
    one short write transaction that records the outcome and re-checks the lock.
    """
    attempt = await to_thread.run_sync(_start_in_database, database, org, app, email, password)
    assert isinstance(password, str)  # start_login refused anything else
    if not await slots.acquire(settings.login_wait_seconds):
        raise login_throttled(settings.login_wait_seconds)
    try:
        matches = await to_thread.run_sync(verify_password, attempt.password_hash, password)
    finally:
        slots.release()
    return await to_thread.run_sync(_finish_in_database, database, settings, attempt, matches, fingerprint)


def login(
    connection: Connection,
    settings: Settings,
    *,
    org: dict[str, Any],
    app: dict[str, Any],
    email: object,
    password: object,
    fingerprint: str | None,
) -> NewSession:
    """``password_login`` on one connection, for callers without an event loop (tools, tests).

    It hashes inside the caller's transaction; the API uses ``password_login``.
    """
    attempt = start_login(connection, org=org, app=app, email=email, password=password)
    assert isinstance(password, str)
    matches = verify_password(attempt.password_hash, password)
    return finish_login(connection, settings, attempt, matches, fingerprint)


def start_login(
    connection: Connection, *, org: dict[str, Any], app: dict[str, Any], email: object, password: object
) -> LoginAttempt:
    """Refuse what needs no password check (an app without sessions, a locked address); find the account."""
    if not app["sessions"]:
        raise faults.app_denied("Client api sessions not supported.")
    if not isinstance(email, str) or not isinstance(password, str) or not email or not password:
        raise faults.invalid_credentials()
    email = email.strip().lower()[:254]
    now = utcnow()
    locked_until = lock_in_force(connection, org["id"], email, now)
    if locked_until is not None:
        raise locked_out(locked_until, now)
    account = find_account_by_email(connection, org["id"], email)
    return LoginAttempt(org=org, app=app, email=email, account=account)


def finish_login(
    connection: Connection,
    settings: Settings,
    attempt: LoginAttempt,
    matches: bool,
    fingerprint: str | None,
) -> NewSession:
    """Record the outcome of the password check. A lock recorded since ``start_login`` still wins."""
    org, app, email = attempt.org, attempt.app, attempt.email
    now = utcnow()
    if not matches or attempt.account is None:
        failure = record_failure(connection, settings, org["id"], email, now)
        if not failure.counted and failure.locked_until is not None:
            raise locked_out(failure.locked_until, now)
        raise faults.invalid_credentials()
    locked_until = lock_in_force(connection, org["id"], email, now, for_update=True)
    if locked_until is not None:
        raise locked_out(locked_until, now)
    account = find_account(connection, org["id"], attempt.account["id"])
    if account is None or account["password_hash"] != attempt.account["password_hash"]:
        # Deleted, or its password changed, while the old one was being checked.
        raise faults.invalid_credentials()
    if account["locked"]:
        raise faults.account_locked(path="email")
    forget_failures(connection, org["id"], email)
    if not org["settings"].get("allowSimultaneousLogins", False):
        end_sessions_of(connection, org["id"], account["id"], reason="elsewhere")
    cookie_value = secrets.token_urlsafe(32)
    csrf_token = _new_csrf_token() if app["csrf"] else None
    duration = app["auth_duration"] or settings.auth_duration_seconds
    connection.execute(
        sessions.insert().values(
            id_hash=hash_session_id(cookie_value),
            org_id=org["id"],
            account_id=account["id"],
            app_id=app["id"],
            csrf_token=csrf_token,
            fingerprint=fingerprint,
            auth_duration=duration,
            expires=now + timedelta(seconds=duration),
            ended=None,
            created=now,
        )
    )
    record_login(connection, account["id"])
    return NewSession(cookie_value=cookie_value, csrf_token=csrf_token, account=account)


def _start_in_database(
    database: Database, org: dict[str, Any], app: dict[str, Any], email: object, password: object
) -> LoginAttempt:
    with database.connect() as connection:
        return start_login(connection, org=org, app=app, email=email, password=password)


def _finish_in_database(
    database: Database, settings: Settings, attempt: LoginAttempt, matches: bool, fingerprint: str | None
) -> NewSession:
    # Faults commit: a counted failure must stay counted although the login is refused.
    with database.begin_keeping_faults() as connection:
        return finish_login(connection, settings, attempt, matches, fingerprint)


def resume_session(
    connection: Connection,
    *,
    org: dict[str, Any],
    app: dict[str, Any],
    cookie_value: str,
    method: str,
    csrf_header: str | None,
) -> Caller | None:
    """The caller of a session-cookie request, a fault, or None when the cookie means nothing."""
    id_hash = hash_session_id(cookie_value)
    row = connection.execute(sa.select(sessions).where(sessions.c.id_hash == id_hash)).mappings().first()
    if row is None or row["ended"] == "logout":
        return None
    if row["org_id"] != org["id"]:
        raise faults.session_org_mismatch()
    if row["app_id"] != app["id"]:
        # A session belongs to the app it was made through (and to that app's CSRF rule). With
        # another app's key the request has no session; the session itself stays valid.
        return None
    if row["ended"] == "elsewhere":
        _delete_session(connection, id_hash)
        raise faults.logged_in_elsewhere()
    now = utcnow()
    if as_utc(row["expires"]) <= now:
        _delete_session(connection, id_hash)
        raise faults.session_expired()
    if (
        method.upper() in MUTATING_METHODS
        and app["csrf"]
        and row["csrf_token"]
        and not hmac.compare_digest(row["csrf_token"], csrf_header or "")
    ):
        _delete_session(connection, id_hash)
        raise faults.csrf_mismatch()
    account = find_account(connection, org["id"], row["account_id"])
    if account is None or account["locked"]:
        _delete_session(connection, id_hash)
        raise faults.account_locked()
    connection.execute(
        sessions.update()
        .where(sessions.c.id_hash == id_hash)
        .values(expires=now + timedelta(seconds=row["auth_duration"]))
    )
    return Caller(
        org=org,
        app=app,
        principal=Principal.from_account(account),
        method="session",
        session_id_hash=id_hash,
        csrf_token=row["csrf_token"],
    )


def logout(connection: Connection, session_id_hash: str) -> None:
    connection.execute(sessions.update().where(sessions.c.id_hash == session_id_hash).values(ended="logout"))


def expire_session_now(connection: Connection, session_id_hash: str) -> None:
    """Used by tests and administrators: the next request with this session gets kSessionExpired."""
    connection.execute(
        sessions.update().where(sessions.c.id_hash == session_id_hash).values(expires=datetime(2000, 1, 1))
    )


def _delete_session(connection: Connection, id_hash: str) -> None:
    connection.execute(sessions.delete().where(sessions.c.id_hash == id_hash))


def end_sessions_of(connection: Connection, org_id: str, account_id: str, *, reason: str) -> None:
    """End an account's open sessions; their next request gets the fault for ``reason``."""
    connection.execute(
        sessions.update()
        .where(sessions.c.org_id == org_id, sessions.c.account_id == account_id, sessions.c.ended.is_(None))
        .values(ended=reason)
    )


def _new_csrf_token() -> str:
    return secrets.token_hex(32)
