"""Idle workers start a queued export at once (``exports.wakeup``), not at their next poll.

Each worker here polls only every 30 s, so an export that starts within a second was started by a
ring: this process's bell on both databases, and PostgreSQL's NOTIFY for an export queued by
another process.
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from opencortex.exports import operations
from opencortex.exports.jobs import ExportJob, ExportState
from opencortex.exports.wakeup import CHANNEL, DOORBELL, Doorbell, QueueListener
from opencortex.exports.worker import ExportWorker
from opencortex.runtime import Runtime
from tests.e2e.conftest import OPENCORTEX
from tests.exports_api.incremental_support import define
from tests.support.platform import OrgFixture, make_runtime, seed_org

BODY = {"label": "Now", "objects": "c_items", "format": "application/x-ndjson"}
SLOW_POLL = 30.0


def started_within(runtime: Runtime, org_id: str, export_id: str, seconds: float) -> ExportJob:
    deadline = time.monotonic() + seconds
    while True:
        job = operations.get(runtime, org_id, export_id)
        if job.state is not ExportState.PENDING or time.monotonic() > deadline:
            return job
        time.sleep(0.01)


@pytest.fixture
def idle_worker(platform: OrgFixture) -> Iterator[ExportWorker]:
    worker = ExportWorker(platform.runtime, concurrency=2, poll_seconds=SLOW_POLL, notified_poll_seconds=SLOW_POLL)
    worker.start()
    if worker.listener is not None:
        assert worker.listener.listening.wait(10)
    time.sleep(0.3)  # both threads have looked at the empty queue and gone idle
    yield worker
    worker.stop()


def test_an_export_queued_in_this_process_starts_at_once(platform, idle_worker):
    define(platform, "c_item")
    began = time.monotonic()
    job = operations.create(platform.runtime, platform.org, platform.admin["id"], BODY)
    job = started_within(platform.runtime, platform.org["id"], job.id, 5)
    assert job.state is not ExportState.PENDING and time.monotonic() - began < 1


def test_a_stopping_worker_does_not_wait_for_its_poll(platform, idle_worker):
    began = time.monotonic()
    idle_worker.stop()
    assert time.monotonic() - began < 2 and not any(thread.is_alive() for thread in idle_worker._threads)


@pytest.fixture
def postgres_platform(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[OrgFixture]:
    run = request.getfixturevalue("postgres_run")
    if run is None:
        pytest.skip("PostgreSQL is not reachable on 127.0.0.1:5432 (under CI=true the run fails instead)")
    runtime = make_runtime(run.url, tmp_path / "var")
    yield seed_org(runtime)
    runtime.close()
    run.empty()


def test_an_export_queued_by_another_process_wakes_a_postgresql_worker(postgres_platform, tmp_path):
    platform = postgres_platform
    define(platform, "c_item")
    worker = ExportWorker(platform.runtime, concurrency=1, poll_seconds=SLOW_POLL, notified_poll_seconds=SLOW_POLL)
    worker.start()
    try:
        assert worker.listener is not None and worker.listener.listening.wait(10)
        time.sleep(0.3)
        env = {**os.environ, "OPENCORTEX_DATA_DIR": str(platform.runtime.settings.data_dir),
               "OPENCORTEX_DATABASE_URL": platform.runtime.database.url}
        created = subprocess.run([OPENCORTEX, "export", "create", "--org", "acme", "--as", platform.admin["email"],
                                  "-", "--json"], input=json.dumps(BODY), env=env, capture_output=True, text=True,
                                 timeout=60, check=True)
        queued_at = time.monotonic()  # the command has exited: its transaction committed before
        export_id = json.loads(created.stdout)["_id"]
        job = started_within(platform.runtime, platform.org["id"], export_id, 5)
        assert job.state is not ExportState.PENDING and time.monotonic() - queued_at < 1
    finally:
        worker.stop()


def test_the_listener_reconnects_and_rings_for_what_it_missed(postgres_platform, monkeypatch):
    monkeypatch.setattr("opencortex.exports.wakeup.RECONNECT_SECONDS", 0.1)
    stopping = threading.Event()
    listener = QueueListener(postgres_platform.runtime.database.url, stopping)
    listener.start()
    try:
        assert listener.listening.wait(10)
        seen = DOORBELL.rings()
        with postgres_platform.runtime.database.begin() as connection:  # whoever holds it, it ends
            connection.exec_driver_sql(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                f"WHERE datname = current_database() AND query LIKE 'LISTEN%%{CHANNEL}%%' AND pid <> pg_backend_pid()")
        assert DOORBELL.wait(seen, 10)  # reconnected, and rang for what it may have missed
        assert listener.listening.wait(10)
    finally:
        stopping.set()
        listener.join(5)


def test_a_ring_between_looking_and_waiting_is_not_missed():
    bell = Doorbell()
    seen = bell.rings()
    bell.ring()  # while the worker was claiming
    began = time.monotonic()
    assert bell.wait(seen, 5) and time.monotonic() - began < 0.1
    assert not bell.wait(bell.rings(), 0.05)
