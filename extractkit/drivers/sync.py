"""Blocking driver: send, receive, until the extraction has a result (or raises)."""

from __future__ import annotations

from typing import Any

from ..backends.base import Backend
from ..loop import Extraction
from ..moderation import screen_input, screen_output
from ..results import Result
from .gate import ThreadGate
from .send import cuts_itself, ended_by, receive, send


def run(
    backend: Backend, extraction: Extraction[Any], *, gate: ThreadGate | None = None
) -> Result[Any]:
    """Drive ``extraction`` to a result (or its error).

    Transport failures are retried within ``extraction.transport``'s budget;
    ``gate`` (shared by many extractions) bounds the requests in flight.
    """
    self_cut = cuts_itself(backend)
    try:
        if extraction.moderator is not None:
            screen_input(extraction)  # before any completion is paid for
        while True:
            response = send(backend.complete, extraction.request(), extraction.transport, gate,
                            extraction.events, self_cut=self_cut)
            result = receive(backend, extraction, response)
            if result is not None:
                if extraction.moderator is not None:
                    screen_output(extraction, result)
                if extraction.events is not None:
                    extraction.events.finished(result)
                return result
    except BaseException as exc:
        ended_by(extraction, exc)
        raise
