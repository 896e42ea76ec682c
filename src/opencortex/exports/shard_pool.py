"""The shard processes of a sharded export, seen from the worker (``exports.sharding``).

``ShardPool`` starts them (from a thread: the first start in a worker process waits for the fork
server to load the export modules, and the worker reads meanwhile), hands each its task, follows
what they say on their pipes and answers their requests for ranges (``RangeClaims``: the worker
takes ranges from the front, shard processes upward from a split), and ends them, whatever happened.
The conversation itself is described in ``exports.shard_process``.
"""

from __future__ import annotations

import logging
import multiprocessing
import threading
import time
from collections.abc import Callable
from multiprocessing import forkserver
from multiprocessing.connection import Connection as Channel
from multiprocessing.connection import wait
from typing import Any

from opencortex import faults
from opencortex.exports import shard_process
from opencortex.exports.shard_process import RangeDone, ShardPiece, ShardRange, ShardResult, ShardTask, run_shard
from opencortex.settings import Settings

log = logging.getLogger("opencortex.exports")
_STOP_SECONDS = 5.0


JOIN_SHARE = 0.12
"""What joining a shard process's document costs the worker, as a share of what reading one costs
(the worker's reading rate over its join rate, per CPU-second, from ``python -m
bench.sharded_export`` on 1M documents: 0.12 for NDJSON, 0.11 with ``expand``)."""


class RangeClaims:
    """Which ranges are taken, and by whom.

    The worker writes what it reads straight into the entry, so it takes ranges from the front, in
    order; then it joins every later range in order, each piece as soon as it is stored. So that
    this join overlaps the shard processes' reading (instead of following it), the shard processes
    take ranges *upward* from a split, and only when none is left above it, downward below it,
    until they meet the worker. The split is placed when the first shard process asks (by then the
    worker has read for as long as that process took to start): where the worker's reading up to
    it, plus its join of the rest, takes as long as the shard processes' reading of the rest."""

    def __init__(self, documents: list[int], shard_processes: int, join_share: float = JOIN_SHARE) -> None:
        self.documents = documents
        self.shard_processes = shard_processes
        self.join_share = join_share
        """``JOIN_SHARE``; 0 where the join cannot overlap the shard processes' reading anyway (CSV:
        every reader has read all its ranges before the header, and so any row, is written)."""
        self._front = 0
        """The worker's next range."""
        self._up: int | None = None
        """The shard processes' next range upward (from the split); None until the split is placed."""
        self._down = 0
        """Their next range downward (below the split)."""
        self.split: int | None = None
        """Where the shard processes began (None: they took nothing)."""

    def next_for_worker(self) -> int | None:
        """The worker's next range, or None when the next is a shard process's."""
        limit = len(self.documents) if self._up is None else self._down + 1
        if self._front >= limit:
            return None
        self._front += 1
        return self._front - 1

    def next_for_shard(self, worker_unread: int = 0, readers: int | None = None) -> int | None:
        """A shard process's next range. For placing the split: ``worker_unread``, documents of
        the worker's ranges it has not read yet; ``readers``, the shard processes that can read
        (default: all)."""
        count = len(self.documents)
        if self._up is None:
            if self._front >= count:
                return None
            self._up = self.split = self._place_split(worker_unread, readers or self.shard_processes)
            self._down = self._up - 1
        if self._up < count:
            self._up += 1
            return self._up - 1
        if self._down >= self._front:
            self._down -= 1
            return self._down + 1
        return None

    def after_worker(self) -> range:
        """The ranges the shard processes read (or will), in ``_id`` order: every range after the
        worker's (call once ``next_for_worker`` said None)."""
        return range(self._front, len(self.documents))

    def _place_split(self, worker_unread: int, readers: int) -> int:
        """The first range upward, in ``[front, count - 1]``: where the worker's reading (what it
        has left, then up to the split) and join of what follows comes closest to the shard
        processes' reading of what follows."""
        documents, shards = self.documents, max(readers, 1)
        after = sum(documents[self._front:])
        best, best_gap = self._front, float("inf")
        worker = float(worker_unread)
        for split in range(self._front, len(documents)):
            gap = abs(worker + self.join_share * after - after / shards)
            if gap < best_gap:
                best, best_gap = split, gap
            worker += documents[split]
            after -= documents[split]
        return best


class ShardPool:
    """The shard processes of one run and their pipes: ``start`` them, ``assign`` their tasks and
    the ranges, follow and answer them (``poll``), ``close``. Process 0 is the worker itself."""

    def __init__(self, settings: Settings, count: int) -> None:
        self.settings = settings
        self.count = count
        self.ranges: list[ShardRange] = []
        self.claims = RangeClaims([], count)
        self.worker_records = 0
        """What the worker has read of its own ranges (for placing the split)."""
        self.processes: dict[int, Any] = {}
        self.channels: dict[int, Channel] = {}
        self.progress = {process: 0 for process in range(1, count + 1)}
        self.ready: dict[int, bool] = {}
        self.startup: dict[int, float] = {}
        """Seconds from asking for a shard process to the shard knowing its snapshot."""
        self.holding: dict[int, list[int]] = {process: [] for process in self.progress}
        """The ranges each shard process took."""
        self.shard_columns: dict[int, list[str]] = {}
        self.pieces: dict[int, list[ShardPiece]] = {}
        self.ranges_done: dict[int, RangeDone] = {}
        self.finished: dict[int, ShardResult] = {}
        self.ended: set[int] = set()
        """Shard processes that said their last word (done, or stale)."""
        self.closed = False
        self._started = 0.0
        self._lock = threading.Lock()
        self._tasks: dict[int, ShardTask] = {}
        self._starter: threading.Thread | None = None

    def start(self) -> None:
        """Start the shard processes, from a thread: the first start in a worker process waits for
        the fork server to load the export modules, and the worker reads meanwhile."""
        self._started = time.monotonic()
        self._starter = threading.Thread(target=self._start_all, name="export-shard-starter", daemon=True)
        self._starter.start()

    def _start_all(self) -> None:
        try:
            context = _context()
            for process in range(1, self.count + 1):
                ours, theirs = context.Pipe()
                child = context.Process(target=run_shard, args=(self.settings, theirs), daemon=True,
                                        name=f"opencortex-export-shard-{process}")
                with self._lock:
                    if self.closed:
                        return
                child.start()
                theirs.close()  # only the shard holds its end: the pipe closes when either side goes
                with self._lock:
                    self.processes[process] = child
                    self.channels[process] = ours
                    self._send_task(process)
        except Exception:  # the worker reads every range not taken: slower, still whole
            log.exception("starting the shard processes of an export failed")

    def assign(self, tasks: list[ShardTask], ranges: list[ShardRange], join_share: float = JOIN_SHARE) -> None:
        self.ranges = ranges
        self.claims = RangeClaims([shard_range.documents for shard_range in ranges], self.count, join_share)
        with self._lock:
            self._tasks = {task.process: task for task in tasks}
            for process in self.channels:
                self._send_task(process)

    def _send_task(self, process: int) -> None:
        """(Under the lock.) A started process gets its task once there is one, once."""
        task = self._tasks.pop(process, None)
        if task is not None:
            self.channels[process].send(task)

    def records(self) -> int:
        return sum(self.progress.values())

    def columns(self, waiting: Callable[[], None]) -> list[list[str]]:
        """CSV: the columns of every shard process that took ranges, once it spilled them all."""
        def waiting_for() -> list[int]:
            return [process for process, taken in self.holding.items() if taken and process not in self.shard_columns]

        while waiting_for():
            self.require_open()
            waiting()
        return [self.shard_columns[process] for process in sorted(self.shard_columns)]

    def settle(self, waiting: Callable[[], None]) -> None:
        """Wait for the last word (``done``) of every shard process that took ranges."""
        while any(taken and process not in self.finished for process, taken in self.holding.items()):
            self.require_open()
            waiting()

    def send_header(self, header: list[str]) -> None:
        for process in self.shard_columns:
            self.channels[process].send(("header", header))

    def require_open(self) -> None:
        if self.closed:
            raise RuntimeError("the shard processes were stopped")

    def poll(self, timeout: float) -> None:
        """Take in and answer what the shards said (waiting up to ``timeout`` for something); a
        fault when a shard failed or its process ended without finishing."""
        with self._lock:
            open_channels = {channel: process for process, channel in self.channels.items()
                             if process not in self.ended}
        if not open_channels:
            return
        for channel in wait(list(open_channels), timeout):
            assert isinstance(channel, Channel)
            process = open_channels[channel]
            try:
                while channel.poll():
                    self._take(process, channel.recv())
            except (EOFError, OSError):
                if process not in self.ended:
                    self._lost(process)

    def _take(self, process: int, message: tuple[Any, ...]) -> None:
        kind = message[0]
        if kind == "progress":
            self.progress[process] = int(message[1])
        elif kind == "next":
            stale = sum(1 for ready in self.ready.values() if not ready)
            index = self.claims.next_for_shard(self._worker_unread(), self.count - stale)
            if index is None:
                self.channels[process].send(("none",))
            else:
                self.holding[process].append(index)
                self.channels[process].send(("range", self.ranges[index]))
        elif kind == "piece":
            piece: ShardPiece = message[1]
            self.pieces.setdefault(piece.range, []).append(piece)
        elif kind == "range":
            done: RangeDone = message[1]
            self.ranges_done[done.range] = done
        elif kind in ("ready", "stale"):
            self.ready[process] = kind == "ready"
            self.startup[process] = time.monotonic() - self._started
            if kind == "stale":
                self.ended.add(process)
        elif kind == "columns":
            self.shard_columns[process] = list(message[1])
        elif kind == "done":
            result: ShardResult = message[1]
            self.finished[process] = result
            self.ended.add(process)
            self.progress[process] = result.records
        elif kind == "failed":
            fault_kind, reason, path, resource, text = message[1:]
            raise faults.Fault(fault_kind, reason=reason, path=path, resource=resource, message=text)
        else:  # "crashed": the shard logged what happened
            log.error("a shard process of an export failed: %s", message[1])
            raise faults.export_failed(f"Shard process {process} of the export failed on the server.")

    def _worker_unread(self) -> int:
        claims = self.claims
        taken = sum(claims.documents[:claims.after_worker().start])
        return max(taken - self.worker_records, 0)

    def _lost(self, process: int) -> None:
        """A shard process ended without its last word: what it took is lost, and so is the
        attempt; one that took no range loses nothing (the others read its share)."""
        child = self.processes[process]
        child.join(_STOP_SECONDS)
        if not self.holding[process]:
            log.warning("shard process %d of an export ended before it took a range (exit code %s)", process,
                        child.exitcode)
            self.ended.add(process)
            return
        raise faults.export_failed(f"Shard process {process} of the export stopped before it finished "
                                   f"(exit code {child.exitcode}).")

    def close(self) -> None:
        """End every shard process (those still running are stopped) and close the pipes."""
        with self._lock:
            self.closed = True
        if self._starter is not None:
            self._starter.join()  # it starts no process once closed
        for channel in self.channels.values():
            channel.close()  # a shard still reading sees the pipe closed and stops
        for process in list(self.processes):
            self._end(process)

    def _end(self, process: int) -> None:
        """Close the shard's pipe and end its process: it exits by itself once it sees the pipe
        closed (or has finished); one that does not is terminated, then killed."""
        self.channels.pop(process).close()
        child = self.processes.pop(process)
        child.join(0 if child.exitcode is not None else 0.5)
        if child.exitcode is None:
            child.terminate()
            child.join(_STOP_SECONDS)
        if child.exitcode is None:
            child.kill()
            child.join()
        child.close()


def warm_up(*, wait: bool = False) -> None:
    """Start the fork server now: it loads the export modules (about a second of CPU) in a process
    of its own, so that a worker's first sharded export does not wait for it (``ExportWorker``
    calls this when it starts, if it may shard). ``wait``: until the modules are loaded."""
    context = _context()
    if context.get_start_method() != "forkserver":
        return
    if wait:  # the fork server forks a process only once it has loaded them
        child = context.Process(target=time.sleep, args=(0,), name="opencortex-export-shard-warm-up")
        child.start()
        child.join()
        child.close()
    else:
        forkserver.ensure_running()


def _context() -> Any:
    """Processes started by a fork server that has the shard module loaded (fast to start, and
    never a fork of a worker holding database connections and threads), or spawned."""
    if "forkserver" in multiprocessing.get_all_start_methods():
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload([shard_process.__name__])
        return context
    return multiprocessing.get_context("spawn")
