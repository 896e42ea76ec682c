"""Accounts and password sessions: login, logout, me, status, property paths, and administration.

Reads take ``paths[]`` (the account limited to those properties, plus ``_id`` and ``object``);
``GET /accounts/me/<path>`` and ``GET /accounts/<id>/<path>`` answer one property in a result
envelope (a list envelope for arrays), as instance property paths do.

``GET /accounts`` (administrators: every account of the org) takes ``where`` and ``sort`` over
what an account read shows as stored data (``model.accounts.ACCOUNT_LIST``: ``_id``, ``email``,
``name.first``, ``name.last``, ``roles``, ``state``, ``locked``, ``created``, ``updated``,
``stats.lastLogin.time``), with ``skip``, ``limit``, ``startingAfter``/``endingBefore`` (which
continue from that account's place in the sort) and ``total``. Newest first by default.
"""

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
from opencortex.api.openapi import ACCOUNT, PROPERTY_VALUE, TRUE_RESULT, described, json_body
from opencortex.api.query_args import selection_from
from opencortex.api.query_arguments import TABLE_LIST_ARGUMENTS, accepts, table_list_query
from opencortex.api.responses import JSONBody, document, fault_response, listing, result
from opencortex.api.schemas.envelopes import list_of, ref, result_of
from opencortex.auth.authenticate import FINGERPRINT_COOKIE, SESSION_COOKIE
from opencortex.auth.lockout import RetryLater
from opencortex.auth.sessions import logout, password_login
from opencortex.exports.projection import project
from opencortex.ids import new_object_id
from opencortex.instances.paths import read_path
from opencortex.model.accounts import (
    account_json,
    count_matching_accounts,
    create_account,
    find_account,
    query_accounts,
)

router = APIRouter()
FINGERPRINT_MAX_AGE = 10 * 365 * 24 * 3600
# What ``account_json`` can show: the names ``paths[]`` may use.
ACCOUNT_PROPERTIES = frozenset({
    "_id", "object", "email", "name", "roles", "inherited_roles", "state", "locked", "created", "updated", "stats",
    "access",
})


@router.post("/{org}/v2/accounts/login", dependencies=[accepts()], openapi_extra=described(
    "Log in with a password: the account, and the md.sid session cookie", ACCOUNT,
    body=json_body(ref("Login"), required=True)))
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


@router.post("/{org}/v2/accounts/me/logout", dependencies=[accepts()],
             openapi_extra=described("End the session", TRUE_RESULT))
def logout_route(org: OrgDep, caller: CallerDep, runtime: RuntimeDep) -> Response:
    if caller.session_id_hash:
        with runtime.database.begin() as connection:
            logout(connection, caller.session_id_hash)
    response = result(True)
    response.delete_cookie(SESSION_COOKIE, path=f"/{org['code']}")
    return response


@router.get("/{org}/v2/accounts/me", dependencies=[accepts("paths")],
            openapi_extra=described("The caller's account", ACCOUNT))
def read_me(request: Request, caller: LoggedInDep, runtime: RuntimeDep) -> Response:
    account = account_json(_load_account(runtime, caller.org["id"], caller.principal.account_id))
    return document(_selected(request, account))


@router.get("/{org}/v2/accounts/status", dependencies=[accepts("paths", "expand")], openapi_extra=described(
    "Whether the caller is logged in, and as whom", result_of(ref("AccountStatus")),
    query={"expand": {"type": "boolean", "default": True}}))
def read_status(request: Request, caller: CallerDep, runtime: RuntimeDep) -> Response:
    """``{loggedin, account}``: the account as a document (``expand=true``, the default), or its
    ``_id`` (``expand=false``); ``paths[]`` limits the document (the official client sends
    ``paths[]=_id`` when it revives a session)."""
    expand = _expand(request.query_params.get("expand"))
    account: dict[str, Any] | None = None
    if not caller.principal.is_anonymous:
        account = _selected(request, account_json(_load_account(runtime, caller.org["id"],
                                                                caller.principal.account_id)))
    shown: Any = account if expand or account is None else account["_id"]
    return result({"loggedin": account is not None, "account": shown})


@router.get("/{org}/v2/accounts/me/{path:path}", dependencies=[accepts()],
            openapi_extra=described("One property of the caller's account", PROPERTY_VALUE))
def read_my_property(path: str, caller: LoggedInDep, runtime: RuntimeDep) -> Response:
    account = account_json(_load_account(runtime, caller.org["id"], caller.principal.account_id))
    return _property(account, path)


@router.get("/{org}/v2/accounts", dependencies=[accepts(*TABLE_LIST_ARGUMENTS, "paths")],
            openapi_extra=described("The org's accounts, newest first unless sorted (administrators)",
                                    list_of(ACCOUNT)))
def list_accounts_route(request: Request, caller: AdministratorDep, runtime: RuntimeDep) -> Response:
    query, total = table_list_query(request)
    with runtime.database.connect() as connection:
        rows, has_more = query_accounts(connection, caller.org["id"], query)
        counted = count_matching_accounts(connection, caller.org["id"], query.where) if total else None
    data = [_selected(request, account_json(row)) for row in rows]
    if counted is None:
        return listing(data, has_more)
    return JSONBody({"object": "list", "data": data, "hasMore": has_more, "total": counted})


@router.get("/{org}/v2/accounts/{account_id}", dependencies=[accepts("paths")],
            openapi_extra=described("An account (administrators)", ACCOUNT))
def read_account(account_id: str, request: Request, caller: AdministratorDep, runtime: RuntimeDep) -> Response:
    return document(_selected(request, account_json(_load_account(runtime, caller.org["id"], account_id))))


@router.get("/{org}/v2/accounts/{account_id}/{path:path}", dependencies=[accepts()],
            openapi_extra=described("One property of an account (administrators)", PROPERTY_VALUE))
def read_account_property(account_id: str, path: str, caller: AdministratorDep, runtime: RuntimeDep) -> Response:
    return _property(account_json(_load_account(runtime, caller.org["id"], account_id)), path)


@router.post("/{org}/v2/accounts", dependencies=[accepts()], openapi_extra=described(
    "Create an account (administrators)", ACCOUNT, body=json_body(ref("AccountCreate"), required=True)))
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


def _selected(request: Request, account: dict[str, Any]) -> dict[str, Any]:
    """``paths[]`` applied (each must name an account property)."""
    paths = selection_from(request).paths
    if paths is None:
        return account
    for parts in paths:
        if parts[0] not in ACCOUNT_PROPERTIES:
            raise faults.invalid_argument(f"Unknown property {parts[0]!r}.", path=parts[0])
    return project(account, paths)


def _property(account: dict[str, Any], path: str) -> Response:
    value = read_path(account, [part for part in path.split("/") if part])
    return listing(value, False) if isinstance(value, list) else result(value)


def _expand(raw: str | None) -> bool:
    if raw is None or raw == "" or raw.lower() == "true":
        return True
    if raw.lower() == "false":
        return False
    raise faults.query_invalid("expand must be true or false.", path="expand")
