"""Streaming driver: partial values while the model writes, then the validated value.

:func:`stream_sync` and :func:`stream_async` run an
:class:`~extractkit.loop.Extraction` over a backend's ``.stream(request)``
(an iterator of ``ChatCompletionChunk``) and yield :class:`Snapshot` objects:

* while a stream runs: ``Snapshot(value=<partial value>, done=False, ...)``,
  only when something visible changed (see :mod:`extractkit.partial` for what
  a partial value looks like);
* at the end: ``Snapshot(value=<validated value>, done=True, result=Result)``,
  the same value :meth:`Extractor.extract` returns for the same answer.

The text to parse is the message content (``json_schema``, ``json_object``:
from the first ``{`` or ``[``; ``md_json``: from the first ``{``/``[`` after
the opening fence) or the first tool call's arguments (``tools``). Each chunk
is parsed once, incrementally.

When a stream ends, the chunks are put together into a ``ChatCompletion``
(content, refusal, tool calls, finish reason, usage) and handed to
:meth:`Extraction.receive`: repair, re-ask and error rules are the loop's.
A re-ask streams again and ``attempt`` goes up by one.

Transport failures (429, 5xx, timeouts, a connection cut mid-stream) are
retried within the extraction's ``transport_retries`` budget (the same
:class:`~extractkit.drivers.send.Sending` bookkeeping as every driver); the stream starts
over from nothing with the same ``attempt`` and ``restarts`` up by one, so a
consumer acting on partial values can tell. A stream that ends quietly
without a ``finish_reason`` (a cut the HTTP layer did not notice) counts as a
transport failure too; when no retries are left it raises
:class:`~extractkit.errors.IncompleteOutputError` -- never a truncated value.
"""

from __future__ import annotations

import asyncio
import inspect
import time
import typing
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from openai.types.chat import ChatCompletion
from openai.types.chat.chat_completion import Choice
from openai.types.chat.chat_completion_message import ChatCompletionMessage
from openai.types.chat.chat_completion_message_function_tool_call import (
    ChatCompletionMessageFunctionToolCall,
    Function,
)
from openai.types.completion_usage import CompletionUsage
from pydantic import TypeAdapter, ValidationError

from ..errors import DeadlineError, IncompleteOutputError
from ..jsontext import OPENER, fence_body
from ..loop import Extraction
from ..moderation import ascreen_input, ascreen_output, screen_input, screen_output
from ..modes import Plan, UnreadableAnswer
from ..partial import ANY, JsonStream, Shape, Unwrap, ValidatedList, build, shape_for
from ..results import Result, Usage
from ..schema.source import WRAP_KEY, SchemaSource
from .bounded import Overdue, call_within
from .send import Sending, timed, within

T = TypeVar("T")

__all__ = ["Snapshot", "StreamSession", "stream_async", "stream_sync"]


@dataclass(frozen=True)
class Snapshot(Generic[T]):
    """One view of the value being extracted.

    ``value``
        a partial value while ``done`` is false; the validated value (``T``)
        on the last snapshot.
    ``done``
        true only for the last snapshot.
    ``attempt``
        1-based; goes up when a re-ask starts (the previous answer was invalid).
    ``restarts``
        transport restarts so far; when it goes up the stream started over
        (same ``attempt``) and partial values begin again from nothing.
    ``result``
        the :class:`~extractkit.results.Result` (attempts, usage), last snapshot only.
    """

    value: Any
    done: bool
    attempt: int
    restarts: int = 0
    result: Result[T] | None = None


# --------------------------------------------------------------------------- shapes

_NO_TYPE: Any = object()
_adapters: dict[Any, TypeAdapter[Any]] = {}
_LIST_ORIGINS = (list, Sequence)


def _declared_type(source: SchemaSource) -> Any:
    """The Python type a schema source was built from (``_NO_TYPE`` for JSON Schema)."""
    return _NO_TYPE if source.python_type is None else source.python_type


def _adapter(tp: Any) -> TypeAdapter[Any]:
    adapter = _adapters.get(tp)
    if adapter is None:
        adapter = _adapters[tp] = TypeAdapter(tp)
    return adapter


def root_shape(source: SchemaSource, context: Any = None) -> Shape:
    """The shape of the whole answer for ``source``.

    Wrapped types show the inner value; a top-level ``list[T]`` validates each
    item as ``T`` (with the extraction's validation ``context``) as soon as it
    closes. JSON Schema documents give plain JSON.
    """
    tp = _declared_type(source)
    if tp is _NO_TYPE:
        return Unwrap(ANY, WRAP_KEY) if source.wrapped else ANY
    if not source.wrapped:
        return shape_for(tp)
    while typing.get_origin(tp) is typing.Annotated:
        tp = typing.get_args(tp)[0]
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in _LIST_ORIGINS and len(args) == 1:
        adapter = _adapter(args[0])

        def validate(raw: Any) -> Any:
            return adapter.validate_python(raw, context=context)

        return Unwrap(ValidatedList(shape_for(args[0]), validate), WRAP_KEY)
    return Unwrap(shape_for(tp), WRAP_KEY)


# --------------------------------------------------------------------------- text → values

class _Opening:
    """Finds where the JSON starts: the first ``{``/``[`` (after the opening fence if fenced).

    What counts as a JSON fence is :func:`extractkit.jsontext.fence_body`, the
    rule the repairer applies to the finished answer. Linear in the text: only
    new text is searched, and before the fence each line is looked at once,
    when it is complete (a fence must start its line, and its info word ends
    with the line).
    """

    def __init__(self, fenced: bool) -> None:
        self.fenced = fenced
        self.started = False
        self._in_body = not fenced  # past the opening fence (or unfenced): the next { or [ starts
        self._blank = fenced  # nothing but blanks so far: the JSON may also come unfenced
        self._line: list[str] = []  # before the fence: the pieces of the line not complete yet

    def feed(self, text: str) -> str:
        """The part of ``text`` that belongs to the JSON document."""
        if self.started:
            return text
        if not self._in_body:
            after = self._past_fence(text)
            if after is None:
                return ""
            text = after
        match = OPENER.search(text)
        if match is None:
            return ""
        self.started = True
        return text[match.start():]

    def _past_fence(self, text: str) -> str | None:
        """The text after the opening fence's info word (or from an unfenced opener), once seen."""
        if self._blank:
            stripped = text.lstrip()
            if not stripped:
                self._line.append(text)
                return None
            self._blank = False
            if stripped[0] in "{[":
                self._in_body = True
                return stripped
        start = 0
        while True:
            newline = text.find("\n", start)
            if newline == -1:
                self._line.append(text[start:])
                return None
            line = text[start : newline + 1]
            if self._line:
                line, self._line = "".join(self._line) + line, []
            fence = len(line) - len(line.lstrip())
            if line.startswith("```", fence):
                body = fence_body(line, fence)
                if body is not None:
                    self._in_body = True
                    return line[body:] + text[newline + 1 :]
            start = newline + 1


class _View:
    """The text of one stream → partial values, for one extraction.

    A view costs the size of the open path (the containers still open, the
    string being written), which grows with the document, so views are
    throttled: every change up to :attr:`SMALL` characters, then only after
    the text grew by an eighth -- a geometric series, so the total work (and
    what a consumer printing every snapshot writes) stays linear in the
    answer's size. When the plan has a decode step (wire shape ≠ declared
    shape, e.g. OpenAI's strict encoding), the partial document is decoded
    and built in full at those points. Map keys
    written as ``{"key": ..., "value": ...}`` entries show once complete,
    nested objects once they have a complete member, and a partial document
    the decoder cannot take shows nothing new.
    """

    #: documents up to this size are rebuilt on every change when a decode step applies
    SMALL = 2048
    #: under a decode step, strings under these keys are shown only once complete
    HELD = frozenset({"key"})

    def __init__(self, plan: Plan, context: Any) -> None:
        self.shape = root_shape(plan.compiled.source, context)
        self.decode = plan.compiled.decode
        self.fenced = plan.mode.name == "md_json"
        self.reset()

    def reset(self) -> None:
        self.parser = JsonStream(ANY if self.decode is not None else self.shape)
        self.opening = _Opening(self.fenced)
        self._length = self._shown_at = 0
        self._pending = False  # a change not shown yet (throttled)
        self._items: list[Any] = []
        self._decoded: Any = None

    def feed(self, text: str) -> bool:
        body = self.opening.feed(text)
        if not body:
            return False
        changed = self.parser.feed(body) or self._pending
        self._length += len(body)
        if not changed:
            return False
        if self._length > self.SMALL and self._length - self._shown_at < self._length // 8:
            self._pending = True  # shown once the text has grown enough
            return False
        self._pending = False
        if self.decode is None:
            self._shown_at = self._length
            return True
        try:
            value = self._decode_view()
        except Exception:  # a partial document the decoder cannot take (yet)
            return False
        self._shown_at, self._decoded = self._length, value
        return True

    def value(self) -> Any:
        return self.parser.value() if self.decode is None else self._decoded

    def _decode_view(self) -> Any:
        assert self.decode is not None
        data = self.decode(self.parser.data(hold=self.HELD, settled=True))
        value = build(self.shape, data)
        if isinstance(self.shape, Unwrap) and isinstance(self.shape.inner, ValidatedList):
            self._validate_closed(self.shape.inner, value, data)
        return value

    def _validate_closed(self, shape: ValidatedList, value: Any, data: Any) -> None:
        """Validate (once) the items of a top-level list that are closed in the text."""
        raw = data.get(WRAP_KEY) if isinstance(data, dict) else None
        if not isinstance(value, list) or not isinstance(raw, list):
            return
        closed = self.parser.closed_items(1) if self.parser.depth >= 2 else len(value)
        closed = min(closed, len(value), len(raw))
        for k in range(len(self._items), closed):
            self._items.append(shape.complete_item(raw[k], value[k]))
        value[:closed] = self._items[:closed]


# --------------------------------------------------------------------------- chunks → completion


@dataclass
class _Call:
    id: str | None = None
    name: str | None = None
    arguments: list[str] = field(default_factory=list)


@dataclass
class _ChoiceParts:
    content: list[str] = field(default_factory=list)
    refusal: list[str] = field(default_factory=list)
    calls: dict[int, _Call] = field(default_factory=dict)
    finish_reason: str | None = None


class _Accumulator:
    """Puts a stream's chunks back together; hands out the new text of the parsed part."""

    def __init__(self, tools: bool) -> None:
        self.tools = tools
        self.id: str | None = None
        self.model: str | None = None
        self.created = 0
        self.usage: Any = None
        self.choices: dict[int, _ChoiceParts] = {}
        self._parsed_call: int | None = None

    def add(self, chunk: Any) -> str:
        """Take one chunk; the new text of choice 0's answer (content or first tool call)."""
        if self.id is None:
            self.id, self.model = chunk.id, chunk.model
            self.created = chunk.created or 0
        if chunk.usage is not None:
            self.usage = chunk.usage
        new = ""
        for choice in chunk.choices:
            parts = self.choices.get(choice.index)
            if parts is None:
                parts = self.choices[choice.index] = _ChoiceParts()
            text = self._delta(parts, choice.delta, choice.index == 0)
            if choice.finish_reason:
                parts.finish_reason = choice.finish_reason
            if text:
                new += text
        return new

    def _delta(self, parts: _ChoiceParts, delta: Any, first: bool) -> str:
        new = ""
        content = delta.content
        if content is not None:
            parts.content.append(content)
            if first and not self.tools:
                new = content
        if getattr(delta, "refusal", None):
            parts.refusal.append(delta.refusal)
        for call in delta.tool_calls or ():
            found = parts.calls.get(call.index)
            if found is None:
                found = parts.calls[call.index] = _Call()
            found.id = found.id or call.id
            function = call.function
            if function is None:
                continue
            found.name = found.name or function.name
            if function.arguments:
                found.arguments.append(function.arguments)
                if first and self.tools:
                    if self._parsed_call is None:
                        self._parsed_call = call.index
                    if call.index == self._parsed_call:
                        new += function.arguments
        return new

    @property
    def finished(self) -> bool:
        """Every choice ended with a ``finish_reason`` (else the stream was cut)."""
        return bool(self.choices) and all(c.finish_reason for c in self.choices.values())

    def completion(self) -> ChatCompletion:
        """The ``ChatCompletion`` these chunks add up to."""
        data = {
            "id": self.id or "chatcmpl-stream",
            "object": "chat.completion",
            "created": self.created,
            "model": self.model or "",
            "choices": [_choice_dict(i, c) for i, c in sorted(self.choices.items())],
            "usage": _usage_dict(self.usage),
        }
        try:
            return ChatCompletion.model_validate(data)
        except ValidationError:  # e.g. a finish_reason the SDK does not know
            return _construct(data)


def _choice_dict(index: int, parts: _ChoiceParts) -> dict[str, Any]:
    calls = [
        {
            "id": call.id or f"call_{index}_{k}",
            "type": "function",
            "function": {"name": call.name or "", "arguments": "".join(call.arguments)},
        }
        for k, call in sorted(parts.calls.items())
    ]
    message: dict[str, Any] = {
        "role": "assistant",
        "content": "".join(parts.content) if parts.content else None,
        "refusal": "".join(parts.refusal) if parts.refusal else None,
    }
    if calls:
        message["tool_calls"] = calls
    return {
        "index": index,
        "message": message,
        "finish_reason": parts.finish_reason,
        "logprobs": None,
    }


def _usage_dict(usage: Any) -> dict[str, Any] | None:
    if usage is None:
        return None
    dump = getattr(usage, "model_dump", None)
    return dump() if callable(dump) else dict(usage)


def _construct(data: dict[str, Any]) -> ChatCompletion:
    """``ChatCompletion`` without validation (for values outside the SDK's literals)."""
    choices = []
    for c in data["choices"]:
        message = dict(c["message"])
        calls = message.pop("tool_calls", None)
        if calls:
            message["tool_calls"] = [
                ChatCompletionMessageFunctionToolCall.model_construct(
                    id=t["id"], type="function", function=Function.model_construct(**t["function"])
                )
                for t in calls
            ]
        choices.append(
            Choice.model_construct(
                index=c["index"],
                finish_reason=c["finish_reason"],
                logprobs=None,
                message=ChatCompletionMessage.model_construct(**message),
            )
        )
    usage = data["usage"]
    return ChatCompletion.model_construct(
        **{
            **data,
            "choices": choices,
            "usage": CompletionUsage.model_construct(**usage) if usage else None,
        },
    )


# --------------------------------------------------------------------------- the session


_CUT = "the stream ended before the model finished (no finish_reason)"


@dataclass(frozen=True)
class _Again:
    """Start the stream over after ``delay`` seconds."""

    delay: float


class StreamSession:
    """The sans-IO part shared by the sync and async drivers.

    Per stream: :meth:`begin` (the request), :meth:`feed` each chunk (a
    partial :class:`Snapshot` or ``None``), then :meth:`end` -- or
    :meth:`failed` when the transport raised. Transport retries use the
    extraction's own budget (``extraction.transport``), like every driver.
    """

    def __init__(self, extraction: Extraction[Any]) -> None:
        self.extraction = extraction
        self._sending = Sending(extraction.transport)
        self.attempt = 1
        self.restarts = 0
        plan = extraction.plan
        self._view = _View(plan, extraction.context)
        self._tools = plan.mode.name == "tools"
        self._acc = _Accumulator(self._tools)

    def begin(self) -> dict[str, Any]:
        """Start a stream: fresh parser and accumulator; the request to send."""
        self._view.reset()
        self._acc = _Accumulator(self._tools)
        return self.extraction.request()

    def feed(self, chunk: Any) -> Snapshot[Any] | None:
        text = self._acc.add(chunk)
        if not text or not self._view.feed(text):
            return None
        value = self._view.value()
        if value is None:
            return None
        return Snapshot(value, False, self.attempt, self.restarts)

    def failed(self, exc: BaseException) -> float | None:
        """The transport raised: seconds to wait before starting over, or ``None`` (re-raise)."""
        return self._restart(self._sending.failed(exc))

    def failed_or_raise(self, exc: Exception) -> float:
        """:meth:`failed`, raising ``exc`` (or the deadline's error) when not retried."""
        try:
            delay = self.failed(exc)
        except DeadlineError as late:
            late.attempts = list(self.extraction.attempts)
            raise
        if delay is None:
            if isinstance(exc, DeadlineError):
                exc.attempts = list(self.extraction.attempts)
            raise exc
        return delay

    def late(self) -> DeadlineError:
        """The stream ran past the extraction's deadline: the error that ends it."""
        error = self._sending.late()
        error.attempts = list(self.extraction.attempts)
        return error

    def _restart(self, delay: float | None) -> float | None:
        if delay is not None:
            self.restarts += 1
        return delay

    def end(self) -> Snapshot[Any] | _Again | None:
        """The stream ended: the final snapshot, ``None`` (re-ask) or :class:`_Again`."""
        completion = self._acc.completion()
        if not self._acc.finished:
            return self._cut(completion)
        result = self.extraction.receive(completion)
        if result is None:
            self.attempt += 1
            return None
        return Snapshot(result.value, True, self.attempt, self.restarts, result)

    def _cut(self, completion: ChatCompletion) -> _Again:
        try:
            delay = self._restart(self._sending.cut())
        except DeadlineError as late:
            late.attempts = list(self.extraction.attempts)
            raise
        if delay is not None:
            return _Again(delay)
        ex = self.extraction
        choice = completion.choices[0] if completion.choices else None
        try:
            raw = ex.plan.read(choice.message) if choice is not None else None
        except UnreadableAnswer:
            raw = None
        attempt = ex.check_text(raw, None, Usage.from_response(completion.usage), completion)
        attempt.errors = [f"(stream): {_CUT}", *attempt.errors]
        raise IncompleteOutputError(
            f"{_CUT} after {ex.transport.failures + 1} tries; the connection was cut "
            "before the answer was complete",
            attempts=[*ex.attempts, attempt],
            response=completion,
        )


# --------------------------------------------------------------------------- drivers

_END: Any = object()


class _Pull:
    """Pulls chunks from a backend stream; a failure ends the stream and is kept in ``error``.

    Every pull is bounded by what is left of the extraction's deadline (see
    :mod:`.send`): a stream that stalls or trickles past it ends with a
    :class:`~extractkit.errors.DeadlineError`.
    """

    def __init__(self, backend: Any, request: dict[str, Any], session: StreamSession) -> None:
        self._backend = backend
        self._request = request
        self._retry = session.extraction.transport
        self._session = session
        self._chunks: Any = None
        self._abandoned = False
        self.error: Exception | None = None

    def next(self) -> Any:
        try:
            left = self._retry.check_deadline()
            if self._chunks is None:
                opened = call_within(self._backend.stream,
                                     timed(self._request, left, self._retry.timeout),
                                     self._retry.bound(left))
                self._chunks = iter(opened)
                left = self._retry.check_deadline()
            return call_within(next, self._chunks, self._retry.bound(left))
        except StopIteration:
            return _END
        except Overdue:
            self._abandoned = True  # still running on its worker: never closed from here
            self.error = self._session.late()
            return _END
        except Exception as exc:
            self.error = exc
            return _END

    async def anext(self) -> Any:
        try:
            left = self._retry.check_deadline()
            if self._chunks is None:
                opened = self._backend.stream(timed(self._request, left, self._retry.timeout))
                if inspect.isawaitable(opened):
                    cut = self._retry.bound(left)
                    opened = await (opened if cut is None else within(opened, cut))
                self._chunks = opened.__aiter__()
                left = self._retry.check_deadline()
            pending = self._chunks.__anext__()
            cut = self._retry.bound(left)
            return await (pending if cut is None else within(pending, cut))
        except StopAsyncIteration:
            return _END
        except Overdue:
            self.error = self._session.late()
            return _END
        except Exception as exc:
            self.error = exc
            return _END

    def close(self) -> None:
        if self._abandoned:
            return
        close = getattr(self._chunks, "close", None)
        if close is not None:
            close()

    async def aclose(self) -> None:
        aclose = getattr(self._chunks, "aclose", None)
        if aclose is not None:
            await aclose()


def stream_sync(backend: Any, extraction: Extraction[Any]) -> Iterator[Snapshot[Any]]:
    """Drive ``extraction`` over ``backend.stream``, yielding :class:`Snapshot` objects.

    Raises what :func:`extractkit.drivers.sync.run` raises (plus
    :class:`~extractkit.errors.IncompleteOutputError` for a stream cut too often).
    Closing the generator early closes the HTTP stream.
    """
    if extraction.moderator is not None:
        screen_input(extraction)
    session = StreamSession(extraction)
    while True:
        pull = _Pull(backend, session.begin(), session)
        try:
            while (chunk := pull.next()) is not _END:
                snapshot = session.feed(chunk)
                if snapshot is not None:
                    yield snapshot
        finally:
            pull.close()
        if pull.error is not None:
            delay = session.failed_or_raise(pull.error)
            time.sleep(delay)
            continue
        outcome = session.end()
        if isinstance(outcome, Snapshot):
            if extraction.moderator is not None and outcome.result is not None:
                screen_output(extraction, outcome.result)
            yield outcome
            return
        if isinstance(outcome, _Again):
            time.sleep(outcome.delay)


async def stream_async(backend: Any, extraction: Extraction[Any]) -> AsyncIterator[Snapshot[Any]]:
    """The async twin of :func:`stream_sync` (an async generator)."""
    if extraction.moderator is not None:
        await ascreen_input(extraction)
    session = StreamSession(extraction)
    while True:
        pull = _Pull(backend, session.begin(), session)
        try:
            while (chunk := await pull.anext()) is not _END:
                snapshot = session.feed(chunk)
                if snapshot is not None:
                    yield snapshot
        finally:
            await pull.aclose()
        if pull.error is not None:
            delay = session.failed_or_raise(pull.error)
            await asyncio.sleep(delay)
            continue
        outcome = session.end()
        if isinstance(outcome, Snapshot):
            if extraction.moderator is not None and outcome.result is not None:
                await ascreen_output(extraction, outcome.result)
            yield outcome
            return
        if isinstance(outcome, _Again):
            await asyncio.sleep(outcome.delay)
