"""Console sessions: the API's own password sessions, carried by a console cookie.

Logging in, resuming and logging out call ``auth.sessions`` and ``auth.authenticate`` exactly as
the API's routes do (same table, lockout, bounded password checks, expiry, one session per
account, CSRF), through the org's console app (``console_app.py``). The session id travels in
its own cookie, scoped to ``/{org}/console`` with ``SameSite=Strict``, so that it never
overwrites (nor is overwritten by) an API client's ``md.sid`` in the same browser. Forms carry
the session's CSRF token in a hidden field; it is handed to ``authenticate`` as the API's
``medable-csrf-token`` header would be, so a POST without it, or with a wrong one, is refused
and the session ended, as in the API.

The login form itself has no session yet: it is protected by a double-submit token (a random
value in a ``SameSite=Strict`` cookie that the form must repeat), so no other site can log a
browser in to an account of its choosing.
"""

from __future__ import annotations

import hmac
import secrets
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from opencortex.auth.authenticate import SESSION_COOKIE, RequestCredentials, authenticate
from opencortex.auth.principal import Caller
from opencortex.auth.sessions import NewSession, logout, password_login
from opencortex.runtime import Runtime

CONSOLE_COOKIE = "oc.console.sid"
LOGIN_TOKEN_COOKIE = "oc.console.login"  # noqa: S105 -- a cookie name, not a secret
CSRF_FIELD = "_csrf"
_CSRF_HEADER = "medable-csrf-token"


def console_base(org_code: str) -> str:
    """Where an org's console lives."""
    return f"/{org_code}/console"


def resume(runtime: Runtime, org: dict[str, Any], app: dict[str, Any], request: Request,
           csrf_token: str | None) -> Caller:
    """The caller of a console request: anonymous without a session cookie; the API's faults for an
    expired, ended or foreign session, a disabled app, or (on a POST) a missing or wrong CSRF token."""
    cookie = request.cookies.get(CONSOLE_COOKIE)
    return _authenticate(runtime, org, app, request.method, cookie, csrf_token)


def check_app(runtime: Runtime, org: dict[str, Any], app: dict[str, Any]) -> None:
    """What the API's login route checks before a password: the app exists, is enabled and takes
    sessions (its faults otherwise)."""
    _authenticate(runtime, org, app, "GET", None, None)


async def log_in(runtime: Runtime, org: dict[str, Any], app: dict[str, Any], email: object, password: object,
                 fingerprint: str | None) -> NewSession:
    """The API's password login (lockout, bounded hashing, one session per account)."""
    return await password_login(runtime.database, runtime.settings, runtime.login_slots, org=org, app=app,
                                email=email, password=password, fingerprint=fingerprint)


def log_out(runtime: Runtime, caller: Caller) -> None:
    if caller.session_id_hash:
        with runtime.database.begin() as connection:
            logout(connection, caller.session_id_hash)


def set_session_cookie(response: Response, request: Request, org_code: str, value: str) -> None:
    response.set_cookie(CONSOLE_COOKIE, value, path=console_base(org_code), httponly=True, samesite="strict",
                        secure=request.url.scheme == "https")


def clear_session_cookie(response: Response, org_code: str) -> None:
    response.delete_cookie(CONSOLE_COOKIE, path=console_base(org_code), httponly=True, samesite="strict")


def new_login_token() -> str:
    return secrets.token_urlsafe(32)


def set_login_token_cookie(response: Response, request: Request, org_code: str, token: str) -> None:
    response.set_cookie(LOGIN_TOKEN_COOKIE, token, path=console_base(org_code), httponly=True, samesite="strict",
                        secure=request.url.scheme == "https")


def login_token_matches(request: Request, submitted: object) -> bool:
    """The login form repeated the token of its own cookie (constant-time)."""
    expected = request.cookies.get(LOGIN_TOKEN_COOKIE) or ""
    given = submitted if isinstance(submitted, str) else ""
    return bool(expected) and hmac.compare_digest(expected.encode(), given.encode())


def _authenticate(runtime: Runtime, org: dict[str, Any], app: dict[str, Any], method: str, cookie: str | None,
                  csrf_token: str | None) -> Caller:
    headers = {"medable-client-key": app["key"]}
    if csrf_token:
        headers[_CSRF_HEADER] = csrf_token
    credentials = RequestCredentials(method=method, path="/console", headers=headers,
                                     cookies={SESSION_COOKIE: cookie} if cookie else {})
    # Faults commit what was written: a session refused for CSRF or expiry stays ended.
    with runtime.database.begin_keeping_faults() as connection:
        return authenticate(connection, runtime.settings, runtime.master_key, org, credentials)
