"""Backends over the official ``openai`` SDK (OpenAI or any compatible endpoint)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import openai
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from ..profiles import Profile, get_profile, profile_for_base_url
from ..redact import register_secret
from .http_deadline import cut_at_deadline
from .rejected import raise_if_rejected

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

    The extraction's deadline is enforced in the client's HTTP layer
    (:mod:`.http_deadline`: hooks added to its ``httpx2`` client, inert outside
    an extraction); ``cuts_at_deadline`` says so to the drivers, which then
    need no worker thread to cut a call mid-flight.
    """

    profile: Profile
    #: each call ends at the extraction's deadline by itself (see :mod:`.http_deadline`)
    cuts_at_deadline: bool

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
        self.cuts_at_deadline = cut_at_deadline(client)

    def complete(self, request: dict[str, Any]) -> ChatCompletion:
        try:
            return self._create(**request)  # type: ignore[no-any-return]
        except openai.APIStatusError as exc:
            raise_if_rejected(exc, request, self.profile)
            raise

    def stream(self, request: dict[str, Any]) -> Iterator[ChatCompletionChunk]:
        try:
            stream = self._create(**request, stream=True, stream_options=_STREAM_OPTIONS)  # type: ignore[call-overload]
        except openai.APIStatusError as exc:
            raise_if_rejected(exc, request, self.profile)
            raise
        with stream:
            yield from stream


class AsyncOpenAIBackend:
    """The async twin of :class:`OpenAIBackend` over ``openai.AsyncOpenAI``."""

    profile: Profile
    cuts_at_deadline: bool

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
        self.cuts_at_deadline = cut_at_deadline(client)

    async def complete(self, request: dict[str, Any]) -> ChatCompletion:
        try:
            return await self._create(**request)  # type: ignore[no-any-return]
        except openai.APIStatusError as exc:
            raise_if_rejected(exc, request, self.profile)
            raise

    async def stream(self, request: dict[str, Any]) -> AsyncIterator[ChatCompletionChunk]:
        try:
            stream = await self._create(**request, stream=True, stream_options=_STREAM_OPTIONS)  # type: ignore[call-overload]
        except openai.APIStatusError as exc:
            raise_if_rejected(exc, request, self.profile)
            raise
        async with stream:
            async for chunk in stream:
                yield chunk
