"""An opt-in response cache on disk, so that a rerun does not pay twice.

The cache is a backend wrapper: it sits between a driver and any backend
(remote client or local model), looks each request up in a sqlite file and
only sends it on a miss. The key is a SHA-256 of the endpoint URL and the
full request (model, messages, schema, generation parameters...), so any
change to the prompt, schema, model or parameters is a miss. The API key is
never part of the key (nor stored): transport options (``extra_headers``,
``timeout``) are left out of the key, and so are credentials in the URL.

.. code-block:: python

    from extractkit.cache import cached

    ex = Extractor(client=cached(OpenAI(), "responses.sqlite"), model="gpt-4o-mini")

``extractkit run ... --cache [PATH]`` and ``map(..., cache=PATH)`` do the same.
Streamed requests pass through uncached.

Only answers the loop accepted are kept: a response is held back until the
driver reports the loop's verdict on it (:meth:`CachedBackend.settle`), and
stored only if it made a valid result. No choices, a content filter, a cut
at the token limit, a refusal or an answer that failed validation is never
replayed; a cached answer that no longer validates (the schema or a
validator changed) is dropped from the file.
The file is safe to share between threads and processes (sqlite WAL).
"""

from __future__ import annotations

import hashlib
import inspect
import json
import os
import sqlite3
import threading
import time
import weakref
from collections.abc import AsyncIterator, Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import openai
from openai.types.chat import ChatCompletion
from pydantic import ValidationError
from pydantic_core import to_jsonable_python

from .errors import ConfigurationError

#: Request keys that are transport options, not content; left out of the key.
TRANSPORT_KEYS = frozenset({"extra_headers", "extra_query", "timeout"})

_SCHEMA = """
CREATE TABLE IF NOT EXISTS responses (
    key TEXT PRIMARY KEY,
    endpoint TEXT NOT NULL,
    model TEXT,
    response TEXT NOT NULL,
    created REAL NOT NULL
)
"""

#: Responses handed out from a cache, by ``id`` (entries vanish with the object).
_served: weakref.WeakValueDictionary[int, Any] = weakref.WeakValueDictionary()


def default_cache_path() -> Path:
    """``$XDG_CACHE_HOME/extractkit/responses.sqlite`` (``~/.cache`` by default)."""
    root = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(root) / "extractkit" / "responses.sqlite"


def served_from_cache(response: Any) -> bool:
    """Whether ``response`` came out of a :class:`ResponseCache` (so cost nothing)."""
    return response is not None and _served.get(id(response)) is response


def _json_default(value: Any) -> Any:
    return to_jsonable_python(value, fallback=repr)


def request_key(request: Mapping[str, Any], url: str) -> str:
    """The cache key of ``request`` sent to ``url`` (hex SHA-256)."""
    material = {k: v for k, v in request.items() if k not in TRANSPORT_KEYS}
    blob = json.dumps(
        {"endpoint": url, "request": material},  # key names kept: old cache files still hit
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        default=_json_default,
    )
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def _without_credentials(url: str) -> str:
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]))


def backend_url(backend: Any) -> str:
    """Where ``backend`` sends requests: the client's base URL, or the local model file.

    (A URL, not an endpoint *profile*: "endpoint" in settings names a profile.)
    """
    client = getattr(backend, "client", None)
    if client is not None and getattr(client, "base_url", None) is not None:
        return _without_credentials(str(client.base_url))
    inner = getattr(backend, "_sync", backend)
    model_path = getattr(inner, "model_path", None)
    if model_path is not None:
        return f"local:{model_path}"
    return f"backend:{type(backend).__module__}.{type(backend).__qualname__}"


#: the older name of :func:`backend_url`
endpoint_of = backend_url


class ResponseCache:
    """Responses in a sqlite file, keyed by :func:`request_key`.

    ``hits`` and ``misses`` count lookups through this object.
    """

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path is not None else default_cache_path()
        self.hits = 0
        self.misses = 0
        self._lock = threading.Lock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._conn = sqlite3.connect(
                str(self.path), check_same_thread=False, isolation_level=None, timeout=30.0
            )
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
            self._conn.execute(_SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise ConfigurationError(f"cannot open the response cache {self.path}: {exc}") from None

    def get(self, key: str) -> ChatCompletion | None:
        with self._lock:
            row = self._conn.execute(
                "SELECT response FROM responses WHERE key = ?", (key,)
            ).fetchone()
        response = _load(row[0]) if row is not None else None
        if response is None:
            self.misses += 1
            return None
        self.hits += 1
        _served[id(response)] = response
        return response

    def put(self, key: str, response: Any, *, url: str = "") -> None:
        dump = getattr(response, "model_dump_json", None)
        if dump is None:
            return  # not an SDK object: nothing we could rebuild later
        with self._lock:
            self._conn.execute(
                "INSERT OR REPLACE INTO responses (key, endpoint, model, response, created) "
                "VALUES (?, ?, ?, ?, ?)",
                (key, url, getattr(response, "model", None), dump(), time.time()),
            )

    def discard(self, key: str) -> None:
        """Forget the response stored under ``key`` (if any)."""
        with self._lock:
            self._conn.execute("DELETE FROM responses WHERE key = ?", (key,))

    def __len__(self) -> int:
        with self._lock:
            return int(self._conn.execute("SELECT count(*) FROM responses").fetchone()[0])

    def clear(self) -> None:
        with self._lock:
            self._conn.execute("DELETE FROM responses")

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> ResponseCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"ResponseCache({str(self.path)!r})"


def _load(text: str) -> ChatCompletion | None:
    try:
        return ChatCompletion.model_validate_json(text)
    except ValidationError:
        return None  # written by an incompatible SDK version: a miss


def _as_cache(cache: ResponseCache | str | Path | None) -> ResponseCache:
    return cache if isinstance(cache, ResponseCache) else ResponseCache(cache)


#: Responses waiting for the loop's verdict, at most (the oldest are forgotten).
_MAX_PENDING = 10_000


class _Cached:
    """What both cached backends share: the key, the lookup, the verdict (no endpoint I/O)."""

    def __init__(self, backend: Any, cache: ResponseCache | str | Path | None = None) -> None:
        self.backend = backend
        self.cache = _as_cache(cache)
        self.profile: Any = backend.profile
        #: the wrapped backend cuts its calls at the deadline (extractkit.drivers.send)
        self.cuts_at_deadline: bool = getattr(backend, "cuts_at_deadline", False) is True
        #: the wrapped backend's model name, if it has one (a test double does)
        self.default_model: str | None = getattr(backend, "default_model", None)
        #: where requests go (part of every key)
        self.url = backend_url(backend)
        #: id(response) -> (key, response or None for a hit), until :meth:`settle`
        self._pending: dict[int, tuple[str, Any]] = {}
        self._pending_lock = threading.Lock()

    def settle(self, response: Any, ok: bool) -> None:
        """The loop's verdict on ``response`` (returned by :meth:`complete`): a fresh
        answer is stored only when ``ok``; a cached one that is no longer ``ok`` is dropped."""
        with self._pending_lock:
            held = self._pending.pop(id(response), None)
        if held is None:
            return
        key, fresh = held
        if ok and fresh is not None:
            self.cache.put(key, fresh, url=self.url)
        elif not ok and fresh is None:
            self.cache.discard(key)

    @property
    def client(self) -> Any:
        return getattr(self.backend, "client", None)

    def _lookup(self, request: Mapping[str, Any]) -> tuple[str, ChatCompletion | None]:
        key = request_key(request, self.url)
        return key, self.cache.get(key)

    def _hold(self, key: str, response: Any, *, fresh: bool) -> Any:
        with self._pending_lock:
            if len(self._pending) >= _MAX_PENDING:
                del self._pending[next(iter(self._pending))]
            self._pending[id(response)] = (key, response if fresh else None)
        return response


class CachedBackend(_Cached):
    """A blocking backend that answers from ``cache`` when it can."""

    def complete(self, request: dict[str, Any]) -> Any:
        key, hit = self._lookup(request)
        if hit is not None:
            return self._hold(key, hit, fresh=False)
        return self._hold(key, self.backend.complete(request), fresh=True)

    def stream(self, request: dict[str, Any]) -> Iterator[Any]:
        return self.backend.stream(request)  # type: ignore[no-any-return]


class AsyncCachedBackend(_Cached):
    """The async twin of :class:`CachedBackend` (sqlite calls are short and local)."""

    async def complete(self, request: dict[str, Any]) -> Any:
        key, hit = self._lookup(request)
        if hit is not None:
            return self._hold(key, hit, fresh=False)
        return self._hold(key, await self.backend.complete(request), fresh=True)

    def stream(self, request: dict[str, Any]) -> AsyncIterator[Any]:
        return self.backend.stream(request)  # type: ignore[no-any-return]


def cached(
    backend: Any, cache: ResponseCache | str | Path | None = None, *, endpoint: Any = None
) -> CachedBackend | AsyncCachedBackend:
    """Wrap a backend, or an ``OpenAI`` / ``AsyncOpenAI`` client, with a response cache.

    ``endpoint`` (a profile name or :class:`~extractkit.profiles.Profile`) says
    what a client's server accepts, as ``Extractor(endpoint=...)`` does; without
    it the profile is guessed from the client's base URL (a backend keeps its own).
    """
    if isinstance(backend, (CachedBackend, AsyncCachedBackend)):
        return backend
    if isinstance(backend, openai.AsyncOpenAI):
        from .backends import AsyncOpenAIBackend

        backend = AsyncOpenAIBackend(backend, profile=endpoint)
    elif isinstance(backend, openai.OpenAI):
        from .backends import OpenAIBackend

        backend = OpenAIBackend(backend, profile=endpoint)
    wrapped = (AsyncCachedBackend if inspect.iscoroutinefunction(backend.complete)
               else CachedBackend)(backend, cache)
    if endpoint is not None:
        from .profiles import get_profile

        wrapped.profile = get_profile(endpoint)
    return wrapped
