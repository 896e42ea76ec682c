"""The console's security: headers, cookies, CSRF, escaping, org isolation, administrators only,
and the API's own session rules (one session per account, lockout, logout)."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from opencortex.exports import operations
from opencortex.model.accounts import create_account
from opencortex.model.orgs import create_org
from tests.support.platform import PASSWORD, CortexClient, open_test_client
from tests.web.console_client import ConsoleClient

XSS = "<script>alert(1)</script>"


def create_export(console, **fields):
    response = console.admin.post("/exports/new", {"label": "Patients", "objects": "c_patients", **fields})
    assert response.status_code == 303, response.text
    return response.headers["location"].rsplit("/", 1)[1]


def test_pages_carry_a_strict_content_security_policy(console):
    for response in (console.admin.get("/exports"), console.admin.get("/exports/new"),
                     console.client().get("/login"), console.http.get("/static/console/console.js")):
        assert response.status_code == 200
        policy = response.headers["content-security-policy"]
        directives = dict(part.strip().split(" ", 1) for part in policy.split(";"))
        assert directives["script-src"] == "'self'" and "unsafe-inline" not in policy and "unsafe-eval" not in policy
        assert directives["frame-ancestors"] == "'none'" and directives["default-src"] == "'none'"
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["x-content-type-options"] == "nosniff"
    page = console.admin.get("/exports")
    assert page.headers["cache-control"] == "no-store"
    # No inline script or style anywhere in the markup: every script is a file of this server.
    assert re.findall(r"<script[^>]*>", page.text) == ['<script src="/static/console/console.js?v=0.1.0" defer>']
    assert " style=" not in page.text and "<style" not in page.text


def test_the_api_keeps_its_own_headers(console):
    response = console.http.get(f"/{console.platform.code}/v2", headers={"Medable-Client-Key":
                                                                        console.platform.session_app.key})
    assert response.status_code == 200
    assert "content-security-policy" not in response.headers and "x-frame-options" not in response.headers


def test_the_session_cookie_is_http_only_strict_and_scoped_to_the_console(platform, http):
    client = ConsoleClient(http, platform.code)
    response = client.login(platform.admin["email"])
    cookie = next(value for name, value in response.headers.multi_items()
                  if name == "set-cookie" and value.startswith("oc.console.sid="))
    attributes = {part.strip().split("=")[0].lower() for part in cookie.split(";")}
    assert {"httponly", "samesite", "path"} <= attributes and "secure" not in attributes
    assert "samesite=strict" in cookie.lower() and f"path=/{platform.code}/console" in cookie.lower()


def test_over_https_the_cookies_are_secure(platform):
    with TestClient(open_test_client(platform.runtime).app, base_url="https://testserver") as https:
        response = ConsoleClient(https, platform.code).login(platform.admin["email"])
        cookies = [value for name, value in response.headers.multi_items() if name == "set-cookie"]
        assert cookies and all("secure" in value.lower() for value in cookies)


@pytest.mark.parametrize("token", [None, "", "0" * 64])
def test_a_form_without_the_right_csrf_token_is_refused_and_ends_the_session(console, token):
    before, _ = operations.list_exports(console.platform.runtime, console.platform.org["id"], limit=10)
    response = console.admin.post("/exports/new", {"label": "Forged", "objects": "c_patients"}, csrf=token)
    assert response.status_code == 403
    assert "CSRF token mismatch" in response.text
    after, _ = operations.list_exports(console.platform.runtime, console.platform.org["id"], limit=10)
    assert after == before
    # As in the API, a CSRF mismatch ends the session.
    assert console.admin.get("/exports", follow_redirects=False).status_code == 303


def test_every_form_checks_the_token(console):
    export_id = create_export(console)
    for path in (f"/exports/{export_id}/cancel", f"/exports/{export_id}/delete", f"/exports/{export_id}/edit",
                 "/logout", "/exports/validate.json"):
        fresh = console.client()
        assert fresh.login(console.platform.admin["email"]).status_code == 303
        response = fresh.post(path, {"label": "x", "objects": "c_patients"}, csrf="wrong")
        assert response.status_code == 403, path
    job = operations.get(console.platform.runtime, console.platform.org["id"], export_id)
    assert job.state.value == "pending" and job.label == "Patients"


def test_the_login_form_needs_its_own_token(platform, http):
    client = ConsoleClient(http, platform.code)
    client.get("/login")
    response = http.post(f"/{platform.code}/console/login", data={
        "email": platform.admin["email"], "password": PASSWORD, "_login": "forged"}, follow_redirects=False)
    assert response.status_code == 403 and "oc.console.sid" not in response.headers.get("set-cookie", "")


def test_a_label_with_markup_is_shown_as_text(console):
    export_id = create_export(console, label=XSS, description=f"{XSS} & more")
    for page in (console.admin.get("/exports"), console.admin.get(f"/exports/{export_id}"),
                 console.admin.get(f"/exports/{export_id}/delete")):
        assert XSS not in page.text
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    status = console.admin.get(f"/exports/{export_id}/status.json").json()
    assert status["label"] == XSS  # JSON for the script, which sets it as text


def test_another_orgs_export_is_not_found_from_this_console(console):
    runtime = console.platform.runtime
    with runtime.database.begin() as connection:
        other = create_org(connection, "beta", "Beta")
        other_admin = create_account(connection, other["id"], email="admin@beta.test", password=PASSWORD,
                                     roles=["administrator"])
    from opencortex.demo.study import SITES
    from opencortex.model.objects import create_object
    with runtime.database.begin() as connection:
        create_object(connection, other["id"], {**SITES, "properties": SITES["properties"][:2]})
    theirs = operations.create(runtime, other, other_admin["id"], {"label": "Beta's", "objects": "c_sites"})
    admin = console.admin
    assert admin.get(f"/exports/{theirs.id}").status_code == 404
    assert admin.get(f"/exports/{theirs.id}/status.json").status_code == 404
    assert admin.get(f"/exports/{theirs.id}/download").status_code == 404
    assert admin.post(f"/exports/{theirs.id}/cancel").status_code == 404
    admin.get("/exports")
    assert admin.post(f"/exports/{theirs.id}/edit", {"label": "Mine now"}).status_code == 404
    admin.get("/exports")
    assert admin.post(f"/exports/{theirs.id}/delete").status_code == 404
    assert "Beta&#39;s" not in admin.get("/exports").text and "Beta's" not in admin.get("/exports").text
    still = operations.get(runtime, other["id"], theirs.id)
    assert still.state.value == "pending" and not still.cancel_requested and still.label == "Beta's"
    # This org's session means nothing in the other org's console.
    assert admin.http.get("/beta/console/exports", follow_redirects=False).status_code == 303


def test_a_non_administrator_sees_only_the_administrators_only_page(console):
    export_id = create_export(console, label="Secret study export")
    provider = console.client()
    assert provider.login(console.platform.provider["email"]).status_code == 303
    for path in ("/exports", f"/exports/{export_id}", "/exports/new", "/objects", "/objects/c_patient", "/logs",
                 "/storage", f"/exports/{export_id}/download"):
        page = provider.get(path)
        assert page.status_code == 403, path
        assert "Administrators only" in page.text
        assert "Secret study export" not in page.text and "c_patient" not in page.text
        assert console.patient_ids[0] not in page.text
    assert provider.get(f"/exports/{export_id}/status.json").status_code == 403
    assert provider.get("/exports.json").json()["errCode"] == "cortex.accessDenied.unspecified"
    provider.get("/exports")
    assert provider.post(f"/exports/{export_id}/cancel").status_code == 403
    assert operations.get(console.platform.runtime, console.platform.org["id"], export_id).state.value == "pending"
    # It can still log out.
    assert provider.post("/logout").status_code == 303


def test_without_a_session_every_page_asks_for_a_login(console):
    anonymous = console.client()
    response = anonymous.get("/exports/new", follow_redirects=False)
    assert response.status_code == 303
    wanted = f"%2F{console.platform.code}%2Fconsole%2Fexports%2Fnew"
    assert response.headers["location"] == f"{anonymous.base}/login?next={wanted}"
    assert anonymous.get("/exports.json").status_code == 403


def test_after_login_only_console_pages_are_followed(platform, http):
    client = ConsoleClient(http, platform.code)
    client.get("/login?next=https://evil.example/")
    response = http.post(f"/{platform.code}/console/login?next=https://evil.example/", data={
        "email": platform.admin["email"], "password": PASSWORD, "_login": client.tokens["_login"]},
        follow_redirects=False)
    assert response.headers["location"] == f"/{platform.code}/console/exports"
    client.get("/login?next=//evil.example/x")
    response = http.post(f"/{platform.code}/console/login?next=/{platform.code}/console/storage", data={
        "email": platform.admin["email"], "password": PASSWORD, "_login": client.tokens["_login"]},
        follow_redirects=False)
    assert response.headers["location"] == f"/{platform.code}/console/storage"


def test_logging_out_ends_the_session(console):
    cookie = console.http.cookies.get("oc.console.sid")
    assert console.admin.post("/logout").status_code == 303
    assert console.admin.get("/exports", follow_redirects=False).status_code == 303
    # The old cookie is worth nothing now, even sent again by hand.
    with open_test_client(console.platform.runtime) as other:
        other.cookies.set("oc.console.sid", cookie, path=f"/{console.platform.code}/console")
        assert other.get(f"/{console.platform.code}/console/exports", follow_redirects=False).status_code == 303


def test_one_session_per_account_across_console_and_api(console):
    api = CortexClient(console.http, console.platform.code, console.platform.session_app.key)
    assert api.login(console.platform.admin["email"]).status_code == 200
    # The API login ended the console's session, as it ends any other session of the account.
    response = console.admin.get("/exports", follow_redirects=False)
    assert response.status_code == 303 and "reason=elsewhere" in response.headers["location"]
    assert "logged in elsewhere" in console.admin.get("/login?reason=elsewhere").text


def test_failed_console_logins_lock_the_address_for_the_api_too(platform, http):
    client = ConsoleClient(http, platform.code)
    for _ in range(5):
        assert client.login(platform.admin["email"], "wrong password").status_code == 403
    locked = client.login(platform.admin["email"])
    assert locked.status_code == 403 and "unlocks at" in locked.text and int(locked.headers["retry-after"]) > 0
    api = CortexClient(http, platform.code, platform.session_app.key)
    assert api.login(platform.admin["email"]).json()["code"] == "kAccountLocked"


def test_a_disabled_console_app_closes_the_console(console):
    from opencortex.model.apps import list_apps, set_app_enabled
    from opencortex.web.console_app import CONSOLE_APP_NAME

    runtime, org_id = console.platform.runtime, console.platform.org["id"]
    with runtime.database.begin() as connection:
        app = next(app for app in list_apps(connection, org_id) if app["name"] == CONSOLE_APP_NAME)
        set_app_enabled(connection, org_id, app["id"], False)
    assert console.admin.get("/exports").status_code == 403
    fresh = console.client()
    assert fresh.login(console.platform.admin["email"]).status_code == 403
