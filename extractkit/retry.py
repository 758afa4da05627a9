"""Transport retries, decided without doing any I/O.

Validation re-asks are counted by the loop (``max_retries``); failures of the
transport are retried here, separately (``transport_retries``, default 5
retries, i.e. 6 tries of one request): 429 (honouring ``Retry-After`` /
``retry-after-ms``), 408/409, 5xx, timeouts and connection errors, with
exponential backoff and jitter. Other errors (400, 401, 403, 404, 422...)
surface at once with the endpoint's own message.

The extraction's deadline (``timeout=``, ``--timeout``: seconds for the whole
extraction, retries and re-asks included) lives here too, since every driver
already asks this object before waiting: :meth:`TransportRetry.left` is what
remains, a wait that would not fit raises :class:`~extractkit.errors.DeadlineError`
at once instead of sleeping, a transport failure once it has passed (a read cut
at the deadline) raises it too, and the drivers bound each request by it
(:mod:`extractkit.drivers.send`).
"""

from __future__ import annotations

import email.utils
import logging
import math
import random
import time
from dataclasses import dataclass, field
from typing import Any

import httpx2
import openai

from .errors import DeadlineError

RETRYABLE_STATUS = frozenset({408, 409, 429})
_LATE = "no complete answer from the endpoint in time"
log = logging.getLogger("extractkit")


@dataclass
class TransportRetry:
    """Per-extraction retry state: call :meth:`delay_for` with each failure.

    ``delay_for`` returns the seconds to wait before trying again, or
    ``None`` when the error should not (or no longer) be retried: the driver
    then re-raises it unchanged. ``max_attempts`` counts tries of one
    request, the first included (:meth:`with_retries` takes the number of
    retries instead).
    """

    max_attempts: int = 6
    base_delay: float = 0.5
    max_delay: float = 30.0
    failures: int = 0
    #: seconds for the whole extraction (``None`` or infinite: no deadline)
    timeout: float | None = None
    _rng: random.Random | None = field(default=None, repr=False)
    _deadline: float | None = field(default=None, repr=False)

    @classmethod
    def with_retries(cls, retries: int, timeout: float | None = None) -> TransportRetry:
        """A policy allowing ``retries`` retries (``transport_retries=``) within ``timeout`` s."""
        return cls(max_attempts=retries + 1, timeout=timeout)

    # -- the deadline -------------------------------------------------------

    def left(self) -> float | None:
        """Seconds left before the deadline (``None``: no deadline); the clock
        starts at the first call, i.e. when the extraction sends its first request."""
        if self.timeout is None or self.timeout == math.inf:
            return None
        now = time.monotonic()
        if self._deadline is None:
            self._deadline = now + self.timeout
        return self._deadline - now

    @property
    def deadline(self) -> float | None:
        """When the extraction must be done (a ``time.monotonic()`` instant; ``None``: no
        deadline), once the clock has started (:meth:`left`)."""
        return self._deadline

    def check_deadline(self, doing: str = "waiting for the endpoint") -> float | None:
        """:meth:`left`, raising :class:`DeadlineError` when nothing is left."""
        left = self.left()
        if left is not None and left <= 0:
            raise self.expired(doing)
        return left

    def expired(self, doing: str = "waiting for the endpoint") -> DeadlineError:
        """The error for a deadline passed while ``doing``."""
        return DeadlineError(
            f"the extraction took longer than its timeout of {self.timeout:g} s ({doing}; "
            f"{self.failures} transport retr{'y' if self.failures == 1 else 'ies'}); "
            "raise timeout= / --timeout SECONDS", timeout=self.timeout)

    def late(self) -> DeadlineError:
        """The error for a call that ran past the deadline."""
        return self.expired(_LATE)

    @property
    def retries_left(self) -> int:
        return max(0, self.max_attempts - 1 - self.failures)

    def delay_for(self, exc: BaseException) -> float | None:
        """Seconds to wait after ``exc`` before trying again; ``None``: raise it."""
        transport = is_retryable(exc)
        if (transport or isinstance(exc, httpx2.TransportError)) and self._passed():
            # a read cut at the deadline (or any transport failure after it)
            raise self.late() from exc
        if not transport:
            return None
        return self._next(type(exc).__name__, retry_after(exc))

    def _passed(self) -> bool:
        return self._deadline is not None and time.monotonic() >= self._deadline

    def delay_for_cut(self) -> float | None:
        """A stream that ended without a ``finish_reason``: retried like a dropped connection."""
        return self._next("stream cut before the end", None)

    def _next(self, what: str, hinted: float | None) -> float | None:
        if self.failures + 1 >= self.max_attempts:
            return None
        self.failures += 1
        if hinted is not None:
            delay = min(hinted, self.max_delay * 4)
        else:
            backoff = min(self.max_delay, self.base_delay * 2 ** (self.failures - 1))
            jitter = self._rng.random() if self._rng is not None else random.random()
            delay = backoff * (0.5 + jitter / 2)
        left = self.left()
        if left is not None and delay >= left:
            told = "the endpoint asked to wait" if hinted is not None else "the next backoff is"
            raise DeadlineError(
                f"{what}: {told} {delay:.3g} s, longer than the {max(left, 0):.3g} s left of the "
                f"extraction's timeout of {self.timeout:g} s; not waiting (raise timeout= / "
                "--timeout SECONDS)", timeout=self.timeout)
        log.info("transport error (%s); retry %d in %.2f s", what, self.failures, delay)
        return delay


def is_retryable(exc: BaseException) -> bool:
    if isinstance(exc, (openai.APITimeoutError, openai.APIConnectionError)):
        return True
    if isinstance(exc, openai.APIStatusError):
        return exc.status_code in RETRYABLE_STATUS or exc.status_code >= 500
    return False


def retry_after(exc: BaseException) -> float | None:
    """Seconds the server asked us to wait, from ``retry-after-ms`` or ``Retry-After``."""
    response: Any = getattr(exc, "response", None)
    headers = getattr(response, "headers", None)
    if headers is None:
        return None
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return _usable(float(ms) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return _usable(float(value))
    except ValueError:
        try:
            parsed = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        return max(0.0, parsed.timestamp() - time.time())


def _usable(seconds: float) -> float | None:
    """A hint we can follow: negative, zero, NaN or infinite hints fall back to backoff."""
    return seconds if math.isfinite(seconds) and seconds > 0 else None
