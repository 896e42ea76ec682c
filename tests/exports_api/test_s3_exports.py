"""Exports on S3, looked at in the bucket: the archive is an object there, downloads (whole and in
ranges) come from it, and whatever an export stops being (deleted, cancelled, failed, a lost
attempt) leaves no object and no unfinished multipart upload behind."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import pytest

from opencortex.clock import utcnow
from opencortex.exports.queue import claim_next_export
from opencortex.files import MIN_SWEEP_AGE_SECONDS
from opencortex.files.s3 import KEYSET_NAME
from opencortex.store.tables import exports, orgs
from tests.exports_api.conftest import run_all
from tests.support.platform import CortexClient
from tests.support.s3 import BUCKET, S3Server, storage_settings
from tests.support.stored import StoredObjectBytes


@pytest.fixture(params=["s3"])
def file_storage(request: pytest.FixtureRequest) -> dict[str, Any]:
    """This module is about the bucket: S3 only."""
    return storage_settings(request)


def create(client: CortexClient) -> dict[str, Any]:
    response = client.post("exports", json={"label": "Patients", "objects": "c_patients"})
    assert response.status_code == 200, response.text
    return dict(response.json())


def in_bucket(platform: Any, s3_server: S3Server) -> tuple[list[str], list[str]]:
    """The objects and the unfinished uploads under the platform's storage URL, keyset aside."""
    location = platform.runtime.settings.storage_url
    objects = [name for name in s3_server.object_names(location) if name != KEYSET_NAME]
    return sorted(objects), sorted(s3_server.uploads(location))


def dead_upload(platform: Any, s3_server: S3Server, key: str) -> None:
    """What a writer killed mid-write leaves: a multipart upload with a part, never completed."""
    object_key = platform.runtime.settings.storage_url.removeprefix(f"s3://{BUCKET}/") + "/" + key
    upload_id = s3_server.client.create_multipart_upload(Bucket=BUCKET, Key=object_key)["UploadId"]
    s3_server.client.upload_part(Bucket=BUCKET, Key=object_key, UploadId=upload_id, PartNumber=1,
                                 Body=b"half an archive")


def test_the_archive_is_an_object_in_the_bucket_and_downloads_whole_and_in_ranges(study, worker, platform,
                                                                                  s3_server):
    export = create(study.client)
    assert run_all(worker) == 1
    assert in_bucket(platform, s3_server) == ([f"exports/{export['_id']}/1/archive.zip"], [])
    url = f"exports/{export['_id']}/dataFile/content"
    whole = study.client.get(url, headers={"Accept": "application/zip"})
    assert whole.status_code == 200 and whole.content.startswith(b"PK")
    size = len(whole.content)
    for header, expected in [("bytes=0-99", whole.content[:100]), ("bytes=-100", whole.content[-100:]),
                             (f"bytes={size // 2}-{size // 2 + 9}", whole.content[size // 2 : size // 2 + 10])]:
        part = study.client.get(url, headers={"Accept": "application/zip", "Range": header})
        assert part.status_code == 206 and part.content == expected, header
    usage = study.client.get("stats/storage").json()
    assert usage["byKind"]["export"] == size  # counted as on the local folder: plaintext bytes


def test_deleted_cancelled_and_failed_exports_leave_nothing_in_the_bucket(study, worker, platform, s3_server):
    client, database = study.client, platform.runtime.database
    done = create(client)
    run_all(worker)
    client.delete(f"exports/{done['_id']}")
    assert in_bucket(platform, s3_server) == ([], [])

    running = create(client)
    with database.begin() as connection:
        job = claim_next_export(connection, database.dialect, worker.worker_id, 30)
    client.post(f"exports/{running['_id']}/cancel", json={})
    worker.run_job(job)
    assert client.get(f"exports/{running['_id']}").json()["state"] == "error"
    assert in_bucket(platform, s3_server) == ([], [])

    with database.begin() as connection:  # over the org's limit: the stored archive is refused
        connection.execute(orgs.update().where(orgs.c.id == platform.org["id"])
                           .values(settings={"storageLimitBytes": 100}))
    refused = create(client)
    run_all(worker)
    assert client.get(f"exports/{refused['_id']}").json()["state"] == "error"
    assert in_bucket(platform, s3_server) == ([], [])


def test_a_tampered_archive_in_the_bucket_is_never_served(study, worker, platform):
    export = create(study.client)
    run_all(worker)
    stored = StoredObjectBytes(platform.runtime.file_store.backend, f"exports/{export['_id']}/1/archive.zip")
    data = bytearray(stored.read_bytes())
    data[len(data) // 2] ^= 0xFF
    stored.write_bytes(bytes(data))
    try:
        response = study.client.get(f"exports/{export['_id']}/dataFile/content")
    except Exception:  # the server aborted the stream mid-body: never the wrong bytes
        return
    assert response.status_code == 500
    assert response.json()["errCode"] == "cortex.error.fileIntegrity"


def test_a_lost_attempts_upload_is_aborted_and_stale_uploads_are_swept(study, worker, platform, s3_server):
    export = create(study.client)
    database = platform.runtime.database
    with database.begin() as connection:  # a worker claims it, starts its archive, and is killed
        claim_next_export(connection, database.dialect, "killed-worker", 30)
    dead_upload(platform, s3_server, f"exports/{export['_id']}/1/archive.zip")
    dead_upload(platform, s3_server, f"orgs/{platform.org['id']}/files/killed-upload")  # a killed upload
    with database.begin() as connection:
        connection.execute(exports.update().where(exports.c.id == export["_id"])
                           .values(lease_expires=utcnow() - timedelta(seconds=1)))
    assert run_all(worker) == 1  # reclaims it (removing what attempt 1 wrote), then runs attempt 2
    assert study.client.get(f"exports/{export['_id']}").json()["state"] == "ready"
    assert in_bucket(platform, s3_server) == (
        [f"exports/{export['_id']}/2/archive.zip"], [f"orgs/{platform.org['id']}/files/killed-upload"])

    store = platform.runtime.file_store
    assert store.sweep_stale_partials(MIN_SWEEP_AGE_SECONDS) == 0  # young: its writer may be pausing
    store.backend.clock = lambda: time.time() + 2 * MIN_SWEEP_AGE_SECONDS
    assert store.sweep_stale_partials(MIN_SWEEP_AGE_SECONDS) == 1
    assert in_bucket(platform, s3_server) == ([f"exports/{export['_id']}/2/archive.zip"], [])
