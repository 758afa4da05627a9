"""Blocking driver."""

from __future__ import annotations

import time
from typing import Any

from ..backends.base import Backend
from ..loop import Extraction
from ..results import Result
from ..retry import TransportRetry


def send(backend: Backend, request: dict[str, Any], retry: TransportRetry) -> Any:
    """One request, with transport retries (429/5xx/timeouts) and backoff."""
    while True:
        try:
            return backend.complete(request)
        except Exception as exc:
            delay = retry.delay_for(exc)
            if delay is None:
                raise
            time.sleep(delay)


def run(backend: Backend, extraction: Extraction[Any], retry: TransportRetry | None = None) -> Result[Any]:
    """Drive ``extraction`` to a result (or its error)."""
    retry = retry or TransportRetry()
    while True:
        response = send(backend, extraction.request(), retry)
        extraction.transport_retries = retry.failures
        result = extraction.receive(response)
        if result is not None:
            return result
