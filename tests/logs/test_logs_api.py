"""GET /logs: who may read them, org isolation, where/sort/limit/paging, faults, and expiry."""

from __future__ import annotations

import json
from datetime import timedelta

from opencortex.clock import iso, utcnow
from opencortex.exports.worker import ExportWorker
from opencortex.ids import new_object_id
from opencortex.logs import LogEntry, purge_expired_logs, write_logs
from opencortex.logs.records import ERROR, EXPORT, INFO, LOGGER, WARN
from opencortex.model.orgs import set_allowed_restricted_operators
from tests.logs.conftest import logged_in, seed_notes
from tests.support.platform import CortexClient, assert_fault, open_test_client, seed_org

EXPORT_A, EXPORT_B = new_object_id(), new_object_id()


def seed_logs(org, count: int = 30) -> list[str]:
    """``count`` records: levels cycle 0-4, sources alternate logger/export, two export ids."""
    entries = [
        LogEntry(src=EXPORT if index % 2 else LOGGER, lvl=index % 5, dat={"n": index},
                 src_id=(EXPORT_A if index % 4 == 1 else EXPORT_B) if index % 2 else None,
                 pid=org.fixture.admin["id"])
        for index in range(count)
    ]
    with org.fixture.runtime.database.begin() as connection:
        return write_logs(connection, org.id, entries)


def data(response) -> list[dict]:
    assert response.status_code == 200, response.text
    return list(response.json()["data"])


def numbers(response) -> list[int]:
    return [record["dat"]["n"] for record in data(response)]


def test_administrators_and_developers_read_logs_and_others_are_refused(org, http):
    seed_logs(org, 3)
    assert len(data(org.logs())) == 3
    with open_test_client(org.fixture.runtime) as other:
        developer = logged_in(other, org.fixture, org.developer["email"])
        assert len(data(developer.get("logs"))) == 3
    with open_test_client(org.fixture.runtime) as other:
        provider = logged_in(other, org.fixture, org.fixture.provider["email"])
        assert_fault(provider.get("logs"), "cortex.accessDenied.unspecified", 403)
    with open_test_client(org.fixture.runtime) as other:
        anonymous = CortexClient(other, org.fixture.code, org.fixture.session_app.key)
        assert_fault(anonymous.get("logs"), "cortex.accessDenied.notLoggedIn", 403)


def test_an_org_sees_only_its_own_logs(org, http):
    seed_logs(org, 4)
    other = seed_org(org.fixture.runtime, "globex")
    seed_notes(other, 1)
    with other.runtime.database.begin() as connection:
        write_logs(connection, other.org["id"],
                   [LogEntry(src=LOGGER, lvl=INFO, dat={"n": 99}, src_id=EXPORT_A)])
    with open_test_client(other.runtime) as client:
        globex = logged_in(client, other, other.admin["email"])
        assert numbers(globex.get("logs")) == [99]
    # acme's administrator, with globex's app key or with acme's, does not get globex's logs
    for key in (other.session_app.key, org.fixture.session_app.key):
        response = CortexClient(org.client.http, other.code, key).get("logs")
        assert response.json()["object"] == "fault" and response.status_code in (403, 404)
    assert sorted(numbers(org.logs())) == [0, 1, 2, 3]
    assert 99 not in numbers(org.logs(where=json.dumps({"src_id": EXPORT_A})))


def test_where_sort_and_limit(org):
    ids = seed_logs(org)
    everything = numbers(org.logs())
    assert everything == list(range(29, -1, -1))  # newest first by default
    assert numbers(org.logs(sort='{"_id": 1}')) == list(range(30))
    assert numbers(org.logs(sort="_id")) == list(range(30))
    assert numbers(org.logs(sort='{"created": -1}')) == list(range(29, -1, -1))
    assert numbers(org.logs(sort='{"created": 1}', limit="5")) == [0, 1, 2, 3, 4]
    assert numbers(org.logs(limit="7")) == list(range(29, 22, -1))

    def where(condition: dict, **params: str) -> list[int]:
        return sorted(numbers(org.logs(where=json.dumps(condition), limit="1000", **params)))

    assert where({"lvl": ERROR}) == [n for n in range(30) if n % 5 == 0]
    assert where({"lvl": {"$in": [ERROR, WARN]}, "src": EXPORT}) == [
        n for n in range(30) if n % 5 < 2 and n % 2]
    assert where({"src_id": EXPORT_A}) == [n for n in range(30) if n % 4 == 1]
    assert where({"src_id": {"$exists": False}}) == list(range(0, 30, 2))
    assert where({"lvl": {"$gte": 3, "$lt": 4}}) == [3, 8, 13, 18, 23, 28]
    assert where({"$or": [{"lvl": 4}, {"src_id": EXPORT_A}]}) == sorted({*range(4, 30, 5), *range(1, 30, 4)})
    # $ne is restricted: refused until the org allows it (configuration.queries.allowedRestrictedMatchOps).
    refused = org.logs(where=json.dumps({"lvl": {"$ne": 0}}))
    assert refused.status_code == 400 and refused.json()["reason"] == "Invalid operator $ne.", refused.text
    with org.fixture.runtime.database.begin() as connection:
        set_allowed_restricted_operators(connection, org.fixture.code, ["$ne", "$type"])
    assert where({"lvl": {"$ne": 0}, "src": 0}) == [n for n in range(0, 30, 2) if n % 5]
    assert where({"lvl": {"$type": "int"}}) == list(range(30))
    assert where({"lvl": {"$type": "long"}}) == where({"lvl": {"$type": "double"}}) == []
    assert where({"src_id": {"$type": "objectId"}}) == list(range(1, 30, 2))
    assert where({"created": {"$type": "date"}}) == list(range(30))
    assert where({"created": {"$type": "string"}}) == []
    assert where({"_id": ids[3]}) == [3]
    assert where({"pid": org.fixture.admin["id"]}) == list(range(30))
    now = utcnow()
    assert where({"created": {"$lte": iso(now + timedelta(seconds=1))}}) == list(range(30))
    assert where({"created": {"$gt": iso(now + timedelta(seconds=1))}}) == []
    assert where({"exp": {"$gt": iso(now + timedelta(days=29))}}) == list(range(30))


def test_keyset_paging_forwards_and_back(org):
    seed_logs(org, 23)
    for sort in (None, '{"_id": 1}', '{"created": -1}', '{"created": 1}'):
        check_paging(org, {"sort": sort} if sort else {})


def check_paging(org, params: dict[str, str]) -> None:
    whole = numbers(org.logs(**params))
    pages, cursor = [], None
    while True:
        response = org.logs(limit="5", **params, **({"startingAfter": cursor} if cursor else {}))
        page = data(response)
        pages.append([record["dat"]["n"] for record in page])
        if not response.json()["hasMore"]:
            break
        cursor = page[-1]["_id"]
    assert [n for page in pages for n in page] == whole and len(pages) == 5

    # From the last record back: endingBefore gives the records just before, in list order.
    last = data(org.logs(**params))[-1]["_id"]
    response = org.logs(limit="5", endingBefore=last, **params)
    assert numbers(response) == whole[-6:-1] and response.json()["hasMore"] is True

    # With a where, paging pages through the matching records only.
    errors = {"where": json.dumps({"lvl": {"$in": [0, 1]}}), **params}
    first = data(org.logs(limit="3", **errors))
    rest = numbers(org.logs(limit="100", startingAfter=first[-1]["_id"], **errors))
    assert [record["dat"]["n"] for record in first] + rest == numbers(org.logs(limit="100", **errors))


BAD_ARGUMENTS = [
    ({"where": "{not json"}, "cortex.invalidArgument.query", None),
    ({"where": '["lvl"]'}, "cortex.invalidArgument.query", None),
    ({"where": '{"dat": 1}'}, "cortex.invalidArgument.query", "dat"),
    ({"where": '{"dat.message": "x"}'}, "cortex.invalidArgument.query", "dat.message"),
    ({"where": '{"lvl": "high"}'}, "cortex.invalidArgument.query", "lvl"),
    ({"where": '{"src_id": "not-an-id"}'}, "cortex.invalidArgument.query", "src_id"),
    ({"where": '{"created": {"$gte": "yesterday"}}'}, "cortex.invalidArgument.query", "created"),
    ({"where": '{"lvl": {"$regex": "/0/"}}'}, "cortex.invalidArgument.query", "lvl"),
    ({"where": '{"lvl": {"$size": 1}}'}, "cortex.invalidArgument.query", "lvl"),
    ({"where": '{"lvl": {"$where": "1"}}'}, "cortex.invalidArgument.query", "lvl"),
    ({"where": '{"lvl": [1, 2]}'}, "cortex.unsupportedOperation.exactMatching", "lvl"),
    ({"sort": '{"lvl": 1}'}, "cortex.invalidArgument.query", "lvl"),
    ({"sort": '{"created": 1, "_id": 1}'}, "cortex.invalidArgument.query", "_id"),
    ({"sort": '{"_id": 2}'}, "cortex.invalidArgument.query", "_id"),
    ({"limit": "0"}, "cortex.invalidArgument.query", "limit"),
    ({"limit": "1001"}, "cortex.invalidArgument.query", "limit"),
    ({"limit": "ten"}, "cortex.invalidArgument.query", "limit"),
    ({"startingAfter": "nope"}, "cortex.invalidArgument.unspecified", "startingAfter"),
    ({"endingBefore": "0" * 23}, "cortex.invalidArgument.unspecified", "endingBefore"),
    ({"sort": "created", "startingAfter": "0" * 24}, "cortex.invalidArgument.unspecified", "startingAfter"),
]


def test_bad_arguments_are_faults(org):
    seed_logs(org, 2)
    for params, err_code, path in BAD_ARGUMENTS:
        fault = assert_fault(org.logs(**params), err_code, 400)
        assert fault.get("path") == path, (params, fault)


def test_expired_logs_are_purged(org, platform):
    seed_logs(org, 3)
    past = utcnow() - timedelta(days=31)
    with platform.runtime.database.begin() as connection:
        write_logs(connection, org.id, [LogEntry(src=LOGGER, lvl=INFO, dat={"n": 100 + i}) for i in range(4)],
                   now=past)
    assert len(data(org.logs())) == 7
    with platform.runtime.database.begin() as connection:
        assert purge_expired_logs(connection, utcnow(), batch=3) == 4  # in batches of three
        assert purge_expired_logs(connection, utcnow()) == 0
    assert sorted(numbers(org.logs())) == [0, 1, 2]

    # The export worker's periodic tick purges them too.
    with platform.runtime.database.begin() as connection:
        write_logs(connection, org.id, [LogEntry(src=LOGGER, lvl=INFO, dat={"n": 200})], now=past)
    ExportWorker(platform.runtime, concurrency=1).run_once()
    assert sorted(numbers(org.logs())) == [0, 1, 2]
