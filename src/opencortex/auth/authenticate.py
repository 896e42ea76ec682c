"""The request pipeline: which app is calling, and as which principal.

Order, as in Cortex: the app key (from the bearer token's ``iss`` or ``Medable-Client-Key``),
the app's state, then exactly one way of naming a principal: a bearer token, a signature, or a
session cookie. With none of them the caller is anonymous; routes decide whether that is enough.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection

from opencortex import faults
from opencortex.auth.principal import Caller, Principal
from opencortex.auth.sessions import resume_session
from opencortex.auth.signatures import (
    CONTENT_SHA256_HEADER,
    CONTENT_SIGNATURE_HEADER,
    NONCE_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    content_required,
    verify_signed_content,
    verify_signed_request,
)
from opencortex.auth.tokens import unverified_issuer, verify_token
from opencortex.ids import ANONYMOUS, PUBLIC, ROLE_NAMES, SYSTEM
from opencortex.keys import MasterKey
from opencortex.model.accounts import find_account, find_account_by_id_or_email
from opencortex.model.apps import app_private_key, app_secret, find_app_by_key
from opencortex.settings import Settings

SESSION_COOKIE = "md.sid"
FINGERPRINT_COOKIE = "md.fingerprint"


@dataclass(frozen=True)
class RequestCredentials:
    method: str
    path: str  # after /{org}/v2, e.g. /accounts/me
    headers: Mapping[str, str]  # lower-case names
    cookies: Mapping[str, str]
    query: str = ""  # the raw query string, as sent (signed content covers it)


def authenticate(
    connection: Connection,
    settings: Settings,
    master_key: MasterKey,
    org: dict[str, Any],
    request: RequestCredentials,
) -> Caller:
    headers = request.headers
    token = _bearer_token(headers.get("authorization"))
    key = headers.get("medable-client-key")
    if token is not None:
        issuer = unverified_issuer(token)
        if issuer is None:
            raise faults.invalid_token("The bearer token is not a readable JWT.")
        if key and key != issuer:
            raise faults.app_not_found("Invalid application client api key (token/key mismatch).")
        key = issuer
    if not key:
        raise faults.app_not_found("The Medable-Client-Key header is required.")
    app = find_app_by_key(connection, org["id"], key)
    if app is None:
        raise faults.app_not_found()
    if not app["enabled"]:
        raise faults.app_disabled()

    if token is not None:
        _refuse_unsigned_content(headers)
        return _token_caller(connection, master_key, org, app, token)
    if headers.get(SIGNATURE_HEADER):
        return _signed_caller(connection, settings, master_key, org, app, request)
    _refuse_unsigned_content(headers)
    if not app["sessions"]:
        raise faults.invalid_signature("This app only accepts signed requests.", path=SIGNATURE_HEADER)
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        caller = resume_session(
            connection,
            org=org,
            app=app,
            cookie_value=cookie,
            method=request.method,
            csrf_header=headers.get("medable-csrf-token"),
        )
        if caller is not None:
            return caller
    return Caller(org=org, app=app, principal=Principal.anonymous(org["id"]))


def _bearer_token(authorization: str | None) -> str | None:
    if not authorization:
        return None
    scheme, _, value = authorization.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def _token_caller(
    connection: Connection, master_key: MasterKey, org: dict[str, Any], app: dict[str, Any], token: str
) -> Caller:
    claims = verify_token(token, app_private_key(master_key, app).public_key(), app_key=app["key"])
    account = find_account(connection, org["id"], str(claims["sub"]))
    if account is None:
        raise faults.invalid_token("The token's subject is not an account of this org.")
    if account["locked"]:
        raise faults.account_locked()
    return Caller(org=org, app=app, principal=Principal.from_account(account), method="token")


def _signed_caller(
    connection: Connection,
    settings: Settings,
    master_key: MasterKey,
    org: dict[str, Any],
    app: dict[str, Any],
    request: RequestCredentials,
) -> Caller:
    headers = request.headers
    secret = app_secret(master_key, app)
    verify_signed_request(
        connection,
        app_id=app["id"],
        key=app["key"],
        secret=secret,
        path=request.path,
        method=request.method,
        signature=headers.get(SIGNATURE_HEADER, ""),
        timestamp=headers.get(TIMESTAMP_HEADER, ""),
        nonce=headers.get(NONCE_HEADER, ""),
        window_seconds=settings.signature_window_seconds,
    )
    assert secret is not None  # verify_signed_request refuses apps without one
    content_sha256 = None
    if headers.get(CONTENT_SHA256_HEADER) or headers.get(CONTENT_SIGNATURE_HEADER):
        content_sha256 = verify_signed_content(
            key=app["key"],
            secret=secret,
            path=request.path,
            query=request.query,
            method=request.method,
            timestamp=headers[TIMESTAMP_HEADER],
            nonce=headers[NONCE_HEADER],
            body_sha256=headers.get(CONTENT_SHA256_HEADER, ""),
            content_signature=headers.get(CONTENT_SIGNATURE_HEADER, ""),
        )
    elif app["sign_content"]:
        raise content_required(CONTENT_SIGNATURE_HEADER)
    caller = _signed_principal(connection, org, app, headers)
    caller.content_sha256 = content_sha256
    return caller


def _signed_principal(
    connection: Connection, org: dict[str, Any], app: dict[str, Any], headers: Mapping[str, str]
) -> Caller:
    # The account named in Medable-Client-Account counts only for apps that allow override;
    # otherwise the app's own principal (anonymous by default) is used, as in Cortex.
    named = headers.get("medable-client-account") if app["principal_override"] else None
    principal_ref = named or app["principal_id"]
    if not principal_ref or principal_ref == ANONYMOUS:
        return Caller(org=org, app=app, principal=Principal.anonymous(org["id"]), method="signature")
    if principal_ref in (SYSTEM, PUBLIC) or principal_ref in ROLE_NAMES:
        raise faults.principal_denied(path="medable-client-account")
    account = find_account_by_id_or_email(connection, org["id"], principal_ref)
    if account is None:
        raise faults.principal_denied("No such account in this org.", path="medable-client-account")
    if account["locked"]:
        raise faults.account_locked()
    return Caller(org=org, app=app, principal=Principal.from_account(account), method="signature")


def _refuse_unsigned_content(headers: Mapping[str, str]) -> None:
    """The signed-content headers mean something only next to a request signature."""
    for header in (CONTENT_SIGNATURE_HEADER, CONTENT_SHA256_HEADER):
        if headers.get(header):
            raise faults.invalid_signature(
                "OpenCortex-Content-SHA256 and OpenCortex-Content-Signature extend a signed request; this "
                "request has no Medable-Client-Signature.",
                path=header,
            )
