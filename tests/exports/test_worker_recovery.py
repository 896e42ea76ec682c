"""A killed worker leaves nothing behind, and costs no lease when it ran here.

- Its partial archive (``exports/<id>/<attempt>/.archive.zip.<hex>.part``) goes when its lease is
  reclaimed, when the export runs again, when the export is deleted or expires, and, wherever a
  partial was left, at the worker's periodic sweep; the org's storage stays counted exactly.
- A worker of the same machine reruns the export of a worker whose process is gone at once; a
  live process's, another machine's or another process table's export waits for its lease.
- A busy database skips a lease renewal; the run goes on.
"""

from __future__ import annotations

import logging
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from opencortex.clock import utcnow
from opencortex.exports import operations
from opencortex.exports.jobs import ExportJob
from opencortex.exports.output import archive_key, output_prefix
from opencortex.exports.queue import reclaim_expired_leases
from opencortex.exports.reaper import reap_expired_exports
from opencortex.exports.worker import ExportWorker
from opencortex.exports.worker_identity import WorkerIdentity, process_exists
from opencortex.files import MIN_SWEEP_AGE_SECONDS
from opencortex.store import database as database_module
from opencortex.store.tables import exports
from tests.exports.recovery_support import (
    HOUR,
    age_partials,
    claim_as,
    create_export,
    expire_lease,
    export_row,
    folders,
    killed_write,
    partial_keys,
    usage_and_stored,
)
from tests.instances.conftest import load_study
from tests.support.platform import make_runtime, seed_org

ELSEWHERE = "db-host-2:4026531836:4121:0c1d2e3f"
"""A worker of another machine."""


@pytest.fixture
def study(platform):
    load_study(platform, 8)
    return platform


def recording_worker(platform, monkeypatch: pytest.MonkeyPatch, **options: Any) -> tuple[ExportWorker, list[str]]:
    """A worker whose claimed exports are recorded instead of run (so what happens before the run shows)."""
    worker = ExportWorker(platform.runtime, concurrency=1, **options)
    claimed: list[str] = []
    monkeypatch.setattr(worker, "run_job", lambda job: claimed.append(job.id))
    return worker, claimed


def run_all(worker: ExportWorker) -> None:
    while worker.run_once():
        pass


def dead_pid() -> int:
    """The id of a process that ran here and is gone (exited and reaped)."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    assert not process_exists(child.pid)
    return child.pid


# The partial archive of a killed worker


def test_a_reclaimed_lease_removes_the_lost_attempts_partial_archive(study, monkeypatch):
    runtime = study.runtime
    create_export(study)
    job = claim_as(study, ELSEWHERE)
    killed_write(runtime, archive_key(job.id, 1))  # the worker died streaming its archive
    assert partial_keys(runtime, output_prefix(job.id)) == [archive_key(job.id, 1)]
    assert folders(runtime, output_prefix(job.id)) != []

    expire_lease(study, job.id)
    worker, claimed = recording_worker(study, monkeypatch)
    assert worker.run_once()  # reclaims it, and claims it again (attempt 2, not run here)
    assert claimed == [job.id] and export_row(runtime, job.id)["attempts"] == 2
    assert partial_keys(runtime) == []
    assert folders(runtime, output_prefix(job.id, 1)) == [] and folders(runtime, "exports/") == []


def test_a_rerun_removes_every_earlier_attempts_objects_and_partials(study):
    runtime, database = study.runtime, study.runtime.database
    create_export(study)
    job = claim_as(study, ELSEWHERE)
    killed_write(runtime, archive_key(job.id, 1))
    # Attempt 1 is reclaimed by a worker that leaves its output where it is (an older server).
    expire_lease(study, job.id)
    with database.begin() as connection:
        assert [lost.id for lost in reclaim_expired_leases(connection)] == [job.id]
    claim_as(study, ELSEWHERE.replace("4121", "4122"))
    killed_write(runtime, archive_key(job.id, 2))
    runtime.file_store.write_chunks(f"{output_prefix(job.id, 2)}files/0000000000", [b"a copied file"])
    expire_lease(study, job.id)
    with database.begin() as connection:
        assert [lost.id for lost in reclaim_expired_leases(connection)] == [job.id]
    assert sorted(partial_keys(runtime)) == [archive_key(job.id, 1), archive_key(job.id, 2)]

    run_all(ExportWorker(runtime, concurrency=1))  # attempt 3
    row = export_row(runtime, job.id)
    assert row["state"] == "ready" and row["attempts"] == 3
    assert partial_keys(runtime) == []
    assert list(runtime.file_store.list_keys(output_prefix(job.id))) == [archive_key(job.id, 3)]
    assert folders(runtime, output_prefix(job.id)) == ["3", "3/archive.zip"]


def test_deleting_or_expiring_an_export_removes_every_attempts_files_and_partials(study):
    runtime = study.runtime
    create_export(study, "Deleted")
    deleted = claim_as(study, ELSEWHERE)
    killed_write(runtime, archive_key(deleted.id, 1))
    operations.delete(runtime, study.org["id"], deleted.id, principal=study.admin["id"])
    assert partial_keys(runtime) == [] and folders(runtime, output_prefix(deleted.id)) == []

    expiring = create_export(study, "Expiring")
    run_all(ExportWorker(runtime, concurrency=1))
    assert export_row(runtime, expiring.id)["state"] == "ready"
    killed_write(runtime, f"{output_prefix(expiring.id, 1)}files/0000000000")  # a file copy, killed
    killed_write(runtime, archive_key(expiring.id, 2))  # and whatever else a killed run left
    with runtime.database.begin() as connection:
        connection.execute(exports.update().where(exports.c.id == expiring.id)
                           .values(expires_at=utcnow() - timedelta(minutes=1)))
    assert reap_expired_exports(runtime) == 1
    assert partial_keys(runtime) == [] and list(runtime.file_store.list_keys("exports/")) == []
    assert folders(runtime, "exports/") == []


def test_the_worker_sweeps_partials_nobody_finished(study, monkeypatch):
    runtime = study.runtime
    lease = 600  # ten leases (6000 s) are more than the minimum age, an hour
    assert 10 * lease > MIN_SWEEP_AGE_SECONDS
    killed_write(runtime, f"orgs/{study.org['id']}/uploads/old")
    age_partials(runtime, 7000, f"orgs/{study.org['id']}/uploads/")
    killed_write(runtime, "exports/65f0c0ffee0000000000aa01/1/archive.zip")  # an export long gone
    age_partials(runtime, 5000, "exports/")  # past an hour, within ten leases: it stays
    worker, _claimed = recording_worker(study, monkeypatch, lease_seconds=lease, sweep_seconds=HOUR)
    assert not worker.run_once()
    assert partial_keys(runtime) == ["exports/65f0c0ffee0000000000aa01/1/archive.zip"]
    assert folders(runtime, f"orgs/{study.org['id']}/") == []

    age_partials(runtime, 6100, "exports/")
    assert not worker.run_once()  # the next sweep is an hour away
    assert len(partial_keys(runtime)) == 1
    every_time, _claimed = recording_worker(study, monkeypatch, lease_seconds=lease, sweep_seconds=0)
    assert not every_time.run_once() and partial_keys(runtime) == [] and folders(runtime, "exports/") == []


def test_storage_stays_counted_exactly_through_kill_rerun_and_delete(study):
    runtime, org_id = study.runtime, study.org["id"]
    create_export(study, "Killed")
    killed = claim_as(study, ELSEWHERE)
    # The killed worker had committed its archive but died before recording it, then began again.
    runtime.file_store.write_chunks(archive_key(killed.id, 1), [os.urandom(50_000)])
    killed_write(runtime, f"{output_prefix(killed.id, 1)}files/0000000000")
    expire_lease(study, killed.id)
    kept = create_export(study, "Kept")
    run_all(ExportWorker(runtime, concurrency=1))
    assert {export_row(runtime, job.id)["state"] for job in (killed, kept)} == {"ready"}
    used, stored = usage_and_stored(runtime, org_id)
    assert used == stored > 0 and partial_keys(runtime) == []

    operations.delete(runtime, org_id, killed.id, principal=None)
    used, stored = usage_and_stored(runtime, org_id)
    assert used == stored == runtime.file_store.size(archive_key(kept.id, 1))
    operations.delete(runtime, org_id, kept.id, principal=None)
    assert usage_and_stored(runtime, org_id) == (0, 0)


# A worker whose process is gone


def test_a_worker_of_a_process_gone_from_this_machine_loses_its_export_at_once(study):
    runtime = study.runtime
    worker = ExportWorker(runtime, concurrency=1)
    gone = str(replace(worker.identity, pid=dead_pid(), token="0badf00d"))
    create_export(study)
    job = claim_as(study, gone)  # a lease of 30 s, far from running out
    killed_write(runtime, archive_key(job.id, 1))
    assert worker.run_once()  # the new worker reruns it straight away
    row = export_row(runtime, job.id)
    assert row["state"] == "ready" and row["attempts"] == 2
    reclaimed = [event for event in row["events"] if event["name"] == "reclaimed"]
    assert [event["event"]["reason"] for event in reclaimed] == ["workerGone"]
    assert reclaimed[0]["event"]["worker"] == gone
    assert partial_keys(runtime) == []


@pytest.mark.parametrize("holder", ["a live process", "another machine", "another process table", "another form"])
def test_a_lease_that_cannot_be_proven_lost_runs_its_course(study, holder):
    worker = ExportWorker(study.runtime, concurrency=1)
    create_export(study)
    with _holder_id(worker.identity, holder) as owner:
        job = claim_as(study, owner)
        assert not worker.run_once()  # the org's export is running: nothing to claim, nothing reclaimed
        row = export_row(study.runtime, job.id)
        assert row["state"] == "running" and row["lease_owner"] == owner and row["attempts"] == 1
    expire_lease(study, job.id)  # once its lease runs out, it runs again
    assert worker.run_once()
    assert export_row(study.runtime, job.id)["state"] == "ready"


@contextmanager
def _holder_id(identity: WorkerIdentity, holder: str) -> Iterator[str]:
    if holder == "a live process":
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
        try:
            yield str(replace(identity, pid=child.pid, token="0badf00d"))
        finally:
            child.kill()
            child.wait()
        return
    pid = dead_pid()
    yield {
        "another machine": str(replace(identity, host="db-host-2", pid=pid)),
        "another process table": str(replace(identity, namespace="4026532999", pid=pid)),
        "another form": f"{identity.host}:{pid}:0badf00d",  # an older server's id: proves nothing
    }[holder]


def test_worker_ids_say_where_they_run_fit_their_column_and_keep_long_host_names_apart(monkeypatch):
    identity = WorkerIdentity.of_this_process()
    assert WorkerIdentity.parse(str(identity)) == identity and identity.pid == os.getpid()
    assert identity.namespace == str(os.stat("/proc/self/ns/pid").st_ino)
    assert str(identity).startswith(identity.place) and WorkerIdentity.of_this_process().place == identity.place
    names = ["worker-" + "x" * 80 + "-a", "worker-" + "x" * 80 + "-b"]
    made = []
    for name in names:
        monkeypatch.setattr("socket.gethostname", lambda name=name: name)
        identity = WorkerIdentity.of_this_process()
        assert len(str(identity)) <= exports.c.lease_owner.type.length
        assert WorkerIdentity.parse(str(identity)) == identity
        made.append(identity.host)
    assert made[0] != made[1] and all(host.startswith("worker-xxx") for host in made)


def test_a_zombie_is_a_process_gone():
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        assert process_exists(child.pid)
        os.kill(child.pid, signal.SIGKILL)
        _wait_for(lambda: _state(child.pid) == "Z")  # dead, not yet reaped by its parent (us)
        assert not process_exists(child.pid)
    finally:
        child.kill()
        child.wait()


def _state(pid: int) -> str:
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().rsplit(")", 1)[1].split()[0]


def _wait_for(condition: Callable[[], bool], timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline
        time.sleep(0.01)


# A busy database


class LockedBeats(ExportWorker):
    """A worker whose first ``locked`` lease renewals meet a database another connection holds locked."""

    def __init__(self, *args: Any, hold: Callable[[str], Any], locked: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.hold, self.locked, self.answers = hold, locked, []

    def _heartbeat(self, job: ExportJob) -> Callable[[dict[str, Any]], bool]:
        beat = super()._heartbeat(job)

        def heartbeat(progress: dict[str, Any]) -> bool:
            if self.locked <= 0:
                return beat(progress)
            self.locked -= 1
            with self.hold(job.id):
                answer = beat(progress)
            self.answers.append(answer)
            return answer

        return heartbeat


@pytest.fixture
def short_lock_waits(monkeypatch: pytest.MonkeyPatch) -> None:
    """SQLite engines made from here on wait 0.3 s for a held lock instead of 30 s."""
    monkeypatch.setattr(database_module, "SQLITE_BUSY_TIMEOUT_SECONDS", 0.3)


def test_a_busy_database_skips_a_lease_renewal_and_the_export_goes_on(database_url, tmp_path, short_lock_waits,
                                                                      caplog):
    runtime = make_runtime(database_url, tmp_path / "var")
    try:
        platform = seed_org(runtime)
        load_study(platform, 8)
        database = runtime.database
        if database.dialect == "postgresql":  # a held row lock makes an update fail after 0.3 s
            sa.event.listen(database.engine, "connect",
                            lambda connection, _record: connection.execute("SET lock_timeout = '300ms'"))
            database.engine.dispose()
        job = create_export(platform)
        worker = LockedBeats(runtime, concurrency=1, hold=_lock_holder(runtime), locked=2)
        with caplog.at_level(logging.WARNING, logger="opencortex.exports"):
            assert worker.run_once()
        assert worker.locked == 0 and worker.answers == [True, True]  # both renewals met the lock, and went on
        row = export_row(runtime, job.id)
        assert row["state"] == "ready", row["fault"]
        assert row["stats"]["docs"]["count"] == 8 and row["attempts"] == 1
        assert sum("the database is busy" in record.getMessage() for record in caplog.records) == 2
    finally:
        runtime.close()


def _lock_holder(runtime: Any) -> Callable[[str], Any]:
    """Another connection holding what a lease renewal needs: SQLite's write lock, or the export's row."""
    database = runtime.database

    @contextmanager
    def hold(export_id: str) -> Iterator[None]:
        if database.dialect == "sqlite":
            holder = sqlite3.connect(database.url.split("///", 1)[1], isolation_level=None)
            holder.execute("BEGIN IMMEDIATE")
            try:
                yield
            finally:
                holder.rollback()
                holder.close()
            return
        with database.begin() as connection:
            connection.execute(sa.select(exports.c.id).where(exports.c.id == export_id).with_for_update())
            yield

    return hold
