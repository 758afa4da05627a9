"""Reading a chat-completions request: messages, schema, tool, sampling options.

:func:`read_request` turns the request dict (the one ``client.chat.completions.create``
takes) into a :class:`LocalRequest`: plain role/content messages for the model's chat
template, the schema the output must match, and the generation options.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ...errors import ConfigurationError, InputError

#: Where a request carries the document texts for extractive decoding
#: (``request["extra_body"][DOCUMENTS_KEY]``, or at the top level).
DOCUMENTS_KEY = "extractkit_documents"


@dataclass(frozen=True)
class LocalRequest:
    """What one request asks of the model."""

    messages: list[dict[str, str]]
    schema: dict[str, Any] | None
    tool_name: str | None
    #: what the user wrote (values are mostly copied from it)
    source: str
    max_tokens: int | None
    #: ``None``: not set by the request (greedy, with a schedule for re-asks)
    temperature: float | None
    top_p: float
    seed: int | None
    stop: tuple[str, ...]
    n: int
    model: str | None
    include_usage: bool
    #: texts that grounded strings must be copied from (extractive decoding)
    documents: tuple[str, ...] = ()
    #: the answers already given in this conversation (a re-ask when not empty)
    previous_answers: tuple[str, ...] = ()


def read_request(request: Mapping[str, Any]) -> LocalRequest:
    """The :class:`LocalRequest` of one request."""
    tool = _forced_tool(request)
    raw_messages = request.get("messages") or []
    messages = _chat_messages(raw_messages)
    schema: dict[str, Any] | None = None
    if tool is not None:
        schema = tool.get("parameters") or {"type": "object"}
        messages = _with_system(messages, _tool_instruction(tool))
    else:
        schema = _response_schema(request.get("response_format"))
    stop = request.get("stop") or ()
    limit = request.get("max_completion_tokens") or request.get("max_tokens")
    temperature = request.get("temperature")
    top_p = request.get("top_p")
    return LocalRequest(
        messages=messages,
        schema=schema,
        tool_name=None if tool is None else str(tool["name"]),
        source="\n".join(m["content"] for m in messages if m["role"] == "user"),
        max_tokens=int(limit) if limit else None,
        temperature=None if temperature is None else float(temperature),
        top_p=1.0 if top_p is None else float(top_p),
        seed=request.get("seed"),
        stop=(stop,) if isinstance(stop, str) else tuple(stop),
        n=max(1, int(request.get("n") or 1)),
        model=request.get("model"),
        include_usage=bool((request.get("stream_options") or {}).get("include_usage")),
        documents=_documents(request),
        previous_answers=tuple(
            m["content"] for m in messages if m["role"] == "assistant" and m["content"]
        ),
    )


def _documents(request: Mapping[str, Any]) -> tuple[str, ...]:
    extra = request.get("extra_body") or {}
    found = extra.get(DOCUMENTS_KEY) if isinstance(extra, Mapping) else None
    if found is None:
        found = request.get(DOCUMENTS_KEY)
    if found is None:
        return ()
    if isinstance(found, str) or not isinstance(found, (list, tuple)):
        raise InputError(
            f"{DOCUMENTS_KEY} must be a list of document texts, got {type(found).__name__}"
        )
    for i, text in enumerate(found):
        if not isinstance(text, str):
            raise InputError(f"{DOCUMENTS_KEY}[{i}] must be a string, got {type(text).__name__}")
    return tuple(found)


def _response_schema(response_format: Any) -> dict[str, Any] | None:
    if not isinstance(response_format, Mapping):
        return None
    kind = response_format.get("type")
    if kind == "json_object":
        schema = response_format.get("schema")
        return dict(schema) if isinstance(schema, Mapping) else {"type": "object"}
    if kind == "json_schema":
        spec = response_format.get("json_schema") or {}
        schema = spec.get("schema")
        return dict(schema) if isinstance(schema, Mapping) else {"type": "object"}
    return None


def _forced_tool(request: Mapping[str, Any]) -> dict[str, Any] | None:
    """The function the model must call, or ``None`` when no tool is in play."""
    choice = request.get("tool_choice")
    functions = [
        dict(t["function"]) for t in request.get("tools") or [] if t.get("type") == "function"
    ]
    if not functions or choice == "none":
        return None
    if isinstance(choice, Mapping):
        name = (choice.get("function") or {}).get("name")
        for function in functions:
            if function.get("name") == name:
                return function
        raise ConfigurationError(f"tool_choice names {name!r}, which is not among the tools")
    if len(functions) == 1:
        return functions[0]
    raise ConfigurationError(
        "the local backend needs tool_choice to name one function when several tools are given"
    )


def _tool_instruction(tool: Mapping[str, Any]) -> str:
    """System text naming the function and listing its arguments in plain words.

    (A small model follows this better than the JSON tool listing it was
    tuned on; see docs/local-model.md for the BFCL numbers.)
    """
    lines = [f"Call the function {tool['name']} by writing its arguments as one JSON object."]
    if tool.get("description"):
        lines.append(f"{tool['name']}: {tool['description']}")
    schema = tool.get("parameters") or {}
    props = schema.get("properties") or {}
    if props:
        required = set(schema.get("required") or [])
        lines.append("Arguments:")
        lines += [_argument_line(name, sub, name in required) for name, sub in props.items()]
    lines.append("Take the values from the user's message.")
    return "\n".join(lines)


def _argument_line(name: str, schema: Any, required: bool) -> str:
    sub = schema if isinstance(schema, Mapping) else {}
    kind = sub.get("type", "any")
    kind = "/".join(kind) if isinstance(kind, list) else str(kind)
    if "enum" in sub:
        kind += " one of " + ", ".join(json.dumps(v, ensure_ascii=False) for v in sub["enum"])
    line = f"- {name} ({kind}{'' if required else ', optional'})"
    return f"{line}: {sub['description']}" if sub.get("description") else line


def _chat_messages(messages: Any) -> list[dict[str, str]]:
    """OpenAI messages → plain role/content pairs; system messages merged first."""
    system: list[str] = []
    out: list[dict[str, str]] = []
    for raw in messages:
        message = raw if isinstance(raw, Mapping) else raw.model_dump(exclude_none=True)
        role = str(message.get("role", "user"))
        content = _text(message.get("content"))
        if role == "assistant" and not content:
            calls = message.get("tool_calls") or []
            content = calls[0]["function"]["arguments"] if calls else ""
        if role in ("system", "developer"):
            system.append(content)
        else:
            out.append({"role": "assistant" if role == "assistant" else "user", "content": content})
    if system:
        out.insert(0, {"role": "system", "content": "\n\n".join(system)})
    return out


def _text(content: Any) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    parts = [p.get("text", "") for p in content if isinstance(p, Mapping)]
    return "\n".join(p for p in parts if p)


def _with_system(messages: list[dict[str, str]], text: str) -> list[dict[str, str]]:
    if messages and messages[0]["role"] == "system":
        first = {"role": "system", "content": f"{messages[0]['content']}\n\n{text}"}
        return [first, *messages[1:]]
    return [{"role": "system", "content": text}, *messages]


__all__ = ["DOCUMENTS_KEY", "LocalRequest", "read_request"]
