"""Backends: where requests go. Chosen from resolved settings by :func:`resolve_backend`.

* a client was given → that client (``OpenAI`` or ``AsyncOpenAI``), or the
  backend object itself;
* ``local=True`` → the embedded model;
* a base URL or API key (argument, ``OPENAI_BASE_URL`` or ``OPENAI_API_KEY``)
  → an ``openai`` client for that endpoint;
* otherwise → the embedded model, announced once on stderr.

Which of these applies, and with which :class:`~extractkit.profiles.Profile`,
is decided once by :meth:`extractkit.settings.Settings.resolve`; this module
only builds the object.
"""

from __future__ import annotations

import sys
import threading
from typing import Any

import openai

from ..errors import ConfigurationError
from ..settings import Resolved, Settings
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


def _given(client: Any, resolved: Resolved, *, is_async: bool) -> Any:
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
        return AsyncOpenAIBackend(client, profile=resolved.profile)
    return OpenAIBackend(client, profile=resolved.profile)


def resolve_backend(settings: Settings | Resolved, *, is_async: bool) -> Any:
    """The backend these settings point at (sync or async)."""
    resolved = settings.resolve() if isinstance(settings, Settings) else settings
    if resolved.client is not None:
        return _given(resolved.client, resolved, is_async=is_async)
    if resolved.local:
        return _local(is_async, announce=resolved.local_by_default)
    if not (resolved.base_url or resolved.api_key):
        raise ConfigurationError(
            "local=False but no endpoint is configured: pass base_url=/api_key= or a client, "
            "or set OPENAI_BASE_URL / OPENAI_API_KEY"
        )
    # A local server needs no key, but the SDK insists on one: send a placeholder.
    api_key = resolved.api_key or "not-needed"
    if is_async:
        client: Any = openai.AsyncOpenAI(base_url=resolved.base_url, api_key=api_key)
        return AsyncOpenAIBackend(client, profile=resolved.profile)
    return OpenAIBackend(
        openai.OpenAI(base_url=resolved.base_url, api_key=api_key), profile=resolved.profile
    )


__all__ = ["AsyncBackend", "AsyncOpenAIBackend", "Backend", "OpenAIBackend", "resolve_backend"]
