"""Backends over the official ``openai`` SDK (OpenAI or any compatible endpoint)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import openai
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from ..profiles import Profile, get_profile, profile_for_base_url
from ..redact import register_secret

_STREAM_OPTIONS = {"include_usage": True}


def _profile_for(client: Any, profile: str | Profile | None) -> Profile:
    if profile is not None:
        return get_profile(profile)
    return profile_for_base_url(str(getattr(client, "base_url", "") or "") or None)


class OpenAIBackend:
    """Sends requests with ``client.chat.completions.create``.

    ``profile`` (a :class:`~extractkit.profiles.Profile` or a registered
    name; ``endpoint=`` is the older spelling) says what the endpoint
    accepts; by default it is guessed from the client's base URL.

    The SDK's own retries are switched off (on a copy of the client): the
    drivers retry transport failures themselves (``transport_retries``), so
    that a batch can slow down as a whole on 429s and every retry is counted
    in the result.
    """

    profile: Profile

    def __init__(
        self,
        client: openai.OpenAI,
        *,
        profile: str | Profile | None = None,
        endpoint: str | Profile | None = None,
    ) -> None:
        self.client = client
        register_secret(getattr(client, "api_key", None))
        self.profile = _profile_for(client, profile if profile is not None else endpoint)
        self._create = client.with_options(max_retries=0).chat.completions.create

    def complete(self, request: dict[str, Any]) -> ChatCompletion:
        return self._create(**request)  # type: ignore[no-any-return]

    def stream(self, request: dict[str, Any]) -> Iterator[ChatCompletionChunk]:
        stream = self._create(**request, stream=True, stream_options=_STREAM_OPTIONS)  # type: ignore[call-overload]
        with stream:
            yield from stream


class AsyncOpenAIBackend:
    """The async twin of :class:`OpenAIBackend` over ``openai.AsyncOpenAI``."""

    profile: Profile

    def __init__(
        self,
        client: openai.AsyncOpenAI,
        *,
        profile: str | Profile | None = None,
        endpoint: str | Profile | None = None,
    ) -> None:
        self.client = client
        register_secret(getattr(client, "api_key", None))
        self.profile = _profile_for(client, profile if profile is not None else endpoint)
        self._create = client.with_options(max_retries=0).chat.completions.create

    async def complete(self, request: dict[str, Any]) -> ChatCompletion:
        return await self._create(**request)  # type: ignore[no-any-return]

    async def stream(self, request: dict[str, Any]) -> AsyncIterator[ChatCompletionChunk]:
        stream = await self._create(**request, stream=True, stream_options=_STREAM_OPTIONS)  # type: ignore[call-overload]
        async with stream:
            async for chunk in stream:
                yield chunk
