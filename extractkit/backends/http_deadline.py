"""The extraction's deadline, enforced inside an ``openai`` client's HTTP layer.

The SDK's ``timeout`` bounds each *read*, so a server that trickles one byte
every half second never trips it. Cutting the call from outside costs a
hand-over to a worker thread on every call (:mod:`extractkit.drivers.bounded`,
about 8 % of a fast call). For an ``openai`` client over ``httpx2`` -- the
one extractkit builds, or one that is passed in -- the deadline is enforced
where the bytes arrive instead, by two event hooks on the client's
``httpx2.Client`` / ``httpx2.AsyncClient``:

* before a request goes out, its connect, write, pool and read timeouts
  become at most the time left;
* once the response's headers are in, its read timeout is lowered to what is
  left then, and its body stream is wrapped so that a chunk arriving after
  the deadline ends the response with ``httpx2.ReadTimeout``: a server that
  trickles a byte every half second is cut within half a second of the
  deadline, on the caller's own thread (or task).

The deadline (a ``time.monotonic()`` instant) reaches the hooks through the
context variable :data:`DEADLINE`, which the drivers set around each call
(:func:`extractkit.drivers.send.send` and its twins). Outside an extraction it
is unset and both hooks return at once: other code sharing the client sees no
change. Response headers that themselves trickle are bounded per read only (a
limit of hooks above the connection); the worker-thread cut is what remains
for clients without ``httpx2`` (a legacy ``httpx`` client) and for other
backends.
"""

from __future__ import annotations

import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextvars import ContextVar
from typing import Any

import httpx2

#: When the running extraction must be done (``time.monotonic()``); ``None``: no deadline.
DEADLINE: ContextVar[float | None] = ContextVar("extractkit_deadline", default=None)

_PHASES = ("connect", "read", "write", "pool")
_LATE = "the extraction's deadline passed while the response was arriving"
_SOONEST = 0.001  # a timeout of 0 means "no wait at all" to some backends: keep it positive
_lock = threading.Lock()


def cut_at_deadline(client: Any) -> bool:
    """Add the deadline hooks to ``client``'s HTTP client (an ``openai.OpenAI`` or
    ``AsyncOpenAI``); whether it could (``False``: not over ``httpx2``).

    Adding them twice is a no-op; they are inert outside an extraction."""
    http = getattr(client, "_client", None)  # the SDK keeps its HTTP client here
    if isinstance(http, httpx2.AsyncClient):
        on_request: Any = _aon_request
        on_response: Any = _aon_response
    elif isinstance(http, httpx2.Client):
        on_request, on_response = _on_request, _on_response
    else:
        return False
    with _lock:
        hooks = http.event_hooks
        if on_request not in hooks["request"]:
            # ours last for requests (they see the final timeouts), first for responses
            # (before any hook of the caller's reads the body)
            http.event_hooks = {"request": [*hooks["request"], on_request],
                                "response": [on_response, *hooks["response"]]}
    return True


def _left(deadline: float) -> float:
    return max(deadline - time.monotonic(), _SOONEST)


def _bound_request(request: httpx2.Request, deadline: float) -> None:
    # a new dict (the request's own may be shared), every phase at most the time left
    left = _left(deadline)
    own = request.extensions.get("timeout")
    timeouts = dict(own) if isinstance(own, dict) else {}
    for phase in _PHASES:
        value = timeouts.get(phase)
        if value is None or value > left:
            timeouts[phase] = left
    request.extensions["timeout"] = timeouts


def _bound_response(response: httpx2.Response, deadline: float, stream: Any) -> None:
    timeouts = response.request.extensions.get("timeout")
    if isinstance(timeouts, dict):
        # the dict made by _bound_request: the transport reads it again when the body starts
        left = _left(deadline)
        read = timeouts.get("read")
        if read is None or read > left:
            timeouts["read"] = left
    response.stream = stream


def _on_request(request: httpx2.Request) -> None:
    deadline = DEADLINE.get()
    if deadline is not None:
        _bound_request(request, deadline)


def _on_response(response: httpx2.Response) -> None:
    deadline = DEADLINE.get()
    if deadline is not None:
        _bound_response(response, deadline, _Cut(response.stream, deadline, response.request))


async def _aon_request(request: httpx2.Request) -> None:
    deadline = DEADLINE.get()
    if deadline is not None:
        _bound_request(request, deadline)


async def _aon_response(response: httpx2.Response) -> None:
    deadline = DEADLINE.get()
    if deadline is not None:
        _bound_response(response, deadline, _ACut(response.stream, deadline, response.request))


class _Cut(httpx2.SyncByteStream):
    """A response body that ends with ``ReadTimeout`` at the first chunk past the deadline."""

    __slots__ = ("_deadline", "_inner", "_request")

    def __init__(self, inner: Any, deadline: float, request: httpx2.Request) -> None:
        self._inner = inner
        self._deadline = deadline
        self._request = request

    def __iter__(self) -> Iterator[bytes]:
        deadline = self._deadline
        for chunk in self._inner:
            if time.monotonic() > deadline:
                raise httpx2.ReadTimeout(_LATE, request=self._request)
            yield chunk

    def close(self) -> None:
        self._inner.close()


class _ACut(httpx2.AsyncByteStream):
    """The async twin of :class:`_Cut`."""

    __slots__ = ("_deadline", "_inner", "_request")

    def __init__(self, inner: Any, deadline: float, request: httpx2.Request) -> None:
        self._inner = inner
        self._deadline = deadline
        self._request = request

    async def __aiter__(self) -> AsyncIterator[bytes]:
        deadline = self._deadline
        async for chunk in self._inner:
            if time.monotonic() > deadline:
                raise httpx2.ReadTimeout(_LATE, request=self._request)
            yield chunk

    async def aclose(self) -> None:
        await self._inner.aclose()
