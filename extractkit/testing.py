"""Test doubles: unit-test your own extractions with no network, key or model.

Pass one as the ``client`` of an ``@extract`` function or an ``Extractor``:

* :class:`TestModel` answers the values you give it, in turn (the last one
  repeats), or -- with none given -- a minimal valid instance of the schema in
  the request (required fields only, strings ``"example"``, numbers at their
  lower bound, the first ``enum`` value, lists at ``minItems``).
* :class:`FunctionModel` answers what your function returns for each request:
  a value (sent as JSON), a string (sent as the raw answer text, so you can
  test repair and re-asks), or an exception (raised to the driver as a
  transport failure would be).

Both record every request they saw in ``calls`` (a list of :class:`ModelCall`)
and answer through the SDK's own response types, so everything after the
model -- parsing, repair, validation, re-asks, grounding, streaming -- runs
for real. They speak the ``generic`` endpoint profile by default (``json_schema``
mode with the original schema); pass ``profile="openai"`` to see the strict
encoding, or ``profile="local"`` for the embedded model's modes.
"""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from openai.types.chat import ChatCompletion, ChatCompletionChunk

from .schema.view import Node, schema_view

_FORMAT_EXAMPLES = {
    "date": "2024-01-31",
    "date-time": "2024-01-31T12:00:00Z",
    "time": "12:00:00",
    "duration": "P1D",
    "email": "ann@example.com",
    "hostname": "example.com",
    "ipv4": "192.0.2.1",
    "ipv6": "2001:db8::1",
    "uuid": "00000000-0000-4000-8000-000000000000",
    "uri": "https://example.com/",
    "url": "https://example.com/",
}


@dataclass(frozen=True)
class ModelCall:
    """One request as a test double saw it."""

    #: the keyword arguments of ``chat.completions.create``
    request: Mapping[str, Any]
    #: the JSON Schema the request asks for (``None`` when it carries none)
    schema: dict[str, Any] | None
    #: the forced tool's name in tools mode, else ``None``
    tool_name: str | None
    #: 1-based position of this request among the calls of this double
    number: int

    @property
    def messages(self) -> list[dict[str, Any]]:
        return list(self.request.get("messages") or [])

    @property
    def user_text(self) -> str:
        """Every user message's text, joined: the prompt your template rendered."""
        return "\n".join(str(m.get("content") or "") for m in self.messages
                         if m.get("role") == "user")

    @property
    def is_reask(self) -> bool:
        """The request carries an earlier failed answer (a re-ask)."""
        return any(m.get("role") == "assistant" for m in self.messages)


Answer = Callable[[ModelCall], Any]


class FunctionModel:
    """A model whose answers come from ``fn(call: ModelCall)``.

    ``fn`` returns a value (sent as JSON), a ``str`` (the raw answer text, sent
    verbatim) or raises (the error reaches the driver like a failed request).
    """

    def __init__(self, fn: Answer, *, profile: str = "generic", model: str = "test-model") -> None:
        self.fn = fn
        self.profile = profile
        self.model = model
        #: the model name used when the extraction names none
        self.default_model = model
        self.calls: list[ModelCall] = []
        self._lock = threading.Lock()
        self._counter = itertools.count(1)

    # -- the Backend protocol ---------------------------------------------------

    def complete(self, request: dict[str, Any]) -> ChatCompletion:
        call, text = self._answer(request)
        n = int(request.get("n") or 1)
        choices = [_choice(i, text, call.tool_name) for i in range(n)]
        return ChatCompletion.model_validate({
            "id": f"chatcmpl-test-{call.number}", "object": "chat.completion", "created": 0,
            "model": self.model, "choices": choices, "usage": _usage(request, text),
        })

    def stream(self, request: dict[str, Any]) -> Iterator[ChatCompletionChunk]:
        call, text = self._answer(request)
        pieces = [text[i:i + 8] for i in range(0, len(text), 8)] or [""]
        for i, piece in enumerate(pieces):
            if call.tool_name is not None:
                delta: dict[str, Any] = {"tool_calls": [{
                    "index": 0, "id": "call_test" if i == 0 else None,
                    "type": "function" if i == 0 else None,
                    "function": {"name": call.tool_name if i == 0 else None, "arguments": piece},
                }]}
            else:
                delta = {"content": piece}
            if i == 0:
                delta["role"] = "assistant"
            yield _chunk(call.number, self.model, delta, None)
        finish = "tool_calls" if call.tool_name is not None else "stop"
        last = _chunk(call.number, self.model, {}, finish)
        last["usage"] = _usage(request, text)
        yield ChatCompletionChunk.model_validate(last)

    def as_async(self) -> _AsyncDouble:
        """The same double for async front doors (``AsyncExtractor``, async ``@extract``)."""
        return _AsyncDouble(self)

    # -- internals --------------------------------------------------------------

    def _answer(self, request: Mapping[str, Any]) -> tuple[ModelCall, str]:
        schema, tool_name = _requested_schema(request)
        with self._lock:
            call = ModelCall(dict(request), schema, tool_name, next(self._counter))
            self.calls.append(call)
        answer = self.fn(call)
        text = answer if isinstance(answer, str) else json.dumps(answer, ensure_ascii=False)
        return call, text


class TestModel(FunctionModel):
    """A model that answers ``values`` in turn (the last one repeats), or minimal
    valid instances of the requested schema when no values are given."""

    __test__ = False  # not a pytest test class

    def __init__(self, values: Sequence[Any] = (), *, profile: str = "generic",
                 model: str = "test-model") -> None:
        self.values = list(values)
        super().__init__(self._next, profile=profile, model=model)

    def _next(self, call: ModelCall) -> Any:
        if self.values:
            return self.values[min(call.number, len(self.values)) - 1]
        return minimal_instance(call.schema or {})


class _AsyncDouble:
    def __init__(self, double: FunctionModel) -> None:
        self._double = double
        self.profile = double.profile

    @property
    def calls(self) -> list[ModelCall]:
        return self._double.calls

    async def complete(self, request: dict[str, Any]) -> ChatCompletion:
        return self._double.complete(request)

    async def stream(self, request: dict[str, Any]) -> AsyncIterator[ChatCompletionChunk]:
        for chunk in self._double.stream(request):
            yield chunk


def minimal_instance(schema: dict[str, Any] | bool) -> Any:
    """A small value valid against ``schema`` (see :class:`TestModel`)."""
    return _instance(schema_view(schema).root, 0)


def _instance(node: Node, depth: int) -> Any:
    s = node.schema
    if "const" in s:
        return s["const"]
    if s.get("enum"):
        return s["enum"][0]
    if "default" in s and depth > 0:
        return s["default"]
    node = node.unwrap()
    if node.branches:
        return _instance(node.branches[0], depth + 1)
    kind = node.kind
    s = node.schema
    if kind == "object":
        return {name: _instance(sub, depth + 1) for name, sub in node.properties.items()
                if name in node.required}
    if kind == "array":
        count = int(s.get("minItems") or 0)
        prefix = node.prefix_items
        out = [_instance(p, depth + 1) for p in prefix[:max(count, len(prefix))]]
        while len(out) < count and node.items is not None:
            out.append(_instance(node.items, depth + 1))
        return out
    if kind == "string":
        text = _FORMAT_EXAMPLES.get(str(s.get("format")), "example")
        low = int(s.get("minLength") or 0)
        high = s.get("maxLength")
        text = text.ljust(low, "x")
        return text[: int(high)] if isinstance(high, int) else text
    if kind in ("number", "integer"):
        for key, step in (("minimum", 0), ("exclusiveMinimum", 1)):
            if isinstance(s.get(key), (int, float)):
                value = s[key] + step
                return int(value) if kind == "integer" else value
        if isinstance(s.get("maximum"), (int, float)) and s["maximum"] < 0:
            return int(s["maximum"]) if kind == "integer" else s["maximum"]
        return 0
    if kind == "boolean":
        return False
    if kind == "null" or node.nullable:
        return None
    return {}


def _requested_schema(request: Mapping[str, Any]) -> tuple[dict[str, Any] | None, str | None]:
    tools = [t for t in request.get("tools") or [] if isinstance(t, Mapping)]
    if tools:
        wanted = request.get("tool_choice")
        name = wanted.get("function", {}).get("name") if isinstance(wanted, Mapping) else None
        tool = next((t for t in tools if t.get("function", {}).get("name") == name), tools[0])
        function = tool.get("function") or {}
        return function.get("parameters") or {}, str(function.get("name") or "extract")
    fmt = request.get("response_format")
    if isinstance(fmt, Mapping):
        if fmt.get("type") == "json_schema":
            return (fmt.get("json_schema") or {}).get("schema") or {}, None
        if fmt.get("type") == "json_object":
            return fmt.get("schema"), None
    return None, None


def _choice(index: int, text: str, tool_name: str | None) -> dict[str, Any]:
    if tool_name is not None:
        message = {"role": "assistant", "content": None, "tool_calls": [{
            "id": f"call_test_{index}", "type": "function",
            "function": {"name": tool_name, "arguments": text}}]}
        return {"index": index, "message": message, "finish_reason": "tool_calls"}
    return {"index": index, "message": {"role": "assistant", "content": text},
            "finish_reason": "stop"}


def _usage(request: Mapping[str, Any], text: str) -> dict[str, int]:
    prompt = sum(len(str(m.get("content") or "")) for m in request.get("messages") or []) // 4
    completion = max(1, len(text) // 4)
    return {"prompt_tokens": prompt, "completion_tokens": completion,
            "total_tokens": prompt + completion}


def _chunk(number: int, model: str, delta: dict[str, Any], finish: str | None) -> Any:
    payload = {"id": f"chatcmpl-test-{number}", "object": "chat.completion.chunk", "created": 0,
               "model": model, "choices": [{"index": 0, "delta": delta,
                                            "finish_reason": finish}]}
    if finish is not None:
        return payload
    return ChatCompletionChunk.model_validate(payload)


__all__ = ["FunctionModel", "ModelCall", "TestModel", "minimal_instance"]
