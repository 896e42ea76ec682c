"""Accounts and password sessions: login, logout, me, status, and administration."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from opencortex import faults
from opencortex.api.deps import (
    AdministratorDep,
    CallerDep,
    JSONBodyDep,
    LoggedInDep,
    OrgDep,
    RuntimeDep,
    json_object,
)
from opencortex.api.paging import parse_cursor, parse_limit
from opencortex.api.responses import document, fault_response, listing, result
from opencortex.auth.authenticate import FINGERPRINT_COOKIE, SESSION_COOKIE
from opencortex.auth.lockout import RetryLater
from opencortex.auth.sessions import logout, password_login
from opencortex.ids import new_object_id
from opencortex.model.accounts import account_json, create_account, find_account, list_accounts

router = APIRouter()
FINGERPRINT_MAX_AGE = 10 * 365 * 24 * 3600


@router.post("/{org}/v2/accounts/login")
async def login_route(
    request: Request, org: OrgDep, caller: CallerDep, runtime: RuntimeDep, body: JSONBodyDep
) -> Response:
    # async: a login waiting for a password-check slot holds no request thread (auth/login_slots.py).
    body = json_object(body)
    fingerprint = request.cookies.get(FINGERPRINT_COOKIE) or new_object_id()
    try:
        session = await password_login(
            runtime.database,
            runtime.settings,
            runtime.login_slots,
            org=org,
            app=caller.app,
            email=body.get("email", body.get("username")),
            password=body.get("password"),
            fingerprint=fingerprint,
        )
    except RetryLater as refused:
        response = fault_response(refused)
        response.headers["Retry-After"] = str(refused.retry_after_seconds)
        return response
    request.state.csrf_token = session.csrf_token
    response = document(account_json(session.account))
    secure = request.url.scheme == "https"
    response.set_cookie(
        SESSION_COOKIE, session.cookie_value, path=f"/{org['code']}", httponly=True, samesite="lax", secure=secure
    )
    response.set_cookie(
        FINGERPRINT_COOKIE, fingerprint, path="/", httponly=True, samesite="lax", secure=secure,
        max_age=FINGERPRINT_MAX_AGE,
    )
    return response


@router.post("/{org}/v2/accounts/me/logout")
def logout_route(org: OrgDep, caller: CallerDep, runtime: RuntimeDep) -> Response:
    if caller.session_id_hash:
        with runtime.database.begin() as connection:
            logout(connection, caller.session_id_hash)
    response = result(True)
    response.delete_cookie(SESSION_COOKIE, path=f"/{org['code']}")
    return response


@router.get("/{org}/v2/accounts/me")
def read_me(caller: LoggedInDep, runtime: RuntimeDep) -> Response:
    return document(account_json(_load_account(runtime, caller.org["id"], caller.principal.account_id)))


@router.get("/{org}/v2/accounts/status")
def read_status(caller: CallerDep, runtime: RuntimeDep) -> Response:
    account: dict[str, Any] | None = None
    if not caller.principal.is_anonymous:
        account = account_json(_load_account(runtime, caller.org["id"], caller.principal.account_id))
    return result({"loggedin": account is not None, "account": account})


@router.get("/{org}/v2/accounts")
def list_accounts_route(request: Request, caller: AdministratorDep, runtime: RuntimeDep) -> Response:
    limit = parse_limit(request.query_params.get("limit"))
    starting_after = parse_cursor(request.query_params.get("startingAfter"), "startingAfter")
    with runtime.database.connect() as connection:
        rows, has_more = list_accounts(connection, caller.org["id"], limit=limit, starting_after=starting_after)
    return listing([account_json(row) for row in rows], has_more)


@router.get("/{org}/v2/accounts/{account_id}")
def read_account(account_id: str, caller: AdministratorDep, runtime: RuntimeDep) -> Response:
    return document(account_json(_load_account(runtime, caller.org["id"], account_id)))


@router.post("/{org}/v2/accounts")
def create_account_route(caller: AdministratorDep, runtime: RuntimeDep, body: JSONBodyDep) -> Response:
    body = json_object(body)
    name = body.get("name") or {}
    if not isinstance(name, dict):
        raise faults.invalid_argument("name is a document with first and last.", path="name")
    roles = body.get("roles") or []
    if not isinstance(roles, list):
        raise faults.invalid_argument("roles is an array of role ids.", path="roles")
    password = body.get("password")
    if not isinstance(password, str):
        raise faults.required(path="password")
    with runtime.database.begin() as connection:
        row = create_account(
            connection,
            caller.org["id"],
            email=body.get("email"),  # type: ignore[arg-type]
            password=password,
            roles=roles,
            first_name=name.get("first", ""),
            last_name=name.get("last", ""),
        )
    return document(account_json(row))


def _load_account(runtime: RuntimeDep, org_id: str, account_id: str) -> dict[str, Any]:
    with runtime.database.connect() as connection:
        account = find_account(connection, org_id, account_id)
    if account is None:
        raise faults.instance_not_found(path=account_id, resource=f"account.{account_id}")
    return account
