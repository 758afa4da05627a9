"""Conversations as input: extract from a chat history.

``Extractor.extract(Schema, messages=[...])``, an ``@extract`` parameter typed
:data:`Messages`, or a JSON Lines line ``{"id": ..., "messages": [...]}`` on
the command line. Each message is ``{"role": ..., "content": ...}`` with a
role of :data:`ROLES` and a string content (or a list of ``{"type": "text",
"text": ...}`` parts); :func:`check_messages` rejects anything else with an
:class:`~extractkit.errors.InputError` naming the message (``messages[2]:
...``, and the file and line on the command line).

When the endpoint's context window is known (``context_window=`` or the
profile's), :func:`fit_turns` keeps the system prompt (every ``system`` /
``developer`` message, the schema with it), the messages extractkit adds
after the conversation and the newest turns that fit with them and the
answer's reserve; the older turns are dropped. What was dropped is in
``Result.dropped_turns`` (indexes into the given messages) and in the
record's ``"dropped_turns"``, and is logged as a warning (logger
``extractkit``). Tokens are counted with :mod:`extractkit.documents.tokens`.

For grounding, the conversation is the document: its turns' texts (not the
system prompt) joined by a blank line (:func:`conversation_text`), under the
name ``conversation``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, TypedDict

from .errors import InputError

if TYPE_CHECKING:
    from .engine import Engine
    from .modes import Plan

log = logging.getLogger("extractkit")

#: the roles a conversation's messages may have
ROLES = ("system", "developer", "user", "assistant", "tool")
_KEPT_ROLES = frozenset({"system", "developer"})
#: tokens a chat template adds around each message (role markers), counted per turn
MESSAGE_OVERHEAD_TOKENS = 4
#: the grounding document's name
DOCUMENT_NAME = "conversation"


class Message(TypedDict, total=False):
    """One chat message: ``role`` and ``content`` (plus ``name``, ``tool_call_id``...)."""

    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[dict[str, Any]]
    name: str


#: the type of an ``@extract`` parameter that holds a conversation
Messages = list[Message]


def is_messages_type(hint: Any) -> bool:
    """Whether a parameter's type is a conversation: :data:`Messages`, ``list[Message]``
    or ``Sequence[Message]``."""
    import typing

    origin = typing.get_origin(hint)
    return origin in (list, Sequence) and typing.get_args(hint) == (Message,)


def check_messages(messages: Any, where: str = "messages") -> list[dict[str, Any]]:
    """The messages as plain dicts, or an :class:`InputError` naming the first bad one."""
    if isinstance(messages, (str, bytes)) or not isinstance(messages, Sequence):
        raise InputError(f"{where} must be a list of {{'role': ..., 'content': ...}} messages, "
                         f"got {type(messages).__name__}", path=where)
    if not messages:
        raise InputError(f"{where} is empty: a conversation needs at least one message",
                         path=where)
    out: list[dict[str, Any]] = []
    for index, message in enumerate(messages):
        here = f"{where}[{index}]"
        if not isinstance(message, Mapping):
            raise InputError(f"{here}: a message is an object with 'role' and 'content', got "
                             f"{type(message).__name__}", path=where)
        role = message.get("role")
        if role not in ROLES:
            raise InputError(f"{here}: role {role!r} is not one of {', '.join(ROLES)}",
                             path=where)
        content = message.get("content")
        if content is None and not (role == "assistant" and message.get("tool_calls")):
            raise InputError(f"{here}: the {role} message has no 'content'", path=where)
        if content is not None and not isinstance(content, str):
            _check_parts(content, here, where)
        out.append(dict(message))
    if not any(m["role"] not in _KEPT_ROLES and content_text(m).strip() for m in out):
        raise InputError(f"{where}: no user, assistant or tool message has any text",
                         path=where)
    return out


def _check_parts(content: Any, here: str, where: str) -> None:
    if isinstance(content, (str, bytes)) or not isinstance(content, Sequence):
        raise InputError(f"{here}: 'content' must be a string or a list of parts, got "
                         f"{type(content).__name__}", path=where)
    for number, part in enumerate(content):
        if not (isinstance(part, Mapping) and isinstance(part.get("type"), str)):
            raise InputError(f"{here}: content part {number} needs a 'type'", path=where)
        if part["type"] == "text" and not isinstance(part.get("text"), str):
            raise InputError(f"{here}: text part {number} needs a 'text' string", path=where)


def content_text(message: Mapping[str, Any]) -> str:
    """A message's text: its string content, or its text parts joined by a line break."""
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, Sequence):
        return "\n".join(str(p.get("text") or "") for p in content
                         if isinstance(p, Mapping) and p.get("type") == "text")
    return ""


def conversation_text(messages: Sequence[Mapping[str, Any]]) -> str:
    """The grounding document of a conversation: the turns' texts (not the system
    prompt) joined by a blank line."""
    return "\n\n".join(t for m in messages if m.get("role") not in _KEPT_ROLES
                       if (t := content_text(m)))


@dataclass(frozen=True)
class Fitted:
    """The messages to send and the conversation turns left out."""

    messages: list[dict[str, Any]]
    #: the whole conversation, as given
    turns: Sequence[dict[str, Any]]
    #: indexes into the given conversation, oldest first
    dropped: tuple[int, ...] = ()

    @property
    def document(self) -> dict[str, str]:
        """The grounding document: ``{"conversation": the text of every turn}`` (the
        dropped ones too, so offsets do not depend on the context window)."""
        return {DOCUMENT_NAME: conversation_text(self.turns)}


def fit_turns(
    head: Sequence[dict[str, Any]],
    turns: Sequence[dict[str, Any]],
    tail: Sequence[dict[str, Any]],
    *,
    budget: int | None,
    count: Callable[[str], int],
) -> Fitted:
    """``head`` (the system prompt) + the newest ``turns`` that fit + ``tail``.

    ``budget`` is the prompt tokens available (``None``: unknown, keep all).
    ``system``/``developer`` turns are always kept. The kept turns are the
    newest run of them (an older turn is never kept after a newer one was
    dropped), and a ``tool`` answer whose call was dropped is dropped with it.
    One pass from the newest turn: linear in the conversation.
    """
    if budget is None:
        return Fitted([*head, *turns, *tail], turns)
    used = sum(_tokens(m, count) for m in (*head, *tail))
    used += sum(_tokens(m, count) for m in turns if m.get("role") in _KEPT_ROLES)
    keep = [False] * len(turns)
    full = False
    for index in range(len(turns) - 1, -1, -1):
        turn = turns[index]
        if turn.get("role") in _KEPT_ROLES:
            keep[index] = True
            continue
        if full:
            continue
        cost = _tokens(turn, count)
        if used + cost > budget:
            full = True
            continue
        used += cost
        keep[index] = True
    if full:
        _drop_orphan_tool_answers(turns, keep)
    if not any(k and turns[i].get("role") not in _KEPT_ROLES for i, k in enumerate(keep)):
        newest = max(i for i, t in enumerate(turns) if t.get("role") not in _KEPT_ROLES)
        raise InputError(
            f"messages[{newest}]: the newest turn ({_tokens(turns[newest], count)} tokens) does "
            f"not fit the {budget} prompt tokens left by the context window with the system "
            "prompt, the schema and the answer's reserve; raise context_window or shorten it",
            path="messages")
    dropped = tuple(i for i, k in enumerate(keep) if not k)
    kept = [t for t, k in zip(turns, keep, strict=True) if k]
    return Fitted([*head, *kept, *tail], turns, dropped)


def _drop_orphan_tool_answers(turns: Sequence[Mapping[str, Any]], keep: list[bool]) -> None:
    # the kept run starts at the first kept non-system turn: tool answers there lost their call
    for index, turn in enumerate(turns):
        role = turn.get("role")
        if role in _KEPT_ROLES or not keep[index]:
            continue
        if role != "tool":
            return
        keep[index] = False


def _tokens(message: Mapping[str, Any], count: Callable[[str], int]) -> int:
    text = content_text(message)
    calls = message.get("tool_calls")
    if calls:
        text += json.dumps(calls, default=str)
    return count(text) + MESSAGE_OVERHEAD_TOKENS


def prompt_budget(window: int | None, params: Mapping[str, Any], fields: Mapping[str, Any],
                  count: Callable[[str], int]) -> int | None:
    """Prompt tokens left for messages: the window less the answer's reserve
    (:func:`~extractkit.documents.tokens.answer_reserve`) and the request's schema (``response_format`` / ``tools``)."""
    if window is None:
        return None
    from .documents.tokens import answer_reserve

    reserve = answer_reserve(params, window)
    schema = count(json.dumps(dict(fields), default=str)) if fields else 0
    return window - reserve - schema


def fit_conversation(engine: Engine, plan: Plan, head: Sequence[dict[str, Any]],
                     turns: Sequence[dict[str, Any]],
                     tail: Sequence[dict[str, Any]] = ()) -> Fitted:
    """:func:`fit_turns` with the engine's context window, tokenizer, parameters and
    the plan's request fields; logs what was dropped."""
    window = engine.settings.context_window or engine.profile.context_window
    if window is None:
        return Fitted([*head, *turns, *tail], turns)
    from .documents.tokens import token_counter

    count = token_counter(engine.resolved.model, engine.profile.name)
    budget = prompt_budget(window, engine.params, plan.fields, count)
    fitted = fit_turns(head, turns, tail, budget=budget, count=count)
    report_dropped(fitted.dropped, len(turns), window)
    return fitted


def report_dropped(dropped: tuple[int, ...], total: int, window: int | None) -> None:
    """The warning saying which turns were left out."""
    if dropped:
        log.warning("conversation: %d of %d message(s) dropped to fit the context window of "
                    "%s tokens (oldest first; indexes %s)", len(dropped), total, window,
                    _indexes(dropped))


def _indexes(dropped: tuple[int, ...]) -> str:
    if len(dropped) > 1 and dropped == tuple(range(dropped[0], dropped[-1] + 1)):
        return f"{dropped[0]}-{dropped[-1]}"
    return ", ".join(map(str, dropped))


__all__ = [
    "DOCUMENT_NAME",
    "ROLES",
    "Fitted",
    "Message",
    "Messages",
    "check_messages",
    "content_text",
    "conversation_text",
    "fit_conversation",
    "fit_turns",
    "is_messages_type",
    "prompt_budget",
    "report_dropped",
]
