"""Account routes: me, status, and administration (administrators only)."""

from __future__ import annotations

from tests.support.platform import CortexClient, assert_fault


def admin_client(platform, http) -> CortexClient:
    client = CortexClient(http, platform.code, platform.session_app.key)
    client.login(platform.admin["email"])
    return client


def test_administrator_lists_reads_and_creates_accounts(platform, http):
    client = admin_client(platform, http)
    listing = client.get("accounts").json()
    assert listing["object"] == "list" and listing["hasMore"] is False
    assert [a["_id"] for a in listing["data"]] == sorted([platform.admin["id"], platform.provider["id"]],
                                                         reverse=True)
    created = client.post("accounts", json={"email": "New.Person@Acme.test", "password": "long enough pw",
                                            "name": {"first": "New", "last": "Person"}, "roles": ["developer"]})
    assert created.status_code == 200, created.text
    account = created.json()
    assert account["email"] == "new.person@acme.test" and account["roles"] == ["000000000000000000000007"]
    assert client.get(f"accounts/{account['_id']}").json()["name"] == {"first": "New", "last": "Person"}
    page = client.get("accounts?limit=1").json()
    assert page["hasMore"] is True and page["data"][0]["_id"] == account["_id"]
    rest = client.get(f"accounts?limit=10&startingAfter={account['_id']}").json()
    assert len(rest["data"]) == 2 and rest["hasMore"] is False


def test_account_creation_faults(platform, http):
    client = admin_client(platform, http)
    duplicate = client.post("accounts", json={"email": platform.admin["email"], "password": "long enough pw"})
    assert assert_fault(duplicate, "cortex.conflict.exists", 409)["path"] == "email"
    short = client.post("accounts", json={"email": "a@acme.test", "password": "short"})
    assert assert_fault(short, "cortex.invalidArgument.unspecified", 400)["path"] == "password"
    bad_email = client.post("accounts", json={"email": "nope", "password": "long enough pw"})
    assert assert_fault(bad_email, "cortex.invalidArgument.unspecified", 400)["path"] == "email"
    bad_role = client.post("accounts", json={"email": "b@acme.test", "password": "long enough pw",
                                             "roles": ["emperor"]})
    assert assert_fault(bad_role, "cortex.invalidArgument.unspecified", 400)["path"] == "roles[0]"


def test_non_administrators_cannot_administer_accounts(platform, http):
    client = CortexClient(http, platform.code, platform.session_app.key)
    client.login(platform.provider["email"])
    assert client.get("accounts/me").status_code == 200
    assert_fault(client.get("accounts"), "cortex.accessDenied.unspecified", 403)
    assert_fault(client.get(f"accounts/{platform.admin['id']}"), "cortex.accessDenied.unspecified", 403)
    assert_fault(client.post("accounts", json={"email": "x@acme.test", "password": "long enough pw"}),
                 "cortex.accessDenied.unspecified", 403)


def test_unknown_account(platform, http):
    client = admin_client(platform, http)
    assert_fault(client.get("accounts/000000000000000000000099"), "cortex.notFound.instance", 404)
    assert_fault(client.get("accounts/not-an-id"), "cortex.notFound.instance", 404)


def test_account_property_paths_and_paths_selection(platform, http):
    client = admin_client(platform, http)
    assert client.get("accounts/me/name").json() == {"object": "result", "data": {"first": "Ada", "last": "Admin"}}
    assert client.get("accounts/me/name/first").json() == {"object": "result", "data": "Ada"}
    assert client.get("accounts/me/roles").json() == {"object": "list", "data": ["000000000000000000000004"],
                                                      "hasMore": False}
    provider = platform.provider["id"]
    assert client.get(f"accounts/{provider}/email").json()["data"] == platform.provider["email"]
    assert_fault(client.get("accounts/me/nothing"), "cortex.notFound.property", 404)
    assert_fault(client.get("accounts/000000000000000000000099/email"), "cortex.notFound.instance", 404)
    assert client.get("accounts/me?paths[]=email&paths[]=name.first").json() == {
        "_id": platform.admin["id"], "object": "account", "email": platform.admin["email"], "name": {"first": "Ada"}}
    assert_fault(client.get("accounts/me?paths[]=password"), "cortex.invalidArgument.unspecified", 400)

    other = CortexClient(http, platform.code, platform.session_app.key)
    other.http.cookies.clear()
    other.login(platform.provider["email"])
    assert other.get("accounts/me/email").json()["data"] == platform.provider["email"]
    assert_fault(other.get(f"accounts/{platform.admin['id']}/email"), "cortex.accessDenied.unspecified", 403)
