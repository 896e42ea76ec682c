"""Signed requests: HMAC-SHA256 over ``path;METHOD;timestamp`` keyed by app key + secret.

``path`` is the request path after ``/{org}/v2``, with runs of slashes collapsed, no trailing
slash, one leading slash and no query string: exactly what the official client signs. That
scheme leaves the query, the body and the nonce unsigned, so anyone who sees a signed request
can send another one (new nonce, other query or body) with the same signature within the clock
window. Apps with ``sign_content`` close that gap with two extension headers (docs/api.md,
"Signed content"): ``OpenCortex-Content-SHA256``, the SHA-256 of the body, checked as the body
is read, and ``OpenCortex-Content-Signature``, an HMAC with the same key over
``<path>[?<query>];<METHOD>;<timestamp>;<nonce>;<content-sha256>``.
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

SIGNATURE_HEADER = "medable-client-signature"
TIMESTAMP_HEADER = "medable-client-timestamp"
NONCE_HEADER = "medable-client-nonce"
CONTENT_SHA256_HEADER = "opencortex-content-sha256"
CONTENT_SIGNATURE_HEADER = "opencortex-content-signature"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()

# Each pattern is "^<one character class>{<length>}$"; _check_format reads the class back.
_NONCE = re.compile(r"^[A-Za-z0-9]{16}$")
_HEX64 = re.compile(r"^[0-9a-fA-F]{64}$")
_TIMESTAMP = re.compile(r"^[0-9]{1,16}$")

# The rule each header breaks, as the fault states it (``path`` names the header).
SIGNATURE_RULE = (
    "Medable-Client-Signature must be 64 hexadecimal characters: HMAC-SHA256 of '<path>;<METHOD>;<timestamp>'"
)
TIMESTAMP_RULE = "Medable-Client-Timestamp must be the request time in epoch milliseconds (digits only)"
NONCE_RULE = "Medable-Client-Nonce must be exactly 16 letters or digits (A-Z, a-z, 0-9), new on every request"
CONTENT_SHA256_RULE = "OpenCortex-Content-SHA256 must be the lowercase hex SHA-256 of the request body (64 characters)"
CONTENT_SIGNATURE_RULE = (
    "OpenCortex-Content-Signature must be 64 hexadecimal characters: HMAC-SHA256 of "
    "'<path>[?<query>];<METHOD>;<timestamp>;<nonce>;<content-sha256>'"
)


def signing_path(path_after_version: str) -> str:
    return "/" + "/".join(part for part in path_after_version.split("?", 1)[0].split("/") if part)


def signed_message(path: str, method: str, timestamp_ms: int | str) -> str:
    return f"{signing_path(path)};{method.upper()};{timestamp_ms}"


def sign(key: str, secret: str, path: str, method: str, timestamp_ms: int | str) -> str:
    return _hmac_hex(key, secret, signed_message(path, method, timestamp_ms))


def content_message(path: str, query: str, method: str, timestamp_ms: int | str, nonce: str, body_sha256: str) -> str:
    target = signing_path(path) + (f"?{query}" if query else "")
    return f"{target};{method.upper()};{timestamp_ms};{nonce};{body_sha256}"


def sign_content(
    key: str, secret: str, path: str, query: str, method: str, timestamp_ms: int | str, nonce: str, body: bytes
) -> tuple[str, str]:
    """The two extension headers' values for a request: (body SHA-256, content signature)."""
    body_sha256 = hashlib.sha256(body).hexdigest()
    message = content_message(path, query, method, timestamp_ms, nonce, body_sha256)
    return body_sha256, _hmac_hex(key, secret, message)


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
    """Raise the Cortex fault for a malformed, stale, wrong or replayed signature, naming the header."""
    if secret is None:
        raise faults.invalid_signature("This app does not sign requests.", path=SIGNATURE_HEADER)
    _check_format(SIGNATURE_HEADER, signature, _HEX64, SIGNATURE_RULE)
    _check_format(TIMESTAMP_HEADER, timestamp, _TIMESTAMP, TIMESTAMP_RULE)
    _check_format(NONCE_HEADER, nonce, _NONCE, NONCE_RULE)
    skew_ms = epoch_ms() - int(timestamp)
    if abs(skew_ms) > window_seconds * 1000:
        direction = "behind" if skew_ms > 0 else "ahead of"
        raise faults.stale_signature(
            f"Medable-Client-Timestamp is {abs(skew_ms) / 1000:.0f} s {direction} the server's clock "
            f"(Medable-Server-Time); it must be within {window_seconds} s.",
            path=TIMESTAMP_HEADER,
        )
    message = signed_message(path, method, timestamp)
    if not hmac.compare_digest(_hmac_hex(key, secret, message), signature.lower()):
        raise faults.invalid_signature(
            f"Medable-Client-Signature is not HMAC-SHA256(key + secret, {message!r}).", path=SIGNATURE_HEADER
        )
    _remember_nonce(connection, app_id, nonce, window_seconds)


def verify_signed_content(
    *,
    key: str,
    secret: str,
    path: str,
    query: str,
    method: str,
    timestamp: str,
    nonce: str,
    body_sha256: str,
    content_signature: str,
) -> str:
    """Check the extension headers of a signed request; returns the body hash the body must have.

    Called after ``verify_signed_request``, so the timestamp and nonce are already valid.
    """
    if not body_sha256:
        raise faults.invalid_signature(
            f"OpenCortex-Content-SHA256 is required with OpenCortex-Content-Signature. {CONTENT_SHA256_RULE}.",
            path=CONTENT_SHA256_HEADER,
        )
    if not content_signature:
        raise faults.invalid_signature(
            f"OpenCortex-Content-Signature is required with OpenCortex-Content-SHA256. {CONTENT_SIGNATURE_RULE}.",
            path=CONTENT_SIGNATURE_HEADER,
        )
    _check_format(CONTENT_SHA256_HEADER, body_sha256, _HEX64, CONTENT_SHA256_RULE)
    _check_format(CONTENT_SIGNATURE_HEADER, content_signature, _HEX64, CONTENT_SIGNATURE_RULE)
    body_sha256 = body_sha256.lower()
    message = content_message(path, query, method, timestamp, nonce, body_sha256)
    if not hmac.compare_digest(_hmac_hex(key, secret, message), content_signature.lower()):
        raise faults.invalid_signature(
            f"OpenCortex-Content-Signature is not HMAC-SHA256(key + secret, {message!r}).",
            path=CONTENT_SIGNATURE_HEADER,
        )
    return body_sha256


def content_required(path: str) -> faults.Fault:
    """A signed request without the extension headers to an app that requires them."""
    return faults.invalid_signature(
        "This app requires signed content: send OpenCortex-Content-SHA256 and OpenCortex-Content-Signature "
        f"with every signed request. {CONTENT_SIGNATURE_RULE}.",
        path=path,
    )


def body_mismatch() -> faults.Fault:
    return faults.invalid_signature(
        "The request body does not match OpenCortex-Content-SHA256 (the SHA-256 of the body as sent).",
        path=CONTENT_SHA256_HEADER,
    )


def _check_format(header: str, value: str, pattern: re.Pattern[str], rule: str) -> None:
    """Refuse a malformed header, saying what was received (its length, never its value)."""
    if pattern.match(value):
        return
    if not value:
        received = "it is missing"
    else:
        allowed = pattern.pattern.split("]")[0] + "]"  # the pattern's character class
        others = any(not re.fullmatch(allowed, character) for character in value)
        received = f"got {len(value)} characters" + (", some of them not allowed" if others else "")
    raise faults.invalid_signature(f"{rule}; {received}.", path=header)


def _hmac_hex(key: str, secret: str, message: str) -> str:
    return hmac.new((key + secret).encode(), message.encode(), hashlib.sha256).hexdigest()


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
        raise faults.invalid_signature(
            "Medable-Client-Nonce has already been used by this app; send a new random nonce with every request.",
            path=NONCE_HEADER,
        ) from None


def nonce_seen(connection: Connection, app_id: str, nonce: str) -> bool:
    query = sa.select(request_nonces.c.nonce).where(
        request_nonces.c.app_id == app_id, request_nonces.c.nonce == nonce
    )
    return connection.execute(query).first() is not None
