"""Backends: where requests go. Chosen from settings by :func:`resolve_backend`.

* a client was given → that client (``OpenAI`` or ``AsyncOpenAI``);
* ``local=True`` → the embedded model;
* a base URL or API key (argument, ``OPENAI_BASE_URL`` or ``OPENAI_API_KEY``)
  → an ``openai`` client for that endpoint;
* otherwise → the embedded model, announced once on stderr.
"""

from __future__ import annotations

import os
import sys
import threading
from typing import Any

import openai

from ..errors import ConfigurationError
from ..settings import Settings
from .base import AsyncBackend, Backend
from .openai_client import AsyncOpenAIBackend, OpenAIBackend

_announced = threading.Event()


def _announce_local() -> None:
    if _announced.is_set():
        return
    _announced.set()
    print(
        "extractkit: no OPENAI_API_KEY or OPENAI_BASE_URL set; using the embedded local model "
        "(set one of them, or pass a client, to use a remote endpoint)",
        file=sys.stderr,
    )


def _local(is_async: bool, announce: bool) -> Any:
    from .local import AsyncLocalBackend, LocalBackend

    if announce:
        _announce_local()
    return AsyncLocalBackend() if is_async else LocalBackend()


def resolve_backend(settings: Settings, *, is_async: bool) -> Any:
    """The backend these settings point at (sync or async)."""
    client = settings.client
    endpoint = settings.resolved_endpoint
    if client is not None:
        if is_async and callable(getattr(client, "as_async", None)):
            client = client.as_async()  # a test double from extractkit.testing
        if isinstance(client, (Backend, AsyncBackend)) and not isinstance(
            client, (openai.OpenAI, openai.AsyncOpenAI)
        ):
            return client
        if is_async and not isinstance(client, openai.AsyncOpenAI):
            raise ConfigurationError(
                "an async function or API needs an openai.AsyncOpenAI client, got "
                f"{type(client).__name__}"
            )
        if not is_async and not isinstance(client, openai.OpenAI):
            raise ConfigurationError(
                f"a sync function or API needs an openai.OpenAI client, got {type(client).__name__}"
            )
        if is_async:
            return AsyncOpenAIBackend(client, endpoint=endpoint)
        return OpenAIBackend(client, endpoint=endpoint)
    if settings.uses_local():
        if settings.local and endpoint not in (None, "local"):
            raise ConfigurationError(
                f"local=True uses the embedded model; it cannot also use endpoint={endpoint!r}"
            )
        return _local(is_async, announce=not settings.local)
    base_url = settings.base_url or os.environ.get("OPENAI_BASE_URL") or None
    if not (base_url or settings.api_key or os.environ.get("OPENAI_API_KEY")):
        raise ConfigurationError(
            "local=False but no endpoint is configured: pass base_url=/api_key= or a client, "
            "or set OPENAI_BASE_URL / OPENAI_API_KEY"
        )
    # A local server needs no key, but the SDK insists on one: send a placeholder.
    api_key = settings.api_key or os.environ.get("OPENAI_API_KEY") or "not-needed"
    if is_async:
        return AsyncOpenAIBackend(openai.AsyncOpenAI(base_url=base_url, api_key=api_key),
                                  endpoint=endpoint)
    return OpenAIBackend(openai.OpenAI(base_url=base_url, api_key=api_key), endpoint=endpoint)


__all__ = ["AsyncBackend", "AsyncOpenAIBackend", "Backend", "OpenAIBackend", "resolve_backend"]
