"""Signed requests: the official client's HMAC scheme, clock window, replay and principals."""

from __future__ import annotations

import time

from opencortex.auth.signatures import sign, signing_path
from tests.support.platform import CortexClient, assert_fault


def signer(platform, http, app=None) -> CortexClient:
    app = app or platform.signing_app
    return CortexClient(http, platform.code, app.key, app.secret)


def test_signing_path_matches_the_official_client():
    assert signing_path("exports/") == "/exports"
    assert signing_path("//exports//x/?limit=1") == "/exports/x"
    assert signing_path("/") == "/"


def test_worked_example_from_the_client_capture():
    secret = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZab"
    signature = sign("AbCdEfGhIjKlMnOpQrStUv", secret, "/exports?limit=1", "get", 1795886130369)
    import hashlib
    import hmac

    expected = hmac.new(("AbCdEfGhIjKlMnOpQrStUv" + secret).encode(), b"/exports;GET;1795886130369",
                        hashlib.sha256).hexdigest()
    assert signature == expected


def test_signed_request_acts_as_the_apps_principal(platform, http):
    response = signer(platform, http).get("accounts/me", signed=True)
    assert response.status_code == 200, response.text
    assert response.json()["_id"] == platform.admin["id"]


def test_query_string_is_not_signed(platform, http):
    client = signer(platform, http)
    response = client.get("accounts?limit=1", signed=True)
    assert response.status_code == 200, response.text
    assert response.json()["object"] == "list"


def test_wrong_secret(platform, http):
    client = CortexClient(http, platform.code, platform.signing_app.key, "x" * 64)
    assert_fault(client.get("accounts/me", signed=True), "cortex.accessDenied.invalidRequestSignature", 400,
                 code="kInvalidRequestSignature")


def test_signature_over_another_path_is_refused(platform, http):
    client = signer(platform, http)
    stamp = int(time.time() * 1000)
    headers = {
        "medable-client-signature": sign(client.key, client.secret, "/accounts", "GET", stamp),
        "medable-client-timestamp": str(stamp),
        "medable-client-nonce": "abcdefghijklmnop",
    }
    assert_fault(client.get("accounts/me", headers=headers), "cortex.accessDenied.invalidRequestSignature", 400)


def test_stale_timestamp(platform, http):
    client = signer(platform, http)
    stale = int(time.time() * 1000) - 16 * 60 * 1000
    assert_fault(client.get("accounts/me", signed=True, timestamp_ms=stale),
                 "cortex.invalidArgument.staleRequestSignature", 400, code="kStaleRequestSignature")
    future = int(time.time() * 1000) + 16 * 60 * 1000
    assert_fault(client.get("accounts/me", signed=True, timestamp_ms=future),
                 "cortex.invalidArgument.staleRequestSignature", 400)
    near = int(time.time() * 1000) - 14 * 60 * 1000
    assert client.get("accounts/me", signed=True, timestamp_ms=near).status_code == 200


def test_replayed_nonce(platform, http):
    client = signer(platform, http)
    stamp = int(time.time() * 1000)
    first = client.get("accounts/me", signed=True, timestamp_ms=stamp, nonce="Nonce0123456789a")
    assert first.status_code == 200
    replay = client.get("accounts/me", signed=True, timestamp_ms=stamp, nonce="Nonce0123456789a")
    assert_fault(replay, "cortex.accessDenied.invalidRequestSignature", 400)


def test_malformed_nonce_and_signature(platform, http):
    client = signer(platform, http)
    assert_fault(client.get("accounts/me", signed=True, nonce="short"),
                 "cortex.accessDenied.invalidRequestSignature", 400)
    assert_fault(client.get("accounts/me", headers={"medable-client-signature": "zz",
                                                    "medable-client-timestamp": "1", "medable-client-nonce": "x"}),
                 "cortex.accessDenied.invalidRequestSignature", 400)


def test_unsigned_call_to_a_signing_app_is_refused(platform, http):
    assert_fault(signer(platform, http).get("accounts/me"), "cortex.accessDenied.invalidRequestSignature", 400)


def test_client_account_header_is_ignored_without_principal_override(platform, http):
    response = signer(platform, http).get(
        "accounts/me", signed=True, headers={"medable-client-account": platform.provider["id"]}
    )
    assert response.json()["_id"] == platform.admin["id"]  # the app's own principal, not the header's


def test_principal_override_by_id_or_email(platform, http):
    client = signer(platform, http, platform.override_app)
    # No header and no app principal: anonymous.
    assert_fault(client.get("accounts/me", signed=True), "cortex.accessDenied.notLoggedIn", 403)
    by_id = client.get("accounts/me", signed=True, headers={"medable-client-account": platform.provider["id"]})
    assert by_id.json()["_id"] == platform.provider["id"]
    by_email = client.get("accounts/me", signed=True,
                          headers={"medable-client-account": platform.admin["email"]})
    assert by_email.json()["_id"] == platform.admin["id"]


def test_principal_override_refuses_system_principals_and_strangers(platform, http):
    client = signer(platform, http, platform.override_app)
    for principal in ("000000000000000000000002", "000000000000000000000004", "nobody@else.test"):
        response = client.get("accounts/me", signed=True, headers={"medable-client-account": principal})
        assert_fault(response, "cortex.accessDenied.principal", 403)
