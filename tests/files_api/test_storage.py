"""Storage accounting: exact usage, the org's limit, and bytes released when files go."""

from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa

from opencortex.faults import Fault
from opencortex.files.accounting import (
    EXPORT,
    UPLOAD,
    StorageOwner,
    record_stored,
    release,
    storage_usage,
)
from opencortex.store.tables import orgs
from tests.support.platform import assert_fault

from .conftest import FilesWorld


def set_limit(world: FilesWorld, limit: int) -> None:
    with world.runtime.database.begin() as connection:
        connection.execute(
            orgs.update()
            .where(orgs.c.id == world.platform.org["id"])
            .values(settings={"storageLimitBytes": limit})
        )


def test_usage_counts_uploads_and_deletes_release_them(world):
    start = world.usage()
    assert start == {
        "object": "storage",
        "used": 0,
        "limit": 10 * 1024**3,
        "available": 10 * 1024**3,
        "files": 0,
        "byKind": {"upload": 0, "export": 0},
    }
    world.upload(b"a" * 1000, "a.png")
    world.upload(b"b" * 500, "b.png", path=f"{world.base}/c_scan")
    other = world.new_patient()
    world.upload(b"c" * 250, "c.png", path=f"c_patients/{other}/c_photo")
    usage = world.usage()
    assert usage["used"] == 1750 and usage["files"] == 3 and usage["byKind"]["upload"] == 1750
    assert len(world.stored_keys()) == 3

    assert world.admin.delete(world.base).json()["data"] is True
    assert world.usage()["used"] == 250 and len(world.stored_keys()) == 1
    world.admin.delete(f"c_patients/{other}")
    assert world.usage()["used"] == 0 and world.stored_keys() == []


def test_writing_a_new_filename_releases_the_old_file(world):
    world.upload(b"x" * 300, "old.png")
    assert world.usage()["used"] == 300
    response = world.admin.put(world.base, json={"c_photo": "new.png"})
    assert response.json()["c_photo"]["state"] == 0
    assert world.usage()["used"] == 0 and world.stored_keys() == []


def test_uploads_over_the_limit_are_refused_and_their_bytes_deleted(world):
    set_limit(world, 1000)
    assert world.upload(b"x" * 600, "a.png").status_code == 200
    other = world.new_patient()
    refused = world.upload(b"y" * 600, "b.png", path=f"c_patients/{other}/c_photo")
    fault = assert_fault(refused, "cortex.tooLarge.storageLimit", 413)
    assert "1000" in fault["reason"] and "400 bytes free" in fault["reason"]
    assert world.usage()["used"] == 600 and len(world.stored_keys()) == 1
    assert_fault(world.admin.get(f"c_patients/{other}/c_photo"), "cortex.notFound.property", 404)
    # What fits still goes in: exactly up to the limit.
    assert world.upload(b"z" * 400, "c.png", path=f"c_patients/{other}/c_photo").status_code == 200
    assert world.usage() | {"byKind": None} == {
        "object": "storage",
        "used": 1000,
        "limit": 1000,
        "available": 0,
        "files": 2,
        "byKind": None,
    }


def test_a_target_upload_over_the_limit_leaves_the_facet_in_error(world):
    set_limit(world, 100)
    [entry] = world.admin.put(world.base, json={"c_photo": "big.png"}).json()["c_photo"]["uploads"]
    refused = world.http.post(entry["uploadUrl"], files={"file": ("big.png", b"q" * 150, "image/png")})
    assert_fault(refused, "cortex.tooLarge.storageLimit", 413)
    assert world.admin.get(f"{world.base}/c_photo").json()["data"]["state"] == 3
    assert world.stored_keys() == [] and world.usage()["used"] == 0


def test_a_replacement_counts_its_net_size(world):
    set_limit(world, 1000)
    assert world.upload(b"x" * 800, "a.png").status_code == 200
    assert world.upload(b"y" * 900, "b.png").status_code == 200  # the 800 bytes it replaces go
    raw = world.admin.put(f"{world.base}/c_photo?filename=c.png", content=b"w" * 950,
                          headers={"Content-Type": "image/png"})  # with Content-Length: the early check too
    assert raw.status_code == 200, raw.text
    assert world.upload(b"y" * 900, "b.png").status_code == 200
    assert world.usage()["used"] == 900 and len(world.stored_keys()) == 1
    assert_fault(world.upload(b"z" * 1001, "c.png"), "cortex.tooLarge.storageLimit", 413)
    assert world.usage()["used"] == 900 and len(world.stored_keys()) == 1  # the old file is kept
    assert world.admin.get(f"{world.base}/c_photo/content", headers={"Accept": "*/*"}).content == b"y" * 900


def test_only_administrators_see_storage(world):
    assert_fault(world.provider.get("stats/storage"), "cortex.accessDenied.unspecified", 403)


def test_the_python_api_for_exports(world):
    runtime, org_id = world.runtime, world.platform.org["id"]
    set_limit(world, 10_000)
    with runtime.database.begin() as connection:
        record_stored(
            connection,
            runtime.settings,
            org_id,
            "orgs/x/exports/1.zip",
            4000,
            EXPORT,
            StorageOwner(object="export", id="6b0b206b660cb1d895e35acc"),
        )
        record_stored(connection, runtime.settings, org_id, "orgs/x/exports/1.zip", 5000, EXPORT)  # replaces
    with runtime.database.connect() as connection:
        usage = storage_usage(connection, runtime.settings, org_id)
    assert usage.used == 5000 and usage.by_kind == {UPLOAD: 0, EXPORT: 5000} and usage.files == 1
    with pytest.raises(Fault) as refused, runtime.database.begin() as connection:
        record_stored(connection, runtime.settings, org_id, "orgs/x/exports/2.zip", 5001, EXPORT)
    assert refused.value.err_code == "cortex.tooLarge.storageLimit"
    with runtime.database.begin() as connection:
        assert release(connection, org_id, "orgs/x/exports/1.zip") == 5000
        assert release(connection, org_id, "orgs/x/exports/1.zip") is None
    assert world.usage()["used"] == 0


def test_the_limit_holds_under_concurrency(world):
    """Twelve writers race for room for five: exactly five get it."""
    runtime, org_id = world.runtime, world.platform.org["id"]
    set_limit(world, 5 * 100 + 50)
    barrier = threading.Barrier(12)
    outcomes: list[str] = []

    def store(number: int) -> None:
        barrier.wait()
        try:
            with runtime.database.begin() as connection:
                record_stored(connection, runtime.settings, org_id, f"orgs/x/race/{number}", 100, UPLOAD)
            outcomes.append("stored")
        except Fault as fault:
            outcomes.append(fault.err_code)

    threads = [threading.Thread(target=store, args=(number,)) for number in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(outcomes) == ["cortex.tooLarge.storageLimit"] * 7 + ["stored"] * 5
    with runtime.database.connect() as connection:
        total = connection.execute(
            sa.text("SELECT SUM(size) FROM stored_files WHERE org_id = :org"), {"org": org_id}
        ).scalar()
    assert total == 500
