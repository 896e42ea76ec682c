"""The process-wide bound on password checks: waiting, handing over, timing out, cancelling."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from opencortex.auth.login_slots import LoginSlots


def test_a_full_set_of_slots_refuses_after_the_wait_and_frees_on_release():
    slots = LoginSlots(2)
    assert asyncio.run(slots.acquire(0)) and asyncio.run(slots.acquire(0))
    started = time.perf_counter()
    assert asyncio.run(slots.acquire(0.2)) is False
    assert time.perf_counter() - started >= 0.2
    slots.release()
    assert asyncio.run(slots.acquire(0)) is True


def test_a_freed_slot_goes_to_a_waiter_on_another_event_loop():
    slots = LoginSlots(1)
    assert asyncio.run(slots.acquire(0))
    outcome: list[bool] = []
    waiter = threading.Thread(target=lambda: outcome.append(asyncio.run(slots.acquire(10))))
    waiter.start()
    while not slots._waiters:  # the waiter is queued
        time.sleep(0.01)
    started = time.perf_counter()
    slots.release()
    waiter.join()
    assert outcome == [True] and time.perf_counter() - started < 5
    # It holds the slot now: nobody else gets one until it releases.
    assert asyncio.run(slots.acquire(0.05)) is False
    slots.release()
    assert asyncio.run(slots.acquire(0)) is True


def test_a_cancelled_waiter_does_not_keep_a_slot():
    slots = LoginSlots(1)

    async def scenario() -> None:
        assert await slots.acquire(0)
        waiting = asyncio.create_task(slots.acquire(10))
        await asyncio.sleep(0.05)
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        slots.release()
        assert await slots.acquire(0)  # the slot came back, not to the cancelled request

    asyncio.run(scenario())


def test_size_must_be_positive():
    with pytest.raises(ValueError, match="OPENCORTEX_LOGIN_CONCURRENCY"):
        LoginSlots(0)
