"""asyncio driver: the same steps as :mod:`.sync`, awaiting the backend."""

from __future__ import annotations

import asyncio
from typing import Any

from ..backends.base import AsyncBackend
from ..loop import Extraction
from ..results import Result
from ..retry import TransportRetry


async def send(backend: AsyncBackend, request: dict[str, Any], retry: TransportRetry) -> Any:
    """One request, with transport retries (429/5xx/timeouts) and backoff."""
    while True:
        try:
            return await backend.complete(request)
        except Exception as exc:
            delay = retry.delay_for(exc)
            if delay is None:
                raise
            await asyncio.sleep(delay)


async def run(
    backend: AsyncBackend, extraction: Extraction[Any], retry: TransportRetry | None = None
) -> Result[Any]:
    """Drive ``extraction`` to a result (or its error)."""
    retry = retry or TransportRetry()
    while True:
        response = await send(backend, extraction.request(), retry)
        extraction.transport_retries = retry.failures
        result = extraction.receive(response)
        if result is not None:
            return result
