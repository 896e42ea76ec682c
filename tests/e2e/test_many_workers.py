"""Scale-out, end to end: three `opencortex worker` processes that share only the PostgreSQL URL,
the S3 storage URL and the master key (each in a working folder of its own), five orgs with several
exports each, and one worker SIGKILLed in the middle of an export.

What must hold: at most one running export per org at any moment, first in first out within an
org, orgs in parallel, every export ready exactly once, every document exactly once in its
archive, and `opencortex export verify` passing on every archive.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import time
import zipfile
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
import sqlalchemy as sa

from opencortex.acl.viewer import Viewer
from opencortex.exports import operations
from opencortex.exports.jobs import ExportJob, ExportState
from opencortex.exports.verify import verify_archive
from opencortex.exports.worker import NOTIFIED_POLL_SECONDS
from opencortex.instances.bulk import import_ndjson
from opencortex.model.objects import create_object
from opencortex.store.tables import exports
from tests.e2e.conftest import OPENCORTEX
from tests.exports_api.incremental_support import small_object
from tests.support.platform import OrgFixture, make_runtime, seed_org
from tests.support.s3 import S3Server

ORGS = 5
EXPORTS_PER_ORG = 3
SMALL_ORG_DOCS = 300
BIG_ORG_DOCS = 40_000  # long enough (about a second) to be killed in the middle
LEASE_SECONDS = 5  # the smallest the worker accepts


def start_workers(count: int, tmp_path: Path, environment: dict[str, str]) -> dict[str, subprocess.Popen[bytes]]:
    """Workers in folders of their own, started together; by their worker ids (from their banners)."""
    started = []
    for index in range(count):
        folder = tmp_path / f"worker-{index}"
        folder.mkdir()
        env = {**environment, "OPENCORTEX_DATA_DIR": str(folder / "var")}
        with (folder / "worker.log").open("wb") as log:  # the child keeps its own copy of the descriptor
            started.append((folder, subprocess.Popen(
                [OPENCORTEX, "worker", "--concurrency", "1", "--lease-seconds", str(LEASE_SECONDS), "--json"],
                env=env, cwd=folder, stdout=subprocess.PIPE, stderr=log,
            )))
    processes = {}
    for folder, process in started:
        assert process.stdout is not None
        banner = json.loads(process.stdout.readline() or b"{}")
        if not banner.get("workerId"):
            stop_workers([process for _, process in started])
            pytest.fail("a worker did not start:\n" + (folder / "worker.log").read_text())
        processes[banner["workerId"]] = process
    return processes


def stop_workers(processes: list[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    for process in processes:
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()


def load_org(platform: OrgFixture, documents: int) -> None:
    org_id = platform.org["id"]
    with platform.runtime.database.begin() as connection:
        create_object(connection, org_id, small_object("c_reading"))
    lines = (orjson.dumps({"c_n": n, "c_tag": f"t{n % 7}"}) for n in range(documents))
    admin = Viewer(org_id, platform.admin["id"], frozenset(platform.admin["roles"]))
    import_ndjson(platform.runtime.database, org_id, "c_readings", admin, lines, batch_size=5000)


def running_per_org(runtime: Any) -> Counter[str]:
    with runtime.database.connect() as connection:
        rows = connection.execute(sa.select(exports.c.org_id).where(exports.c.state == "running")).scalars()
        return Counter(rows)


def test_three_workers_five_orgs_one_killed(postgres_url: str, s3_server: S3Server, tmp_path: Path) -> None:
    location = s3_server.new_location()
    master_key = base64.b64encode(os.urandom(32)).decode()
    runtime = make_runtime(postgres_url, tmp_path / "setup" / "var", master_key=master_key,
                           **s3_server.settings(location))
    try:
        orgs = [seed_org(runtime, f"org{number}") for number in range(ORGS)]
        for number, platform in enumerate(orgs):
            load_org(platform, BIG_ORG_DOCS if number == 0 else SMALL_ORG_DOCS)
        environment = {**os.environ, "OPENCORTEX_DATABASE_URL": postgres_url, "OPENCORTEX_MASTER_KEY": master_key,
                       **s3_server.environment(location)}
        processes = start_workers(3, tmp_path, environment)
        try:
            # Queued once every worker is up, so that the workers compete for them.
            queued: dict[str, list[str]] = {}
            for platform in orgs:
                queued[platform.org["id"]] = [
                    operations.create(runtime, platform.org, platform.admin["id"], {
                        "label": f"{platform.code} #{turn}", "objects": "c_readings", "format": "application/x-ndjson",
                    }).id for turn in range(EXPORTS_PER_ORG)
                ]
            killed = watch_and_kill(runtime, orgs[0].org["id"], queued[orgs[0].org["id"]][0], processes)
            jobs = wait_until_all_ended(runtime, queued, killed)
        finally:
            stop_workers(list(processes.values()))

        assert killed.max_running_per_org == 1  # never two running exports in one org
        assert killed.max_orgs_running > 1  # orgs ran in parallel
        for platform in orgs:
            org_jobs = [jobs[export_id] for export_id in queued[platform.org["id"]]]
            assert [job.state for job in org_jobs] == [ExportState.READY] * EXPORTS_PER_ORG
            assert all(sum(event.get("name") == "finished" for event in job.events) <= 1 for job in org_jobs)
            for earlier, later in zip(org_jobs, org_jobs[1:], strict=False):  # FIFO within the org
                assert earlier.completed is not None and later.started is not None
                assert earlier.completed <= later.started
        # A job queued while a worker is idle starts within a second (NOTIFY wakes it).
        second_org_first = jobs[queued[orgs[1].org["id"]][0]]
        assert second_org_first.started is not None
        assert (second_org_first.started - second_org_first.created).total_seconds() < 1
        first = jobs[queued[orgs[0].org["id"]][0]]
        assert first.attempts == 2  # the killed attempt, then the rerun
        assert killed.killed_at is not None and first.started is not None
        # Rerun once the lease ran out (nobody announces that: the listening workers' poll finds it).
        assert (first.started - killed.killed_at).total_seconds() <= LEASE_SECONDS + NOTIFIED_POLL_SECONDS + 1

        for number, platform in enumerate(orgs):
            expected = BIG_ORG_DOCS if number == 0 else SMALL_ORG_DOCS
            for export_id in queued[platform.org["id"]]:
                archive = tmp_path / f"{export_id}.zip"
                stored = operations.download_archive(runtime, platform.org["id"], export_id, principal=None,
                                                     path=f"/exports/{export_id}/dataFile/content", via="test")
                with archive.open("wb") as handle, runtime.file_store.open_reader(stored.key) as reader:
                    for chunk in reader:
                        handle.write(chunk)
                numbers = archive_numbers(archive)
                assert len(numbers) == expected and set(numbers) == set(range(expected))  # each exactly once
                report = verify_archive(archive, runtime.master_key)  # what `export verify` runs
                assert report.ok, report.problems
        # And once through the command itself, on the archive whose first attempt was killed.
        verified = subprocess.run([OPENCORTEX, "export", "verify", str(tmp_path / f"{first.id}.zip")],
                                  capture_output=True, text=True, timeout=120, env=environment)
        assert verified.returncode == 0, verified.stdout + verified.stderr
    finally:
        runtime.close()
        s3_server.clear(location)


@dataclass
class Watch:
    """What sampling the exports table saw while the workers ran."""

    max_running_per_org: int = 0
    max_orgs_running: int = 0
    killed: str = ""
    killed_at: datetime | None = None


def watch_and_kill(runtime: Any, org_id: str, export_id: str, processes: dict[str, subprocess.Popen[bytes]]) -> Watch:
    """Sample the running exports until the big export is running, then SIGKILL its worker."""
    watch = Watch()
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        sample(runtime, watch)
        job = operations.get(runtime, org_id, export_id)
        if job.state is ExportState.RUNNING and job.lease_owner:
            processes[job.lease_owner].send_signal(signal.SIGKILL)
            processes[job.lease_owner].wait()
            watch.killed, watch.killed_at = job.lease_owner, datetime.now(UTC)
            return watch
        assert not job.state.ended, f"the big export ended before it could be killed: {job.state}"
        time.sleep(0.02)
    raise AssertionError("the big export never got under way")


def sample(runtime: Any, watch: Watch) -> None:
    running = running_per_org(runtime)
    watch.max_running_per_org = max(watch.max_running_per_org, max(running.values(), default=0))
    watch.max_orgs_running = max(watch.max_orgs_running, len(running))


def wait_until_all_ended(runtime: Any, queued: dict[str, list[str]], watch: Watch) -> dict[str, ExportJob]:
    deadline = time.monotonic() + 180
    while True:
        sample(runtime, watch)
        jobs = {export_id: operations.get(runtime, org_id, export_id)
                for org_id, ids in queued.items() for export_id in ids}
        if all(job.state.ended for job in jobs.values()):
            return jobs
        assert time.monotonic() < deadline, {job.id: job.state for job in jobs.values()}
        time.sleep(0.2)


def archive_numbers(archive: Path) -> list[int]:
    with zipfile.ZipFile(archive) as opened:
        [data] = [name for name in opened.namelist() if name.endswith(".ndjson") and "manifest" not in name]
        with opened.open(data) as lines:
            return [orjson.loads(line)["c_n"] for line in lines if line.strip()]
