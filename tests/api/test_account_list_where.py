"""``GET /accounts`` with ``where``, ``sort``, paging and ``total``, on SQLite and PostgreSQL.

The org has, besides the fixture's administrator and provider, four accounts with distinct names,
states, lock flags and roles; another org (``beta``) has accounts with the same names, which must
never show. Only administrators list accounts; password hashes are never matchable.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

import pytest

from opencortex.ids import ROLE_IDS
from opencortex.model.accounts import create_account
from opencortex.model.orgs import set_allowed_restricted_operators
from opencortex.store.tables import accounts
from tests.support.platform import PASSWORD, CortexClient, OrgFixture, assert_fault, seed_org

# (email, first, last, roles, state, locked)
PEOPLE = [
    ("carol@acme.test", "Carol", "Chen", ["developer"], "verified", False),
    ("dave@acme.test", "Dave", "Diaz", ["provider", "developer"], "unverified", False),
    ("erin@acme.test", "Erin", "Evans", [], "verified", True),
    ("frank@acme.test", "Frank", "Chen", ["provider"], "verified", False),
]
DEVELOPER = ROLE_IDS["developer"]
PROVIDER = ROLE_IDS["provider"]


def query(**arguments: Any) -> str:
    return "accounts?" + urlencode({name: json.dumps(value) if isinstance(value, dict | list) else value
                                    for name, value in arguments.items()})


@pytest.fixture
def people(platform: OrgFixture) -> dict[str, str]:
    """The four accounts (email -> _id); ``dave`` and ``frank`` were updated, the others not."""
    ids = {}
    with platform.runtime.database.begin() as connection:
        for email, first, last, roles, state, locked in PEOPLE:
            row = create_account(connection, platform.org["id"], email=email, password=PASSWORD, roles=roles,
                                 first_name=first, last_name=last)
            ids[email] = row["id"]
            connection.execute(accounts.update().where(accounts.c.id == row["id"])
                               .values(state=state, locked=locked))
        connection.execute(accounts.update().where(accounts.c.id == ids["dave@acme.test"])
                           .values(updated=row["created"] + timedelta(days=1)))
        connection.execute(accounts.update().where(accounts.c.id == ids["frank@acme.test"])
                           .values(updated=row["created"]))
    return ids


@pytest.fixture
def admin(platform: OrgFixture, http: Any, people: dict[str, str]) -> CortexClient:
    client = CortexClient(http, platform.code, platform.session_app.key)
    assert client.login(platform.admin["email"]).status_code == 200
    return client


def emails(response: Any) -> list[str]:
    assert response.status_code == 200, response.text
    return [account["email"] for account in response.json()["data"]]


def test_where_filters_on_columns_and_on_roles(admin: CortexClient):
    assert emails(admin.get(query(where={"email": "carol@acme.test"}))) == ["carol@acme.test"]
    assert emails(admin.get(query(where={"name.last": "Chen"}, sort={"email": 1}))) == [
        "carol@acme.test", "frank@acme.test"]
    assert emails(admin.get(query(where={"name.first": {"$regex": "/^[de]/i"}}, sort={"email": 1}))) == [
        "dave@acme.test", "erin@acme.test"]
    assert emails(admin.get(query(where={"locked": True}))) == ["erin@acme.test"]
    assert emails(admin.get(query(where={"state": {"$in": ["unverified"]}}))) == ["dave@acme.test"]
    assert emails(admin.get(query(where={"roles": DEVELOPER}, sort={"email": 1}))) == [
        "carol@acme.test", "dave@acme.test"]
    assert emails(admin.get(query(where={"roles": {"$all": [PROVIDER, DEVELOPER]}}))) == ["dave@acme.test"]
    assert emails(admin.get(query(where={"roles": {"$size": 0}}))) == ["erin@acme.test"]
    assert emails(admin.get(query(where={"$or": [{"email": "erin@acme.test"}, {"name.first": "Frank"}]},
                                  sort={"email": -1}))) == ["frank@acme.test", "erin@acme.test"]
    assert emails(admin.get(query(where={"updated": {"$exists": True}}, sort={"email": 1}))) == [
        "dave@acme.test", "frank@acme.test"]
    assert emails(admin.get(query(where={"created": {"$gte": "2000-01-01"}, "email": {"$regex": "/^admin@/"}}))) == [
        "admin@acme.test"]
    assert emails(admin.get(query(where={"created": {"$lt": "2000-01-01"}}))) == []
    assert emails(admin.get(query(where={"stats.lastLogin.time": {"$exists": True}}))) == ["admin@acme.test"]


def test_sort_ascending_and_descending(admin: CortexClient, platform: OrgFixture):
    everyone = sorted([*(person[0] for person in PEOPLE), "admin@acme.test", "provider@acme.test"])
    assert emails(admin.get(query(sort={"email": 1}))) == everyone
    assert emails(admin.get(query(sort={"email": -1}))) == everyone[::-1]
    assert emails(admin.get("accounts?sort=email")) == everyone  # a bare name: ascending
    # Ties on the first key are broken by the second, then by _id.
    by_name = emails(admin.get(query(sort={"name.last": 1, "name.first": -1}, where={"name.last": {"$gt": ""}})))
    assert by_name == ["admin@acme.test", "frank@acme.test", "carol@acme.test", "dave@acme.test", "erin@acme.test"]
    # Missing values come first ascending and last descending (the updated ones are dave, frank).
    ascending = emails(admin.get(query(sort={"updated": 1})))
    assert set(ascending[-2:]) == {"dave@acme.test", "frank@acme.test"}
    assert emails(admin.get(query(sort={"updated": -1})))[:2] == ascending[-2:][::-1]
    # The default is newest first, as before.
    default = admin.get("accounts").json()["data"]
    assert [account["_id"] for account in default] == sorted((account["_id"] for account in default), reverse=True)


@pytest.mark.parametrize("sort", [{"email": 1}, {"email": -1}, {"updated": 1}, {"updated": -1},
                                  {"locked": -1, "name.last": 1}, {"_id": 1}])
def test_paging_with_a_sort_visits_every_account_once(admin: CortexClient, sort: dict[str, int]):
    whole = emails(admin.get(query(sort=sort)))
    assert len(whole) == 6
    seen: list[str] = []
    cursor = None
    while True:
        arguments: dict[str, Any] = {"sort": sort, "limit": 2, **({"startingAfter": cursor} if cursor else {})}
        page = admin.get(query(**arguments)).json()
        seen += [account["email"] for account in page["data"]]
        if not page["hasMore"]:
            break
        cursor = page["data"][-1]["_id"]
    assert seen == whole
    # Backwards from the last one: the two before it, in the list's order.
    last = admin.get(query(sort=sort, where={"email": whole[-1]})).json()["data"][0]["_id"]
    before = admin.get(query(sort=sort, limit=2, endingBefore=last)).json()
    assert [account["email"] for account in before["data"]] == whole[-3:-1] and before["hasMore"] is True
    # skip counts from the cursor's place too.
    first = admin.get(query(sort=sort, where={"email": whole[0]})).json()["data"][0]["_id"]
    assert emails(admin.get(query(sort=sort, skip=2, limit=2, startingAfter=first))) == whole[3:5]


def test_paging_within_a_where(admin: CortexClient):
    where = {"email": {"$regex": "/acme/"}, "locked": False}
    first = admin.get(query(where=where, sort={"name.first": 1}, limit=2)).json()
    assert [a["name"]["first"] for a in first["data"]] == ["", "Ada"] and first["hasMore"] is True
    rest = admin.get(query(where=where, sort={"name.first": 1}, limit=10,
                           startingAfter=first["data"][-1]["_id"])).json()
    assert [a["name"]["first"] for a in rest["data"]] == ["Carol", "Dave", "Frank"] and rest["hasMore"] is False


def test_total_counts_every_page(admin: CortexClient):
    page = admin.get(query(where={"name.last": "Chen"}, limit=1, total="true")).json()
    assert page["total"] == 2 and len(page["data"]) == 1 and page["hasMore"] is True
    assert admin.get(query(total="true")).json()["total"] == 6
    assert "total" not in admin.get(query(total="false")).json()
    assert_fault(admin.get(query(total="maybe")), "cortex.invalidArgument.query", 400)


def test_paths_still_select(admin: CortexClient):
    data = admin.get(query(where={"email": "carol@acme.test"}) + "&paths[]=email").json()["data"]
    assert data == [{"_id": data[0]["_id"], "object": "account", "email": "carol@acme.test"}]


@pytest.mark.parametrize("where", [
    {"password": "x"}, {"password_hash": {"$exists": True}}, {"key.secret": "x"}, {"inherited_roles": DEVELOPER},
    {"$or": [{"email": "carol@acme.test"}, {"password": {"$regex": "/^\\$argon/"}}]},
])
def test_secret_and_unknown_properties_are_faults(admin: CortexClient, where: dict[str, Any]):
    fault = assert_fault(admin.get(query(where=where)), "cortex.invalidArgument.query", 400, "kInvalidArgument")
    named = next(iter(where)) if "$or" not in where else "password"
    assert fault["path"] == named and named in fault["reason"]
    assert_fault(admin.get(query(sort={named: 1})), "cortex.invalidArgument.query", 400)


def test_no_response_ever_holds_a_password_hash(admin: CortexClient):
    body = admin.get(query(sort={"email": 1}, total="true")).text
    assert "argon2" not in body and "password" not in body


QUERY = "cortex.invalidArgument.query"
EXACT = "cortex.unsupportedOperation.exactMatching"


@pytest.mark.parametrize(("arguments", "err_code", "path"), [
    ({"where": "{not json"}, QUERY, None),
    ({"where": "[1]"}, QUERY, None),
    ({"where": {"email": {"$near": 1}}}, QUERY, "email"),
    ({"where": {"email": {"$nor": []}}}, QUERY, "email"),
    ({"where": {"$where": "1"}}, QUERY, None),
    ({"where": {"locked": "yes"}}, QUERY, "locked"),
    ({"where": {"created": {"$gt": "last tuesday"}}}, QUERY, "created"),
    ({"where": {"_id": "not-an-id"}}, QUERY, "_id"),
    ({"where": {"roles": "administrator"}}, QUERY, "roles"),
    ({"where": {"email": ["a", "b"]}}, EXACT, "email"),
    ({"where": {"email": {"first": "x"}}}, EXACT, "email"),
    ({"where": {"locked": {"$regex": "/x/"}}}, QUERY, "locked"),
    ({"where": {"email": {"$size": 1}}}, QUERY, "email"),
    ({"where": {"name.0": "x"}}, QUERY, "name.0"),
    ({"where": {"name": "x"}}, QUERY, "name"),
    ({"where": {"email": {"$ne": "x"}}}, QUERY, "email"),
    ({"where": {"email": {"$nin": ["x"]}}}, QUERY, "email"),
    ({"where": {"email": {"$type": "string"}}}, QUERY, "email"),
    ({"sort": "{not json"}, QUERY, None),
    ({"sort": "[1]"}, QUERY, "[1]"),
    ({"sort": {"email": 2}}, QUERY, "email"),
    ({"sort": {"email": "asc"}}, QUERY, "email"),
    ({"sort": {"roles": 1}}, QUERY, "roles"),
    ({"sort": {"nothing": 1}}, QUERY, "nothing"),
    ({"limit": 0}, QUERY, "limit"),
    ({"skip": -1}, QUERY, "skip"),
])
def test_bad_where_and_sort_are_faults(admin: CortexClient, arguments: dict[str, Any], err_code: str,
                                       path: str | None):
    code = "kInvalidArgument" if err_code == QUERY else "kUnsupportedOperation"
    fault = assert_fault(admin.get(query(**arguments)), err_code, 400, code)
    assert fault.get("path") == path


def test_cursors_must_be_accounts_of_this_org_under_a_sort(admin: CortexClient, platform: OrgFixture):
    beta = seed_org(platform.runtime, "beta")
    assert_fault(admin.get(query(sort={"email": 1}, startingAfter=beta.admin["id"])),
                 "cortex.invalidArgument.unspecified", 400)
    fault = assert_fault(admin.get(query(sort={"email": 1}, endingBefore="0" * 24)),
                         "cortex.invalidArgument.unspecified", 400)
    assert fault["path"] == "endingBefore"
    assert_fault(admin.get(query(startingAfter="nope")), "cortex.invalidArgument.unspecified", 400)


def test_restricted_operators_follow_the_org_setting(admin: CortexClient, platform: OrgFixture):
    with platform.runtime.database.begin() as connection:
        set_allowed_restricted_operators(connection, platform.code, ["$ne", "$nin"])
    assert emails(admin.get(query(where={"name.last": {"$ne": "Chen"}, "email": {"$nin": ["admin@acme.test"]}},
                                  sort={"email": 1}))) == ["dave@acme.test", "erin@acme.test", "provider@acme.test"]
    assert emails(admin.get(query(where={"roles": {"$nin": [PROVIDER, DEVELOPER]}}, sort={"email": 1}))) == [
        "admin@acme.test", "erin@acme.test"]
    assert_fault(admin.get(query(where={"email": {"$type": "string"}})), "cortex.invalidArgument.query", 400)


def test_a_non_administrator_sees_no_accounts_whatever_the_query(platform: OrgFixture, http: Any,
                                                                  people: dict[str, str]):
    client = CortexClient(http, platform.code, platform.session_app.key)
    client.login("carol@acme.test")  # a developer
    for path in (query(where={"email": "carol@acme.test"}), query(where={"password": "x"}),
                 query(sort={"email": 1}, total="true")):
        assert_fault(client.get(path), "cortex.accessDenied.unspecified", 403)


def test_another_orgs_accounts_never_match(admin: CortexClient, platform: OrgFixture, http: Any):
    beta = seed_org(platform.runtime, "beta")
    with platform.runtime.database.begin() as connection:
        for email, first, last, roles, _state, _locked in PEOPLE:
            create_account(connection, beta.org["id"], email=email.replace("acme", "beta"), password=PASSWORD,
                           roles=roles, first_name=first, last_name=last)
    chens = admin.get(query(where={"name.last": "Chen"}, total="true")).json()
    assert sorted(a["email"] for a in chens["data"]) == ["carol@acme.test", "frank@acme.test"] and chens["total"] == 2
    assert emails(admin.get(query(where={"email": {"$regex": "/beta/"}}))) == []
    assert emails(admin.get(query(where={"_id": beta.admin["id"]}))) == []
    assert admin.get(query(where={"roles": DEVELOPER}, total="true")).json()["total"] == 2
    assert not any("beta" in email for email in emails(admin.get(query(sort={"email": 1}, limit=100))))
    # And beta's administrator sees only beta's.
    other = CortexClient(http, "beta", beta.session_app.key)
    other.http.cookies.clear()
    assert other.login(beta.admin["email"]).status_code == 200
    assert emails(other.get(query(where={"name.last": "Chen"}, sort={"email": 1}))) == [
        "carol@beta.test", "frank@beta.test"]
