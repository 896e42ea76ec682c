"""Waking idle export workers when an export is queued, instead of waiting for their next poll.

Two bells, one for each reach:

- **In this process** (``serve`` with its in-process worker, on either database): ``ring`` after the
  export's transaction has committed wakes this process's idle worker threads.
- **Across processes and machines** (PostgreSQL): ``announce_queued`` sends ``NOTIFY`` on
  ``CHANNEL`` inside the transaction that inserts the export, so PostgreSQL delivers it at commit
  (and never for a rolled-back insert) to every worker's ``QueueListener``, which rings its own
  process's bell.

Polling stays as the fallback: a job that became runnable because another ended or a lease ran
out, a listener whose connection dropped (it reconnects), and SQLite across processes.
"""

from __future__ import annotations

import logging
import threading

import psycopg
import psycopg.sql
import sqlalchemy as sa
from sqlalchemy import Connection

log = logging.getLogger("opencortex.exports")

CHANNEL = "opencortex_export_queued"
RECONNECT_SECONDS = 2.0
"""How long a listener waits before reconnecting after its connection failed."""


class Doorbell:
    """Idle worker threads wait on it; a ring wakes every one of them (each then tries to claim)."""

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._rings = 0

    def ring(self) -> None:
        with self._condition:
            self._rings += 1
            self._condition.notify_all()

    def rings(self) -> int:
        """How many rings so far: pass it to ``wait`` so that a ring in between is not missed."""
        with self._condition:
            return self._rings

    def wait(self, seen: int, timeout: float) -> bool:
        """Until a ring after the ``seen``-th one, or ``timeout`` seconds; whether it rang."""
        with self._condition:
            return self._condition.wait_for(lambda: self._rings != seen, timeout)


DOORBELL = Doorbell()
"""This process's bell: every worker of the process waits on it."""


def ring() -> None:
    """An export was queued in this process (its transaction has committed)."""
    DOORBELL.ring()


def announce_queued(connection: Connection) -> None:
    """Tell every listening worker, at commit, that an export was queued (PostgreSQL only)."""
    if connection.dialect.name == "postgresql":
        connection.execute(sa.text("SELECT pg_notify(:channel, '')"), {"channel": CHANNEL})


class QueueListener:
    """A thread holding one PostgreSQL connection that ``LISTEN``s on ``CHANNEL`` and rings
    ``DOORBELL`` on every notification (and after every (re)connect, for what it may have missed)."""

    def __init__(self, database_url: str, stopping: threading.Event) -> None:
        self.conninfo = sa.make_url(database_url).set(drivername="postgresql").render_as_string(
            hide_password=False)
        self.stopping = stopping
        self.listening = threading.Event()
        self._thread = threading.Thread(target=self._run, name="export-queue-listener", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)

    def _run(self) -> None:
        while not self.stopping.is_set():
            try:
                self._listen()
            except psycopg.Error as error:
                self.listening.clear()
                log.warning("export queue listener lost its connection (%s); polling until it is back",
                            type(error).__name__)
                self.stopping.wait(RECONNECT_SECONDS)

    def _listen(self) -> None:
        with psycopg.connect(self.conninfo, autocommit=True, connect_timeout=10) as connection:
            connection.execute(psycopg.sql.SQL("LISTEN {}").format(psycopg.sql.Identifier(CHANNEL)))
            self.listening.set()
            ring()  # anything queued while nobody listened
            while not self.stopping.is_set():
                # A short timeout, so that ``stopping`` is seen within a second.
                for _ in connection.notifies(timeout=1.0, stop_after=1):
                    ring()
