"""Export workers: claim the next runnable export, run it, record the outcome; repeat.

``serve`` runs a worker in-process (so the embedded default is one process); ``opencortex
worker`` runs workers alone, on any number of machines: the queue's claim keeps per-org order
and the lease makes a killed worker's job run again elsewhere.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

from opencortex import faults
from opencortex.clock import utcnow
from opencortex.exports.after_script import log_export_failure, run_after_script
from opencortex.exports.jobs import ExportJob, ExportState, new_event
from opencortex.exports.lifecycle_log import duration_ms, export_event
from opencortex.exports.output import remove_output
from opencortex.exports.pipeline import Outcome, Stopped, run_export
from opencortex.exports.queue import (
    aborted_fault,
    append_events,
    cancel_requested,
    claim_next_export,
    export_exists,
    fail_export,
    finish_export,
    reclaim_expired_leases,
    renew_lease,
)
from opencortex.exports.reaper import reap_expired_exports, reap_tombstones
from opencortex.exports.scheduling import apply_retention, run_due_schedules
from opencortex.files.accounting import EXPORT, StorageOwner, record_stored
from opencortex.ids import new_object_id
from opencortex.logs import purge_expired_logs
from opencortex.runtime import Runtime

log = logging.getLogger("opencortex.exports")
REAP_EVERY_SECONDS = 60
SCHEDULES_EVERY_SECONDS = 1.0


class ExportWorker:
    """``concurrency`` threads, each running one export at a time."""

    def __init__(self, runtime: Runtime, *, concurrency: int = 2, lease_seconds: int = 30,
                 poll_seconds: float = 0.5) -> None:
        self.runtime = runtime
        self.concurrency = concurrency
        self.lease_seconds = lease_seconds
        self.poll_seconds = poll_seconds
        self.worker_id = f"{socket.gethostname()}:{os.getpid()}:{new_object_id()[-8:]}"
        self.stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self._next_reap = 0.0
        self._next_schedules = 0.0

    def start(self) -> None:
        for index in range(self.concurrency):
            thread = threading.Thread(target=self._loop, name=f"export-worker-{index}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self, timeout: float = 10) -> None:
        self.stopping.set()
        for thread in self._threads:
            thread.join(timeout)

    def run_forever(self) -> None:
        self.start()
        try:
            while not self.stopping.wait(1):
                pass
        finally:
            self.stop()

    def _loop(self) -> None:
        while not self.stopping.is_set():
            try:
                worked = self.run_once()
            except Exception:  # a broken job must not kill the worker
                log.exception("export worker iteration failed")
                worked = False
            if not worked:
                self.stopping.wait(self.poll_seconds)

    def run_once(self) -> bool:
        """Reclaim lapsed leases, then claim and run one export; False when there was nothing to do.

        About once a minute it also deletes expired exports, expired log records and old tombstones;
        about once a second it makes the exports of due schedules (``exports.scheduling``).
        """
        database = self.runtime.database
        if time.monotonic() >= self._next_reap:
            self._next_reap = time.monotonic() + REAP_EVERY_SECONDS
            reap_expired_exports(self.runtime)
            with database.begin() as connection:
                purge_expired_logs(connection, utcnow())
            reap_tombstones(self.runtime)
        if time.monotonic() >= self._next_schedules:
            self._next_schedules = time.monotonic() + SCHEDULES_EVERY_SECONDS
            run_due_schedules(self.runtime)  # once per tick across every worker (compare-and-set)
        with database.begin() as connection:
            reclaimed = reclaim_expired_leases(connection)
            job = claim_next_export(connection, database.dialect, self.worker_id, self.lease_seconds)
        for lost in reclaimed:  # it will run again, from the start
            export_event("reclaimed", lost, state=ExportState.PENDING, level=logging.WARNING, attempt=lost.attempts,
                         worker=lost.lease_owner)
        if job is None:
            return False
        self.run_job(job)
        return True

    def run_job(self, job: ExportJob) -> None:
        """Run a claimed export and record its outcome; then its afterScript, if any."""
        began = time.monotonic()
        export_event("started", job, attempt=job.attempts, worker=self.worker_id)
        try:
            outcome = run_export(self.runtime, job, self._heartbeat(job))
        except Stopped:
            self._finish_stopped(job, began)
            return
        except faults.Fault as fault:
            self._finish_error(job, fault.to_json(), began)
            return
        except Exception:
            log.exception("export %s failed", job.id)
            self._finish_error(job, faults.export_failed("The export failed on the server.").to_json(), began)
            return
        try:
            finished = self._finish_ready(job, outcome)
        except faults.Fault as fault:
            self._finish_error(job, fault.to_json(), began)
            return
        if not finished:
            with self.runtime.database.connect() as connection:
                gone = not export_exists(connection, job.id)
            remove_output(self.runtime, job.org_id, job.id, attempt=None if gone else job.attempts)
            # Another worker took the job over (or it was deleted): this archive is not the record's.
            export_event("leaseLost", job, level=logging.WARNING, attempt=job.attempts, worker=self.worker_id)
            return
        export_event("finished", job, state=ExportState.READY, attempt=job.attempts, worker=self.worker_id,
                     docs=outcome.documents, bytes=outcome.size, durationMs=duration_ms(began, time.monotonic()))
        apply_retention(self.runtime, job)  # a schedule's export: its older ones beyond its retention go
        self._after_script(job, None)

    def _heartbeat(self, job: ExportJob) -> Callable[[dict[str, Any]], bool]:
        def heartbeat(progress: dict[str, Any]) -> bool:
            with self.runtime.database.begin() as connection:
                held = renew_lease(connection, job.id, self.worker_id, self.lease_seconds, progress)
                return held and not cancel_requested(connection, job.id)

        return heartbeat

    def _finish_ready(self, job: ExportJob, outcome: Outcome) -> bool:
        """running -> ready, with the archive (and stored files) counted against the org's storage:
        over its limit this raises, and the whole transaction, "ready" included, rolls back."""
        docs = outcome.documents
        with self.runtime.database.begin() as connection:
            finished = finish_export(
                connection, job.id, self.worker_id, stats=outcome.stats, data_file=outcome.data_file,
                sha256=outcome.sha256, files=outcome.files or None, new_events=outcome.events,
                progress={"phase": "done", "docs": docs, "total": docs, "bytes": outcome.size},
                changes=outcome.changes,
            )
            if finished:
                owner = StorageOwner(object="export", id=job.id)
                settings = self.runtime.settings
                record_stored(connection, settings, job.org_id, outcome.store_key, outcome.size, EXPORT, owner)
                for stored_file in outcome.files:
                    record_stored(connection, settings, job.org_id, stored_file["key"], stored_file["size"], EXPORT,
                                  owner)
        return finished

    def _finish_stopped(self, job: ExportJob, began: float) -> None:
        fault = aborted_fault()
        finished = gone = False
        with self.runtime.database.begin() as connection:
            if cancel_requested(connection, job.id):  # cancelled, or deleted
                aborted = new_event("aborted", {"source": "cortex", "willRestart": False})
                finished = fail_export(connection, job.id, self.worker_id, fault=fault, new_events=[aborted])
                if finished:
                    log_export_failure(connection, job, fault)
                gone = not finished and not export_exists(connection, job.id)
        # Ended or deleted: no attempt writes any more, so nothing of the export's output stays;
        # otherwise the lease was lost, and only this attempt's output is this worker's to remove.
        remove_output(self.runtime, job.org_id, job.id, attempt=None if finished or gone else job.attempts)
        if finished:
            export_event("cancelled", job, state=ExportState.ERROR, attempt=job.attempts, worker=self.worker_id,
                         errCode=fault.get("errCode"), durationMs=duration_ms(began, time.monotonic()))
            self._after_script(job, fault)

    def _finish_error(self, job: ExportJob, fault: dict[str, Any], began: float) -> None:
        with self.runtime.database.begin() as connection:
            finished = fail_export(connection, job.id, self.worker_id, fault=fault,
                                   new_events=[new_event("error", {"fault": fault})])
            if finished:
                log_export_failure(connection, job, fault)
        remove_output(self.runtime, job.org_id, job.id, attempt=None if finished else job.attempts)
        if finished:
            export_event("failed", job, state=ExportState.ERROR, level=logging.WARNING, attempt=job.attempts,
                         worker=self.worker_id, errCode=fault.get("errCode"),
                         durationMs=duration_ms(began, time.monotonic()))
            self._after_script(job, fault)

    def _after_script(self, job: ExportJob, fault: dict[str, Any] | None) -> None:
        """The outcome is recorded: run the export's afterScript, if any, and add its events."""
        events = run_after_script(self.runtime, job, fault)
        if events:
            with self.runtime.database.begin() as connection:
                append_events(connection, job.id, events)
