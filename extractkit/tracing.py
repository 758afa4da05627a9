"""OpenTelemetry spans for extractions, as an ``on_event`` hook (docs/observability.md).

:class:`SpanHook` turns the events of :mod:`extractkit.events` into spans
that follow the OpenTelemetry GenAI semantic conventions, so there is one
instrumentation path: whatever emits events is traced.

* one span per extraction, ``extract {schema}`` (kind ``INTERNAL``,
  ``gen_ai.operation.name = "extract"``: extractkit's own operation, so
  that token usage is not counted twice), with the request model, provider,
  server, the number of attempts and the total tokens (``extractkit.usage.*``);
* a child span per request sent, ``chat {model}`` (kind ``CLIENT``;
  ``INTERNAL`` for the embedded model), with ``gen_ai.usage.input_tokens`` /
  ``output_tokens``, ``gen_ai.response.model``, ``gen_ai.response.id`` and
  ``gen_ai.response.finish_reasons``. An invalid answer is a span event
  (``extractkit.attempt_failed``, with the validation errors); a transport
  failure ends the span with an error status (``error.type``);
* an extraction that fails ends with an error status and an exception event.

Prompt and answer text are never recorded unless ``capture_content=True``
(then as ``gen_ai.input.messages`` / ``gen_ai.output.messages``).

When it is on: ``tracing=True`` (``--trace``) adds a :class:`SpanHook`;
``tracing=None`` (the default) adds one when a tracer provider has been
configured (``opentelemetry.trace.set_tracer_provider``, or an
``opentelemetry-instrument`` run); ``tracing=False`` never. A
:class:`SpanHook` given in ``on_event=`` is used as it is (for a provider of
its own or ``capture_content=True``).

Needs ``opentelemetry-api`` (``pip install 'extractkit[otel]'``).
"""

from __future__ import annotations

import contextlib
import json
import sys
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import IO, Any

from .errors import ConfigurationError
from .events import (
    AttemptFailed,
    Event,
    Failed,
    FellBack,
    Finished,
    Hook,
    Reasked,
    RequestSent,
    ResponseReceived,
    TransportRetried,
)

__all__ = ["SpanHook", "hooks_with_tracing", "spans_to", "tracer_provider_configured"]

_NEEDS_OTEL = ("tracing needs the OpenTelemetry API: pip install 'extractkit[otel]' "
               "(opentelemetry-api)")
#: what an ``extract`` span is called (extractkit's own GenAI operation name)
EXTRACT = "extract"
#: at most this many validation errors on a span event
_MAX_ERRORS = 10


@dataclass
class _Open:
    """The spans of one extraction in progress."""

    extraction: Any
    attempt: Any = None


class SpanHook:
    """An ``on_event`` hook that records OpenTelemetry spans (see the module docstring).

    ``tracer_provider``: where spans go (default: the global one).
    ``capture_content``: also record the messages sent and the answers.
    """

    def __init__(self, tracer_provider: Any = None, *, capture_content: bool = False) -> None:
        try:
            from opentelemetry import trace
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise ConfigurationError(_NEEDS_OTEL) from exc
        from . import __version__

        self._trace = trace
        self._tracer = trace.get_tracer("extractkit", __version__,
                                        tracer_provider=tracer_provider)
        #: read by :class:`extractkit.events.Emitter`: fill in messages and answers
        self.capture_content = capture_content
        self._open: dict[str, _Open] = {}
        self._lock = threading.Lock()
        self._handlers = {
            RequestSent: self._sent,
            ResponseReceived: self._received,
            AttemptFailed: self._attempt_failed,
            Reasked: self._reasked,
            TransportRetried: self._retried,
            FellBack: self._fell_back,
            Finished: self._finished,
            Failed: self._failed,
        }

    def __call__(self, event: Event) -> None:
        handler = self._handlers.get(type(event))
        if handler is not None:
            handler(event)  # type: ignore[operator]

    @property
    def open_extractions(self) -> int:
        """Extractions whose span has not ended (0 between runs)."""
        return len(self._open)

    # -- spans ------------------------------------------------------------------

    def _spans(self, event: Event) -> _Open | None:
        return self._open.get(event.extraction_id)

    def _sent(self, event: RequestSent) -> None:
        trace = self._trace
        spans = self._spans(event)
        if spans is None:
            name = f"{EXTRACT} {event.schema}" if event.schema else EXTRACT
            extraction = self._tracer.start_span(name, kind=trace.SpanKind.INTERNAL,
                                                 attributes=_common(event, EXTRACT))
            spans = _Open(extraction)
            with self._lock:
                self._open[event.extraction_id] = spans
        elif spans.attempt is not None:
            spans.attempt.end()
        local = event.provider == "local"
        attributes = _common(event, "chat")
        attributes["gen_ai.output.type"] = "json"
        attributes["extractkit.attempt"] = event.attempt
        attributes["extractkit.retry"] = event.retry
        if self.capture_content and event.messages is not None:
            attributes["gen_ai.input.messages"] = _input_messages(event.messages)
        spans.attempt = self._tracer.start_span(
            f"chat {event.model}" if event.model else "chat",
            context=trace.set_span_in_context(spans.extraction),
            kind=trace.SpanKind.INTERNAL if local else trace.SpanKind.CLIENT,
            attributes=attributes,
        )

    def _received(self, event: ResponseReceived) -> None:
        spans = self._spans(event)
        if spans is None or spans.attempt is None:
            return
        span = spans.attempt
        if event.model:
            span.set_attribute("gen_ai.response.model", event.model)
        if event.response_id:
            span.set_attribute("gen_ai.response.id", event.response_id)
        reasons = [r for r in event.finish_reasons if r]
        if reasons:
            span.set_attribute("gen_ai.response.finish_reasons", reasons)
        span.set_attribute("gen_ai.usage.input_tokens", event.usage.prompt_tokens)
        span.set_attribute("gen_ai.usage.output_tokens", event.usage.completion_tokens)
        if self.capture_content and event.content is not None:
            span.set_attribute("gen_ai.output.messages", json.dumps(
                [{"role": "assistant", "parts": [{"type": "text", "content": event.content}],
                  "finish_reason": reasons[0] if reasons else None}], ensure_ascii=False))

    def _attempt_failed(self, event: AttemptFailed) -> None:
        spans = self._spans(event)
        if spans is None:
            return
        errors = list(event.errors[:_MAX_ERRORS])
        span = spans.attempt if spans.attempt is not None else spans.extraction
        attributes: dict[str, Any] = {"extractkit.attempt": event.attempt,
                                      "extractkit.errors": errors}
        if event.refusal is not None:
            attributes["extractkit.refused"] = True
        span.add_event("extractkit.attempt_failed", attributes)
        if spans.attempt is not None:
            spans.attempt.set_attribute("extractkit.valid", False)
            spans.attempt.end()
            spans.attempt = None

    def _reasked(self, event: Reasked) -> None:
        spans = self._spans(event)
        if spans is not None:
            spans.extraction.add_event("extractkit.reasked", {
                "extractkit.attempt": event.attempt,
                "extractkit.reasks_left": event.reasks_left})

    def _retried(self, event: TransportRetried) -> None:
        spans = self._spans(event)
        if spans is None or spans.attempt is None:
            return
        span = spans.attempt
        span.set_attribute("error.type", event.error_type)
        span.add_event("extractkit.transport_retry", {
            "extractkit.retry": event.retry, "extractkit.delay": event.delay,
            "exception.type": event.error_type, "exception.message": event.error})
        span.set_status(self._trace.Status(self._trace.StatusCode.ERROR, event.error))
        span.end()
        spans.attempt = None

    def _fell_back(self, event: FellBack) -> None:
        spans = self._spans(event)
        if spans is not None:
            if spans.attempt is not None:  # the request the endpoint left behind failed
                spans.attempt.set_status(self._trace.Status(self._trace.StatusCode.ERROR,
                                                            event.reason))
                spans.attempt.end()
                spans.attempt = None
            spans.extraction.add_event("extractkit.fell_back", {
                "extractkit.from_endpoint": event.from_endpoint or "",
                "extractkit.to_endpoint": event.to_endpoint or "",
                "extractkit.reason": event.reason})

    def _finished(self, event: Finished) -> None:
        spans = self._close(event)
        if spans is None:
            return
        if spans.attempt is not None:
            spans.attempt.set_attribute("extractkit.valid", True)
            spans.attempt.end()
        result = event.result
        span = spans.extraction
        if result.model:
            span.set_attribute("gen_ai.response.model", result.model)
        span.set_attribute("extractkit.attempts", len(result.attempts))
        span.set_attribute("extractkit.transport_retries", result.transport_retries)
        span.set_attribute("extractkit.usage.input_tokens", result.usage.prompt_tokens)
        span.set_attribute("extractkit.usage.output_tokens", result.usage.completion_tokens)
        span.end()

    def _failed(self, event: Failed) -> None:
        spans = self._close(event)
        if spans is None:
            return
        status = self._trace.Status(self._trace.StatusCode.ERROR, event.message)
        attributes = {"exception.type": event.error_type, "exception.message": event.message}
        for span in (spans.attempt, spans.extraction):
            if span is None:
                continue
            span.set_attribute("error.type", event.error_type)
            # the event by hand, not record_exception: the message is the redacted one
            span.add_event("exception", attributes)
            span.set_status(status)
            span.end()

    def _close(self, event: Event) -> _Open | None:
        with self._lock:
            return self._open.pop(event.extraction_id, None)


def _common(event: RequestSent, operation: str) -> dict[str, Any]:
    attributes: dict[str, Any] = {"gen_ai.operation.name": operation}
    if event.provider:
        attributes["gen_ai.provider.name"] = event.provider
    if event.model:
        attributes["gen_ai.request.model"] = event.model
    if event.server_address:
        attributes["server.address"] = event.server_address
    if event.server_port is not None:
        attributes["server.port"] = event.server_port
    if event.endpoint:
        attributes["extractkit.endpoint"] = event.endpoint
    attributes["extractkit.extraction_id"] = event.extraction_id
    return attributes


def _input_messages(messages: Sequence[dict[str, Any]]) -> str:
    """Chat messages in the GenAI conventions' shape (role + text parts), as JSON."""
    out = []
    for message in messages:
        content = message.get("content")
        if isinstance(content, str):
            parts = [{"type": "text", "content": content}]
        elif isinstance(content, list):
            parts = [{"type": "text", "content": p.get("text", "")} for p in content
                     if isinstance(p, dict) and p.get("type") == "text"]
        else:
            parts = []
        out.append({"role": message.get("role"), "parts": parts})
    return json.dumps(out, ensure_ascii=False, default=str)


def tracer_provider_configured() -> bool:
    """A tracer provider has been set (without importing OpenTelemetry when nothing did)."""
    trace = sys.modules.get("opentelemetry.trace")
    if trace is None:
        return False
    provider = trace.get_tracer_provider()
    return not isinstance(provider, (trace.ProxyTracerProvider, trace.NoOpTracerProvider))


def hooks_with_tracing(hooks: Sequence[Hook], tracing: bool | None) -> tuple[Hook, ...]:
    """``hooks`` plus a :class:`SpanHook` when tracing is on (see the module docstring)."""
    hooks = tuple(hooks)
    if tracing is False or any(isinstance(h, SpanHook) for h in hooks):
        return hooks
    if tracing is None and not tracer_provider_configured():
        return hooks
    return (*hooks, SpanHook())


@contextlib.contextmanager
def spans_to(path: str, stderr: IO[str]) -> Iterator[SpanHook]:
    """``extractkit run --trace FILE``: a :class:`SpanHook` whose spans are written to
    ``FILE`` (appended, one JSON object per line; ``-``: standard error) as they end.

    Uses a tracer provider of its own (the OpenTelemetry SDK), not the global one."""
    try:
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter, SimpleSpanProcessor
    except ImportError as exc:
        raise ConfigurationError(
            "--trace FILE needs the OpenTelemetry SDK: pip install 'extractkit[otel]'") from exc
    with contextlib.ExitStack() as stack:
        if path == "-":
            out = stderr
        else:
            try:
                out = stack.enter_context(open(path, "a", encoding="utf-8"))
            except OSError as exc:
                raise ConfigurationError(f"--trace {path}: cannot write: {exc.strerror}") from exc
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter(
            out=out, formatter=lambda span: span.to_json(indent=None) + "\n")))
        stack.callback(provider.shutdown)
        yield SpanHook(provider)
