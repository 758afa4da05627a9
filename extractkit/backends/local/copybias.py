"""The copy bias: string values lean toward copying the user's text.

Extraction mostly copies. Inside a string value, the token that would
continue copying the source -- from any word start when the string is empty,
else from each place where the string written so far occurs -- gets
``strength`` added to its logit, and so does closing the string where a
copied passage ends a word. The model still decides; a small model just
strays less from what the text says. (Extractive decoding, by contrast, makes
straying impossible for grounded fields: :mod:`.extractive`.)
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

from ...schema.view import Node
from .extractive import JsonCursor, Rejected
from .model import LoadedModel

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

#: Logit bonus for tokens that copy the user's text into a string value (0: off).
DEFAULT_COPY_BIAS = 3.0


class CopyBias:
    """See the module docstring. One per generation."""

    _MAX_STARTS = 4000
    _MAX_PLACES = 16
    _LOOKAHEAD = 24

    def __init__(self, source: str, model: LoadedModel, strength: float, root: Node) -> None:
        self.source = source
        self.model = model
        self.strength = strength
        self.cursor = JsonCursor(root)
        self.first_tokens: dict[int, int | None] = {}
        starts = [p for p in range(len(source)) if _word_start(source, p)][: self._MAX_STARTS]
        self.start_tokens = {t for t in map(self._first_token, starts) if t is not None}

    def adjust(self, logits: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        if not self.cursor.in_value_string:
            return logits
        written = self.cursor.content.decode("utf-8", errors="ignore")
        boosted = self.start_tokens if not written else self._continuations(written)
        if not boosted:
            return logits
        adjusted = logits.copy()
        adjusted[list(boosted)] += self.strength
        return adjusted

    def advance(self, token: int) -> None:
        with contextlib.suppress(Rejected):  # a malformed escape: the grammar's business
            self.cursor.feed(self.model.pieces()[token])

    def _continuations(self, written: str) -> set[int]:
        tokens: set[int] = set()
        place = self.source.find(written)
        for _ in range(self._MAX_PLACES):
            if place == -1:
                break
            end = place + len(written)
            if end == len(self.source) or not self.source[end].isalnum():
                tokens.update(self.model.quote_tokens())
            token = self._first_token(end)
            if token is not None:
                tokens.add(token)
            place = self.source.find(written, place + 1)
        return tokens

    def _first_token(self, position: int) -> int | None:
        if position not in self.first_tokens:
            rest = self.source[position : position + self._LOOKAHEAD]
            tokens = self.model.llama.tokenize(rest.encode("utf-8"), add_bos=False) if rest else []
            self.first_tokens[position] = tokens[0] if tokens else None
        return self.first_tokens[position]


def _word_start(text: str, position: int) -> bool:
    if text[position].isspace():
        return False
    if position == 0 or text[position - 1].isspace():
        return True
    return text[position].isalnum() and not text[position - 1].isalnum()


__all__ = ["DEFAULT_COPY_BIAS", "CopyBias"]
