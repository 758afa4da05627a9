"""Typed events of an extraction, for ``on_event=`` hooks (see docs/observability.md).

Every event is a frozen dataclass with three common fields: ``extraction_id``
(the same for every event of one extraction), ``endpoint`` (the name of the
endpoint the event concerns, ``None`` when endpoints are not named) and
``at`` (``time.monotonic()`` when it happened). One extraction emits::

    RequestSent → ResponseReceived → (AttemptFailed → Reasked → RequestSent → ...)
                → Finished | Failed

with :class:`TransportRetried` between a :class:`RequestSent` and the next
one when a request failed and is tried again, and :class:`FellBack` when a
chain of endpoints moves on to the next one.

Each event is emitted in exactly one place, in the sans-IO parts every driver
shares (:mod:`extractkit.loop`, :mod:`extractkit.drivers.send`) or at the end
of the drivers, so blocking, asyncio, streamed and batched runs emit the same
sequence. With no hook set, an extraction has no :class:`Emitter` and every
emit site is a single ``is not None`` test.

Events never hold the API key: request headers and clients are not in them,
error texts go through :func:`extractkit.redact.redact`, and the prompt
(``RequestSent.messages``) and the answer text (``ResponseReceived.content``)
are only filled in when a hook asks for them (``capture_content = True`` on
the hook, as :class:`extractkit.tracing.SpanHook` has when built with
``capture_content=True``). :class:`Finished` and :class:`Failed` carry the
result and the exception the caller receives anyway.

A hook that raises does not stop the extraction: the exception is logged on
the ``extractkit`` logger (with its traceback) and the other hooks still run.
Hooks run on the thread (or event loop) that runs the extraction, so a slow
hook slows it down; hand the event to a queue if the work is heavy.
"""

from __future__ import annotations

import itertools
import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from .redact import redact

if TYPE_CHECKING:
    from .results import Result, Usage

__all__ = [
    "AttemptFailed",
    "Emitter",
    "Event",
    "Failed",
    "FellBack",
    "Finished",
    "Hook",
    "Reasked",
    "RequestSent",
    "ResponseReceived",
    "TransportRetried",
    "emit",
    "hooks_of",
]

log = logging.getLogger("extractkit")


@dataclass(frozen=True, kw_only=True, slots=True)
class Event:
    """What every event has."""

    #: the same for every event of one extraction (unique in the process)
    extraction_id: str
    #: the name of the endpoint concerned (``None`` when endpoints are not named)
    endpoint: str | None
    #: ``time.monotonic()`` when it happened
    at: float


@dataclass(frozen=True, kw_only=True, slots=True)
class RequestSent(Event):
    """A request is about to go to the endpoint (each try: transport retries send again)."""

    #: 1-based: goes up with every re-ask, not with transport retries
    attempt: int
    #: transport retries of this extraction so far (0 on the first try)
    retry: int
    #: the model asked for
    model: str | None
    #: the endpoint profile's name (``openai``, ``vllm``, ``local``...)
    provider: str | None
    #: the name of the schema extracted
    schema: str | None = None
    #: host and port requests go to (``None`` for the embedded model or an unknown client)
    server_address: str | None = None
    server_port: int | None = None
    #: the chat messages, only when a hook asked for content (``capture_content``)
    messages: tuple[dict[str, Any], ...] | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class ResponseReceived(Event):
    """A complete response arrived (for a stream: when it ended)."""

    attempt: int
    #: the model that answered, as the response says
    model: str | None
    response_id: str | None
    #: one per choice
    finish_reasons: tuple[str | None, ...]
    #: the tokens of this response
    usage: Usage
    #: the first choice's text (content or tool-call arguments), only when asked for
    content: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class AttemptFailed(Event):
    """An answer was not a valid value (or was a refusal)."""

    attempt: int
    #: the validation errors, as the re-ask message lists them
    errors: tuple[str, ...]
    finish_reason: str | None
    refusal: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class Reasked(Event):
    """The last answer goes back to the model with its errors; ``attempt`` is the next one."""

    attempt: int
    errors: tuple[str, ...]
    #: re-asks left after this one
    reasks_left: int


@dataclass(frozen=True, kw_only=True, slots=True)
class TransportRetried(Event):
    """A request failed in transport (429, 5xx, timeout, dropped or cut stream) and
    is sent again after ``delay`` seconds."""

    attempt: int
    #: 1-based number of this retry
    retry: int
    #: ``"Type: message"``, redacted
    error: str
    error_type: str
    delay: float


@dataclass(frozen=True, kw_only=True, slots=True)
class FellBack(Event):
    """A chain of endpoints moved on from one endpoint to the next."""

    from_endpoint: str | None
    to_endpoint: str | None
    #: why, in words (the error of the endpoint left)
    reason: str


@dataclass(frozen=True, kw_only=True, slots=True)
class Finished(Event):
    """The extraction has its result (the same object the caller gets)."""

    result: Result[Any]


@dataclass(frozen=True, kw_only=True, slots=True)
class Failed(Event):
    """The extraction ended with an error (the same exception the caller gets)."""

    error: BaseException = field(repr=False)
    error_type: str
    #: ``str(error)``, redacted
    message: str


#: A hook: any callable taking an event. Its return value is ignored.
Hook = Callable[[Event], Any]
#: what ``on_event=`` accepts
Hooks = Hook | Sequence[Hook] | None


def hooks_of(value: Hooks, *, name: str = "on_event") -> tuple[Hook, ...]:
    """``on_event=`` (one callable, a sequence of them or ``None``) as a tuple."""
    if value is None:
        return ()
    if callable(value):
        return (value,)
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        from .errors import ConfigurationError

        raise ConfigurationError(
            f"{name} must be a callable or a list of callables, got {type(value).__name__}")
    hooks = tuple(value)
    for index, hook in enumerate(hooks):
        if not callable(hook):
            from .errors import ConfigurationError

            raise ConfigurationError(
                f"{name}[{index}] must be a callable taking an event, "
                f"got {type(hook).__name__}")
    return hooks


def emit(hooks: Sequence[Hook], event: Event) -> None:
    """Call every hook with ``event``; a hook that raises is logged, the others still run."""
    for hook in hooks:
        try:
            hook(event)
        except Exception:
            log.exception("on_event hook %r raised on %s; the extraction goes on",
                          getattr(hook, "__qualname__", hook), type(event).__name__)


_IDS = itertools.count(1)
_PREFIX = f"{os.getpid():x}"


def _next_id() -> str:
    return f"ex-{_PREFIX}-{next(_IDS)}"


def server_of(url: str | None) -> tuple[str | None, int | None]:
    """``(host, port)`` of a base URL (the port only when the URL names one)."""
    if not url:
        return None, None
    try:
        parts = urlsplit(str(url))
        return parts.hostname, parts.port
    except ValueError:
        return None, None


def error_text(error: BaseException) -> str:
    """``"Type: message"``, redacted (never a key)."""
    text = str(error)
    return redact(f"{type(error).__name__}: {text}" if text else type(error).__name__)


class Emitter:
    """The events of one extraction: its id, where it goes, its hooks.

    Built by the engine only when hooks are set (``Extraction.events`` is
    ``None`` otherwise); the loop and the drivers call its methods at the
    points where each thing happens.
    """

    __slots__ = ("_ended", "_responses", "capture_content", "chained", "endpoint", "extraction_id", "hooks",
                 "model", "provider", "schema", "server_address", "server_port")

    def __init__(
        self,
        hooks: Sequence[Hook],
        *,
        model: str | None = None,
        provider: str | None = None,
        base_url: str | None = None,
        endpoint: str | None = None,
        schema: str | None = None,
    ) -> None:
        self.hooks = tuple(hooks)
        self.extraction_id = _next_id()
        self.endpoint = endpoint
        self.model = model
        self.provider = provider
        self.schema = schema
        self.server_address, self.server_port = server_of(base_url)
        self.capture_content = any(getattr(h, "capture_content", False) is True
                                   for h in self.hooks)
        self._ended = False
        self._responses = 0
        #: in a chain of endpoints: the chain, not the driver, says how it ends (:meth:`settle`)
        self.chained = False

    @property
    def attempt(self) -> int:
        """The attempt in progress (1-based): responses received so far + 1."""
        return self._responses + 1

    def emit(self, event: Event) -> None:
        emit(self.hooks, event)

    def _common(self) -> dict[str, Any]:
        return {"extraction_id": self.extraction_id, "endpoint": self.endpoint,
                "at": time.monotonic()}

    # -- one method per event, called where the thing happens ------------------

    def request_sent(self, request: dict[str, Any], retry: int) -> None:
        messages = request.get("messages") if self.capture_content else None
        self.emit(RequestSent(
            **self._common(), attempt=self.attempt, retry=retry,
            model=request.get("model", self.model), provider=self.provider, schema=self.schema,
            server_address=self.server_address, server_port=self.server_port,
            messages=tuple(dict(m) for m in messages) if messages is not None else None,
        ))

    def response_received(self, response: Any, usage: Usage,
                          content: str | None = None) -> None:
        self._responses += 1
        choices = getattr(response, "choices", None) or ()
        self.emit(ResponseReceived(
            **self._common(), attempt=self._responses, model=getattr(response, "model", None),
            response_id=getattr(response, "id", None),
            finish_reasons=tuple(getattr(c, "finish_reason", None) for c in choices),
            usage=usage, content=content if self.capture_content else None,
        ))

    def attempt_failed(self, errors: Sequence[str], finish_reason: str | None,
                       refusal: str | None) -> None:
        self.emit(AttemptFailed(**self._common(), attempt=self._responses, errors=tuple(errors),
                                finish_reason=finish_reason, refusal=refusal))

    def reasked(self, errors: Sequence[str], reasks_left: int) -> None:
        self.emit(Reasked(**self._common(), attempt=self.attempt, errors=tuple(errors),
                          reasks_left=reasks_left))

    def transport_retried(self, retry: int, error: BaseException | str, delay: float) -> None:
        if isinstance(error, BaseException):
            text, kind = error_text(error), type(error).__name__
        else:
            text, kind = redact(error), "IncompleteStream"
        self.emit(TransportRetried(**self._common(), attempt=self.attempt, retry=retry,
                                   error=text, error_type=kind, delay=delay))

    def fell_back(self, from_endpoint: str | None, to_endpoint: str | None, reason: str,
                  *, provider: str | None = None, base_url: str | None = None) -> None:
        """For a chain of endpoints: the next events concern ``to_endpoint`` (and its
        profile's name and URL, when given)."""
        self.emit(FellBack(**self._common(), from_endpoint=from_endpoint,
                           to_endpoint=to_endpoint, reason=redact(reason)))
        self.endpoint = to_endpoint
        if provider is not None:
            self.provider = provider
        if base_url is not None:
            self.server_address, self.server_port = server_of(base_url)

    def finished(self, result: Result[Any]) -> None:
        if self._ended or self.chained:
            return
        self._ended = True
        self.emit(Finished(**self._common(), result=result))

    def failed(self, error: BaseException) -> None:
        """Once per extraction, whichever driver layer sees the error first."""
        if self._ended or (self.chained and isinstance(error, Exception)):
            return
        self._ended = True
        self.emit(Failed(**self._common(), error=error, error_type=type(error).__name__,
                         message=redact(str(error))))

    def settle(self, outcome: Result[Any] | BaseException) -> None:
        """A chain of endpoints is done with this extraction: ``Finished`` or ``Failed``."""
        self.chained = False
        if isinstance(outcome, BaseException):
            self.failed(outcome)
        else:
            self.finished(outcome)
