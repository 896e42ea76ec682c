"""Export workers: claim the next runnable export, run it, record the outcome; repeat.

``serve`` runs a worker in-process (so the embedded default is one process); ``opencortex
worker`` runs workers alone, on any number of machines: the queue's claim keeps per-org order
and the lease makes a killed worker's job run again elsewhere. A worker of the same machine runs
it again at once, when it can prove the killed worker's process gone (``exports.worker_identity``),
and removes what the lost attempt wrote, partial writes included.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy.exc import DBAPIError

from opencortex import faults
from opencortex.clock import utcnow
from opencortex.exports import shard_pool
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
from opencortex.exports.wakeup import DOORBELL, QueueListener
from opencortex.exports.worker_identity import WorkerIdentity
from opencortex.files import MIN_SWEEP_AGE_SECONDS
from opencortex.files.accounting import EXPORT, StorageOwner, record_stored
from opencortex.logs import purge_expired_logs
from opencortex.runtime import Runtime
from opencortex.store.database import is_database_busy

log = logging.getLogger("opencortex.exports")
REAP_EVERY_SECONDS = 60
SCHEDULES_EVERY_SECONDS = 1.0
SWEEP_EVERY_SECONDS = 600.0
"""How often a worker removes partial writes nobody finished (``sweep_stale_partials``)."""
NOTIFIED_POLL_SECONDS = 2.0
"""How often an idle worker polls when it hears of queued exports (PostgreSQL's NOTIFY): only for
what nobody announces (a lease that ran out, an org's next export once its running one ended)."""
SWEEP_AGE_LEASES = 10
"""A partial is swept once nobody wrote to it for this many leases (and at least an hour): a
writer that pauses that long lost its lease long before."""


class ExportWorker:
    """``concurrency`` threads, each running one export at a time."""

    def __init__(self, runtime: Runtime, *, concurrency: int = 2, lease_seconds: int = 30,
                 poll_seconds: float = 0.5, notified_poll_seconds: float = NOTIFIED_POLL_SECONDS,
                 sweep_seconds: float = SWEEP_EVERY_SECONDS) -> None:
        self.runtime = runtime
        self.concurrency = concurrency
        self.lease_seconds = lease_seconds
        self.poll_seconds = poll_seconds
        self.notified_poll_seconds = notified_poll_seconds
        self.sweep_seconds = sweep_seconds
        self.identity = WorkerIdentity.of_this_process()
        self.worker_id = str(self.identity)
        self.stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self._chores = threading.Lock()
        self._next_reap = 0.0
        self._next_schedules = 0.0
        self._next_sweep = 0.0
        # On PostgreSQL, queued exports are announced (``exports.wakeup``): polling is the fallback.
        self.listener = (QueueListener(runtime.database.url, self.stopping)
                         if runtime.database.dialect == "postgresql" else None)

    def start(self) -> None:
        if self.listener is not None:
            self.listener.start()
        if self.runtime.settings.export_processes > 1:
            self._warm_up_shards()
        for index in range(self.concurrency):
            thread = threading.Thread(target=self._loop, name=f"export-worker-{index}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self, timeout: float = 10) -> None:
        self.stopping.set()
        DOORBELL.ring()  # idle threads see ``stopping`` now, not at their next poll
        for thread in self._threads:
            thread.join(timeout)
        if self.listener is not None:
            self.listener.join(timeout)

    @staticmethod
    def _warm_up_shards() -> None:
        """The fork server of shard processes, started now rather than by the first sharded export
        (which would wait about a second for it)."""
        try:
            shard_pool.warm_up()
        except Exception:  # that export then starts it, or reads every range itself
            log.exception("starting the fork server of export shard processes failed")

    def idle_seconds(self) -> float:
        """How long an idle thread waits for a ring before it polls the queue again."""
        if self.listener is not None and self.listener.listening.is_set():
            return max(self.poll_seconds, self.notified_poll_seconds)
        return self.poll_seconds

    def run_forever(self) -> None:
        self.start()
        try:
            while not self.stopping.wait(1):
                pass
        finally:
            self.stop()

    def _loop(self) -> None:
        while not self.stopping.is_set():
            seen = DOORBELL.rings()  # before the claim: a ring while it looks is not missed
            try:
                worked = self.run_once()
            except Exception:  # a broken job must not kill the worker
                log.exception("export worker iteration failed")
                worked = False
            if not worked and not self.stopping.is_set():
                DOORBELL.wait(seen, self.idle_seconds())

    def run_once(self) -> bool:
        """Reclaim lost leases, then claim and run one export; False when there was nothing to do.

        A lease is lost when it ran out, or at once when its worker ran on this machine and its
        process is gone (``exports.worker_identity``): a restarted worker runs its predecessor's
        export again straight away. The lost attempt's output is removed, partial writes included.
        About once a minute it also deletes expired exports, expired log records and old tombstones;
        about once a second it makes the exports of due schedules (``exports.scheduling``); about
        every ``sweep_seconds`` it removes partial writes nobody finished (``sweep_partials``).
        """
        database = self.runtime.database
        if self._due("_next_reap", REAP_EVERY_SECONDS):
            reap_expired_exports(self.runtime)
            with database.begin() as connection:
                purge_expired_logs(connection, utcnow())
            reap_tombstones(self.runtime)
        if self._due("_next_schedules", SCHEDULES_EVERY_SECONDS):
            run_due_schedules(self.runtime)  # once per tick across every worker (compare-and-set)
        if self._due("_next_sweep", self.sweep_seconds):
            self.sweep_partials()
        with database.begin() as connection:
            reclaimed = reclaim_expired_leases(connection, owner_gone=self.identity.proves_gone,
                                               owners_prefix=self.identity.place)
            job = claim_next_export(connection, database.dialect, self.worker_id, self.lease_seconds)
        for lost in reclaimed:  # it will run again, from the start
            export_event("reclaimed", lost, state=ExportState.PENDING, level=logging.WARNING, attempt=lost.attempts,
                         worker=lost.lease_owner, reason=lost.events[-1]["event"]["reason"])
            self._remove_lost_attempt(lost)
        if job is None:
            return False
        self.run_job(job)
        return True

    def sweep_partials(self) -> int:
        """Remove partial writes, anywhere in the file store, that nobody wrote to for
        ``SWEEP_AGE_LEASES`` leases and at least ``MIN_SWEEP_AGE_SECONDS`` (a killed worker's, a
        killed upload's); returns how many. A failure is logged: it must not stop the exports."""
        age = max(MIN_SWEEP_AGE_SECONDS, SWEEP_AGE_LEASES * self.lease_seconds)
        try:
            removed = self.runtime.file_store.sweep_stale_partials(age)
        except Exception:
            log.exception("sweeping stale partial writes failed; the next sweep tries again")
            return 0
        if removed:
            log.info("removed %d partial writes nobody wrote to for %d s", removed, age)
        return removed

    def _remove_lost_attempt(self, lost: ExportJob) -> None:
        """What the attempt that lost its lease wrote, partial writes included (its worker cannot
        commit any more: it no longer holds the lease). A failure is logged; the export's next
        attempt removes earlier attempts' output too, and the sweep any partial left."""
        try:
            remove_output(self.runtime, lost.org_id, lost.id, attempt=lost.attempts)
        except Exception:
            log.exception("removing the output of export %s's lost attempt %d failed", lost.id, lost.attempts)

    def _due(self, timer: str, every: float) -> bool:
        """Whether a periodic chore is due, and if so claim it for this thread until ``every``
        seconds from now (the worker's threads share the timers)."""
        with self._chores:
            now = time.monotonic()
            if now < getattr(self, timer):
                return False
            setattr(self, timer, now + every)
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
        """Renew the lease with the progress; False when the run must stop (cancelled, deleted, or
        the lease lost). A busy database (SQLite's write lock held past its timeout, a PostgreSQL
        lock timeout or deadlock) skips this renewal and the run goes on: the next beat tries
        again, and a lease that ran out meanwhile is found lost then, so nothing is kept twice."""
        def heartbeat(progress: dict[str, Any]) -> bool:
            try:
                with self.runtime.database.begin() as connection:
                    held = renew_lease(connection, job.id, self.worker_id, self.lease_seconds, progress)
                    return held and not cancel_requested(connection, job.id)
            except DBAPIError as error:
                if not is_database_busy(error):
                    raise
                log.warning("export %s: the database is busy, the lease is renewed at the next beat", job.id)
                return True

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
