"""Blocking driver."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from ..backends.base import Backend
from ..loop import Extraction
from ..results import Result
from ..retry import TransportRetry

if TYPE_CHECKING:
    from .batch import ThreadGate


def send(
    backend: Backend, request: dict[str, Any], retry: TransportRetry, gate: ThreadGate | None = None
) -> Any:
    """One request, with transport retries (429/5xx/timeouts) and backoff.

    ``gate`` (shared by many extractions) limits how many requests are in
    flight and makes a 429 pause every request that shares it.
    """
    while True:
        token = gate.acquire() if gate is not None else 0
        try:
            response = backend.complete(request)
        except BaseException as exc:  # also cancellation: the slot goes back to the gate
            delay = retry.delay_for(exc)
            if gate is not None:
                gate.release(token, exc, delay)
            if delay is None:
                raise
            time.sleep(delay)
            continue
        if gate is not None:
            gate.release(token)
        return response


def run(
    backend: Backend,
    extraction: Extraction[Any],
    retry: TransportRetry | None = None,
    gate: ThreadGate | None = None,
) -> Result[Any]:
    """Drive ``extraction`` to a result (or its error)."""
    retry = retry or TransportRetry()
    while True:
        response = send(backend, extraction.request(), retry, gate)
        extraction.transport_retries = retry.failures
        result = extraction.receive(response)
        if result is not None:
            return result
