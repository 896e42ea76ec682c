"""Bearer tokens: RS256 JWTs verified with the app's key pair, published as a JWK."""

from __future__ import annotations

import jwt

from opencortex.model.apps import create_app
from opencortex.model.orgs import create_org
from tests.support.platform import CortexClient, assert_fault


def bearer(http, platform, token, key=None):
    headers = {"Authorization": f"Bearer {token}"}
    if key:
        headers["Medable-Client-Key"] = key
    return http.get(f"/{platform.code}/v2/accounts/me", headers=headers)


def test_token_authenticates_without_a_client_key_header(platform, http):
    token = platform.token_for(platform.provider)
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["iss"] == platform.session_app.key and claims["sub"] == platform.provider["id"]
    assert claims["cortex/eml"] == platform.provider["email"]
    response = bearer(http, platform, token)
    assert response.status_code == 200 and response.json()["_id"] == platform.provider["id"]
    assert "medable-csrf-token" not in response.headers


def test_token_needs_no_csrf_even_for_writes(platform, http):
    response = http.post(f"/{platform.code}/v2/accounts/me/logout",
                         headers={"Authorization": f"Bearer {platform.token_for(platform.admin)}"})
    assert response.status_code == 200


def test_expired_token(platform, http):
    token = platform.token_for(platform.provider, expires_in=-60)
    assert_fault(bearer(http, platform, token), "cortex.expired.token", 403)


def test_token_signed_by_another_app(platform, http):
    forged = platform.token_for(platform.provider, app=platform.signing_app)
    claims = jwt.decode(forged, options={"verify_signature": False})
    # Re-sign the same claims with the other app's key but claim the session app as issuer.
    from opencortex.model.apps import app_private_key

    claims["iss"] = platform.session_app.key
    tampered = jwt.encode(claims, app_private_key(platform.runtime.master_key, platform.signing_app.row),
                          algorithm="RS256")
    assert_fault(bearer(http, platform, tampered), "cortex.accessDenied.invalidToken", 403)


def test_token_key_mismatch(platform, http):
    token = platform.token_for(platform.provider)
    assert_fault(bearer(http, platform, token, key=platform.signing_app.key), "cortex.notFound.app", 404)


def test_garbage_token(platform, http):
    assert_fault(bearer(http, platform, "not-a-jwt"), "cortex.accessDenied.invalidToken", 403)


def test_alg_none_is_refused(platform, http):
    claims = jwt.decode(platform.token_for(platform.admin), options={"verify_signature": False})
    unsigned = jwt.encode(claims, key=None, algorithm="none")
    assert_fault(bearer(http, platform, unsigned), "cortex.accessDenied.invalidToken", 403)


def test_token_from_another_org_is_refused(platform, http):
    with platform.runtime.database.begin() as connection:
        other = create_org(connection, "globex", "Globex")
        create_app(connection, platform.runtime.master_key, other["id"], name="Web")
    token = platform.token_for(platform.admin)
    response = http.get("/globex/v2/accounts/me", headers={"Authorization": f"Bearer {token}"})
    assert_fault(response, "cortex.notFound.app", 404)


def test_published_jwk_verifies_issued_tokens(platform, http):
    client = CortexClient(http, platform.code, platform.session_app.key)
    jwks = client.get("auth/certs/jwk").json()
    assert jwks["keys"][0]["kid"] == platform.session_app.key and "d" not in jwks["keys"][0]
    public_key = jwt.PyJWK(jwks["keys"][0]).key
    claims = jwt.decode(platform.token_for(platform.admin), public_key, algorithms=["RS256"])
    assert claims["sub"] == platform.admin["id"]
