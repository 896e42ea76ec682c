"""Who is using the console: the dependencies every console route starts from.

``ReaderDep`` (pages, GET) and ``WriterDep`` (forms, POST: the form's CSRF token is checked by the
API's own session code) give a ``Console``: the runtime, the org in the URL and the logged-in
administrator. Anyone else never reaches a route's body: without a session ``LoginRequired``,
with a session that is not an administrator's ``AdministratorsOnly`` (see ``failures.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request
from starlette.datastructures import FormData
from starlette.responses import HTMLResponse

from opencortex import faults
from opencortex.auth.principal import Caller
from opencortex.exports.listing import ExportAccess
from opencortex.ids import ROLE_ADMINISTRATOR
from opencortex.model.orgs import find_org
from opencortex.runtime import Runtime
from opencortex.web.console_app import find_console_app
from opencortex.web.session import CSRF_FIELD, console_base, resume
from opencortex.web.templating import render


class LoginRequired(Exception):  # noqa: N818 -- a condition, answered with the login page
    """No session: the answer is the login page."""

    def __init__(self, org_code: str) -> None:
        super().__init__(org_code)
        self.org_code = org_code


class AdministratorsOnly(Exception):  # noqa: N818 -- a condition, answered with a plain page
    """A session, but not an administrator's: the answer is a page that shows no data."""

    def __init__(self, console: Console) -> None:
        super().__init__(console.caller.principal.email)
        self.console = console


@dataclass(frozen=True)
class Console:
    runtime: Runtime
    org: dict[str, Any]
    caller: Caller

    @property
    def org_id(self) -> str:
        return str(self.org["id"])

    @property
    def base(self) -> str:
        """The console's URL path, ``/{org}/console``."""
        return console_base(self.org["code"])

    @property
    def account_id(self) -> str:
        return self.caller.principal.account_id

    @property
    def email(self) -> str:
        return self.caller.principal.email or ""

    @property
    def export_access(self) -> ExportAccess:
        """Which exports this user reads, by the API's rule (an administrator: every export of the org)."""
        return ExportAccess.of(self.account_id, self.caller.principal.all_roles)

    @property
    def csrf_token(self) -> str:
        return self.caller.csrf_token or ""

    def page(self, template: str, context: dict[str, Any] | None = None, status_code: int = 200) -> HTMLResponse:
        """A page of this console (the layout shows the org, the user and the logout form)."""
        return render(template, {"console": self, **(context or {})}, status_code)


def load_org(runtime: Runtime, code: str) -> dict[str, Any]:
    with runtime.database.connect() as connection:
        org = find_org(connection, code)
    if org is None:
        raise faults.org_not_found(path=code)
    return org


def _session(request: Request, csrf_token: str | None) -> Console:
    """Anyone logged in to this org's console."""
    runtime: Runtime = request.app.state.runtime
    org = load_org(runtime, request.path_params.get("org", ""))
    app = find_console_app(runtime, org)
    if app is None:
        raise LoginRequired(org["code"])  # nobody has logged in to this console yet
    caller = resume(runtime, org, app, request, csrf_token)
    if caller.principal.is_anonymous:
        raise LoginRequired(org["code"])
    return Console(runtime, org, caller)


def _console(request: Request, csrf_token: str | None) -> Console:
    """An administrator logged in to this org's console."""
    console = _session(request, csrf_token)
    if not console.caller.principal.has_role(ROLE_ADMINISTRATOR):
        raise AdministratorsOnly(console)
    request.state.console = console  # for the error page's layout, should the route fail
    return console


def read_console(request: Request) -> Console:
    return _console(request, None)


async def posted_form(request: Request) -> FormData:
    return await request.form()


FormDep = Annotated[FormData, Depends(posted_form)]


def write_console(request: Request, form: FormDep) -> Console:
    token = form.get(CSRF_FIELD)
    return _console(request, token if isinstance(token, str) else None)


def write_session(request: Request, form: FormDep) -> Console:
    token = form.get(CSRF_FIELD)
    return _session(request, token if isinstance(token, str) else None)


ReaderDep = Annotated[Console, Depends(read_console)]
WriterDep = Annotated[Console, Depends(write_console)]
SessionWriterDep = Annotated[Console, Depends(write_session)]
"""Any logged-in user's form (logging out), administrator or not."""


def form_text(form: FormData, name: str) -> str:
    """A text field of a posted form ('' when absent, or when a file was sent in its place)."""
    value = form.get(name)
    return value if isinstance(value, str) else ""


def form_texts(form: FormData, name: str) -> list[str]:
    return [value for value in form.getlist(name) if isinstance(value, str)]
