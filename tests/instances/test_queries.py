"""List query arguments through the API: where, sort, skip, limit, keyset paging, selection."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from tests.support.platform import assert_fault


def ids(response):
    body = response.json()
    assert body["object"] == "list", body
    return [document["_id"] for document in body["data"]]


def test_default_order_is_newest_first_and_limit_defaults_to_100(study):
    listed = study.client.get("c_patients")
    assert ids(listed) == list(reversed(study.patient_ids))
    assert listed.json()["hasMore"] is False


def test_limit_has_more_and_keyset_paging(study):
    client = study.client
    first = client.get("c_patients?limit=10").json()
    assert first["hasMore"] is True and len(first["data"]) == 10
    seen = [doc["_id"] for doc in first["data"]]
    cursor = seen[-1]
    while True:
        page = client.get(f"c_patients?limit=10&startingAfter={cursor}").json()
        seen += [doc["_id"] for doc in page["data"]]
        if not page["hasMore"]:
            break
        cursor = page["data"][-1]["_id"]
    assert seen == list(reversed(study.patient_ids))
    before = client.get(f"c_patients?limit=5&endingBefore={study.patient_ids[10]}").json()
    assert [doc["_id"] for doc in before["data"]] == list(reversed(study.patient_ids[11:16]))


def test_skip(study):
    assert ids(study.client.get("c_patients?skip=25")) == list(reversed(study.patient_ids))[25:]


@pytest.mark.parametrize("arguments, path", [
    ("limit=0", "limit"), ("limit=1001", "limit"), ("limit=ten", "limit"), ("skip=-1", "skip"),
    ("skip=500001", "skip"), ("startingAfter=nope", "startingAfter"),
])
def test_bad_paging_arguments(study, arguments, path):
    fault = study.client.get(f"c_patients?{arguments}").json()
    assert fault["object"] == "fault" and fault["path"] == path and fault["status"] == 400


def test_where_on_indexed_properties(study):
    client = study.client
    everyone = client.get("c_patients?limit=1000").json()["data"]

    def where(condition):
        return ids(client.get("c_patients", params={"where": json.dumps(condition), "limit": "1000"}))

    assert where({"c_gender": "f"}) == [p["_id"] for p in everyone if p["c_gender"] == "f"]
    assert where({"c_score": {"$gte": 50}}) == [p["_id"] for p in everyone if p["c_score"] >= 50]
    assert where({"c_name.c_first": {"$in": ["Ada", "Grace"]}}) == [
        p["_id"] for p in everyone if p["c_name"]["c_first"] in ("Ada", "Grace")]
    assert where({"c_tags": "placebo"}) == [p["_id"] for p in everyone if "placebo" in p["c_tags"]]
    assert where({"c_site": study.site_ids[1]}) == [
        p["_id"] for p in everyone if p["c_site"]["_id"] == study.site_ids[1]]
    assert where({"c_enrolled": {"$lt": "2024-06-01T00:00:00.000Z"}}) == [
        p["_id"] for p in everyone if p["c_enrolled"] < "2024-06-01T00:00:00.000Z"]
    assert where({"$or": [{"c_gender": "m"}, {"c_active": False}]}) == [
        p["_id"] for p in everyone if p["c_gender"] == "m" or p["c_active"] is False]
    assert where({"c_name.c_last": {"$regex": "/^h/i"}}) == [
        p["_id"] for p in everyone if p["c_name"]["c_last"].lower().startswith("h")]
    assert where({"_id": study.patient_ids[3]}) == [study.patient_ids[3]]


@pytest.mark.parametrize("where, path", [
    ({"c_visits": {"$size": 1}}, "c_visits"),  # not indexed
    ({"c_notes": "x"}, "c_notes"),  # not indexed
    ({"c_score": {"$foo": 1}}, "c_score"),
    ({"c_score": "high"}, "c_score"),
    ({"c_name.c_first": {"$regex": "/(a+)+$/"}}, "c_name.c_first"),
])
def test_where_faults(study, where, path):
    fault = assert_fault(study.client.get("c_patients", params={"where": json.dumps(where)}),
                         "cortex.invalidArgument.query", 400)
    assert fault["path"] == path


def test_where_malformed_and_too_deep(study):
    assert_fault(study.client.get("c_patients", params={"where": "{nope"}), "cortex.invalidArgument.query", 400)
    deep: dict = {"c_score": 1}
    for _ in range(30):
        deep = {"$and": [deep]}
    assert_fault(study.client.get("c_patients", params={"where": json.dumps(deep)}),
                 "cortex.invalidArgument.query", 400)


def test_sort(study):
    client = study.client
    everyone = client.get("c_patients?limit=1000").json()["data"]
    by_score = ids(client.get("c_patients?sort=c_score&limit=1000"))
    score_of = {p["_id"]: p["c_score"] for p in everyone}
    assert sorted(by_score) == sorted(score_of)
    assert [score_of[i] for i in by_score] == sorted(score_of.values())
    descending = ids(client.get("c_patients", params={"sort": json.dumps({"c_enrolled": -1}), "limit": "1000"}))
    assert descending == [p["_id"] for p in sorted(everyone, key=lambda p: p["c_enrolled"], reverse=True)]
    assert_fault(client.get("c_patients?sort=c_notes"), "cortex.invalidArgument.query", 400)


def test_paths_include_expand(study):
    client = study.client
    only = client.get("c_patients", params={"paths[]": ["c_score", "c_name.c_first"], "limit": "2"}).json()["data"]
    assert set(only[0]) == {"_id", "object", "c_score", "c_name"} and set(only[0]["c_name"]) == {"c_first"}
    as_json = client.get("c_patients", params={"paths": json.dumps(["c_score"]), "limit": "1"}).json()["data"][0]
    assert set(as_json) == {"_id", "object", "c_score"}
    expanded = client.get("c_patients", params={"expand[]": "c_site", "limit": "3"}).json()["data"]
    assert all(doc["c_site"]["c_name"] and doc["c_site"]["object"] == "c_site" for doc in expanded)
    through_paths = client.get("c_patients", params={"paths[]": ["c_site.c_country"], "limit": "1"}).json()["data"][0]
    assert set(through_paths["c_site"]) == {"_id", "object", "c_country"}
    included = client.get("c_patients", params={"include[]": "c_notes", "limit": "1000"}).json()["data"]
    assert any("c_notes" in doc for doc in included)
    assert_fault(client.get("c_patients?paths[]=c_nothing"), "cortex.invalidArgument.unspecified", 400)
    assert_fault(client.get("c_patients?expand[]=c_score"), "cortex.invalidArgument.unspecified", 400)


def test_expansion_is_batched(study, platform):
    """Listing with one expanded reference costs the same number of statements for 5 or 30 rows."""
    engine = platform.runtime.database.engine
    statements: list[str] = []

    def count(_conn, _cursor, statement, *_args):
        statements.append(statement)

    sa.event.listen(engine, "before_cursor_execute", count)
    try:
        study.client.get("c_patients?limit=5&expand[]=c_site")
        few = len(statements)
        statements.clear()
        study.client.get("c_patients?limit=30&expand[]=c_site")
        many = len(statements)
    finally:
        sa.event.remove(engine, "before_cursor_execute", count)
    assert few == many
