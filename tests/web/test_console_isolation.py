"""No org's data is reachable from another org's console, through any console route.

Every route under ``/{org}/console`` is enumerated (a new one is covered, or this test fails
asking for its parameters) and called, by GET or POST as it answers, with org A's administrator:
in A's console with B's ids, and with A's session cookie in B's console. No answer may carry B's
data, an answer that names B's export or object is a refusal, and B's rows stay as they were.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import sqlalchemy as sa

from opencortex.api.app import create_app
from opencortex.demo.study import SITES
from opencortex.exports import operations, scheduling
from opencortex.model.accounts import create_account
from opencortex.model.objects import create_object
from opencortex.model.orgs import create_org
from opencortex.settings import Settings
from opencortex.store.tables import exports, metadata
from tests.acl.test_org_isolation import app_routes
from tests.support.platform import PASSWORD

ROUTES = sorted(route for route in set(app_routes(create_app(Settings(database_url="sqlite://")).routes))
                if route[1].startswith("/{org}/console"))
PRIVATE = "beta-private-site"


def fill(template: str, values: dict[str, str]) -> str:
    parts = []
    for segment in template.split("/")[1:]:
        if segment.startswith("{") and segment.endswith("}"):
            name = segment[1:-1].split(":")[0]
            if name not in values:
                pytest.fail(f"{template}: add the path parameter {name!r} to the console isolation test")
            parts.append(values[name])
        else:
            parts.append(segment)
    return "/" + "/".join(parts)


def b_rows(runtime: Any, org_id: str) -> dict[str, list[str]]:
    snapshot = {}
    with runtime.database.connect() as connection:
        for table in metadata.sorted_tables:
            if "org_id" in table.c:
                rows = connection.execute(sa.select(table).where(table.c.org_id == org_id)).all()
                snapshot[table.name] = sorted(json.dumps(list(row), default=str) for row in rows)
    return snapshot


def test_every_console_route_is_enumerated():
    assert len(ROUTES) > 15
    for _method, template in ROUTES:
        fill(template, dict.fromkeys(("org", "export_id", "name", "rest", "schedule_id"), "x"))


def test_org_a_cannot_reach_org_b_through_the_console(console):
    runtime = console.platform.runtime
    with runtime.database.begin() as connection:
        beta = create_org(connection, "beta", "Beta")
        beta_admin = create_account(connection, beta["id"], email="admin@beta.test", password=PASSWORD,
                                    roles=["administrator"])
        create_object(connection, beta["id"], {**SITES, "name": "c_beta_site", "properties": SITES["properties"][:2]})
    from opencortex.acl.viewer import Viewer
    from opencortex.instances.service import Instances
    from opencortex.model.objects import get_object

    with runtime.database.begin() as connection:
        viewer = Viewer(beta["id"], beta_admin["id"], frozenset(beta_admin["roles"]))
        sites = Instances(connection, runtime.database.dialect, beta["id"],
                          get_object(connection, beta["id"], "c_beta_site"), viewer)
        site_id = sites.create({"c_name": PRIVATE})["_id"]
    job = operations.create(runtime, beta, beta_admin["id"], {"label": "beta export", "objects": "c_beta_sites"})
    schedule = scheduling.create(runtime, beta, beta_admin["id"], {
        "name": "beta schedule", "cron": "0 2 * * *", "template": {"label": "beta export", "objects": "c_beta_sites"}})
    markers = {PRIVATE, job.id, site_id, beta_admin["id"], "admin@beta.test", "beta export", schedule.id,
               "beta schedule"}
    before = b_rows(runtime, beta["id"])
    admin = console.admin
    cookie = admin.http.cookies.get("oc.console.sid")
    b_values = {"org": "acme", "export_id": job.id, "name": "c_beta_site", "rest": "exports",
                "schedule_id": schedule.id}
    for method, template in ROUTES:
        names_b = any(f"{{{name}" in template for name in ("export_id", "name", "schedule_id"))
        # A's console, B's ids.
        path = fill(template, b_values)
        admin.get("/exports")  # a fresh page's CSRF token for the form
        form = {"_csrf": admin.tokens["_csrf"], "label": "changed by acme", "objects": "c_beta_sites",
                "email": "admin@beta.test", "password": PASSWORD}
        if "logout" in template or "login" in template:
            continue  # no ids in them; logging out and in are tested on their own
        response = (admin.http.get(path, follow_redirects=False) if method == "GET"
                    else admin.http.post(path, data=form, follow_redirects=False))
        leaked = {marker for marker in markers if marker in response.text and marker not in path}
        assert not leaked, (method, template, response.status_code)
        if names_b:
            assert response.status_code in (400, 404), (method, template, response.status_code, response.text[:300])
        # A's session in B's console.
        foreign = fill(template, {**b_values, "org": "beta"})
        response = admin.http.request(method, foreign, data=form if method == "POST" else None,
                                      headers={"Cookie": f"oc.console.sid={cookie}"}, follow_redirects=False)
        leaked = {marker for marker in markers if marker in response.text and marker not in foreign}
        assert not leaked, (method, template, response.status_code)
        assert response.status_code in (303, 403, 404), (method, foreign, response.status_code)
        if response.status_code == 303:  # to B's login page (the console's home: to its exports, then login)
            target = "/beta/console/exports" if template.rstrip("/") == "/{org}/console" else "/beta/console/login"
            assert response.headers["location"].startswith(target), (template, response.headers["location"])
    assert b_rows(runtime, beta["id"]) == before
    with runtime.database.connect() as connection:
        assert connection.execute(sa.select(exports.c.label).where(exports.c.id == job.id)).scalar() == "beta export"
