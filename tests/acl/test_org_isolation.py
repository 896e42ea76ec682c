"""An org never sees or changes another org's anything, through any route.

Two orgs, ``acme`` (A) and ``beta`` (B), with identically named objects (``c_thing``) and
instances, on SQLite and PostgreSQL. Every route of the app is enumerated (so a new route is
covered, or this test fails asking for its parameters) and called:

- with A's credentials (A's session cookie, with A's app key and with B's; A's bearer token;
  a request signed by A's app) against B's URL, filled with B's ids;
- with A's session against A's URL, filled with B's ids.

No response may be anything but a fault when it names something of B's, no response may carry
B's data, and B's rows in the database must be exactly as they were.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from opencortex.api.app import create_app
from opencortex.auth.authenticate import SESSION_COOKIE
from opencortex.settings import Settings
from opencortex.store.tables import apps, metadata, orgs, request_nonces
from tests.acl import DATABASES, logged_in, scenario_runtime
from tests.support.platform import PASSWORD, CortexClient, OrgFixture, open_test_client, seed_org

PRIVATE_VALUE = "beta-private-value"


def app_routes(routes: list[Any], prefix: str = "") -> Iterator[tuple[str, str]]:
    """Every (method, path template) the app serves, through included routers at any depth."""
    for route in routes:
        inner = getattr(route, "original_router", None)  # FastAPI's wrapper of an included router
        if inner is not None:
            context = getattr(route, "include_context", None)
            yield from app_routes(inner.routes, prefix + getattr(context, "prefix", ""))
        elif hasattr(route, "routes") and not hasattr(route, "methods"):
            yield from app_routes(route.routes, prefix + getattr(route, "path", ""))
        elif getattr(route, "methods", None):
            for method in sorted(set(route.methods) - {"HEAD", "OPTIONS"}):
                yield method, prefix + route.path


# The API's routes; the admin console's pages (/{org}/console) get the same treatment in
# tests/web/test_console_isolation.py.
ROUTES = sorted(route for route in set(app_routes(create_app(Settings(data_dir=Path("var"),
                                                                      database_url="sqlite://")).routes))
                if route[1].startswith("/{org}/v2"))

# Routes outside every org, by design: no org in the URL, no credentials, nothing about any org.
# GET /health (for load balancers; tests/api/test_health.py) and GET /openapi.json (the API's
# description, the same for every org; tests/api/test_openapi.py). A new route outside /{org}/
# fails test_org_less_routes_are_known until it is listed here, with its reason.
ORG_LESS = {("GET", "/health"), ("GET", "/openapi.json")}

# How each path parameter is filled: with B's id (or name) for it. A route with any other
# parameter fails this test until it is added here.
PARAMETERS = {"org", "account_id", "name", "plural", "instance_id", "path", "export_id", "token", "number",
              "schedule_id"}


@dataclass
class Orgs:
    a: OrgFixture
    b: OrgFixture
    http: TestClient
    b_ids: dict[str, str]  # path parameter -> B's value
    b_markers: set[str]  # strings that only B's data contains
    a_session: CortexClient  # A's administrator, logged in
    a_token: str  # a bearer token of A's administrator
    b_baseline: dict[str, list[tuple[Any, ...]]] | None = None

    def b_rows(self) -> dict[str, list[tuple[Any, ...]]]:
        """Every row that belongs to B, table by table, in a stable order."""
        b_org = self.b.org["id"]
        snapshot: dict[str, list[tuple[Any, ...]]] = {}
        with self.b.runtime.database.connect() as connection:
            for table in metadata.sorted_tables:
                if table is orgs:
                    statement = sa.select(table).where(table.c.id == b_org)
                elif "org_id" in table.c:
                    statement = sa.select(table).where(table.c.org_id == b_org)
                elif table is request_nonces:
                    statement = sa.select(table).where(table.c.app_id.in_(
                        sa.select(apps.c.id).where(apps.c.org_id == b_org)))
                else:
                    continue
                rows = connection.execute(statement).all()
                snapshot[table.name] = sorted(tuple(json.dumps(value, default=str) for value in row)
                                              for row in rows)
        return snapshot


@pytest.fixture(scope="module", params=DATABASES)
def two_orgs(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, sqlite_template: Any,
             postgres_run: Any) -> Iterator[Orgs]:
    folder = tmp_path_factory.mktemp(f"acl-orgs-{request.param}")
    with scenario_runtime(request.param, folder, sqlite_template, postgres_run) as runtime, \
            ExitStack() as stack:
        a, b = seed_org(runtime, "acme"), seed_org(runtime, "beta")
        instances = {}
        for fixture in (a, b):
            admin = logged_in(stack, fixture, fixture.admin["email"])
            for name in ("c_thing", f"c_{fixture.code}_only"):
                response = admin.post("objects", json={
                    "name": name, "label": name, "defaultAcl": ["role.administrator.delete"],
                    "createAcl": ["role.administrator"],
                    "properties": [{"name": "c_name", "label": "Name", "type": "String", "indexed": True},
                                   {"name": "c_tags", "label": "Tags", "type": "String", "array": True}],
                })
                assert response.status_code == 200, response.text
            value = PRIVATE_VALUE if fixture is b else "acme-value"
            response = admin.post("c_things", json={"c_name": value, "c_tags": [value]})
            assert response.status_code == 200, response.text
            instances[fixture.code] = response.json()["_id"]
        b_admin = logged_in(stack, b, b.admin["email"])
        response = b_admin.post("exports", json={"label": "beta export", "objects": "c_thing"})
        assert response.status_code == 200, response.text
        export_id = response.json()["_id"]
        response = b_admin.post("exportSchedules", json={"name": "beta schedule", "cron": "0 2 * * *",
                                                         "template": {"label": "beta export", "objects": "c_thing"}})
        assert response.status_code == 200, response.text
        schedule_id = response.json()["_id"]
        b_ids = {
            "org": b.code, "account_id": b.admin["id"], "name": "c_beta_only", "plural": "c_things",
            "instance_id": instances["beta"], "path": "c_name", "export_id": export_id, "number": "0000000000",
            "token": "beta-upload-token-that-does-not-exist", "schedule_id": schedule_id,
        }
        with runtime.database.connect() as connection:
            b_object_ids = [row.id for row in connection.execute(
                sa.text("SELECT id FROM object_definitions WHERE org_id = :org"), {"org": b.org["id"]})]
        markers = {PRIVATE_VALUE, b.admin["id"], b.admin["email"], b.provider["id"], b.provider["email"],
                   instances["beta"], export_id, schedule_id, b.session_app.key, b.signing_app.key, *b_object_ids}
        orgs = Orgs(a, b, stack.enter_context(open_test_client(runtime)), b_ids, markers,
                    logged_in(stack, a, a.admin["email"]), a.token_for(a.admin))
        orgs.b_baseline = orgs.b_rows()
        yield orgs


def fill(template: str, values: dict[str, str]) -> str:
    """The URL path of ``template`` after ``/{org}/v2/``, parameters replaced from ``values``."""
    parts = []
    for segment in template.split("/")[3:]:
        if segment.startswith("{") and segment.endswith("}"):
            name = segment[1:-1].split(":")[0]
            if name not in PARAMETERS:
                pytest.fail(f"{template}: add the path parameter {name!r} to the org isolation test")
            parts.append(values[name])
        else:
            parts.append(segment)
    return "/".join(parts)


def body_for(template: str, b: OrgFixture, method: str = "POST") -> Any:
    if method == "PATCH":  # Cortex's operations array; below a path, the value set there
        return [{"op": "set", "value": "changed by acme"}] if "{path" in template else \
            [{"op": "set", "path": "c_name", "value": "changed by acme"}]
    if "{path" in template:
        return "changed by acme"
    return {"c_name": "changed by acme", "label": "Changed by acme", "email": "cross.org@acme.test",
            "password": PASSWORD, "objects": "c_thing", "name": "c_thing"}


def check_response(orgs: Orgs, response: Any, sent: str, *, names_b: bool) -> None:
    """No B data in the response beyond what the request itself said; a fault when it named B's."""
    leaked = {marker for marker in orgs.b_markers if marker in response.text and marker not in sent}
    assert not leaked, (response.status_code, response.text)
    if names_b:
        assert response.status_code >= 400, (response.status_code, response.text)
        assert response.json().get("object") == "fault", response.text


def test_every_route_has_its_parameters() -> None:
    assert ROUTES, "no routes found: the route walker no longer understands the app"
    for _, template in ROUTES:
        fill(template, dict.fromkeys(PARAMETERS, "x"))


def test_org_less_routes_are_known() -> None:
    every = set(app_routes(create_app(Settings(data_dir=Path("var"), database_url="sqlite://")).routes))
    assert {(method, path) for method, path in every if not path.startswith("/{org}/")} == ORG_LESS


@pytest.mark.parametrize(("method", "path"), sorted(ORG_LESS))
def test_org_less_routes_show_no_org(two_orgs: Orgs, method: str, path: str) -> None:
    """Whatever credentials come with it, an org-less route shows nothing of B's (or A's)."""
    stolen = {"Cookie": f"{SESSION_COOKIE}={two_orgs.a_session.http.cookies.get(SESSION_COOKIE)}",
              "Authorization": f"Bearer {two_orgs.a_token}", "Medable-Client-Key": two_orgs.b.session_app.key}
    for headers in ({}, stolen):
        response = two_orgs.http.request(method, path, headers=headers)
        assert response.status_code == 200, response.text
        check_response(two_orgs, response, "", names_b=False)
        assert two_orgs.a.code not in response.text and two_orgs.a.admin["email"] not in response.text
    assert two_orgs.b_rows() == two_orgs.b_baseline


@pytest.mark.parametrize(("method", "template"), ROUTES, ids=[f"{method} {path}" for method, path in ROUTES])
def test_org_a_cannot_reach_org_b(two_orgs: Orgs, method: str, template: str) -> None:
    orgs, a, b = two_orgs, two_orgs.a, two_orgs.b
    body = body_for(template, b, method) if method in ("POST", "PUT", "PATCH") else None
    sent = json.dumps(body) if body is not None else ""
    with ExitStack() as stack:
        # Logging out ends the session it is called with: that route gets a session of its own.
        session = logged_in(stack, a, a.admin["email"]) if "logout" in template else orgs.a_session
        cookie = session.http.cookies.get(SESSION_COOKIE)
        assert cookie and session.csrf_token
        b_path = fill(template, orgs.b_ids)
        url_values = set(orgs.b_ids.values()) | {b_path}

        # A's credentials against B's URL.
        stolen = {"Cookie": f"{SESSION_COOKIE}={cookie}", "medable-csrf-token": session.csrf_token}
        attempts = [
            (CortexClient(orgs.http, b.code, a.session_app.key), {"headers": stolen}),
            (CortexClient(orgs.http, b.code, b.session_app.key), {"headers": stolen}),
            (CortexClient(orgs.http, b.code, a.session_app.key),
             {"headers": {"Authorization": f"Bearer {orgs.a_token}"}}),
            (CortexClient(orgs.http, b.code, a.signing_app.key, a.signing_app.secret), {"signed": True}),
        ]
        for client, options in attempts:
            response = client.request(method, b_path, json=body, **options)
            check_response(orgs, response, sent + " ".join(url_values), names_b=True)

        # B's ids under A's URL, with A's own session.
        response = session.request(method, b_path, json=body)
        names_b = any(f"{{{name}" in template
                      for name in ("account_id", "instance_id", "export_id", "name", "schedule_id"))
        check_response(orgs, response, sent + b_path, names_b=names_b)
    assert orgs.b_rows() == orgs.b_baseline


def test_credentials_do_not_cross_orgs(two_orgs: Orgs) -> None:
    """An account's email and password open a session in its own org only."""
    a, b = two_orgs.a, two_orgs.b
    for org, app, account in ((a, a.session_app, b.admin), (b, b.session_app, a.admin)):
        client = CortexClient(two_orgs.http, org.code, app.key)
        response = client.login(account["email"])
        assert response.status_code == 403, response.text
        assert response.json()["errCode"] == "cortex.accessDenied.invalidCredentials"


def test_each_org_sees_its_own(two_orgs: Orgs) -> None:
    """Identically named objects and instances stay apart: each org reads only its own."""
    with ExitStack() as stack:
        for fixture, value, other in ((two_orgs.a, "acme-value", "beta"),
                                      (two_orgs.b, PRIVATE_VALUE, "acme")):
            client = logged_in(stack, fixture, fixture.admin["email"])
            names = [doc["c_name"] for doc in client.get("c_things", params={"limit": 1000}).json()["data"]]
            assert value in names and not {"acme-value", PRIVATE_VALUE} - {value} & set(names)
            objects = {doc["name"] for doc in client.get("objects").json()["data"]}
            assert f"c_{fixture.code}_only" in objects and f"c_{other}_only" not in objects
