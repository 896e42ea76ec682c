"""Routing and envelopes: every failure is a Cortex fault with a matching status and headers."""

from __future__ import annotations

from tests.support.platform import CortexClient, assert_fault


def test_org_public_properties(platform, http):
    client = CortexClient(http, platform.code, platform.session_app.key)
    response = client.get("")
    assert response.status_code == 200
    body = response.json()
    assert body["object"] == "org" and body["code"] == "acme" and body["_id"] == platform.org["id"]
    assert int(response.headers["medable-server-time"]) > 1_700_000_000_000


def test_unknown_org(platform, http):
    response = http.get("/nosuch/v2/accounts/me", headers={"Medable-Client-Key": platform.session_app.key})
    assert_fault(response, "cortex.notFound.org", 404)


def test_unknown_route(platform, http):
    client = CortexClient(http, platform.code, platform.session_app.key)
    assert_fault(client.get("no/such/thing"), "cortex.notFound.route", 404)
    assert_fault(http.get("/"), "cortex.notFound.route", 404)


def test_wrong_method(platform, http):
    client = CortexClient(http, platform.code, platform.session_app.key)
    assert_fault(client.delete("accounts/login"), "cortex.unsupportedOperation.method", 405)


def test_malformed_json(platform, http):
    client = CortexClient(http, platform.code, platform.session_app.key)
    response = client.post("accounts/login", content=b'{"email": ', headers={"Content-Type": "application/json"})
    assert_fault(response, "cortex.invalidArgument.invalidJSON", 400)


def test_body_must_be_an_object(platform, http):
    client = CortexClient(http, platform.code, platform.session_app.key)
    fault = assert_fault(client.post("accounts/login", json=[1, 2]), "cortex.invalidArgument.unspecified", 400)
    assert fault["path"] == "body"


def test_oversized_body_by_length(platform, http):
    client = CortexClient(http, platform.code, platform.session_app.key)
    big = b'{"email": "' + b"x" * (10 * 1024 * 1024) + b'"}'
    assert_fault(client.post("accounts/login", content=big), "cortex.tooLarge.request", 413)


def test_oversized_body_while_streaming(platform, http):
    """A chunked body without Content-Length is cut off as soon as it passes the limit."""
    client = CortexClient(http, platform.code, platform.session_app.key)

    def chunks():
        for _ in range(12):
            yield b"x" * (1024 * 1024)

    assert_fault(client.post("accounts/login", content=chunks()), "cortex.tooLarge.request", 413)


def test_empty_body_with_json_content_type_is_accepted(platform, http):
    """The official client sends Content-Type: application/json on bodiless calls."""
    client = CortexClient(http, platform.code, platform.session_app.key)
    response = client.get("accounts/status", headers={"Content-Type": "application/json"})
    assert response.status_code == 200
    assert response.json() == {"object": "result", "data": {"loggedin": False, "account": None}}


def test_unexpected_errors_become_500_faults_without_traces(platform, http, monkeypatch):
    import opencortex.api.routes.org as org_routes

    def explode(_org):
        raise RuntimeError("secret internal detail")

    monkeypatch.setattr(org_routes, "org_public_json", explode)
    client = CortexClient(http, platform.code, platform.session_app.key)
    response = client.get("")
    fault = assert_fault(response, "cortex.error.unspecified", 500)
    assert "secret internal detail" not in response.text and "Traceback" not in response.text
    assert fault["message"]


def test_a_trailing_slash_is_the_same_path_never_a_redirect(platform, http):
    """The framework answered ``/exports/`` with a 307 to ``/exports``; the official client does not
    follow redirects, so the API answers as it would without the slash (faults included)."""
    client = CortexClient(http, platform.code, platform.session_app.key)
    client.login(platform.admin["email"])
    for path in ("", "accounts/me", "exports", "objects"):
        plain, slashed = client.get(path), client.get(path + "/")
        assert slashed.status_code == plain.status_code == 200 and "location" not in slashed.headers
        assert slashed.json()["object"] == plain.json()["object"]
    assert client.get("accounts/me/").json()["_id"] == platform.admin["id"]
    assert_fault(client.get("no/such/thing/"), "cortex.notFound.route", 404)
    assert_fault(client.delete("accounts/login/"), "cortex.unsupportedOperation.method", 405)
    created = client.post("objects/", json={"name": "c_thing", "label": "Thing", "createAcl": ["role.administrator"],
                                            "defaultAcl": ["role.administrator.delete"], "properties": [
        {"name": "c_name", "label": "Name", "type": "String"}]})
    assert created.status_code == 200, created.text
    thing = client.post("c_things/", json={"c_name": "slashed"})
    assert thing.status_code == 200, thing.text
    listed = client.get("c_things/")
    assert listed.status_code == 200 and [doc["c_name"] for doc in listed.json()["data"]] == ["slashed"]
    assert client.get(f"c_things/{thing.json()['_id']}/c_name/").json() == {"object": "result", "data": "slashed"}


def test_a_signed_request_with_a_trailing_slash(platform, http):
    """The official client signs the path without its trailing slash; the server checks it so too."""
    signer = CortexClient(http, platform.code, platform.signing_app.key, platform.signing_app.secret)
    response = signer.get("accounts/me/", signed=True)
    assert response.status_code == 200, response.text
    assert response.json()["_id"] == platform.admin["id"]
