"""Signed requests: the official client's HMAC scheme, clock window, replay and principals."""

from __future__ import annotations

import re
import secrets
import time

import orjson
import sqlalchemy as sa

from opencortex.auth.signatures import EMPTY_SHA256, sign, sign_content, signing_path
from opencortex.model.apps import create_app
from opencortex.store.tables import accounts
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


# --- Faults that name the header and its rule -------------------------------------------------


def test_a_short_nonce_is_refused_naming_the_header_and_the_rule(platform, http):
    body = assert_fault(signer(platform, http).get("accounts/me", signed=True, nonce="abcdefghijklmn"),
                       "cortex.accessDenied.invalidRequestSignature", 400, code="kInvalidRequestSignature")
    assert body["path"] == "medable-client-nonce"
    assert body["reason"].startswith("Medable-Client-Nonce must be exactly 16 letters or digits")
    assert "got 14 characters" in body["reason"]
    wrong_characters = signer(platform, http).get("accounts/me", signed=True, nonce="abcdefgh-jklmnop")
    assert "not allowed" in assert_fault(wrong_characters, "cortex.accessDenied.invalidRequestSignature", 400)[
        "reason"]


def test_each_malformed_header_is_named(platform, http):
    client = signer(platform, http)
    stamp = str(int(time.time() * 1000))
    good = {"medable-client-signature": sign(client.key, client.secret, "/accounts/me", "GET", stamp),
            "medable-client-timestamp": stamp, "medable-client-nonce": "abcdefghijklmnop"}
    for header, value, rule in (
        ("medable-client-signature", "abc", "Medable-Client-Signature must be 64 hexadecimal characters"),
        ("medable-client-timestamp", "12:30", "Medable-Client-Timestamp must be the request time in epoch"),
        ("medable-client-nonce", "", "Medable-Client-Nonce must be exactly 16"),
    ):
        body = assert_fault(client.get("accounts/me", headers=good | {header: value}),
                            "cortex.accessDenied.invalidRequestSignature", 400)
        assert body["path"] == header and body["reason"].startswith(rule), body


def test_a_wrong_signature_shows_the_message_the_server_signed(platform, http):
    client = CortexClient(http, platform.code, platform.signing_app.key, "x" * 64)
    response = client.get("accounts/me", signed=True, timestamp_ms=1795886130369)
    body = assert_fault(response, "cortex.invalidArgument.staleRequestSignature", 400)
    assert body["path"] == "medable-client-timestamp" and "within 900 s" in body["reason"]
    body = assert_fault(client.get("accounts/me", signed=True), "cortex.accessDenied.invalidRequestSignature", 400)
    assert body["path"] == "medable-client-signature"
    assert re.search(r"'/accounts/me;GET;\d+'", body["reason"]), body["reason"]


def test_a_reused_nonce_is_named(platform, http):
    client = signer(platform, http)
    client.get("accounts/me", signed=True, nonce="Nonce0123456789b")
    body = assert_fault(client.get("accounts/me", signed=True, nonce="Nonce0123456789b"),
                        "cortex.accessDenied.invalidRequestSignature", 400)
    assert body["path"] == "medable-client-nonce" and "already been used" in body["reason"]


# --- Signed content (apps with sign_content) ---------------------------------------------------


def content_app(platform) -> tuple[str, str]:
    with platform.runtime.database.begin() as connection:
        _row, key, secret = create_app(connection, platform.runtime.master_key, platform.org["id"],
                                       name="Strict", signing=True, principal_id=platform.admin["id"],
                                       sign_content=True)
    return key, secret


def content_headers(key, secret, method, path, query="", body=b"", *, stamp=None, nonce=None):
    stamp = stamp or int(time.time() * 1000)
    nonce = nonce or secrets.token_hex(8)
    body_sha256, content_signature = sign_content(key, secret, path, query, method, stamp, nonce, body)
    return {
        "Medable-Client-Key": key,
        "Medable-Client-Signature": sign(key, secret, path, method, stamp),
        "Medable-Client-Timestamp": str(stamp),
        "Medable-Client-Nonce": nonce,
        "OpenCortex-Content-SHA256": body_sha256,
        "OpenCortex-Content-Signature": content_signature,
    }


def test_an_app_with_signed_content_refuses_a_request_without_it(platform, http):
    key, secret = content_app(platform)
    client = CortexClient(http, platform.code, key, secret)
    body = assert_fault(client.get("accounts/me", signed=True), "cortex.accessDenied.invalidRequestSignature", 400)
    assert body["path"] == "opencortex-content-signature" and "requires signed content" in body["reason"]


def test_signed_content_covers_the_query(platform, http):
    key, secret = content_app(platform)
    url = f"/{platform.code}/v2/accounts"
    headers = content_headers(key, secret, "GET", "/accounts", "limit=1")
    response = http.get(url + "?limit=1", headers=headers)
    assert response.status_code == 200, response.text
    assert len(response.json()["data"]) == 1
    # The same headers with another query (and a new nonce, which the Cortex scheme allows).
    replay = headers | {"Medable-Client-Nonce": secrets.token_hex(8)}
    body = assert_fault(http.get(url + "?limit=1000", headers=replay), "cortex.accessDenied.invalidRequestSignature",
                        400)
    assert body["path"] == "opencortex-content-signature"
    # Even the identical request with a new nonce: the content signature covers the nonce.
    assert_fault(http.get(url + "?limit=1", headers=replay), "cortex.accessDenied.invalidRequestSignature", 400)


def test_signed_content_covers_the_body_and_nothing_is_written_on_a_mismatch(platform, http):
    key, secret = content_app(platform)
    url = f"/{platform.code}/v2/accounts"

    def account(email: str) -> bytes:
        return orjson.dumps({"email": email, "password": "a long password", "roles": ["administrator"]})

    signed_body = account("signed@acme.test")
    headers = content_headers(key, secret, "POST", "/accounts", body=signed_body) | {
        "Content-Type": "application/json"}
    tampered = account("mallory@acme.test")
    body = assert_fault(http.post(url, content=tampered, headers=headers),
                        "cortex.accessDenied.invalidRequestSignature", 400)
    assert body["path"] == "opencortex-content-sha256"
    with platform.runtime.database.connect() as connection:
        emails = set(connection.execute(sa.select(accounts.c.email)).scalars())
    assert "mallory@acme.test" not in emails

    fresh = content_headers(key, secret, "POST", "/accounts", body=signed_body) | {"Content-Type": "application/json"}
    created = http.post(url, content=signed_body, headers=fresh)
    assert created.status_code == 200, created.text
    assert created.json()["email"] == "signed@acme.test"


def test_content_headers_are_checked_on_any_signing_app_and_only_with_a_signature(platform, http):
    client = signer(platform, http)  # an app without sign_content
    headers = content_headers(client.key, client.secret, "GET", "/accounts/me")
    assert http.get(f"/{platform.code}/v2/accounts/me", headers=headers).status_code == 200
    wrong = content_headers(client.key, client.secret, "GET", "/accounts/me") | {
        "OpenCortex-Content-Signature": "0" * 64}
    assert_fault(http.get(f"/{platform.code}/v2/accounts/me", headers=wrong),
                 "cortex.accessDenied.invalidRequestSignature", 400)
    half = content_headers(client.key, client.secret, "GET", "/accounts/me")
    del half["OpenCortex-Content-Signature"]
    body = assert_fault(http.get(f"/{platform.code}/v2/accounts/me", headers=half),
                        "cortex.accessDenied.invalidRequestSignature", 400)
    assert body["path"] == "opencortex-content-signature"
    unsigned = {"Medable-Client-Key": platform.session_app.key, "OpenCortex-Content-SHA256": EMPTY_SHA256}
    body = assert_fault(http.get(f"/{platform.code}/v2/accounts/status", headers=unsigned),
                        "cortex.accessDenied.invalidRequestSignature", 400)
    assert body["path"] == "opencortex-content-sha256"


def test_content_signature_recipe_from_the_docs():
    """docs/api.md's worked example, recomputed with hashlib/hmac only."""
    import hashlib
    import hmac

    key, secret = "AbCdEfGhIjKlMnOpQrStUv", "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZab"
    body = b'{"label":"x"}'
    body_sha256, signature = sign_content(key, secret, "/exports", "", "POST", 1795886130369, "abcdefghijklmnop", body)
    assert body_sha256 == hashlib.sha256(body).hexdigest()
    message = f"/exports;POST;1795886130369;abcdefghijklmnop;{body_sha256}"
    assert signature == hmac.new((key + secret).encode(), message.encode(), hashlib.sha256).hexdigest()
    _sha, with_query = sign_content(key, secret, "/c_patients", "limit=5&where=%7B%7D", "get", 1, "n" * 16, b"")
    expected = f"/c_patients?limit=5&where=%7B%7D;GET;1;{'n' * 16};{EMPTY_SHA256}"
    assert with_query == hmac.new((key + secret).encode(), expected.encode(), hashlib.sha256).hexdigest()


def test_a_body_read_before_authentication_is_still_checked():
    """ContentDigest compares whichever comes second: the body's end or the signed declaration."""
    import asyncio
    import hashlib

    from opencortex import faults
    from opencortex.api.middleware import ContentDigest, expect_content_sha256

    async def run(declared: str, body: bytes, *, read_first: bool) -> str:
        async def app(scope, receive, send):
            if not read_first:
                expect_content_sha256(scope, declared)
            while (await receive()).get("more_body"):
                pass
            if read_first:
                expect_content_sha256(scope, declared)

        chunks = [{"type": "http.request", "body": body[:3], "more_body": True},
                  {"type": "http.request", "body": body[3:], "more_body": False}]

        async def receive():
            return chunks.pop(0)

        scope = {"type": "http", "headers": [(b"opencortex-content-sha256", declared.encode())]}
        try:
            await ContentDigest(app)(scope, receive, None)
        except faults.Fault as fault:
            return fault.path
        return "ok"

    signed = b'{"a": 1}'
    declared = hashlib.sha256(signed).hexdigest()
    for read_first in (True, False):
        assert asyncio.run(run(declared, signed, read_first=read_first)) == "ok"
        assert asyncio.run(run(declared, b'{"a": 2}', read_first=read_first)) == "opencortex-content-sha256"
