"""Logging in to the console and out of it, with the API's own session rules (``web/session.py``)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response

from opencortex import faults
from opencortex.auth.authenticate import FINGERPRINT_COOKIE
from opencortex.auth.lockout import RetryLater
from opencortex.ids import is_object_id, new_object_id
from opencortex.web.console_app import console_app
from opencortex.web.context import FormDep, LoginRequired, SessionWriterDep, form_text, load_org, read_console
from opencortex.web.failures import ConsoleRoute
from opencortex.web.session import (
    check_app,
    clear_session_cookie,
    console_base,
    log_in,
    log_out,
    login_token_matches,
    new_login_token,
    set_login_token_cookie,
    set_session_cookie,
)
from opencortex.web.templating import render

router = APIRouter(route_class=ConsoleRoute)
# Why the login page is shown, by the code in its ``reason`` argument (never text from the URL).
REASONS = {
    "expired": faults.session_expired.message + " Please log in again.",
    "elsewhere": "This account logged in elsewhere, which ended this session. Please log in again.",
    "locked": faults.account_locked.message,
    "logout": "You are logged out.",
}


@router.get("/{org}/console")
@router.get("/{org}/console/")
def console_home(org: str) -> Response:
    return RedirectResponse(f"{console_base(org)}/exports", status_code=303)


@router.get("/{org}/console/login")
def login_page(request: Request) -> Response:
    runtime = request.app.state.runtime
    org = load_org(runtime, request.path_params["org"])
    try:
        read_console(request)
    except LoginRequired:
        pass
    except faults.Fault:
        pass  # an ended session: log in afresh
    else:
        return RedirectResponse(_next(request, org["code"]), status_code=303)
    return _login_form(request, org, REASONS.get(request.query_params.get("reason", "")))


@router.post("/{org}/console/login")
async def log_in_route(request: Request, form: FormDep) -> Response:
    # async: a login waiting for a password-check slot holds no request thread (auth/login_slots.py).
    runtime = request.app.state.runtime
    org = await run_in_threadpool(load_org, runtime, request.path_params["org"])
    email = form_text(form, "email")
    if not login_token_matches(request, form.get("_login")):
        return _login_form(request, org, "The login form expired. Please try again.", email=email,
                           status_code=403)
    app = await run_in_threadpool(console_app, runtime, org)
    await run_in_threadpool(check_app, runtime, org, app)
    fingerprint = request.cookies.get(FINGERPRINT_COOKIE)
    try:
        session = await log_in(runtime, org, app, email, form_text(form, "password"),
                               fingerprint if fingerprint and is_object_id(fingerprint) else new_object_id())
    except RetryLater as refused:
        response = _login_form(request, org, refused.message, email=email, status_code=refused.status)
        response.headers["Retry-After"] = str(refused.retry_after_seconds)
        return response
    except faults.Fault as fault:
        return _login_form(request, org, fault.reason or fault.message, email=email, status_code=fault.status)
    response = RedirectResponse(_next(request, org["code"]), status_code=303)
    set_session_cookie(response, request, org["code"], session.cookie_value)
    return response


@router.post("/{org}/console/logout")
def log_out_route(console: SessionWriterDep) -> Response:
    log_out(console.runtime, console.caller)
    response = RedirectResponse(f"{console.base}/login?reason=logout", status_code=303)
    clear_session_cookie(response, console.org["code"])
    return response


def _login_form(request: Request, org: dict[str, object], message: str | None, *, email: str = "",
                status_code: int = 200) -> Response:
    token = new_login_token()
    response = render("login.html", {
        "console": None, "org": org, "message": message, "email": email, "login_token": token,
        "action": f"{console_base(str(org['code']))}/login"
                  + (f"?{request.url.query}" if request.url.query else ""),
    }, status_code=status_code)
    set_login_token_cookie(response, request, str(org["code"]), token)
    return response


def _next(request: Request, org_code: str) -> str:
    """Where to go after logging in: a page of this console only (never another site or org)."""
    base = console_base(org_code)
    wanted = request.query_params.get("next", "")
    if wanted.startswith(base + "/") and "//" not in wanted and "\\" not in wanted and not wanted.startswith(
            f"{base}/login"):
        return wanted
    return f"{base}/exports"
