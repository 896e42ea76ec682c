"""Fewer cycle collections while exports run.

An export allocates millions of short-lived dicts and lists (parsed bodies, rows); reference
counting frees them, but CPython's cycle collector still runs every 700 net allocations and walks
whatever survived, which cost a third of an export that expands references. Raising the
thresholds while any export runs in the process removes most of those runs; nothing an export
builds is cyclic, and the previous thresholds come back when the last export ends (exports may
overlap in one worker process).
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

EXPORT_THRESHOLDS = (100_000, 50, 1000)

_lock = threading.Lock()
_running = 0
_saved: tuple[int, int, int] | None = None


@contextmanager
def relaxed_gc() -> Iterator[None]:
    global _running, _saved
    with _lock:
        if _running == 0:
            _saved = gc.get_threshold()
            gc.set_threshold(*EXPORT_THRESHOLDS)
        _running += 1
    try:
        yield
    finally:
        with _lock:
            _running -= 1
            if _running == 0 and _saved is not None:
                gc.set_threshold(*_saved)
                _saved = None
