"""No route silently ignores a query argument: each declares what it takes, and refuses the rest
with ``cortex.invalidArgument.query`` naming the argument (a wrong 200 is the worst answer)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from opencortex.api.app import create_app
from opencortex.api.query_arguments import declared
from opencortex.settings import Settings
from tests.support.platform import CortexClient, assert_fault


def walk(routes: list[Any]) -> list[Any]:
    """Every route object, through included routers at any depth (as the org isolation test walks)."""
    found = []
    for route in routes:
        inner = getattr(route, "original_router", None)
        if inner is not None:
            found += walk(inner.routes)
        elif hasattr(route, "routes") and not hasattr(route, "methods"):
            found += walk(route.routes)
        elif getattr(route, "methods", None):
            found.append(route)
    return found


def every_route() -> list[Any]:
    app = create_app(Settings(data_dir=Path("var"), database_url="sqlite://"))
    return [route for route in walk(app.routes) if route.path.startswith("/{org}/v2")]


def checked_routes() -> list[tuple[str, Any]]:
    return [(method, route) for route in every_route() for method in sorted(set(route.methods) - {"HEAD", "OPTIONS"})]


def test_every_route_declares_its_query_arguments():
    routes = checked_routes()
    assert len(routes) > 30
    missing = [f"{method} {route.path}" for method, route in routes if declared(route) is None]
    assert missing == []


CHECKED = checked_routes()


@pytest.mark.parametrize(("method", "route"), CHECKED, ids=[f"{method} {route.path}" for method, route in CHECKED])
def test_an_argument_a_route_does_not_take_is_refused(platform, http, method, route):
    client = CortexClient(http, platform.code, platform.session_app.key)
    client.login(platform.admin["email"])
    some_id = "0123456789abcdef01234567"
    values = {"org": platform.code, "account_id": platform.admin["id"], "name": "c_nothing", "plural": "c_things",
              "instance_id": some_id, "path": "c_file/content", "export_id": some_id, "token": "a-token",
              "number": "0000000000", "schedule_id": some_id}
    path = "/".join(values[part.strip("{}").split(":")[0]] if part.startswith("{") else part
                    for part in route.path.split("/")[3:])
    params = {"bogus_argument": "1"}
    headers = {}
    if "signature" in declared(route):
        params["signature"] = "x"  # what makes the signed-link route match at all
    if route.endpoint.__module__.endswith("uploads"):
        headers["Content-Type"] = "application/octet-stream"  # file bodies only
    response = client.request(method, path, params=params, headers=headers, content=b"x" if headers else None)
    fault = assert_fault(response, "cortex.invalidArgument.query", 400)
    assert fault["path"] == "bogus_argument" and "bogus_argument" in fault["reason"]


@pytest.mark.parametrize(("path", "argument"), [
    ("exports?where=%7B%7D&pipeline=%5B%5D", "pipeline"),
    ("accounts?where=%7B%22email%22%3A%22x%22%7D&pipeline=%5B%5D", "pipeline"),
    ("accounts?sort=email&expand[]=roles", "expand[]"),
    ("objects?where=%7B%7D&paths[]=name", "paths[]"),
    ("objects?sort=name&pipeline=%5B%5D", "pipeline"),
    ("logs?skip=5", "skip"),
    ("accounts/me?include[]=roles", "include[]"),
    ("exports?csv[bom]=true", "csv[bom]"),
])
def test_unsupported_arguments_are_named(platform, http, path, argument):
    client = CortexClient(http, platform.code, platform.session_app.key)
    client.login(platform.admin["email"])
    fault = assert_fault(client.get(path), "cortex.invalidArgument.query", 400)
    assert fault["path"] == argument


def test_declared_arguments_pass_and_an_unknown_org_comes_first(platform, http):
    client = CortexClient(http, platform.code, platform.session_app.key)
    client.login(platform.admin["email"])
    assert client.get("exports?limit=5&skip=0&paths[]=label&total=true").status_code == 200
    assert client.get("accounts?limit=1&paths[]=email").json()["data"][0].keys() == {"_id", "object", "email"}
    assert client.get("accounts/status?paths[]=_id").json()["data"]["account"] == {
        "_id": platform.admin["id"], "object": "account"}
    assert client.get("accounts/status?expand=false").json()["data"]["account"] == platform.admin["id"]
    assert_fault(client.get("accounts/status?expand=maybe"), "cortex.invalidArgument.query", 400)
    response = http.get("/nosuch/v2/exports?bogus=1", headers={"Medable-Client-Key": platform.session_app.key})
    assert_fault(response, "cortex.notFound.org", 404)
