"""Writes a user can make huge or long get a fault, never a 500 (issue 14).

- A value of an indexed String is an index entry, and PostgreSQL refuses B-tree entries over
  2,704 bytes with an internal error. Such values are refused in validation on both databases:
  at most 2,048 bytes of UTF-8 (2,048 ASCII characters, 512 emoji). An indexed MultiPoint is
  indexed as its JSON text, and is held to the same 2,048 bytes.
- A body of many unknown keys answers 100 child faults and one that counts the rest.
"""

from __future__ import annotations

import json
import random
from typing import Any

import orjson
import pytest

from opencortex.acl.viewer import Viewer
from opencortex.instances.bulk import import_ndjson
from opencortex.model.objects import create_object
from opencortex.model.properties.scalars import MAX_INDEXED_BYTES
from tests.support.platform import CortexClient, OrgFixture, assert_fault

THINGS = {
    "name": "c_thing",
    "label": "Thing",
    "defaultAcl": ["owner.delete"],
    "createAcl": ["account.public"],
    "properties": [
        {"name": "c_code", "label": "Code", "type": "String", "indexed": True},
        {"name": "c_key", "label": "Key", "type": "String", "indexed": True, "unique": True, "trim": True},
        {"name": "c_codes", "label": "Codes", "type": "String", "array": True, "indexed": True},
        {"name": "c_doc", "label": "Doc", "type": "Document",
         "properties": [{"name": "c_inner", "label": "Inner", "type": "String", "indexed": True}]},
        {"name": "c_plain", "label": "Plain", "type": "String"},
        {"name": "c_spots", "label": "Spots", "type": "Geometry", "geoType": "MultiPoint", "indexed": True},
        {"name": "c_route", "label": "Route", "type": "Geometry", "geoType": "MultiPoint"},
    ],
}
LIMIT = MAX_INDEXED_BYTES


@pytest.fixture
def client(platform: OrgFixture, http: Any) -> CortexClient:
    with platform.runtime.database.begin() as connection:
        create_object(connection, platform.org["id"], THINGS)
    client = CortexClient(http, platform.code, platform.session_app.key)
    client.login(platform.admin["email"])
    return client


def found(client: CortexClient, where: dict[str, Any]) -> list[str]:
    response = client.get("c_things", params={"where": json.dumps(where)})
    assert response.status_code == 200, response.text
    return [document["_id"] for document in response.json()["data"]]


def refused_at(response: Any) -> list[tuple[str, str]]:
    fault = assert_fault(response, "cortex.invalidArgument.validation", 400, "kValidationError")
    return [(child["path"], child["errCode"]) for child in fault["faults"]]


TOO_LONG = "cortex.invalidArgument.invalidString"


@pytest.mark.parametrize(
    "value",
    ["x" * LIMIT, "\U0001f600" * (LIMIT // 4), "\u00e9" * (LIMIT // 2), "\u65e5" * (LIMIT // 3) + "ab"],
    ids=["ascii", "emoji", "two-byte", "three-byte"],
)
def test_the_longest_indexed_values_are_stored_and_found(client: CortexClient, value: str) -> None:
    """Each is exactly 2,048 bytes: the worst case for the index entry, on both databases."""
    assert len(value.encode()) == LIMIT
    created = client.post("c_things", json={"c_code": value, "c_key": value, "c_codes": [value],
                                            "c_doc": {"c_inner": value}})
    assert created.status_code == 200, created.text
    thing = created.json()["_id"]
    assert found(client, {"c_code": value}) == [thing]
    assert found(client, {"c_key": value}) == [thing]
    assert found(client, {"c_codes": value}) == [thing]
    assert found(client, {"c_doc.c_inner": value}) == [thing]
    assert found(client, {"c_code": {"$regex": "/^" + value[:50] + "/"}}) == [thing]


def test_a_longer_indexed_value_is_a_validation_fault(client: CortexClient) -> None:
    long = "y" * 3000
    response = client.post("c_things", json={"c_code": long})
    assert refused_at(response) == [("c_code", TOO_LONG)]
    reason = response.json()["faults"][0]["reason"]
    assert f"at most {LIMIT} bytes" in reason and "has 3000" in reason
    one_byte_over = "\u65e5" * 683  # 2,049 bytes in 683 characters
    assert refused_at(client.post("c_things", json={"c_key": one_byte_over})) == [("c_key", TOO_LONG)]
    assert refused_at(client.post("c_things", json={"c_codes": ["ok", long]})) == [("c_codes[1]", TOO_LONG)]
    assert refused_at(client.post("c_things", json={"c_doc": {"c_inner": long}})) == [("c_doc.c_inner", TOO_LONG)]
    # trim applies first: what is stored is what counts
    assert client.post("c_things", json={"c_key": "  " + "k" * LIMIT + "  "}).status_code == 200
    assert found(client, {"c_code": long}) == []  # nothing was written


def test_the_limit_holds_for_updates_and_property_writes(client: CortexClient) -> None:
    thing = client.post("c_things", json={"c_code": "short", "c_codes": ["a"]}).json()["_id"]
    long = "z" * 3000
    assert refused_at(client.put(f"c_things/{thing}", json={"c_code": long})) == [("c_code", TOO_LONG)]
    response = client.put(f"c_things/{thing}/c_code", json=long)
    assert response.status_code == 400 and response.json()["status"] == 400, response.text
    response = client.post(f"c_things/{thing}/c_codes", json=[long])
    assert response.status_code == 400 and response.json()["status"] == 400, response.text
    assert client.get(f"c_things/{thing}").json()["c_codes"] == ["a"]
    assert found(client, {"c_code": "short"}) == [thing]


def test_unindexed_strings_are_not_limited(client: CortexClient) -> None:
    created = client.post("c_things", json={"c_plain": "p" * 100_000})
    assert created.status_code == 200 and len(created.json()["c_plain"]) == 100_000


def test_an_indexed_multipoint_is_limited_as_text(client: CortexClient) -> None:
    """1,000 points (the most a MultiPoint takes) answered a 500 on PostgreSQL when indexed."""
    draw = random.Random(14)

    def points(count: int) -> dict[str, Any]:
        return {"type": "MultiPoint", "coordinates": [
            [round(draw.uniform(-179, 179), 6), round(draw.uniform(-89, 89), 6)] for _ in range(count)]}

    assert client.post("c_things", json={"c_spots": points(60)}).status_code == 200  # about 1,550 bytes
    response = client.post("c_things", json={"c_spots": points(1000)})
    assert refused_at(response) == [("c_spots.coordinates", "cortex.invalidArgument.tooLarge")]
    assert f"at most {LIMIT} bytes" in response.json()["faults"][0]["reason"]
    assert client.post("c_things", json={"c_route": points(1000)}).status_code == 200  # not indexed


def test_the_bulk_import_enforces_the_limit(platform: OrgFixture, client: CortexClient) -> None:
    admin = Viewer(platform.org["id"], platform.admin["id"], frozenset(platform.admin["roles"]))
    lines = [orjson.dumps({"c_code": "i" * LIMIT}), orjson.dumps({"c_code": "i" * (LIMIT + 1)})]
    report = import_ndjson(platform.runtime.database, platform.org["id"], "c_things", admin, lines)
    assert not report.committed and [problem.line for problem in report.problems] == [2]
    fault = report.problems[0].fault
    assert [(child["path"], child["errCode"]) for child in fault["faults"]] == [("c_code", TOO_LONG)]
    report = import_ndjson(platform.runtime.database, platform.org["id"], "c_things", admin, lines[:1])
    assert report.committed and found(client, {"c_code": "i" * LIMIT}) != []


def test_ten_thousand_unknown_keys_answer_101_faults(client: CortexClient) -> None:
    body = {"c_code": "fine", **{f"c_unknown{index}": index for index in range(10_000)}}
    response = client.post("c_things", json=body)
    fault = assert_fault(response, "cortex.invalidArgument.validation", 400)
    children = fault["faults"]
    assert len(children) == 101
    assert [child["path"] for child in children[:100]] == [f"c_unknown{index}" for index in range(100)]
    assert {child["errCode"] for child in children} == {"cortex.notFound.property"}
    assert children[-1]["reason"].startswith("And 9900 more") and "path" not in children[-1]
    assert len(response.content) < 30_000
    assert found(client, {"c_code": "fine"}) == []
