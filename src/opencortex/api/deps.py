"""FastAPI dependencies: the runtime, the org in the URL, the authenticated caller."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import Depends, Request

from opencortex import faults
from opencortex.api.middleware import expect_content_sha256
from opencortex.auth.authenticate import RequestCredentials, authenticate
from opencortex.auth.principal import Caller
from opencortex.ids import ROLE_ADMINISTRATOR
from opencortex.model.orgs import find_org
from opencortex.runtime import Runtime


def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


def get_org(request: Request, runtime: RuntimeDep) -> dict[str, Any]:
    code = request.path_params.get("org", "")
    with runtime.database.connect() as connection:
        org = find_org(connection, code)
    if org is None:
        raise faults.org_not_found(path=code)
    return org


OrgDep = Annotated[dict[str, Any], Depends(get_org)]


def get_caller(request: Request, runtime: RuntimeDep, org: OrgDep) -> Caller:
    prefix = f"/{org['code']}/v2"
    credentials = RequestCredentials(
        method=request.method,
        path=request.url.path[len(prefix):] if request.url.path.startswith(prefix) else request.url.path,
        headers={name.lower(): value for name, value in request.headers.items()},
        cookies=request.cookies,
        query=request.url.query,
    )
    with runtime.database.begin_keeping_faults() as connection:
        caller = authenticate(connection, runtime.settings, runtime.master_key, org, credentials)
    request.state.caller = caller
    request.state.csrf_token = caller.csrf_token
    if caller.content_sha256 is not None:
        expect_content_sha256(request.scope, caller.content_sha256)
    return caller


CallerDep = Annotated[Caller, Depends(get_caller)]


def require_login(caller: CallerDep) -> Caller:
    if caller.principal.is_anonymous:
        raise faults.not_logged_in()
    return caller


LoggedInDep = Annotated[Caller, Depends(require_login)]


def require_administrator(caller: LoggedInDep) -> Caller:
    if not caller.principal.has_role(ROLE_ADMINISTRATOR):
        raise faults.access_denied("Administrators only.")
    return caller


AdministratorDep = Annotated[Caller, Depends(require_administrator)]


async def json_body(request: Request) -> Any:
    """The parsed JSON body; an empty body is ``{}`` (the official client sends
    ``Content-Type: application/json`` even on bodiless calls)."""
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as error:
        raise faults.invalid_json(f"The request body is not valid JSON: {error}") from None


JSONBodyDep = Annotated[Any, Depends(json_body)]


def json_object(body: Any, path: str = "body") -> dict[str, Any]:
    if not isinstance(body, dict):
        raise faults.invalid_argument("A JSON object is expected.", path=path)
    return body
