"""Backends over the official ``openai`` SDK (OpenAI or any compatible endpoint)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import openai
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from ..profiles import Profile, get_profile, profile_for_base_url
from ..redact import register_secret

_STREAM_OPTIONS = {"include_usage": True}


def _profile_for(client: Any, endpoint: str | Profile | None) -> Profile:
    if endpoint is not None:
        return get_profile(endpoint)
    return profile_for_base_url(str(getattr(client, "base_url", "") or ""))


class OpenAIBackend:
    """Sends requests with ``client.chat.completions.create``.

    The SDK's own retries are switched off (on a copy of the client): the
    drivers retry transport failures themselves, so that a batch can slow
    down as a whole on 429s and every retry is counted in the result.
    """

    def __init__(self, client: openai.OpenAI, *, endpoint: str | Profile | None = None) -> None:
        self.client = client
        register_secret(getattr(client, "api_key", None))
        self._profile = _profile_for(client, endpoint)
        self.profile = self._profile.name
        self._create = client.with_options(max_retries=0).chat.completions.create

    def complete(self, request: dict[str, Any]) -> ChatCompletion:
        return self._create(**request)  # type: ignore[no-any-return]

    def stream(self, request: dict[str, Any]) -> Iterator[ChatCompletionChunk]:
        stream = self._create(**request, stream=True, stream_options=_STREAM_OPTIONS)  # type: ignore[call-overload]
        with stream:
            yield from stream


class AsyncOpenAIBackend:
    """The async twin of :class:`OpenAIBackend` over ``openai.AsyncOpenAI``."""

    def __init__(
        self, client: openai.AsyncOpenAI, *, endpoint: str | Profile | None = None
    ) -> None:
        self.client = client
        register_secret(getattr(client, "api_key", None))
        self._profile = _profile_for(client, endpoint)
        self.profile = self._profile.name
        self._create = client.with_options(max_retries=0).chat.completions.create

    async def complete(self, request: dict[str, Any]) -> ChatCompletion:
        return await self._create(**request)  # type: ignore[no-any-return]

    async def stream(self, request: dict[str, Any]) -> AsyncIterator[ChatCompletionChunk]:
        stream = await self._create(**request, stream=True, stream_options=_STREAM_OPTIONS)  # type: ignore[call-overload]
        async with stream:
            async for chunk in stream:
                yield chunk
