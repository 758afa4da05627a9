"""The interface every backend offers to the drivers.

A backend takes a request -- exactly the keyword arguments of
``client.chat.completions.create`` (``model``, ``messages``,
``response_format`` or ``tools``/``tool_choice``, ``temperature``, ...) -- and
returns the SDK's own ``ChatCompletion`` (or an iterator of
``ChatCompletionChunk`` when streaming). Remote endpoints and the embedded
local model look the same to the loop.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any, Protocol, runtime_checkable

from openai.types.chat import ChatCompletion, ChatCompletionChunk

from ..profiles import Profile


@runtime_checkable
class Backend(Protocol):
    """Synchronous backend."""

    #: The endpoint profile that describes what this backend accepts (a
    #: registered name is still accepted and looked up with ``get_profile``).
    profile: Profile | str

    def complete(self, request: dict[str, Any]) -> ChatCompletion: ...

    def stream(self, request: dict[str, Any]) -> Iterator[ChatCompletionChunk]: ...


@runtime_checkable
class AsyncBackend(Protocol):
    """Asynchronous backend."""

    profile: Profile | str

    async def complete(self, request: dict[str, Any]) -> ChatCompletion: ...

    def stream(self, request: dict[str, Any]) -> AsyncIterator[ChatCompletionChunk]: ...
