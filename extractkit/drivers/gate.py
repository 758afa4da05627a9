"""The limiter shared by every request of a batch: :class:`Gate` (asyncio) and
:class:`ThreadGate` (threads).

It bounds the requests in flight, and on a 429 it pauses *every* request
that shares it for the server's ``Retry-After`` (or the backoff) and halves
the number allowed in flight, growing it back by one per window of
successes. The drivers take a slot before each request and give it back
with the outcome (see :mod:`extractkit.drivers.send`). Share one gate
between several batches (``map(..., gate=...)``) to limit them together.
"""

from __future__ import annotations

import asyncio
import threading
import time

from ..errors import ConfigurationError

DEFAULT_CONCURRENCY = 8


def is_rate_limit(exc: BaseException | None) -> bool:
    return getattr(exc, "status_code", None) == 429


class _Limits:
    """Bookkeeping shared by both gates (no waiting here).

    ``limit`` is how many requests may be in flight now (at most
    ``concurrency``). A 429 halves it, once per *epoch*: requests sent before
    the last cut do not cut it again. Every ``limit`` successes in a row add one.
    """

    def __init__(self, concurrency: int) -> None:
        if concurrency < 1:
            raise ConfigurationError("concurrency must be at least 1")
        self.concurrency = concurrency
        self.limit = concurrency
        self.in_flight = 0
        self.resume_at = 0.0
        self.rate_limited = 0
        self._epoch = 0
        self._streak = 0

    @property
    def paused_for(self) -> float:
        return max(0.0, self.resume_at - time.monotonic())

    def _take(self) -> int:
        self.in_flight += 1
        return self._epoch

    def _give_back(self, token: int, exc: BaseException | None, delay: float | None) -> None:
        self.in_flight -= 1
        if exc is None:
            self._streak += 1
            if self._streak >= self.limit and self.limit < self.concurrency:
                self.limit += 1
                self._streak = 0
        elif is_rate_limit(exc) and delay is not None:
            self.rate_limited += 1
            self._streak = 0
            self.resume_at = max(self.resume_at, time.monotonic() + delay)
            if token == self._epoch:
                self._epoch += 1
                self.limit = max(1, self.limit // 2)


class Gate(_Limits):
    """The asyncio limiter shared by every request of a batch (see the module docstring).

    Share one between several batches to limit them together.
    """

    def __init__(self, concurrency: int = DEFAULT_CONCURRENCY) -> None:
        super().__init__(concurrency)
        self._waiters: list[asyncio.Future[int]] = []
        self._timer: asyncio.TimerHandle | None = None

    async def acquire(self) -> int:
        """Wait for a free slot (and for any pause to end); returns a token for :meth:`release`."""
        if not self._waiters and self.in_flight < self.limit and self.paused_for == 0:
            return self._take()
        waiter: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        self._wake()
        try:
            return await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self._give_back(waiter.result(), None, None)
                self._wake()
            elif waiter in self._waiters:
                self._waiters.remove(waiter)
            raise

    def release(
        self, token: int, exc: BaseException | None = None, delay: float | None = None
    ) -> None:
        """Give the slot back; with the error (and retry delay) if the request failed."""
        self._give_back(token, exc, delay)
        self._wake()

    def _wake(self) -> None:
        pause = self.paused_for
        if pause > 0:
            if self._timer is None:
                loop = asyncio.get_running_loop()
                self._timer = loop.call_later(pause, self._resume)
            return
        while self._waiters and self.in_flight < self.limit:
            waiter = self._waiters.pop(0)
            if not waiter.done():
                waiter.set_result(self._take())

    def _resume(self) -> None:
        self._timer = None
        self._wake()


class ThreadGate(_Limits):
    """The same limiter for threads (the blocking driver)."""

    def __init__(self, concurrency: int = DEFAULT_CONCURRENCY) -> None:
        super().__init__(concurrency)
        self._cond = threading.Condition()

    def acquire(self) -> int:
        with self._cond:
            while True:
                pause = self.paused_for
                if pause > 0:
                    self._cond.wait(pause)
                elif self.in_flight < self.limit:
                    return self._take()
                else:
                    self._cond.wait()

    def release(
        self, token: int, exc: BaseException | None = None, delay: float | None = None
    ) -> None:
        with self._cond:
            self._give_back(token, exc, delay)
            self._cond.notify_all()

