"""asyncio driver: the same steps as :mod:`.sync`, awaiting the backend."""

from __future__ import annotations

from typing import Any

from ..backends.base import AsyncBackend
from ..loop import Extraction
from ..moderation import ascreen_input, ascreen_output
from ..results import Result
from .gate import Gate
from .send import asend, cuts_itself, ended_by, receive


async def run(
    backend: AsyncBackend, extraction: Extraction[Any], *, gate: Gate | None = None
) -> Result[Any]:
    """Drive ``extraction`` to a result (or its error); see :func:`.sync.run`."""
    self_cut = cuts_itself(backend)
    try:
        if extraction.moderator is not None:
            await ascreen_input(extraction)  # before any completion is paid for
        while True:
            response = await asend(backend.complete, extraction.request(), extraction.transport,
                                   gate, extraction.events, self_cut=self_cut)
            result = receive(backend, extraction, response)
            if result is not None:
                if extraction.moderator is not None:
                    await ascreen_output(extraction, result)
                if extraction.events is not None:
                    extraction.events.finished(result)
                return result
    except BaseException as exc:
        ended_by(extraction, exc)
        raise
