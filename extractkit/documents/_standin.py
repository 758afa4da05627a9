"""Stand-ins until the documents and grounding engineers' modules land on main.

``chunk_text`` and ``count_tokens`` follow the contract of
``documents/chunk.py`` and ``documents/tokens.py``; ``ground_value`` that of
``grounding/align.py`` (exact matches only). :mod:`.run` imports the real
ones when they exist. Delete this file once they do.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ..grounding.policy import is_grounded
from ..grounding.spans import Grounding, LeafGrounding, Span
from ..schema.view import SchemaView


@dataclass(frozen=True)
class Chunk:
    index: int
    start: int
    end: int
    text: str


def chunk_text(text: str, *, chunk_tokens: int, overlap_tokens: int = 0,
               count_tokens: Callable[[str], int]) -> list[Chunk]:
    """Greedy chunks of about ``chunk_tokens``, cut at a paragraph, line, sentence or space."""
    if not text:
        return [Chunk(0, 0, 0, "")]
    sample = text[:20_000]
    chars_per_token = max(1.0, len(sample) / max(1, count_tokens(sample)))
    size = max(1, int(chunk_tokens * chars_per_token))
    overlap = min(size // 2, int(overlap_tokens * chars_per_token))
    chunks: list[Chunk] = []
    start = 0
    while start < len(text):
        end = min(len(text), start + size)
        if end < len(text):
            for sep in ("\n\n", "\n", ". ", " "):
                cut = text.rfind(sep, start + size // 2, end)
                if cut > 0:
                    end = cut + len(sep)
                    break
        chunks.append(Chunk(len(chunks), start, end, text[start:end]))
        if end >= len(text):
            break
        nxt = end - overlap
        if overlap:
            space = text.find(" ", nxt, end)
            nxt = space + 1 if space >= 0 else nxt
        start = max(nxt, start + 1)
    return chunks


def token_counter(model: str, profile_name: str) -> Callable[[str], int]:
    """tiktoken's ``o200k_base`` (a slight over-count is fine for a budget)."""
    import tiktoken

    enc = tiktoken.get_encoding("o200k_base")
    scale = 1.0 if profile_name == "openai" else 1.25  # other tokenizers split finer
    return lambda s: int(len(enc.encode(s, disallowed_special=())) * scale) + 1


def ground_value(value: Any, view: SchemaView, documents: Mapping[str, str]) -> Grounding:
    """Exact, case-insensitive matches of grounded string leaves in ``documents["text"]``."""
    text = documents.get("text", "")
    folded = text.casefold()
    leaves: dict[str, LeafGrounding] = {}
    for leaf in view.leaves(value):
        if not isinstance(leaf.value, str) or not leaf.value or not is_grounded(leaf.node):
            continue
        at = folded.find(leaf.value.casefold()) if len(folded) == len(text) else text.find(leaf.value)
        if at >= 0:
            leaves[leaf.pointer] = LeafGrounding(leaf.pointer, leaf.value, "exact", 1.0,
                                                 (Span(at, at + len(leaf.value)),))
        else:
            leaves[leaf.pointer] = LeafGrounding(leaf.pointer, leaf.value, "ungrounded", 0.0)
    return Grounding(leaves)
