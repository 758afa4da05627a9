"""Transport retries, decided without doing any I/O.

Validation re-asks are counted by the loop (``max_retries``); failures of the
transport are retried here, separately: 429 (honouring ``Retry-After`` /
``retry-after-ms``), 408/409, 5xx, timeouts and connection errors, with
exponential backoff and jitter. Other errors (400, 401, 403, 404, 422...)
surface at once with the endpoint's own message.
"""

from __future__ import annotations

import email.utils
import logging
import random
import time
from dataclasses import dataclass, field
from typing import Any

import openai

RETRYABLE_STATUS = frozenset({408, 409, 429})
log = logging.getLogger("extractkit")


@dataclass
class TransportRetry:
    """Per-extraction retry state: call :meth:`delay_for` with each failure.

    ``delay_for`` returns the seconds to wait before trying again, or
    ``None`` when the error should not (or no longer) be retried: the driver
    then re-raises it unchanged.
    """

    max_attempts: int = 6
    base_delay: float = 0.5
    max_delay: float = 30.0
    failures: int = 0
    _rng: random.Random = field(default_factory=random.Random, repr=False)

    def delay_for(self, exc: BaseException) -> float | None:
        if not is_retryable(exc) or self.failures + 1 >= self.max_attempts:
            return None
        self.failures += 1
        hinted = retry_after(exc)
        if hinted is not None:
            delay = min(hinted, self.max_delay * 4)
        else:
            backoff = min(self.max_delay, self.base_delay * 2 ** (self.failures - 1))
            delay = backoff * (0.5 + self._rng.random() / 2)
        log.info("transport error (%s); retry %d in %.2f s", type(exc).__name__, self.failures, delay)
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
            return max(0.0, float(ms) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        try:
            parsed = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        return max(0.0, parsed.timestamp() - time.time())
