"""asyncio driver: the same steps as :mod:`.sync`, awaiting the backend."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from ..backends.base import AsyncBackend
from ..loop import Extraction
from ..results import Result
from ..retry import TransportRetry

if TYPE_CHECKING:
    from .batch import Gate


async def send(
    backend: AsyncBackend, request: dict[str, Any], retry: TransportRetry, gate: Gate | None = None
) -> Any:
    """One request, with transport retries (429/5xx/timeouts) and backoff.

    ``gate`` (shared by many extractions) limits how many requests are in
    flight and makes a 429 pause every request that shares it.
    """
    while True:
        token = await gate.acquire() if gate is not None else 0
        try:
            response = await backend.complete(request)
        except BaseException as exc:  # also cancellation: the slot goes back to the gate
            delay = retry.delay_for(exc)
            if gate is not None:
                gate.release(token, exc, delay)
            if delay is None:
                raise
            await asyncio.sleep(delay)
            continue
        if gate is not None:
            gate.release(token)
        return response


async def run(
    backend: AsyncBackend,
    extraction: Extraction[Any],
    retry: TransportRetry | None = None,
    gate: Gate | None = None,
) -> Result[Any]:
    """Drive ``extraction`` to a result (or its error)."""
    retry = retry or TransportRetry()
    while True:
        response = await send(backend, extraction.request(), retry, gate)
        extraction.transport_retries = retry.failures
        result = extraction.receive(response)
        if result is not None:
            return result
