"""Blocking driver: send, receive, until the extraction has a result (or raises)."""

from __future__ import annotations

from typing import Any

from ..backends.base import Backend
from ..errors import DeadlineError
from ..loop import Extraction
from ..moderation import screen_input, screen_output
from ..results import Result
from .gate import ThreadGate
from .send import receive, send


def run(
    backend: Backend, extraction: Extraction[Any], *, gate: ThreadGate | None = None
) -> Result[Any]:
    """Drive ``extraction`` to a result (or its error).

    Transport failures are retried within ``extraction.transport``'s budget;
    ``gate`` (shared by many extractions) bounds the requests in flight.
    """
    if extraction.moderator is not None:
        screen_input(extraction)  # before any completion is paid for
    try:
        while True:
            response = send(backend.complete, extraction.request(), extraction.transport, gate)
            result = receive(backend, extraction, response)
            if result is not None:
                if extraction.moderator is not None:
                    screen_output(extraction, result)
                return result
    except DeadlineError as exc:
        exc.attempts = list(extraction.attempts)  # what was received before time ran out
        raise
