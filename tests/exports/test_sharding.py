"""One export on every core: a large export read by several processes, each a shard of its
``_id`` range, joined into one data entry that is byte for byte the one a single process writes.

Small data with the threshold lowered (and small batches, which the shard processes page with
too), on SQLite and PostgreSQL.
"""

from __future__ import annotations

import multiprocessing
import os
import re
import signal
import subprocess
import sys
import time
import tracemalloc
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
import sqlalchemy as sa

from opencortex import faults
from opencortex.acl.viewer import Viewer
from opencortex.demo.study import patient_bodies
from opencortex.exports import operations, pipeline, shard_pool, sharding, sources
from opencortex.exports.jobs import ExportJob
from opencortex.exports.output import archive_key, output_prefix
from opencortex.exports.pipeline import Stopped, run_export
from opencortex.exports.queue import claim_next_export
from opencortex.exports.verify import verify_archive
from opencortex.exports.worker import ExportWorker
from opencortex.instances.bulk import import_ndjson
from opencortex.settings import Settings
from tests.exports.recovery_support import export_row, partial_keys
from tests.instances.conftest import load_study
from tests.support.platform import OrgFixture

PATIENTS = 400
NDJSON, JSON, CSV = "application/x-ndjson", "application/json", "text/csv"


def load_patients(platform: OrgFixture, count: int) -> None:
    site_ids, _ = load_study(platform, 0)
    viewer = Viewer(platform.org["id"], platform.admin["id"], frozenset(platform.admin["roles"]))
    lines = (orjson.dumps(body) for body in patient_bodies(count, site_ids, seed=5))
    report = import_ndjson(platform.runtime.database, platform.org["id"], "c_patients", viewer, lines)
    assert report.committed, report.problems[:3]


@pytest.fixture
def small_shards(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sharding, "SHARD_THRESHOLD", 50)
    monkeypatch.setattr(sources, "BATCH_SIZE", 3)  # several batches in every range
    monkeypatch.setattr(sharding, "PIECE_BYTES", 100)  # and several pieces in each
    # With this little data the worker would read every range before a shard process has
    # started: it waits until each (that can read its snapshot) has taken one.
    read_own = sharding.ShardedData.read_own

    def after_every_shard_took_a_range(self: sharding.ShardedData, writer: Any, entry: Any) -> dict[str, Any]:
        pool = self.pool
        deadline = time.monotonic() + 60
        while not all(taken or pool.ready.get(process) is False or process in pool.ended
                      for process, taken in pool.holding.items()):
            assert time.monotonic() < deadline, "the shard processes took no range within a minute"
            pool.require_open()
            self.waiting()
        return read_own(self, writer, entry)

    monkeypatch.setattr(sharding.ShardedData, "read_own", after_every_shard_took_a_range)


@pytest.fixture
def study(platform: OrgFixture, small_shards: None) -> OrgFixture:
    load_patients(platform, PATIENTS)
    return platform


def use_processes(platform: OrgFixture, processes: int) -> None:
    runtime = platform.runtime
    runtime.settings = runtime.settings.with_changes(export_processes=processes)


def run_with_worker(platform: OrgFixture, body: dict[str, Any], processes: int) -> dict[str, Any]:
    """Create the export and let a real worker run it; its record."""
    use_processes(platform, processes)
    runtime = platform.runtime
    job = operations.create(runtime, platform.org, platform.admin["id"],
                            {"label": f"{processes} processes", "objects": "c_patients", **body})
    assert ExportWorker(runtime, concurrency=1).run_once()
    row = export_row(runtime, job.id)
    assert row["state"] == "ready", row["fault"]
    return row


def export_with_worker(platform: OrgFixture, tmp_path: Path, body: dict[str, Any], processes: int
                       ) -> tuple[dict[str, Any], Path]:
    """``run_with_worker``, and the archive (decrypted)."""
    row = run_with_worker(platform, body, processes)
    path = tmp_path / f"{row['id']}.zip"
    with platform.runtime.file_store.open_reader(archive_key(row["id"], row["attempts"])) as reader:
        path.write_bytes(b"".join(reader))
    return row, path


def entries_of(path: Path) -> list[tuple[str, bytes]]:
    """The entries but the manifest and its signature, in order; the data entry's name without the
    export's creation time."""
    with zipfile.ZipFile(path) as archive:
        assert archive.testzip() is None  # every entry's CRC-32 and sizes
        return [(re.sub(r"^export-[^.]+\.\d+Z", "export", name), archive.read(name)) for name in archive.namelist()
                if name not in ("manifest.json", "manifest.sig")]


def event_names(row: dict[str, Any]) -> list[str]:
    return [event["name"] for event in row["events"]]


def sharded_event(row: dict[str, Any], name: str) -> dict[str, Any]:
    return next(event["event"] for event in row["events"] if event["name"] == name)


CASES = {
    "ndjson": {"format": NDJSON},
    "json": {"format": JSON},
    "csv": {"format": CSV},
    "ndjson where paths expand": {"format": NDJSON, "where": '{"c_score": {"$lt": 60}}',
                                  "paths": ["c_number", "c_name", "c_site", "c_visits"], "expand": ["c_site"]},
    "json include": {"format": JSON, "paths": ["c_number", "c_score"], "include": ["c_tags"]},
    "csv options paths": {"format": CSV, "paths": ["c_number", "c_name", "c_visits", "c_tags", "c_notes"],
                          "csv": {"bom": True, "formulaGuard": True, "dictionary": True}},
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_sharded_archive_holds_the_same_bytes_as_one_process(study: OrgFixture, tmp_path: Path, case: str) -> None:
    body = CASES[case]
    single_row, single = export_with_worker(study, tmp_path, body, 1)
    sharded_row, sharded = export_with_worker(study, tmp_path, body, 3)
    assert "cursor.sharded" not in event_names(single_row)
    assert sharded_event(sharded_row, "cursor.sharded") | {"at": None} == {"shards": 48, "processes": 3, "at": None}
    processes = sharded_event(sharded_row, "shards.completed")["processes"]
    assert len(processes) == 3 and all(process["docs"] > 0 for process in processes)
    if body["format"] != CSV:  # (a range's CSV rows come out in chunks of 256 KiB: here one each)
        assert all(process["pieces"] > process["ranges"] for process in processes[1:])  # joined piece by piece
    assert sum(process["ranges"] for process in processes) == 48
    assert sum(process["docs"] for process in processes) == sharded_row["stats"]["docs"]["count"]
    assert sharded_row["stats"] == single_row["stats"] and single_row["stats"]["docs"]["count"] > 20
    assert entries_of(sharded) == entries_of(single)  # the data entry (and CSV's dictionary), byte for byte
    report = verify_archive(sharded)
    assert report.ok, report.problems
    with zipfile.ZipFile(sharded) as archive, zipfile.ZipFile(single) as reference:
        data, expected = archive.infolist()[0], reference.infolist()[0]
        assert (data.CRC, data.file_size) == (expected.CRC, expected.file_size)
        manifest = orjson.loads(archive.read("manifest.json"))
        assert manifest["entries"][0]["sha256"] == orjson.loads(reference.read("manifest.json"))["entries"][0]["sha256"]


def test_an_incremental_export_shards_only_its_window(study: OrgFixture, tmp_path: Path) -> None:
    base = run_with_worker(study, {"format": NDJSON}, 1)
    add_patients(study, 120)
    body = {"format": NDJSON, "since": base["id"]}
    single_row, single = export_with_worker(study, tmp_path, body, 1)
    sharded_row, sharded = export_with_worker(study, tmp_path, body, 3)
    assert sharded_event(sharded_row, "cursor.sharded")["processes"] == 3
    assert sharded_row["stats"]["docs"]["count"] == single_row["stats"]["docs"]["count"] == 120
    assert entries_of(sharded) == entries_of(single)  # the data and deleted.ndjson
    assert verify_archive(sharded).ok


def test_parts_and_small_exports_stay_in_one_process(study: OrgFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    row = run_with_worker(study, {"format": NDJSON, "maxEntryBytes": 1024 * 1024}, 3)
    assert "cursor.sharded" not in event_names(row)
    monkeypatch.setattr(sharding, "SHARD_THRESHOLD", PATIENTS + 1)
    row = run_with_worker(study, {"format": NDJSON}, 3)
    assert "cursor.sharded" not in event_names(row) and row["stats"]["docs"]["count"] == PATIENTS


def claimed(platform: OrgFixture, body: dict[str, Any]) -> ExportJob:
    runtime = platform.runtime
    operations.create(runtime, platform.org, platform.admin["id"], {"label": "x", "objects": "c_patients", **body})
    with runtime.database.begin() as connection:
        job = claim_next_export(connection, runtime.database.dialect, "test-worker", 30)
    assert job is not None
    return job


def nothing_left(platform: OrgFixture, job: ExportJob) -> None:
    """No archive, no shard piece, no partial write of either; no shard process."""
    store = platform.runtime.file_store
    prefix = output_prefix(job.id)
    assert list(store.list_keys(prefix)) == []
    assert partial_keys(platform.runtime, prefix) == []
    assert multiprocessing.active_children() == []


def test_progress_sums_the_shards_and_every_beat_renews(study: OrgFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pipeline, "HEARTBEAT_SECONDS", 0)
    use_processes(study, 3)
    beats: list[dict[str, Any]] = []
    outcome = run_export(study.runtime, claimed(study, {"format": NDJSON}), lambda progress: beats.append(progress)
                         or True)
    docs = [beat["docs"] for beat in beats]
    assert docs == sorted(docs) and docs[-1] == outcome.documents == PATIENTS
    completed = next(event for event in outcome.events if event["name"] == "shards.completed")["event"]
    own = completed["processes"][0]["docs"]
    assert any(count > own for count in docs[:-1])  # the shard processes' counts came in while they ran


def test_cancel_stops_every_shard_process_and_leaves_nothing(study: OrgFixture,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pipeline, "HEARTBEAT_SECONDS", 0)
    use_processes(study, 3)
    job = claimed(study, {"format": NDJSON})
    seen: list[int] = []

    def cancel_once_shards_run(progress: dict[str, Any]) -> bool:
        seen.append(len(multiprocessing.active_children()))
        return not seen[-1]

    with pytest.raises(Stopped):
        run_export(study.runtime, job, cancel_once_shards_run)
    assert seen[-1] >= 1  # it was stopped while shard processes ran
    nothing_left(study, job)


def test_a_killed_shard_process_fails_the_attempt_and_leaves_nothing(study: OrgFixture,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pipeline, "HEARTBEAT_SECONDS", 0)
    use_processes(study, 3)
    job = claimed(study, {"format": CSV})  # CSV shards wait for the shared header: never done before it
    pools: list[shard_pool.ShardPool] = []
    assign = shard_pool.ShardPool.assign

    def recording(pool: shard_pool.ShardPool, *args: Any) -> None:
        pools.append(pool)
        assign(pool, *args)

    monkeypatch.setattr(shard_pool.ShardPool, "assign", recording)
    killed: list[int] = []

    def kill_a_shard(progress: dict[str, Any]) -> bool:
        holders = [process for process, taken in pools[0].holding.items() if taken] if pools else []
        if holders and not killed:  # a shard process that holds a range
            pid = pools[0].processes[holders[0]].pid
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)
        return True

    with pytest.raises(faults.Fault, match="stopped before it finished"):
        run_export(study.runtime, job, kill_a_shard)
    assert killed
    nothing_left(study, job)


def test_shards_read_the_snapshot_of_the_run(study: OrgFixture, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """A write that commits after the run read its snapshot, before the shard processes start, is
    not in the archive: PostgreSQL shards read the run's very snapshot; SQLite shards see they
    cannot, and the run reads the rest itself."""
    _, before = export_with_worker(study, tmp_path, {"format": NDJSON}, 1)
    runtime = study.runtime
    start = shard_pool.ShardPool.start

    def start_after_a_write(pool: shard_pool.ShardPool) -> None:
        add_patients(study, 5)  # commits after the run took its snapshot
        start(pool)

    monkeypatch.setattr(shard_pool.ShardPool, "start", start_after_a_write)
    row, after = export_with_worker(study, tmp_path, {"format": NDJSON}, 3)
    assert entries_of(after) == entries_of(before)
    processes = sharded_event(row, "shards.completed")["processes"]
    stale = [process.get("stale", False) for process in processes[1:]]
    if runtime.database.dialect == "sqlite":  # the worker read every range itself
        assert stale == [True, True] and processes[0]["docs"] == PATIENTS
    else:  # the shard processes read theirs, in the worker's snapshot
        assert stale == [False, False] and all(process["docs"] > 0 for process in processes)
    assert export_count(study) == PATIENTS + 5  # the write did commit


def add_patients(platform: OrgFixture, count: int) -> None:
    viewer = Viewer(platform.org["id"], platform.admin["id"], frozenset(platform.admin["roles"]))
    with platform.runtime.database.connect() as connection:
        sites = [row[0] for row in connection.execute(sa.text("SELECT id FROM documents WHERE object = 'c_site'"))]
    bodies = [{**body, "c_number": f"L{count}-{number:07d}"} for number, body in  # c_number is unique
              enumerate(patient_bodies(count, sites, seed=count))]
    report = import_ndjson(platform.runtime.database, platform.org["id"], "c_patients", viewer,
                           map(orjson.dumps, bodies))
    assert report.committed, report.problems[:3]


def export_count(platform: OrgFixture) -> int:
    with platform.runtime.database.connect() as connection:
        return int(connection.execute(sa.text("SELECT count(*) FROM documents WHERE object = 'c_patient'"))
                   .scalar_one())


def peak_of(run: Callable[[], Any]) -> int:
    """Python's peak allocation in this process (the worker) while ``run`` runs."""
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        run()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_the_worker_holds_as_little_for_three_times_the_documents(platform: OrgFixture, small_shards: None,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """The worker's peak is the same at 8,000 and 24,000 documents: a few batches of its own shard
    (PostgreSQL reads ahead) and one chunk of a shard's piece at a time."""
    monkeypatch.setattr(sources, "BATCH_SIZE", 1000)
    load_patients(platform, 8000)
    small_row: dict[str, Any] = {}
    small = peak_of(lambda: small_row.update(run_with_worker(platform, {"format": NDJSON}, 2)))
    add_patients(platform, 16_000)
    large_row: dict[str, Any] = {}
    large = peak_of(lambda: large_row.update(run_with_worker(platform, {"format": NDJSON}, 2)))
    assert "cursor.sharded" in event_names(small_row) and "cursor.sharded" in event_names(large_row)
    assert large_row["stats"]["docs"]["count"] == 24_000
    # What does not grow with the export: the batches read ahead, one decrypted segment (1 MiB) of
    # a shard's piece and what is inflated from it at once (256 KiB). Holding the extra 16,000
    # documents, even as encoded bytes, would add over 12 MB.
    assert large < small + 3 * 1024 * 1024, (small, large)


def test_the_processes_setting_defaults_to_the_cpu_count_and_refuses_zero() -> None:
    assert Settings().export_processes == (os.cpu_count() or 1)
    assert Settings.from_env({"OPENCORTEX_EXPORT_PROCESSES": "3"}).export_processes == 3
    with pytest.raises(ValueError, match="OPENCORTEX_EXPORT_PROCESSES must be at least 1"):
        Settings.from_env({"OPENCORTEX_EXPORT_PROCESSES": "0"})
    with pytest.raises(ValueError, match="must be an integer"):
        Settings.from_env({"OPENCORTEX_EXPORT_PROCESSES": "many"})


@pytest.mark.parametrize("processes", [1, 2])
def test_a_worker_that_may_shard_starts_the_fork_server_as_it_starts(platform: OrgFixture,
                                                                     monkeypatch: pytest.MonkeyPatch,
                                                                     processes: int) -> None:
    warmed: list[bool] = []
    monkeypatch.setattr(shard_pool, "warm_up", lambda: warmed.append(True))
    use_processes(platform, processes)
    worker = ExportWorker(platform.runtime, concurrency=1, poll_seconds=0.05)
    worker.start()
    worker.stop()
    assert warmed == ([True] if processes > 1 else [])


def test_warming_up_leaves_a_fork_server_with_the_shard_module_loaded() -> None:
    # In a fresh interpreter: this one's fork server may be running already.
    script = ("import multiprocessing, pathlib, sys\n"
              "from opencortex.exports import shard_pool\n"
              "shard_pool.warm_up(wait=True)\n"
              "from multiprocessing import forkserver\n"
              "pid = forkserver._forkserver._forkserver_pid\n"
              "print(pid, 'opencortex.exports.shard_process' in pathlib.Path(f'/proc/{pid}/cmdline').read_text())\n")
    child = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True)
    pid, preloaded = child.stdout.split()
    assert int(pid) > 0 and preloaded == "True", child.stdout
