"""A costly ``$regex`` from one org cannot hold the server for another org (issue 14).

On SQLite the ``REGEXP`` function runs in the server's own process. With a backtracking engine,
``/a.*b/`` against a 300,000-character value without a ``b`` is quadratic and holds the
interpreter: every org waited (39 s for one value). Matching now runs on RE2, which is linear
and releases the GIL, so another org's request is answered at once while the query runs.

The long values are written straight into the table: the API now refuses indexed strings over
the indexed-string limit, but values stored before that limit are still there to be matched,
and the limit is not what makes matching safe. PostgreSQL cannot hold a value this long in a
B-tree index at all, so there the values sit in an indexed String array (an inverted index of
hashes); on SQLite both a single value and an array are attacked.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from typing import Any

import orjson
import sqlalchemy as sa

from opencortex.ids import new_object_id
from opencortex.model.accounts import create_account
from opencortex.model.objects import create_object
from opencortex.store.tables import documents
from tests.support.platform import PASSWORD, OrgFixture, seed_org

LENGTH = 300_000
NOTES = {
    "name": "c_note",
    "label": "Note",
    "defaultAcl": ["account.public.read"],
    "createAcl": ["account.public"],
    "properties": [
        {"name": "c_text", "label": "Text", "type": "String", "indexed": True},
        {"name": "c_texts", "label": "Texts", "type": "String", "array": True, "indexed": True},
    ],
}


def _store_notes(platform: OrgFixture, texts: list[str], properties: list[str]) -> list[str]:
    ids = [new_object_id() for _ in texts]
    rows = [
        {
            "org_id": platform.org["id"], "object": "c_note", "id": note_id, "type": None,
            "owner": platform.admin["id"], "creator": platform.admin["id"], "updater": None,
            "created": datetime.now(UTC), "updated": None, "sequence": 0, "acl": [],
            "body": {name: [text] if name == "c_texts" else text for name in properties},
        }
        for note_id, text in zip(ids, texts, strict=True)
    ]
    with platform.runtime.database.begin() as connection:
        connection.execute(sa.insert(documents), rows)
    return ids


def test_a_regex_over_long_values_does_not_hold_another_org(platform: OrgFixture, http: Any) -> None:
    runtime = platform.runtime
    with runtime.database.begin() as connection:
        create_object(connection, platform.org["id"], NOTES)
        nobody = create_account(connection, platform.org["id"], email="nobody@acme.test", password=PASSWORD,
                                roles=[])
    other = seed_org(runtime, "other")
    properties = ["c_text", "c_texts"] if runtime.database.dialect == "sqlite" else ["c_texts"]
    # Three values the pattern cannot match (the quadratic case) and one it matches at the very end.
    ids = _store_notes(platform, ["a" * LENGTH] * 3 + ["a" * (LENGTH - 1) + "b"], properties)
    attacker = {"Medable-Client-Key": platform.session_app.key,
                "Authorization": f"Bearer {platform.token_for(nobody)}"}
    bystander = {"Medable-Client-Key": other.session_app.key,
                 "Authorization": f"Bearer {other.token_for(other.admin)}"}
    wheres = [orjson.dumps({name: {"$regex": "/a.*b/"}}).decode() for name in properties]

    attack_times: list[float] = []
    attack_results: list[Any] = []

    def attack() -> None:
        for attempt in range(6):
            where = wheres[attempt % len(wheres)]
            started = time.perf_counter()
            response = http.get("/acme/v2/c_notes", params={"where": where, "paths[]": "_id"}, headers=attacker)
            attack_times.append(time.perf_counter() - started)
            attack_results.append((response.status_code, [doc["_id"] for doc in response.json()["data"]]))

    assert http.get("/other/v2/accounts/me", headers=bystander).status_code == 200  # warm up
    thread = threading.Thread(target=attack)
    started = time.perf_counter()
    thread.start()
    waits: list[float] = []
    while thread.is_alive() or not waits:
        asked = time.perf_counter()
        response = http.get("/other/v2/accounts/me", headers=bystander)
        waits.append(time.perf_counter() - asked)
        assert response.status_code == 200 and response.json()["email"] == other.admin["email"]
    thread.join()
    elapsed = time.perf_counter() - started
    print(f"\nattack requests: {[round(t, 3) for t in attack_times]} s; other org: {len(waits)} requests, "
          f"slowest {max(waits):.3f} s; total {elapsed:.2f} s")
    assert attack_results == [(200, [ids[3]])] * 6  # the attack finishes, and matches exactly the right one
    assert max(waits) < 1.0, waits
