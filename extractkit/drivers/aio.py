"""asyncio driver: the same steps as :mod:`.sync`, awaiting the backend."""

from __future__ import annotations

from typing import Any

from ..backends.base import AsyncBackend
from ..errors import DeadlineError
from ..loop import Extraction
from ..moderation import ascreen_input, ascreen_output
from ..results import Result
from .gate import Gate
from .send import asend, receive


async def run(
    backend: AsyncBackend, extraction: Extraction[Any], *, gate: Gate | None = None
) -> Result[Any]:
    """Drive ``extraction`` to a result (or its error); see :func:`.sync.run`."""
    if extraction.moderator is not None:
        await ascreen_input(extraction)  # before any completion is paid for
    try:
        while True:
            response = await asend(backend.complete, extraction.request(), extraction.transport, gate)
            result = receive(backend, extraction, response)
            if result is not None:
                if extraction.moderator is not None:
                    await ascreen_output(extraction, result)
                return result
    except DeadlineError as exc:
        exc.attempts = list(extraction.attempts)  # what was received before time ran out
        raise
