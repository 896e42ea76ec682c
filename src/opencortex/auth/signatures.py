"""Signed requests: HMAC-SHA256 over ``path;METHOD;timestamp`` keyed by app key + secret.

``path`` is the request path after ``/{org}/v2``, with runs of slashes collapsed, no trailing
slash, one leading slash and no query string: exactly what the official client signs.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError

from opencortex import faults
from opencortex.clock import epoch_ms, utcnow
from opencortex.store.tables import request_nonces

_NONCE = re.compile(r"^[A-Za-z0-9]{16}$")
_SIGNATURE = re.compile(r"^[0-9a-fA-F]{64}$")
_TIMESTAMP = re.compile(r"^[0-9]{1,16}$")


def signing_path(path_after_version: str) -> str:
    return "/" + "/".join(part for part in path_after_version.split("?", 1)[0].split("/") if part)


def sign(key: str, secret: str, path: str, method: str, timestamp_ms: int | str) -> str:
    message = f"{signing_path(path)};{method.upper()};{timestamp_ms}"
    return hmac.new((key + secret).encode(), message.encode(), hashlib.sha256).hexdigest()


def verify_signed_request(
    connection: Connection,
    *,
    app_id: str,
    key: str,
    secret: str | None,
    path: str,
    method: str,
    signature: str,
    timestamp: str,
    nonce: str,
    window_seconds: int,
) -> None:
    """Raise the Cortex fault for a malformed, stale, wrong or replayed signature."""
    if secret is None:
        raise faults.invalid_signature("This app does not sign requests.")
    if not _SIGNATURE.match(signature) or not _NONCE.match(nonce) or not _TIMESTAMP.match(timestamp):
        raise faults.invalid_signature("Malformed signature, nonce or timestamp.")
    if abs(epoch_ms() - int(timestamp)) > window_seconds * 1000:
        raise faults.stale_signature("The request timestamp is outside the allowed clock window.")
    expected = sign(key, secret, path, method, timestamp)
    if not hmac.compare_digest(expected, signature.lower()):
        raise faults.invalid_signature()
    _remember_nonce(connection, app_id, nonce, window_seconds)


def _remember_nonce(connection: Connection, app_id: str, nonce: str, window_seconds: int) -> None:
    """Record the nonce; seeing it again within the window means a replay."""
    now = utcnow()
    # A timestamp older than the window is refused anyway, so older nonces can go.
    connection.execute(
        request_nonces.delete().where(request_nonces.c.seen_at < now - timedelta(seconds=2 * window_seconds))
    )
    try:
        with connection.begin_nested():
            connection.execute(request_nonces.insert().values(app_id=app_id, nonce=nonce, seen_at=now))
    except IntegrityError:
        raise faults.invalid_signature("This request nonce has already been used.") from None


def nonce_seen(connection: Connection, app_id: str, nonce: str) -> bool:
    query = sa.select(request_nonces.c.nonce).where(
        request_nonces.c.app_id == app_id, request_nonces.c.nonce == nonce
    )
    return connection.execute(query).first() is not None
