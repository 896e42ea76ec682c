"""A bound on password checks running at once in this process, waited for without a thread.

argon2 is meant to be expensive (~64 MiB and a few hundred ms of CPU per check), so a login
flood must not run one check per request thread: memory and CPU would go to the flood. Logins
wait here, on the event loop and holding no thread or database connection, for one of a fixed
number of slots; one that gets none within its wait is refused (``faults.login_throttled``).

The slots are shared by every event loop of the process (a server has one; tests run several),
so this is a plain lock-guarded counter that hands a freed slot straight to the oldest waiter.
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque


class LoginSlots:
    def __init__(self, size: int) -> None:
        if size < 1:
            raise ValueError(f"OPENCORTEX_LOGIN_CONCURRENCY must be at least 1, got {size}")
        self.size = size
        self._free = size
        self._lock = threading.Lock()
        self._waiters: deque[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = deque()

    def __repr__(self) -> str:
        return f"LoginSlots(size={self.size}, free={self._free}, waiting={len(self._waiters)})"

    async def acquire(self, timeout: float) -> bool:
        """Take a slot, waiting up to ``timeout`` seconds; False when none came free in time."""
        loop = asyncio.get_running_loop()
        with self._lock:
            if self._free > 0 and not self._waiters:
                self._free -= 1
                return True
            waiter: asyncio.Future[None] = loop.create_future()
            self._waiters.append((loop, waiter))
        try:
            await asyncio.wait_for(asyncio.shield(waiter), timeout)
            return True
        except TimeoutError:
            if self._withdraw(loop, waiter):
                return False
            await waiter  # a slot was handed over just as the wait ran out: take it
            return True
        except asyncio.CancelledError:
            if not self._withdraw(loop, waiter):
                # The slot arrives (or arrived) for a request that is gone: pass it on.
                waiter.add_done_callback(lambda _future: self.release())
            raise

    def release(self) -> None:
        with self._lock:
            while self._waiters:
                loop, waiter = self._waiters.popleft()
                try:
                    loop.call_soon_threadsafe(self._hand_over, waiter)
                except RuntimeError:
                    continue  # that waiter's event loop has closed; try the next one
                return
            self._free += 1

    def _withdraw(self, loop: asyncio.AbstractEventLoop, waiter: asyncio.Future[None]) -> bool:
        """Leave the queue; False when a slot was already handed to this waiter."""
        with self._lock:
            try:
                self._waiters.remove((loop, waiter))
            except ValueError:
                return False
            return True

    def _hand_over(self, waiter: asyncio.Future[None]) -> None:
        if waiter.done():  # cancelled meanwhile: the slot goes on to the next waiter
            self.release()
        else:
            waiter.set_result(None)
