"""What an extraction returns when you ask for more than the value."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

if TYPE_CHECKING:
    from .grounding.spans import Grounding

T = TypeVar("T")


@dataclass(frozen=True)
class Usage:
    """Token usage, summed over attempts when it describes a whole extraction."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.prompt_tokens + other.prompt_tokens,
            self.completion_tokens + other.completion_tokens,
            self.total_tokens + other.total_tokens,
        )

    @classmethod
    def from_response(cls, usage: Any) -> Usage:
        """Read the SDK's ``CompletionUsage`` (or ``None``)."""
        if usage is None:
            return cls()
        prompt = getattr(usage, "prompt_tokens", 0) or 0
        completion = getattr(usage, "completion_tokens", 0) or 0
        total = getattr(usage, "total_tokens", 0) or (prompt + completion)
        return cls(prompt, completion, total)

    def as_dict(self) -> dict[str, int]:
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.total_tokens,
        }


_UNPARSED: Any = object()


class Attempt:
    """One answer of the model and what extractkit made of it.

    ``raw`` is the text the model wrote (message content or tool-call
    arguments); ``data`` the parsed JSON (``None`` if nothing parsed);
    ``repairs`` the local syntax fixes applied; ``errors`` the validation
    errors, each naming its field path (empty when the attempt was valid);
    ``value`` the validated value of a valid attempt; ``refusal`` the model's
    refusal text, if it refused; ``grounding`` where the values of a valid
    answer stand in the documents (``None`` with ``grounding="off"``).
    """

    __slots__ = (
        "_data",
        "cost",
        "endpoint",
        "errors",
        "finish_reason",
        "grounding",
        "message",
        "raw",
        "refusal",
        "repairs",
        "response",
        "usage",
        "value",
    )

    def __init__(
        self,
        raw: str | None,
        *,
        data: Any = _UNPARSED,
        errors: list[str] | None = None,
        repairs: tuple[str, ...] = (),
        usage: Usage | None = None,
        finish_reason: str | None = None,
        response: Any = None,
    ) -> None:
        self.raw = raw
        self._data = data
        self.errors: list[str] = errors if errors is not None else []
        self.repairs = repairs
        self.usage = usage if usage is not None else Usage()
        self.finish_reason = finish_reason
        self.response = response
        self.value: Any = None
        self.refusal: str | None = None
        self.message: Any = None
        self.grounding: Grounding | None = None
        #: the name of the endpoint that answered (see :mod:`extractkit.endpoints`)
        self.endpoint: str | None = None
        #: dollars this answer cost, when known (set by a fallback chain)
        self.cost: float | None = None

    @property
    def data(self) -> Any:
        """The parsed JSON (parsed on first access when validation took the fast path)."""
        if self._data is _UNPARSED:
            from .repair import parse_reply

            try:
                self._data = parse_reply(self.raw)[0] if self.raw else None
            except ValueError:
                self._data = None
        return self._data

    @data.setter
    def data(self, value: Any) -> None:
        self._data = value

    @property
    def ok(self) -> bool:
        return not self.errors

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly summary (for logs and ``--verbose``)."""
        return {
            "raw": self.raw,
            "data": self.data,
            "errors": list(self.errors),
            "repairs": list(self.repairs),
            "usage": self.usage.as_dict(),
            "finish_reason": self.finish_reason,
            "refusal": self.refusal,
            "endpoint": self.endpoint,
        }

    def __repr__(self) -> str:
        state = "ok" if self.ok else f"errors={self.errors!r}"
        return f"Attempt(raw={self.raw!r:.80}, {state})"


@dataclass
class Result(Generic[T]):
    """The validated value plus everything that led to it."""

    value: T
    attempts: list[Attempt]
    usage: Usage
    model: str | None
    finish_reason: str | None
    transport_retries: int = 0
    #: where each value stands in the documents (see :mod:`extractkit.grounding`);
    #: ``None`` with ``grounding="off"`` or when there was no document
    grounding: Grounding | None = None
    #: indexes (into the given ``messages``) of the conversation turns left out to
    #: fit the context window, oldest first (see :mod:`extractkit.conversation`)
    dropped_turns: tuple[int, ...] = ()
    #: the name of the endpoint that answered (``None``: an unnamed single endpoint);
    #: see :mod:`extractkit.endpoints`
    endpoint: str | None = None

    @property
    def coercions(self) -> tuple[str, ...]:
        """Schema-aligned coercions that made the final answer valid (see
        :mod:`extractkit.coerce`); ``len(result.coercions)`` counts them."""
        if not self.attempts:
            return ()
        return tuple(r for r in self.attempts[-1].repairs if r.startswith("coerce "))

    @property
    def raw(self) -> str | None:
        """Text of the attempt that produced ``value``."""
        return self.attempts[-1].raw if self.attempts else None
