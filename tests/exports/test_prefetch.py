"""``prefetched``: the same batches in the same order, errors passed on, and a stop that frees the source."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from opencortex.exports.prefetch import prefetched


def test_batches_arrive_in_order_from_another_thread():
    threads: set[str] = set()

    def source() -> Iterator[int]:
        for number in range(50):
            threads.add(threading.current_thread().name)
            yield number

    with prefetched(source()) as batches:
        assert list(batches) == list(range(50))
    assert threads == {"export-prefetch"}


def test_an_error_while_reading_reaches_the_consumer():
    def source() -> Iterator[int]:
        yield 1
        raise RuntimeError("the database went away")

    with pytest.raises(RuntimeError, match="went away"), prefetched(source()) as batches:
        assert next(batches) == 1
        next(batches)


def test_leaving_early_stops_reading_and_closes_the_source():
    produced: list[int] = []
    closed = threading.Event()

    def source() -> Iterator[int]:
        try:
            for number in range(10_000):
                produced.append(number)
                yield number
        finally:
            closed.set()

    class Cancelled(Exception):
        pass

    with pytest.raises(Cancelled), prefetched(source(), depth=2) as batches:
        for number in batches:
            if number == 3:
                raise Cancelled()
    # The block waited for the thread: the source is closed and nothing more is read.
    assert closed.is_set()
    count = len(produced)
    time.sleep(0.1)
    assert len(produced) == count <= 3 + 2 + 2
    assert not any(thread.name == "export-prefetch" for thread in threading.enumerate())
