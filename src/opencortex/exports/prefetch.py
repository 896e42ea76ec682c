"""Reading the next batch while the current one is encoded.

PostgreSQL produces a batch in its own process while psycopg waits without the GIL, so a thread
that fetches batch n+1 while the export encodes batch n overlaps the two (the pipeline uses it
on PostgreSQL only: with SQLite, which reads in this process, measurements showed no gain, only
contention for the GIL). The connection is only ever used by one thread at a time: the fetching
thread while the export runs (so nothing else may query it meanwhile: an export that expands
references reads without this), then, after ``prefetched`` exits, the caller again.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TypeVar

T = TypeVar("T")

_DONE = object()


class _Failed:
    def __init__(self, error: BaseException) -> None:
        self.error = error


@contextmanager
def prefetched(batches: Iterator[T], depth: int = 2) -> Iterator[Iterator[T]]:
    """``batches``, produced by a thread up to ``depth`` ahead. Leaving the block (also by an
    exception, such as a cancel) stops the thread and waits for it, so the connection is free."""
    ready: queue.Queue[object] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def hand_over(item: object) -> bool:
        while not stop.is_set():
            try:
                ready.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for batch in batches:
                if not hand_over(batch):
                    return
            hand_over(_DONE)
        except BaseException as error:  # handed to the consumer, which raises it
            hand_over(_Failed(error))
        finally:
            close = getattr(batches, "close", None)
            if close is not None:
                close()

    def consume() -> Iterator[T]:
        while True:
            item = ready.get()
            if item is _DONE:
                return
            if isinstance(item, _Failed):
                raise item.error
            yield item  # type: ignore[misc]

    thread = threading.Thread(target=produce, name="export-prefetch", daemon=True)
    thread.start()
    try:
        yield consume()
    finally:
        stop.set()
        thread.join()
