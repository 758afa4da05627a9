"""Where a field's evidence likely is: ranking the chunks of a document per field.

A long contract states its governing law once, far from its start; asking
every chunk for every field lets a small model fill ``jurisdiction`` from
whatever chunk it reads first. :func:`field_queries` turns each top-level
field of a schema into a short query (its name split into words, its title
and description, and those of the fields inside it), and :func:`rank_chunks`
scores every chunk against every query with Okapi BM25 over lightly stemmed
words. The document's own vocabulary weighs the words: a word found in every
chunk (``agreement`` in a contract) counts for little, one found in a single
chunk (``governed``) for much.

Both are linear in the size of the text: each chunk is tokenized once, and
the scores are sums over the query words.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Mapping, Sequence

from ..schema.view import Node

_WORD = re.compile(r"[^\W\d_]+", re.UNICODE)
_CAMEL = re.compile(r"(?<=[a-z])(?=[A-Z])")
# words that say nothing about where a field's evidence is
_STOP = frozenset((
    "a", "an", "and", "any", "are", "as", "at", "be", "by", "e", "eg", "for", "from", "g",
    "how", "i", "ie", "in", "is", "it", "its", "of", "on", "or", "that", "the", "their",
    "them", "there", "these", "this", "those", "to", "was", "were", "what", "when",
    "where", "which", "who", "whom", "whose", "with",
))
# longest first; a stem keeps at least three letters
_SUFFIXES = ("ations", "ation", "ings", "ing", "ies", "ied", "ed", "es", "s", "e", "y")
_K1 = 1.2
_B = 0.75
#: nested fields read for a field's query, at most this deep
_QUERY_DEPTH = 2


def stem(word: str) -> str:
    """A light, English suffix-stripping stem: ``governed``, ``governs`` and
    ``governing`` → ``govern``; ``dated``, ``dates`` and ``date`` → ``dat``."""
    word = word.casefold()
    for suffix in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)]
    return word


def terms(text: str) -> list[str]:
    """The stemmed content words of ``text`` (camelCase and snake_case split)."""
    out: list[str] = []
    for word in _WORD.findall(_CAMEL.sub(" ", text)):
        if len(word) > 1 and word.casefold() not in _STOP:
            out.append(stem(word))
    return out


def _describe(node: Node, depth: int) -> list[str]:
    node = node.unwrap()
    words = [str(node.schema.get(k, "")) for k in ("title", "description")]
    if depth < _QUERY_DEPTH:
        children = dict(node.properties)
        if node.items is not None:
            children.update(node.items.unwrap().properties)
        for name, child in children.items():
            words.append(name.replace("_", " "))
            words.extend(_describe(child, depth + 1))
    return words


def field_queries(root: Node) -> dict[str, list[str]]:
    """Top-level field name → its query terms (name, title, description, nested fields)."""
    queries: dict[str, list[str]] = {}
    for name, node in root.unwrap().properties.items():
        queries[name] = terms(" ".join([name.replace("_", " "), *_describe(node, 0)]))
    return queries


class Ranker:
    """BM25 statistics of one document's chunks, to score chunks and passages
    against field queries (each chunk is tokenized once)."""

    def __init__(self, texts: Sequence[str]) -> None:
        self._docs = [Counter(terms(t)) for t in texts]
        self._lengths = [sum(d.values()) for d in self._docs]
        self._average = (sum(self._lengths) / len(self._lengths)) if self._lengths else 0.0
        self._frequency: Counter[str] = Counter()
        for d in self._docs:
            self._frequency.update(d.keys())

    def _idf(self, term: str) -> float:
        n, df = len(self._docs), self._frequency[term]
        return math.log(1 + (n - df + 0.5) / (df + 0.5))

    def _bm25(self, bag: Mapping[str, int], length: int, query: Sequence[str]) -> float:
        norm = _K1 * (1 - _B + _B * length / self._average) if self._average else _K1
        total = 0.0
        for term, times in Counter(query).items():
            tf = bag.get(term, 0)
            if tf:
                total += times * self._idf(term) * tf * (_K1 + 1) / (tf + norm)
        return total

    def chunk_scores(self, query: Sequence[str]) -> list[float]:
        """The score of each chunk (in chunk order) for ``query``."""
        return [self._bm25(d, n, query) for d, n in zip(self._docs, self._lengths, strict=True)]

    def passage_score(self, text: str, query: Sequence[str]) -> float:
        """How strongly ``text`` (a value's surroundings) speaks of ``query``: the summed
        weight of the query's distinct terms found in it."""
        found = set(terms(text))
        return sum(self._idf(t) for t in set(query) if t in found)


def rank_chunks(texts: Sequence[str], queries: Mapping[str, Sequence[str]]
                ) -> dict[str, list[float]]:
    """Field → the BM25 score of each chunk (in chunk order) for that field's query."""
    ranker = Ranker(texts)
    return {name: ranker.chunk_scores(query) for name, query in queries.items()}


def top_chunks(scores: Sequence[float], k: int) -> list[int]:
    """The indexes of the ``k`` best-scoring chunks (ties: the earlier chunk), best
    first; chunks scoring 0 (no query word at all) are never picked."""
    order = sorted(range(len(scores)), key=lambda i: (-scores[i], i))
    return [i for i in order if scores[i] > 0][:k]


def field_asks(ranker: Ranker, queries: Mapping[str, Sequence[str]], k: int
               ) -> dict[int, list[str]]:
    """Chunk index → the fields to ask it for: every field of the first chunk (the
    document's start), and each field of its ``k`` best chunks."""
    asks: dict[int, list[str]] = {0: list(queries)}
    for name, query in queries.items():
        for index in top_chunks(ranker.chunk_scores(query), k):
            fields = asks.setdefault(index, [])
            if name not in fields:
                fields.append(name)
    return {i: [f for f in queries if f in asks[i]] for i in sorted(asks)}


__all__ = ["Ranker", "field_asks", "field_queries", "rank_chunks", "stem", "terms", "top_chunks"]
