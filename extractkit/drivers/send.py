"""Sending one request: a gate slot and the extraction's transport retry policy.

:class:`Sending` is the sans-IO part, shared by every driver (blocking,
asyncio, streamed both ways): after a request it gives the gate slot back
with the outcome and says how long to wait before trying again (``None``:
raise). :func:`send` and :func:`asend` are the thin shells that wait.

Both bound every try by what is left of the extraction's deadline
(:meth:`TransportRetry.left <extractkit.retry.TransportRetry.left>`), always,
so that a server that hangs or trickles bytes cannot hold an extraction past
it. A backend that cuts its own calls at the deadline (``cuts_at_deadline``:
the ``openai`` backends, whose HTTP layer reads :data:`DEADLINE`, see
:mod:`extractkit.backends.http_deadline`) is called on this thread with the
deadline in that context variable; any other call is cut from outside --
:func:`~.bounded.call_within` (a worker thread) for blocking calls,
``asyncio.wait`` for coroutines. Running out of time raises
:class:`~extractkit.errors.DeadlineError`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from ..backends.http_deadline import DEADLINE
from ..errors import DeadlineError
from ..retry import TransportRetry
from .bounded import Overdue, call_within
from .gate import Gate, ThreadGate

if TYPE_CHECKING:
    from ..events import Emitter


def cuts_itself(backend: Any) -> bool:
    """Whether ``backend`` ends each call at the deadline itself (its ``cuts_at_deadline``:
    it reads :data:`DEADLINE`), so that no worker thread is needed to cut it."""
    return getattr(backend, "cuts_at_deadline", False) is True


class Sending:
    """The transport bookkeeping of one extraction's requests (no I/O).

    Call :meth:`took` with the gate's token before each try (when there is a
    gate), :meth:`trying` with the request, then :meth:`succeeded` or
    :meth:`failed`. ``events`` (the extraction's, when hooks are set) hears
    of every try and every transport retry (:mod:`extractkit.events`).
    """

    __slots__ = ("_token", "events", "gate", "retry")

    def __init__(self, retry: TransportRetry, gate: Gate | ThreadGate | None = None,
                 events: Emitter | None = None) -> None:
        self.retry = retry
        self.gate = gate
        self.events = events
        self._token: int | None = None

    def trying(self, request: dict[str, Any]) -> None:
        """``request`` is about to be sent (the one place ``RequestSent`` is emitted)."""
        if self.events is not None:
            self.events.request_sent(request, self.retry.failures)

    def took(self, token: int) -> None:
        self._token = token

    def succeeded(self) -> None:
        self._give_back(None, None)

    def failed(self, exc: BaseException) -> float | None:
        """The request raised ``exc``: seconds to wait before trying again, or ``None``.

        Raises :class:`DeadlineError` when the wait would not fit in what is left."""
        try:
            delay = self.retry.delay_for(exc)
        except DeadlineError:
            self._give_back(exc, None)
            raise
        self._give_back(exc, delay)
        if delay is not None and self.events is not None:
            self.events.transport_retried(self.retry.failures, exc, delay)
        return delay

    def cut(self) -> float | None:
        """A stream ended without a ``finish_reason``: like :meth:`failed` for a dropped connection."""
        self._give_back(None, None)
        delay = self.retry.delay_for_cut()
        if delay is not None and self.events is not None:
            self.events.transport_retried(self.retry.failures, "the stream ended before "
                                          "the model finished (no finish_reason)", delay)
        return delay

    def late(self) -> DeadlineError:
        """The try ran past the deadline: the slot goes back; the error to raise."""
        error = self.retry.late()
        self._give_back(error, None)
        return error

    def _give_back(self, exc: BaseException | None, delay: float | None) -> None:
        if self.gate is not None and self._token is not None:
            token, self._token = self._token, None
            self.gate.release(token, exc, delay)


def ended_by(extraction: Any, exc: BaseException) -> None:
    """An extraction ends with ``exc`` (the blocking and asyncio drivers alike): a
    :class:`DeadlineError` gets what was received before time ran out, and the hooks
    hear ``Failed``. The caller re-raises."""
    if isinstance(exc, DeadlineError):
        exc.attempts = list(extraction.attempts)
    if extraction.events is not None:
        extraction.events.failed(exc)


def receive(backend: Any, extraction: Any, response: Any) -> Any:
    """``extraction.receive(response)``, telling a backend that keeps responses (the
    response cache's ``settle``) whether the loop accepted it: a result, or not."""
    settle = getattr(backend, "settle", None)
    if settle is None:
        return extraction.receive(response)
    try:
        result = extraction.receive(response)
    except BaseException:
        settle(response, False)
        raise
    settle(response, result is not None)
    return result


#: The ``openai`` SDK's own per-request default (seconds). Setting ``timeout`` on a
#: request costs ~0.1 ms in the SDK, so it is only set when the extraction's deadline
#: is shorter; the call is cut at the deadline either way (by the backend's HTTP layer,
#: which also lowers every read's timeout to what is left, or by :func:`call_within`).
SDK_DEFAULT_TIMEOUT = 600.0


def timed(request: dict[str, Any], left: float | None, timeout: float | None = None) -> dict[str, Any]:
    """``request`` with the SDK's per-request ``timeout`` no longer than ``left`` seconds
    (when the extraction's ``timeout`` is shorter than the SDK's own default)."""
    if left is None or (timeout is not None and timeout >= SDK_DEFAULT_TIMEOUT):
        return request
    own = request.get("timeout")
    if isinstance(own, (int, float)) and not isinstance(own, bool) and own < left:
        return request
    return {**request, "timeout": max(left, 0.001)}


def send(
    call: Callable[[dict[str, Any]], Any],
    request: dict[str, Any],
    retry: TransportRetry,
    gate: ThreadGate | None = None,
    events: Emitter | None = None,
    *,
    self_cut: bool = False,
) -> Any:
    """``call(request)`` with transport retries and backoff (blocking); ``self_cut``:
    the call ends at the deadline by itself (:func:`cuts_itself` of its backend)."""
    sending = Sending(retry, gate, events)
    while True:
        if gate is not None:
            sending.took(gate.acquire())
        sending.trying(request)
        try:
            left = retry.check_deadline()
            if self_cut:
                scope = DEADLINE.set(retry.deadline)
                try:
                    response = call(timed(request, left, retry.timeout))
                finally:
                    DEADLINE.reset(scope)
            else:
                response = call_within(call, timed(request, left, retry.timeout), left)
        except Overdue:
            raise sending.late() from None
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
    events: Emitter | None = None,
    *,
    self_cut: bool = False,
) -> Any:
    """The asyncio shell of :func:`send`."""
    sending = Sending(retry, gate, events)
    while True:
        if gate is not None:
            sending.took(await gate.acquire())
        sending.trying(request)
        try:
            left = retry.check_deadline()
            if self_cut:
                scope = DEADLINE.set(retry.deadline)
                try:
                    response = await call(timed(request, left, retry.timeout))
                finally:
                    DEADLINE.reset(scope)
            else:
                pending = call(timed(request, left, retry.timeout))
                response = await (pending if left is None else within(pending, left))
        except Overdue:
            raise sending.late() from None
        except BaseException as exc:  # also cancellation: the slot goes back to the gate
            delay = sending.failed(exc)
            if delay is None:
                raise
            await asyncio.sleep(delay)
            continue
        sending.succeeded()
        return response


async def within(pending: Awaitable[Any], seconds: float) -> Any:
    """``await pending``, raising :class:`Overdue` after ``seconds`` (it is cancelled)."""
    task = asyncio.ensure_future(pending)
    try:
        done, _ = await asyncio.wait({task}, timeout=seconds)
    finally:
        if not task.done():
            task.cancel()
    if not done:
        raise Overdue
    return task.result()
