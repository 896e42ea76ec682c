"""How a console request that fails is answered: as a page, never as a stack trace.

``ConsoleRoute`` is the route class of every console route. It answers ``LoginRequired`` with the
login page (a redirect that remembers where the user was going), ``AdministratorsOnly`` with a
plain page that shows no data, a session the API ended (expired, logged in elsewhere, a CSRF
mismatch) by clearing the cookie, and any other fault with the same fault the API would send,
rendered as a page. Routes whose path ends in ``.json`` (called by the console's scripts) get the
fault as JSON instead.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any
from urllib.parse import urlencode

from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from opencortex import faults
from opencortex.api.responses import fault_response
from opencortex.web.context import AdministratorsOnly, LoginRequired
from opencortex.web.session import clear_session_cookie, console_base
from opencortex.web.templating import render

# Faults that mean the session is over: the user logs in again, told why.
SESSION_ENDED = {
    faults.session_expired.err_code: "expired",
    faults.logged_in_elsewhere.err_code: "elsewhere",
    faults.account_locked.err_code: "locked",
    faults.session_org_mismatch.err_code: "expired",
}


class ConsoleRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        answers_json = self.path.endswith(".json")

        async def console_handler(request: Request) -> Response:
            try:
                return await handler(request)
            except LoginRequired as needed:
                if answers_json:
                    return fault_response(faults.not_logged_in())
                return login_redirect(request, needed.org_code)
            except AdministratorsOnly as refused:
                if answers_json:
                    return fault_response(faults.access_denied("Administrators only."))
                return refused.console.page("admin_only.html", status_code=403)
            except faults.Fault as fault:
                return fault_page(request, fault, answers_json)

        return console_handler


def login_redirect(request: Request, org_code: str, reason: str | None = None) -> RedirectResponse:
    """To the login page; a page asked for by GET is where the user lands after logging in."""
    arguments: dict[str, str] = {}
    if request.method == "GET":
        arguments["next"] = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    if reason:
        arguments["reason"] = reason
    query = f"?{urlencode(arguments)}" if arguments else ""
    return RedirectResponse(f"{console_base(org_code)}/login{query}", status_code=303)


def fault_page(request: Request, fault: faults.Fault, answers_json: bool) -> Response:
    org_code = str(request.path_params.get("org", ""))
    ended = SESSION_ENDED.get(fault.err_code)
    response: Response
    if answers_json:
        response = fault_response(fault)
    elif ended is not None:
        response = login_redirect(request, org_code, ended)
    else:
        console = getattr(request.state, "console", None)
        known_org = fault.err_code != faults.org_not_found.err_code
        response = render("error.html", {
            "console": console,
            "fault": fault,
            "home": console_base(org_code) if known_org else None,
            "session_ended": fault.err_code == faults.csrf_mismatch.err_code,
        }, status_code=fault.status)
    if ended is not None or fault.err_code == faults.csrf_mismatch.err_code:
        clear_session_cookie(response, org_code)  # the API ended this session
    return response
