"""Password login, sessions, CSRF, expiry, lockout and cross-org isolation."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from opencortex.auth.sessions import expire_session_now, hash_session_id
from opencortex.model.accounts import create_account
from opencortex.model.apps import create_app
from opencortex.model.orgs import create_org
from opencortex.store.tables import accounts, sessions
from tests.support.platform import PASSWORD, CortexClient, assert_fault


def web(platform, http) -> CortexClient:
    return CortexClient(http, platform.code, platform.session_app.key)


def test_login_returns_account_cookies_and_csrf_token(platform, http):
    client = web(platform, http)
    response = client.login(platform.admin["email"])
    assert response.status_code == 200
    account = response.json()
    assert account["object"] == "account" and account["_id"] == platform.admin["id"]
    assert "password_hash" not in response.text and "password" not in account
    cookies = response.headers.get_list("set-cookie")
    sid = next(cookie for cookie in cookies if cookie.startswith("md.sid="))
    assert "Path=/acme" in sid and "HttpOnly" in sid and "SameSite=lax" in sid and "Secure" not in sid
    assert any(cookie.startswith("md.fingerprint=") and "Path=/" in cookie for cookie in cookies)
    assert len(response.headers["medable-csrf-token"]) == 64

    me = client.get("accounts/me")
    assert me.json()["_id"] == platform.admin["id"]
    assert me.headers["medable-csrf-token"] == client.csrf_token
    status = client.get("accounts/status").json()["data"]
    assert status["loggedin"] is True and status["account"]["email"] == platform.admin["email"]


def test_session_cookie_is_stored_hashed(platform, http):
    client = web(platform, http)
    client.login(platform.admin["email"])
    cookie = http.cookies.get("md.sid")
    with platform.runtime.database.connect() as connection:
        hashes = connection.execute(sa.select(sessions.c.id_hash)).scalars().all()
    assert hash_session_id(cookie) in hashes and cookie not in hashes


def test_logout_ends_the_session(platform, http):
    client = web(platform, http)
    client.login(platform.admin["email"])
    assert client.post("accounts/me/logout", json={}).json() == {"object": "result", "data": True}
    assert_fault(client.get("accounts/me"), "cortex.accessDenied.notLoggedIn", 403, code="kNotLoggedIn")


def test_not_logged_in(platform, http):
    assert_fault(web(platform, http).get("accounts/me"), "cortex.accessDenied.notLoggedIn", 403)


def test_csrf_token_required_on_writes(platform, http):
    client = web(platform, http)
    client.login(platform.admin["email"])
    client.csrf_token = "0" * 64
    response = client.post("accounts/me/logout", json={})
    assert_fault(response, "cortex.accessDenied.csrfTokenMismatch", 403, code="kCSRFTokenMismatch")
    # The refused session is destroyed.
    assert_fault(client.get("accounts/me"), "cortex.accessDenied.notLoggedIn", 403)


def test_csrf_missing_header(platform, http):
    client = web(platform, http)
    client.login(platform.admin["email"])
    client.csrf_token = None
    assert_fault(client.post("accounts/me/logout", json={}), "cortex.accessDenied.csrfTokenMismatch", 403)


def test_csrf_off_for_apps_without_it(platform, http):
    with platform.runtime.database.begin() as connection:
        _row, key, _ = create_app(connection, platform.runtime.master_key, platform.org["id"], name="NoCsrf",
                                  csrf=False)
    client = CortexClient(http, platform.code, key)
    response = client.login(platform.admin["email"])
    assert "medable-csrf-token" not in response.headers
    assert client.post("accounts/me/logout", json={}).status_code == 200


def test_expired_session(platform, http):
    client = web(platform, http)
    client.login(platform.admin["email"])
    with platform.runtime.database.begin() as connection:
        expire_session_now(connection, hash_session_id(http.cookies.get("md.sid")))
    assert_fault(client.get("accounts/me"), "cortex.accessDenied.sessionExpired", 403, code="kSessionExpired")
    assert_fault(client.get("accounts/me"), "cortex.accessDenied.notLoggedIn", 403)


def test_session_expiry_slides_with_activity(platform, http):
    client = web(platform, http)
    client.login(platform.admin["email"])
    id_hash = hash_session_id(http.cookies.get("md.sid"))

    def expires():
        with platform.runtime.database.connect() as connection:
            return connection.execute(sa.select(sessions.c.expires).where(sessions.c.id_hash == id_hash)).scalar()

    first = expires()
    client.get("accounts/me")
    assert expires() >= first
    assert expires() - first < timedelta(seconds=900)


def test_wrong_password_and_unknown_email_are_indistinguishable(platform, http):
    client = web(platform, http)
    wrong_password = client.login(platform.admin["email"], "not the password")
    unknown_email = client.login("nobody@acme.test", "not the password")
    first, second = wrong_password.json(), unknown_email.json()
    assert first == second
    assert first["errCode"] == "cortex.accessDenied.invalidCredentials" and first["code"] == "kInvalidCredentials"


def test_repeated_failures_lock_the_account_for_a_growing_period(platform, http):
    client = web(platform, http)
    threshold = platform.runtime.settings.login_lock_threshold
    for _ in range(threshold):
        assert_fault(client.login(platform.admin["email"], "wrong password!"),
                     "cortex.accessDenied.invalidCredentials", 403)
    # Now even the right password is refused, for a while.
    assert_fault(client.login(platform.admin["email"]), "cortex.accessDenied.accountLocked", 403,
                 code="kAccountLocked")
    # Unknown emails lock the same way, so lockout does not reveal which accounts exist.
    for _ in range(threshold):
        client.login("ghost@acme.test", "wrong password!")
    assert_fault(client.login("ghost@acme.test", "wrong password!"), "cortex.accessDenied.accountLocked", 403)

    from opencortex.store.tables import login_throttle

    with platform.runtime.database.begin() as connection:
        row = connection.execute(sa.select(login_throttle).where(
            login_throttle.c.email == platform.admin["email"])).mappings().one()
        first_lock = row["locked_until"]
        connection.execute(login_throttle.update().where(login_throttle.c.email == platform.admin["email"])
                           .values(locked_until=None))
    client.login(platform.admin["email"], "wrong password!")
    with platform.runtime.database.connect() as connection:
        second_lock = connection.execute(sa.select(login_throttle.c.locked_until).where(
            login_throttle.c.email == platform.admin["email"])).scalar()
    assert second_lock - first_lock > timedelta(seconds=platform.runtime.settings.login_lock_base_seconds)


def test_successful_login_resets_the_failure_count(platform, http):
    client = web(platform, http)
    for _ in range(platform.runtime.settings.login_lock_threshold - 1):
        client.login(platform.admin["email"], "wrong password!")
    assert client.login(platform.admin["email"]).status_code == 200
    for _ in range(platform.runtime.settings.login_lock_threshold - 1):
        client.login(platform.admin["email"], "wrong password!")
    assert client.login(platform.admin["email"]).status_code == 200


def test_administratively_locked_account(platform, http):
    client = web(platform, http)
    client.login(platform.provider["email"])
    with platform.runtime.database.begin() as connection:
        connection.execute(accounts.update().where(accounts.c.id == platform.provider["id"]).values(locked=True))
    assert_fault(client.get("accounts/me"), "cortex.accessDenied.accountLocked", 403)
    assert_fault(client.login(platform.provider["email"]), "cortex.accessDenied.accountLocked", 403)


def test_a_new_login_ends_the_previous_session(platform, http):
    from fastapi.testclient import TestClient

    first = web(platform, http)
    first.login(platform.admin["email"])
    with TestClient(http.app) as other_http:
        CortexClient(other_http, platform.code, platform.session_app.key).login(platform.admin["email"])
    assert_fault(first.get("accounts/me"), "cortex.accessDenied.loggedInElsewhere", 403, code="kLoggedInElsewhere")


def test_session_of_one_org_is_refused_by_another(platform, http):
    with platform.runtime.database.begin() as connection:
        other = create_org(connection, "globex", "Globex")
        create_account(connection, other["id"], email="admin@globex.test", password=PASSWORD,
                       roles=["administrator"])
        _row, other_key, _ = create_app(connection, platform.runtime.master_key, other["id"], name="Web")
    client = web(platform, http)
    client.login(platform.admin["email"])
    stolen = http.cookies.get("md.sid")
    response = http.get("/globex/v2/accounts/me",
                        headers={"Medable-Client-Key": other_key, "Cookie": f"md.sid={stolen}"})
    assert_fault(response, "cortex.accessDenied.sessionOrgMismatch", 403)


def test_signing_only_apps_refuse_password_login(platform, http):
    client = CortexClient(http, platform.code, platform.signing_app.key, platform.signing_app.secret)
    response = client.login(platform.admin["email"])
    assert_fault(response, "cortex.accessDenied.invalidRequestSignature", 400)


def _second_session_app(platform, *, csrf: bool = True):
    with platform.runtime.database.begin() as connection:
        _row, key, _ = create_app(connection, platform.runtime.master_key, platform.org["id"], name="Other web",
                                  csrf=csrf)
    return key


def test_a_session_is_refused_with_another_apps_key(platform, http):
    # Login through the default app; the same cookie with another app's key is no session there.
    other_key = _second_session_app(platform, csrf=False)
    client = web(platform, http)
    client.login(platform.admin["email"])
    cookie = f"md.sid={http.cookies.get('md.sid')}"
    other = CortexClient(http, platform.code, other_key)
    assert_fault(other.get("accounts/me"), "cortex.accessDenied.notLoggedIn", 403, code="kNotLoggedIn")
    assert other.get("accounts/status").json()["data"] == {"loggedin": False, "account": None}
    # The other app has no CSRF rule, so a write through it would have escaped the session's
    # own CSRF check: it is not a session write, and the session is not ended by it.
    assert other.post("accounts/me/logout", json={}, headers={"Cookie": cookie}).status_code == 200
    assert client.get("accounts/me", headers={"Cookie": cookie}).json()["_id"] == platform.admin["id"]


def test_a_session_of_another_app_is_refused_by_the_default_app(platform, http):
    other_key = _second_session_app(platform)
    other = CortexClient(http, platform.code, other_key)
    assert other.login(platform.provider["email"]).status_code == 200
    client = web(platform, http)
    assert_fault(client.get("accounts/me"), "cortex.accessDenied.notLoggedIn", 403, code="kNotLoggedIn")
    assert other.get("accounts/me").json()["_id"] == platform.provider["id"]
    # Logging in through this app replaces the cookie with a session of this app.
    assert client.login(platform.provider["email"]).status_code == 200
    assert client.get("accounts/me").json()["_id"] == platform.provider["id"]
