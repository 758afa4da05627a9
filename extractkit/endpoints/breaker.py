"""A circuit breaker per endpoint: skip one that keeps failing, for a while.

Closed (requests go through) → after ``failures`` consecutive failures, open
(the endpoint is skipped) for ``cooldown`` seconds → half-open: one trial
extraction goes through; its success closes the breaker, its failure opens
it for another cool-down. No I/O and no sleeping: the clock is injectable
(``clock=``, seconds, default ``time.monotonic``). One breaker is shared by
every extraction of an extractor (a whole batch), so it is thread-safe.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from ..errors import ConfigurationError

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half-open"


@dataclass(frozen=True)
class BreakerPolicy:
    """When breakers open: ``failures`` consecutive failures (default 5); for how
    long: ``cooldown`` seconds (default 30)."""

    failures: int = 5
    cooldown: float = 30.0
    clock: Callable[[], float] = field(default=time.monotonic, compare=False, repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.failures, int) or isinstance(self.failures, bool) \
                or self.failures < 1:
            raise ConfigurationError(f"breaker failures must be an integer >= 1, "
                                     f"got {self.failures!r}")
        if isinstance(self.cooldown, bool) or not isinstance(self.cooldown, (int, float)) \
                or not self.cooldown >= 0:
            raise ConfigurationError(f"breaker cooldown must be seconds >= 0, "
                                     f"got {self.cooldown!r}")


class Breaker:
    """The state of one endpoint's breaker (see the module docstring)."""

    def __init__(self, policy: BreakerPolicy | None = None) -> None:
        self.policy = policy or BreakerPolicy()
        self._lock = threading.Lock()
        self._failures = 0
        self._opened_at: float | None = None
        self._trial = False  # half-open: the one trial is out

    @property
    def state(self) -> str:
        with self._lock:
            return self._state()

    def _state(self) -> str:
        if self._opened_at is None:
            return CLOSED
        if self.policy.clock() - self._opened_at < self.policy.cooldown:
            return OPEN
        return HALF_OPEN

    def allow(self) -> bool:
        """May an extraction use this endpoint now? (Half-open: only the first caller.)"""
        with self._lock:
            state = self._state()
            if state == CLOSED:
                return True
            if state == OPEN or self._trial:
                return False
            self._trial = True
            return True

    def succeeded(self) -> None:
        with self._lock:
            self._failures = 0
            self._opened_at = None
            self._trial = False

    def failed(self) -> None:
        with self._lock:
            self._failures += 1
            if self._trial or self._failures >= self.policy.failures:
                self._opened_at = self.policy.clock()
                self._trial = False

    def released(self) -> None:
        """The try ended without a verdict (interrupted, cancelled, a stream closed
        early): a half-open breaker lets the next caller try."""
        with self._lock:
            self._trial = False
