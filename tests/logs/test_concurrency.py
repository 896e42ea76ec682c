"""Fifty exports with afterScripts across five orgs, run by a four-thread worker at once."""

from __future__ import annotations

import time
from collections import Counter

import sqlalchemy as sa

from opencortex.exports import operations
from opencortex.exports.worker import ExportWorker
from opencortex.store.tables import exports, logs
from tests.logs.conftest import SEED_SCRIPT, seed_notes
from tests.scripting.helpers import script_processes
from tests.support.platform import seed_org

ORGS = 5
EXPORTS_PER_ORG = 10
FAILING = "import logger from 'logger';\nlogger.info(1);\nnull.boom;\n"


def rss_bytes() -> int:
    with open("/proc/self/status") as status:
        line = next(line for line in status if line.startswith("VmRSS:"))
    return int(line.split()[1]) * 1024


def test_fifty_exports_with_scripts_in_parallel(platform):
    runtime = platform.runtime
    fixtures = [platform] + [seed_org(runtime, f"org{index}") for index in range(1, ORGS)]
    export_ids: list[str] = []
    for fixture in fixtures:
        seed_notes(fixture, 2)
        for index in range(EXPORTS_PER_ORG):
            body = {"label": f"Notes {index}", "objects": "c_notes",
                    "afterScript": FAILING if index % 5 == 4 else SEED_SCRIPT}
            job = operations.create(runtime, fixture.org, fixture.admin["id"], body)
            export_ids.append(job.id)

    before = rss_bytes()
    worker = ExportWorker(runtime, concurrency=4, poll_seconds=0.05)
    worker.start()
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            with runtime.database.connect() as connection:
                rows = connection.execute(sa.select(exports.c.state, exports.c.events)).all()
            if all(state == "ready" and events[-1]["name"] == "afterScript.completed"
                   for state, events in rows):
                break
            time.sleep(0.2)
    finally:
        worker.stop(timeout=30)
    assert not any(thread.is_alive() for thread in worker._threads)

    with runtime.database.connect() as connection:
        rows = {row.id: row for row in connection.execute(sa.select(exports))}
        records = connection.execute(sa.select(logs.c.src_id, logs.c.lvl, logs.c.dat, logs.c.org_id)).all()
    assert sorted(rows) == sorted(export_ids)
    assert all(row.state == "ready" for row in rows.values()), Counter(row.state for row in rows.values())
    for row in rows.values():
        names = [event["name"] for event in row.events]
        assert names.count("afterScript.started") == 1 and names.count("afterScript.completed") == 1, names
        err = row.events[-1]["event"]["err"]
        failing = row.params["afterScript"] == FAILING.strip()
        assert (err is not None and err["errCode"] == "cortex.error.script") if failing else err is None

    # Every script ran once: one run record per export, and one logger record per export.
    runs = Counter(src_id for src_id, _lvl, dat, _org in records
                   if isinstance(dat, dict) and "durationMs" in dat)
    assert runs == Counter({export_id: 1 for export_id in export_ids})
    logged = Counter(src_id for src_id, lvl, dat, _org in records
                     if lvl == 2 and (dat == 1 or isinstance(dat, dict) and "_id" in dat))
    assert logged == Counter({export_id: 1 for export_id in export_ids})
    # Each export's records are in its own org.
    org_of = {row.id: row.org_id for row in rows.values()}
    assert all(org_id == org_of[src_id] for src_id, _lvl, _dat, org_id in records)

    assert script_processes() == [], "a script child process was left behind"
    assert rss_bytes() - before < 100 * 1024 * 1024, "the worker's memory grew by more than 100 MiB"
