"""``GET /objects`` with ``where``, ``sort``, paging and ``total``, on SQLite and PostgreSQL.

Four definitions with distinct names, labels, options and properties; another org (``beta``) has
definitions of the same names, which must never show. Administrators and Developers list them.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

import pytest

from opencortex.model.accounts import create_account
from opencortex.model.objects import create_object, find_object
from opencortex.model.orgs import set_allowed_restricted_operators
from tests.support.platform import PASSWORD, CortexClient, OrgFixture, assert_fault, seed_org

QUERY = "cortex.invalidArgument.query"


def prop(name: str, kind: str, **options: Any) -> dict[str, Any]:
    return {"name": name, "label": name.removeprefix("c_").title(), "type": kind, **options}


DEFINITIONS = [
    {"name": "c_visit", "label": "Visit", "description": "A clinic visit", "hasETag": True,
     "properties": [prop("c_when", "Date", indexed=True), prop("c_notes", "String")]},
    {"name": "c_patient", "label": "Patient", "pluralName": "c_people",
     "properties": [prop("c_number", "String", indexed=True), prop("c_age", "Number")]},
    {"name": "c_site", "label": "site", "isVersioned": True, "properties": [prop("c_country", "String")]},
    {"name": "c_device", "label": "Device", "description": "Sensors", "properties": [],
     "objectTypes": [{"name": "c_watch", "label": "Watch", "properties": [prop("c_band", "String")]}]},
]


def query(**arguments: Any) -> str:
    return "objects?" + urlencode({name: json.dumps(value) if isinstance(value, dict | list) else value
                                   for name, value in arguments.items()})


def define(platform: OrgFixture, org: dict[str, Any]) -> None:
    with platform.runtime.database.begin() as connection:
        for definition in DEFINITIONS:
            create_object(connection, org["id"], definition)


@pytest.fixture
def admin(platform: OrgFixture, http: Any) -> CortexClient:
    define(platform, platform.org)
    client = CortexClient(http, platform.code, platform.session_app.key)
    assert client.login(platform.admin["email"]).status_code == 200
    return client


def names(response: Any) -> list[str]:
    assert response.status_code == 200, response.text
    return [definition["name"] for definition in response.json()["data"]]


def test_the_default_order_is_by_name(admin: CortexClient):
    assert names(admin.get("objects")) == ["c_device", "c_patient", "c_site", "c_visit"]


def test_where_filters_on_columns_and_on_the_definition(admin: CortexClient):
    assert names(admin.get(query(where={"name": "c_site"}))) == ["c_site"]
    assert names(admin.get(query(where={"pluralName": "c_people"}))) == ["c_patient"]
    assert names(admin.get(query(where={"label": {"$regex": "/^s/i"}}))) == ["c_site"]
    assert names(admin.get(query(where={"label": {"$gte": "P", "$lt": "W"}}))) == ["c_patient", "c_visit"]
    assert names(admin.get(query(where={"description": "A clinic visit"}))) == ["c_visit"]
    assert names(admin.get(query(where={"description": ""}))) == ["c_patient", "c_site"]
    assert names(admin.get(query(where={"hasETag": True}))) == ["c_visit"]
    assert names(admin.get(query(where={"isVersioned": False, "auditing.enabled": False}))) == [
        "c_device", "c_patient", "c_visit"]
    assert names(admin.get(query(where={"properties.name": "c_number"}))) == ["c_patient"]
    assert names(admin.get(query(where={"properties.type": {"$in": ["Date", "Number"]}}))) == ["c_patient", "c_visit"]
    assert names(admin.get(query(where={"properties": {"$elemMatch": {"name": "c_age", "type": "Number"}}}))) == [
        "c_patient"]
    assert names(admin.get(query(where={"properties": {"$elemMatch": {"name": "c_age", "type": "String"}}}))) == []
    assert names(admin.get(query(where={"properties": {"$size": 0}}))) == ["c_device"]
    assert names(admin.get(query(where={"objectTypes.name": "c_watch"}))) == ["c_device"]
    assert names(admin.get(query(where={"$or": [{"name": "c_site"}, {"properties.label": "When"}]}))) == [
        "c_site", "c_visit"]
    assert names(admin.get(query(where={"created": {"$gt": "2000-01-01T00:00:00Z"}, "updated": None}))) == [
        "c_device", "c_patient", "c_site", "c_visit"]


def test_sort_ascending_and_descending(admin: CortexClient):
    # Strings compare by code point on both databases: "site" (lower case) after the capitals.
    assert names(admin.get(query(sort={"label": 1}))) == ["c_device", "c_patient", "c_visit", "c_site"]
    assert names(admin.get(query(sort={"label": -1}))) == ["c_site", "c_visit", "c_patient", "c_device"]
    assert names(admin.get(query(sort={"pluralName": -1}))) == ["c_visit", "c_site", "c_patient", "c_device"]
    assert names(admin.get(query(sort={"hasETag": -1, "name": -1}))) == ["c_visit", "c_site", "c_patient", "c_device"]
    created = names(admin.get(query(sort={"created": 1})))
    assert created == [definition["name"] for definition in DEFINITIONS]
    assert names(admin.get(query(sort={"_id": -1}))) == created[::-1]
    assert names(admin.get("objects?sort=description")) == ["c_patient", "c_site", "c_visit", "c_device"]


def test_an_update_is_seen_by_where_and_sort(admin: CortexClient):
    assert admin.put("objects/c_site", json={"label": "Clinic site", "hasETag": True}).status_code == 200
    assert names(admin.get(query(where={"hasETag": True}, sort={"label": 1}))) == ["c_site", "c_visit"]
    assert names(admin.get(query(where={"updated": {"$exists": True}}))) == ["c_site"]
    assert names(admin.get(query(sort={"updated": -1})))[0] == "c_site"  # missing values last, descending


@pytest.mark.parametrize("sort", [{"name": 1}, {"label": -1}, {"hasETag": 1, "label": 1}, {"updated": 1},
                                  {"created": -1}])
def test_paging_with_a_sort(admin: CortexClient, sort: dict[str, int]):
    whole = admin.get(query(sort=sort)).json()["data"]
    assert len(whole) == 4
    seen: list[str] = []
    cursor = None
    while True:
        page = admin.get(query(sort=sort, limit=1, **({"startingAfter": cursor} if cursor else {}))).json()
        seen += [definition["name"] for definition in page["data"]]
        if not page["hasMore"]:
            break
        cursor = page["data"][-1]["_id"]
    assert seen == [definition["name"] for definition in whole]
    before = admin.get(query(sort=sort, limit=5, endingBefore=whole[-1]["_id"])).json()
    assert [d["name"] for d in before["data"]] == [d["name"] for d in whole[:-1]] and before["hasMore"] is False
    assert names(admin.get(query(sort=sort, skip=1, limit=2))) == [d["name"] for d in whole[1:3]]


def test_total(admin: CortexClient):
    page = admin.get(query(where={"description": ""}, limit=1, total="true")).json()
    assert page["total"] == 2 and page["hasMore"] is True and len(page["data"]) == 1
    assert admin.get(query(total="true")).json()["total"] == 4
    assert "total" not in admin.get("objects").json()


@pytest.mark.parametrize(("arguments", "path"), [
    ({"where": "{"}, None),
    ({"where": {"label": {"$foo": 1}}}, "label"),
    ({"where": {"hasETag": "yes"}}, "hasETag"),
    ({"where": {"created": {"$lt": "soon"}}}, "created"),
    ({"where": {"label": {"$ne": "Visit"}}}, "label"),
    ({"where": {"properties.c_age": 1}}, "properties.c_age"),
    ({"where": {"defaultAcl": "x"}}, "defaultAcl"),
    ({"where": {"label": {"$in": "Visit"}}}, "label"),
    ({"sort": {"properties.name": 1}}, "properties.name"),
    ({"sort": {"label": 0}}, "label"),
    ({"sort": {"nothing": -1}}, "nothing"),
    ({"startingAfter": "c_visit"}, "startingAfter"),
])
def test_bad_queries_are_faults(admin: CortexClient, arguments: dict[str, Any], path: str | None):
    response = admin.get(query(**arguments))
    err_code = "cortex.invalidArgument.unspecified" if path == "startingAfter" else QUERY
    fault = assert_fault(response, err_code, 400, "kInvalidArgument")
    assert fault.get("path") == path


def test_restricted_operators_follow_the_org_setting(admin: CortexClient, platform: OrgFixture):
    with platform.runtime.database.begin() as connection:
        set_allowed_restricted_operators(connection, platform.code, ["*"])
    assert names(admin.get(query(where={"label": {"$ne": "Visit"}, "name": {"$nin": ["c_site"]}}))) == [
        "c_device", "c_patient"]
    assert names(admin.get(query(where={"description": {"$type": "string"}}))) == [
        "c_device", "c_patient", "c_site", "c_visit"]


def test_who_may_list(admin: CortexClient, platform: OrgFixture, http: Any):
    with platform.runtime.database.begin() as connection:
        create_account(connection, platform.org["id"], email="dev@acme.test", password=PASSWORD, roles=["developer"])
    developer = CortexClient(http, platform.code, platform.session_app.key)
    developer.http.cookies.clear()
    developer.login("dev@acme.test")
    page = developer.get(query(where={"label": {"$regex": "/e/"}}, total="true")).json()
    assert [d["name"] for d in page["data"]] == ["c_device", "c_patient", "c_site"] and page["total"] == 3
    developer.http.cookies.clear()
    developer.login(platform.provider["email"])
    assert_fault(developer.get(query(where={"name": "c_site"})), "cortex.accessDenied.unspecified", 403)
    assert_fault(developer.get(query(where={"nothing": 1})), "cortex.accessDenied.unspecified", 403)


def test_another_orgs_definitions_never_match(admin: CortexClient, platform: OrgFixture):
    beta = seed_org(platform.runtime, "beta")
    with platform.runtime.database.begin() as connection:
        for definition in DEFINITIONS:
            create_object(connection, beta.org["id"], {**definition, "label": "Beta " + definition["label"]})
        create_object(connection, beta.org["id"], {"name": "c_beta_only", "label": "Only", "properties": []})
    everything = admin.get(query(total="true")).json()
    assert [d["name"] for d in everything["data"]] == ["c_device", "c_patient", "c_site", "c_visit"]
    assert everything["total"] == 4
    assert names(admin.get(query(where={"label": {"$regex": "/^Beta/"}}))) == []
    assert names(admin.get(query(where={"name": "c_beta_only"}))) == []
    ids = {d["name"]: d["_id"] for d in everything["data"]}
    assert all(d["_id"] == ids[d["name"]] for d in admin.get(query(sort={"label": 1})).json()["data"])
    with platform.runtime.database.connect() as connection:
        beta_visit = find_object(connection, beta.org["id"], "c_visit")
    assert beta_visit is not None
    assert_fault(admin.get(query(sort={"label": 1}, startingAfter=beta_visit.id)),
                 "cortex.invalidArgument.unspecified", 400)
