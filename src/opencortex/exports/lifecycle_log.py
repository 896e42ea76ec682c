"""One log line per export lifecycle event, from wherever the transition happens.

Events (``event``), where each is logged, and its fields beyond ``export``, ``org`` and ``state``
(the export's state after the event):

- ``export.queued``: ``operations.create``, and a schedule's tick (``scheduling.run_tick``, with
  ``schedule``); ``objects``, ``format``.
- ``export.started``: the worker that claimed it; ``attempt``, ``worker``.
- ``export.reclaimed``: a worker, for a running export whose lease ran out, or whose worker ran on
  its machine and is gone (back to pending); ``attempt`` (the lost one), ``worker`` (the one that
  lost it), ``reason`` (``leaseExpired``, ``workerGone``).
- ``export.finished``: the worker (ready); ``attempt``, ``worker``, ``docs``, ``bytes``, ``durationMs``.
- ``export.failed``: the worker (error); ``attempt``, ``worker``, ``errCode``, ``durationMs``.
- ``export.cancelled``: ``operations.cancel`` for a pending export, the worker for a running one
  (error); ``errCode``, and from the worker ``attempt``, ``worker``, ``durationMs``.
- ``export.leaseLost``: a worker whose lease ran out before it could finish (another attempt
  owns the export now; this one's output is discarded); ``attempt``, ``worker``.
- ``export.expired``: ``operations.expire`` (the reaper); ``export.deleted``: ``operations.delete``.
  ``state`` is the last one the export had.

Each line is written after the transaction that made the transition committed. Only ids,
counts, names of objects and formats, codes and durations: never a label, a description, a
``where``, an afterScript, a document value or a secret.
"""

from __future__ import annotations

import logging
from typing import Any

from opencortex.exports.jobs import ExportJob, ExportState
from opencortex.logging_setup import log_event

log = logging.getLogger("opencortex.exports")


def export_event(event: str, job: ExportJob, *, state: ExportState | None = None, level: int = logging.INFO,
                 **fields: Any) -> None:
    """Log ``export.<event>`` for ``job``; ``state`` is the export's state after it (the job's
    own state when not given)."""
    log_event(log, f"export.{event}", level, export=job.id, org=job.org_id,
              state=(state or job.state).value, **fields)


def duration_ms(started: float, ended: float) -> int:
    """Milliseconds between two ``time.monotonic()`` readings."""
    return round((ended - started) * 1000)
