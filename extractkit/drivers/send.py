"""Sending one request: a gate slot and the extraction's transport retry policy.

:class:`Sending` is the sans-IO part, shared by every driver (blocking,
asyncio, streamed both ways): after a request it gives the gate slot back
with the outcome and says how long to wait before trying again (``None``:
raise). :func:`send` and :func:`asend` are the thin shells that wait.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from ..retry import TransportRetry
from .gate import Gate, ThreadGate


class Sending:
    """The transport bookkeeping of one extraction's requests (no I/O).

    Call :meth:`took` with the gate's token before each try (when there is a
    gate), then :meth:`succeeded` or :meth:`failed`.
    """

    __slots__ = ("_token", "gate", "retry")

    def __init__(self, retry: TransportRetry, gate: Gate | ThreadGate | None = None) -> None:
        self.retry = retry
        self.gate = gate
        self._token: int | None = None

    def took(self, token: int) -> None:
        self._token = token

    def succeeded(self) -> None:
        self._give_back(None, None)

    def failed(self, exc: BaseException) -> float | None:
        """The request raised ``exc``: seconds to wait before trying again, or ``None``."""
        delay = self.retry.delay_for(exc)
        self._give_back(exc, delay)
        return delay

    def cut(self) -> float | None:
        """A stream ended without a ``finish_reason``: like :meth:`failed` for a dropped connection."""
        delay = self.retry.delay_for_cut()
        self._give_back(None, None)
        return delay

    def _give_back(self, exc: BaseException | None, delay: float | None) -> None:
        if self.gate is not None and self._token is not None:
            token, self._token = self._token, None
            self.gate.release(token, exc, delay)


def send(
    call: Callable[[dict[str, Any]], Any],
    request: dict[str, Any],
    retry: TransportRetry,
    gate: ThreadGate | None = None,
) -> Any:
    """``call(request)`` with transport retries and backoff (blocking)."""
    sending = Sending(retry, gate)
    while True:
        if gate is not None:
            sending.took(gate.acquire())
        try:
            response = call(request)
        except BaseException as exc:  # also interrupts: the slot goes back to the gate
            delay = sending.failed(exc)
            if delay is None:
                raise
            time.sleep(delay)
            continue
        sending.succeeded()
        return response


async def asend(
    call: Callable[[dict[str, Any]], Awaitable[Any]],
    request: dict[str, Any],
    retry: TransportRetry,
    gate: Gate | None = None,
) -> Any:
    """The asyncio shell of :func:`send`."""
    sending = Sending(retry, gate)
    while True:
        if gate is not None:
            sending.took(await gate.acquire())
        try:
            response = await call(request)
        except BaseException as exc:  # also cancellation: the slot goes back to the gate
            delay = sending.failed(exc)
            if delay is None:
                raise
            await asyncio.sleep(delay)
            continue
        sending.succeeded()
        return response
