"""The bounds every generation runs under: tokens, wall clock, repetition.

* a token budget: the request's ``max_tokens``, else one derived from the
  schema (:func:`extractkit.schema.budget.schema_token_budget`) and the input;
* a wall-clock limit (``EXTRACTKIT_LOCAL_TIMEOUT`` seconds, default 20) that
  covers prompt evaluation as well as sampling;
* a detector of degenerate repetition (:class:`Degeneration`).

Each of them ends the answer with ``finish_reason="length"``.
"""

from __future__ import annotations

import os

from ...errors import ConfigurationError
from ...schema.budget import schema_token_budget
from .prompting import LocalRequest

TIMEOUT_ENV = "EXTRACTKIT_LOCAL_TIMEOUT"
DEFAULT_TIMEOUT = 20.0
#: Smallest and largest token budget derived when the request sets none.
MIN_DERIVED_TOKENS = 64
MAX_DERIVED_TOKENS = 1024

#: Repetition inside one JSON string: periods up to this many characters …
_STRING_PERIOD = 64
#: … repeated over at least this many characters (and at least 4 times).
_STRING_SPAN = 48
#: Repetition anywhere in the output (free text, arrays of equal items).
_TEXT_PERIOD = 64
_TEXT_SPAN = 240


def timeout_from_env() -> float:
    """``$EXTRACTKIT_LOCAL_TIMEOUT`` in seconds (default 20)."""
    raw = os.environ.get(TIMEOUT_ENV)
    if not raw:
        return DEFAULT_TIMEOUT
    try:
        value = float(raw)
    except ValueError:
        raise ConfigurationError(f"{TIMEOUT_ENV}={raw!r} is not a number of seconds") from None
    if value <= 0:
        raise ConfigurationError(f"{TIMEOUT_ENV} must be positive, got {raw!r}")
    return value


def token_budget(req: LocalRequest, prompt_tokens: int, n_ctx: int) -> int:
    """Most tokens this generation may write."""
    room = n_ctx - prompt_tokens
    if req.max_tokens is not None:
        return max(1, min(req.max_tokens, room))
    if req.schema is None:
        derived = MAX_DERIVED_TOKENS
    else:
        derived = schema_token_budget(req.schema) + prompt_tokens // 2 + 32
    return max(1, min(room, max(MIN_DERIVED_TOKENS, min(derived, MAX_DERIVED_TOKENS))))


class Degeneration:
    """Detects a generation stuck repeating itself (inside a string, or anywhere)."""

    def __init__(self) -> None:
        self.text = ""
        self.in_string = False
        self.escaped = False
        self.string_start = 0

    def feed(self, piece: str) -> bool:
        for offset, ch in enumerate(piece):
            self._track(ch, len(self.text) + offset)
        self.text += piece
        if self.in_string and _periodic(
            self.text[self.string_start :], _STRING_PERIOD, _STRING_SPAN
        ):
            return True
        return _periodic(self.text, _TEXT_PERIOD, _TEXT_SPAN)

    def _track(self, ch: str, position: int) -> None:
        if self.escaped:
            self.escaped = False
        elif self.in_string and ch == "\\":
            self.escaped = True
        elif ch == '"':
            self.in_string = not self.in_string
            self.string_start = position + 1


def _periodic(text: str, max_period: int, min_span: int) -> bool:
    """``text`` ends with a unit of at most ``max_period`` chars repeated over ``min_span``."""
    for period in range(1, max_period + 1):
        span = max(min_span, 3 * period)
        if len(text) < span + period:
            return False
        if text[-span:] == text[-span - period : -period]:
            return True
    return False


__all__ = [
    "DEFAULT_TIMEOUT",
    "MAX_DERIVED_TOKENS",
    "MIN_DERIVED_TOKENS",
    "TIMEOUT_ENV",
    "Degeneration",
    "timeout_from_env",
    "token_budget",
]
