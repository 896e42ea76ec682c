"""Password login and sessions: cookie ``md.sid``, CSRF tokens, sliding expiry, lockout.

The cookie holds a random session id; the database holds only its SHA-256, so a database
leak does not leak live sessions. Failed logins are counted per (org, email), whether or not
the account exists, so a wrong email and a wrong password cannot be told apart.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from opencortex import faults
from opencortex.auth.principal import Caller, Principal
from opencortex.clock import as_utc, utcnow
from opencortex.model.accounts import find_account, find_account_by_email, record_login
from opencortex.model.passwords import verify_password
from opencortex.settings import Settings
from opencortex.store.tables import login_throttle, sessions

MUTATING_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


@dataclass
class NewSession:
    cookie_value: str
    csrf_token: str | None
    account: dict[str, Any]


def hash_session_id(cookie_value: str) -> str:
    return hashlib.sha256(cookie_value.encode()).hexdigest()


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
    if not app["sessions"]:
        raise faults.app_denied("Client api sessions not supported.")
    if not isinstance(email, str) or not isinstance(password, str) or not email or not password:
        raise faults.invalid_credentials()
    email = email.strip().lower()[:254]
    now = utcnow()
    throttle = _throttle_row(connection, org["id"], email)
    if throttle and throttle["locked_until"] and as_utc(throttle["locked_until"]) > now:
        raise faults.account_locked(path="email")
    account = find_account_by_email(connection, org["id"], email)
    if not verify_password(account["password_hash"] if account else None, password) or account is None:
        _record_failure(connection, settings, org["id"], email, throttle, now)
        raise faults.invalid_credentials()
    if account["locked"]:
        raise faults.account_locked(path="email")
    if throttle:
        connection.execute(
            login_throttle.delete().where(login_throttle.c.org_id == org["id"], login_throttle.c.email == email)
        )
    if not org["settings"].get("allowSimultaneousLogins", False):
        _end_sessions_of(connection, org["id"], account["id"], reason="elsewhere")
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


def _end_sessions_of(connection: Connection, org_id: str, account_id: str, *, reason: str) -> None:
    connection.execute(
        sessions.update()
        .where(sessions.c.org_id == org_id, sessions.c.account_id == account_id, sessions.c.ended.is_(None))
        .values(ended=reason)
    )


def _new_csrf_token() -> str:
    return secrets.token_hex(32)


def _throttle_row(connection: Connection, org_id: str, email: str) -> dict[str, Any] | None:
    query = sa.select(login_throttle).where(login_throttle.c.org_id == org_id, login_throttle.c.email == email)
    row = connection.execute(query).mappings().first()
    return dict(row) if row else None


def _record_failure(
    connection: Connection,
    settings: Settings,
    org_id: str,
    email: str,
    throttle: dict[str, Any] | None,
    now: datetime,
) -> None:
    """Count a failure; from the threshold on, lock for a period that doubles each time."""
    failures = (throttle["failures"] if throttle else 0) + 1
    locked_until = None
    if failures >= settings.login_lock_threshold:
        extra = failures - settings.login_lock_threshold
        seconds = min(settings.login_lock_base_seconds * (2 ** min(extra, 20)), settings.login_lock_max_seconds)
        locked_until = now + timedelta(seconds=seconds)
    values = {"failures": failures, "locked_until": locked_until}
    if throttle:
        connection.execute(
            login_throttle.update()
            .where(login_throttle.c.org_id == org_id, login_throttle.c.email == email)
            .values(**values)
        )
    else:
        connection.execute(login_throttle.insert().values(org_id=org_id, email=email, **values))
