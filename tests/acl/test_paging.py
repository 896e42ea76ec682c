"""Lists filter by ACL in SQL, so paging is exact: no page is fetched and then thinned out.

1000 instances, of which the reader may read every third: one in six through an account entry
in the instance's ``acl``, one in six through a role entry (Provider); the others carry entries
for someone else. Walking ``startingAfter`` pages of 100 must yield exactly the readable ones,
once each, newest first, with ``hasMore`` false only on the last page.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from datetime import UTC, datetime
from typing import Any

import pytest

from opencortex.ids import ROLE_ADMINISTRATOR, ROLE_PROVIDER
from opencortex.store.tables import documents
from tests.acl import DATABASES, logged_in, scenario_runtime
from tests.support.platform import PASSWORD, CortexClient, seed_org

COUNT = 1000
PAGE = 100


def entries_for(index: int, reader: str, someone_else: str) -> list[dict[str, Any]]:
    if index % 6 == 0:
        return [{"type": 1, "target": reader, "allow": 4}]
    if index % 6 == 3:
        return [{"type": 3, "target": ROLE_PROVIDER, "allow": 4}]
    if index % 3 == 1:
        return [{"type": 1, "target": someone_else, "allow": 7}]
    return [{"type": 3, "target": ROLE_ADMINISTRATOR, "allow": 4}]


@pytest.fixture(scope="module", params=DATABASES)
def paging(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, sqlite_template: Any,
           postgres_run: Any) -> Iterator[tuple[CortexClient, list[str]]]:
    """The reader's client and the ids it may read, newest first."""
    folder = tmp_path_factory.mktemp(f"acl-paging-{request.param}")
    with scenario_runtime(request.param, folder, sqlite_template, postgres_run) as runtime, \
            ExitStack() as stack:
        fixture = seed_org(runtime)
        admin = logged_in(stack, fixture, fixture.admin["email"])
        response = admin.post("objects", json={
            "name": "c_item", "label": "Item", "defaultAcl": ["owner.delete"],
            "createAcl": ["role.administrator"],
            "properties": [{"name": "c_number", "label": "Number", "type": "Number", "indexed": True}],
        })
        assert response.status_code == 200, response.text
        response = admin.post("accounts", json={"email": "someone@acme.test", "password": PASSWORD})
        assert response.status_code == 200, response.text
        someone_else, reader = response.json()["_id"], fixture.provider["id"]

        created = datetime.now(UTC)
        rows = [
            {"org_id": fixture.org["id"], "object": "c_item", "id": f"{0x60000000:08x}{index:016x}",
             "type": None, "owner": fixture.admin["id"], "creator": fixture.admin["id"], "updater": None,
             "created": created, "updated": None, "sequence": 0,
             "acl": entries_for(index, reader, someone_else), "body": {"c_number": index}}
            for index in range(COUNT)
        ]
        with runtime.database.begin() as connection:
            connection.execute(documents.insert(), rows)
        readable = sorted((row["id"] for index, row in enumerate(rows) if index % 3 == 0), reverse=True)
        yield logged_in(stack, fixture, fixture.provider["email"]), readable


def test_keyset_pages_hold_exactly_the_readable_instances(paging: tuple[CortexClient, list[str]]) -> None:
    reader, readable = paging
    seen: list[str] = []
    flags: list[bool] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": PAGE, "paths[]": "c_number"}
        if cursor:
            params["startingAfter"] = cursor
        response = reader.get("c_items", params=params)
        assert response.status_code == 200, response.text
        page = response.json()
        assert page["object"] == "list"
        assert all(doc["c_number"] % 3 == 0 for doc in page["data"])
        seen += [doc["_id"] for doc in page["data"]]
        flags.append(page["hasMore"])
        if not page["hasMore"]:
            break
        assert len(page["data"]) == PAGE
        cursor = page["data"][-1]["_id"]
        assert len(flags) <= COUNT // PAGE + 1, "paging does not end"
    assert len(readable) == 334
    assert seen == readable  # exactly the readable ones, once each, _id descending
    assert flags == [True, True, True, False]


def test_one_large_page_and_a_where_agree(paging: tuple[CortexClient, list[str]]) -> None:
    reader, readable = paging
    page = reader.get("c_items", params={"limit": 1000}).json()
    assert [doc["_id"] for doc in page["data"]] == readable and page["hasMore"] is False
    page = reader.get("c_items", params={"limit": 10, "where": '{"c_number": {"$gte": 990}}'}).json()
    assert [doc["c_number"] for doc in page["data"]] == [999, 996, 993, 990] and page["hasMore"] is False
