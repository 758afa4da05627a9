"""A scripted "model" that actually reads the chunk it is given.

``reader_reply`` answers a chat completion with what the user message's text
says, line by line: ``Party: NAME`` lines become ``parties``, the first
``Governing law: STATE`` line ``jurisdiction``, ``Term: N years`` ``term``.
The request's schema decides nothing; the answer is JSON in
``message.content`` (json_schema mode). A line ``FAIL HERE`` makes it answer
invalid JSON every time (a chunk that keeps failing); ``FAIL ONCE n`` fails
the first time a chunk holding it is seen, then answers (a retried chunk).
``Term (small print): N years`` is read only when the prompt asks for
``term_years`` as still missing (a later pass). A wrapped root (``{"value":
[...]}`` in the schema) gets the parties as the list.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Mapping
from typing import Any

from tests.scripted_server import Reply, completion

_PARTY = re.compile(r"^Party: (.+)$", re.M)
_LAW = re.compile(r"^Governing law: (.+)$", re.M)
_TERM = re.compile(r"^Term: (\d+) years$", re.M)
_ONCE = re.compile(r"^FAIL ONCE (\w+)$", re.M)
_SMALL_PRINT = re.compile(r"^Term \(small print\): (\d+) years$", re.M)

_seen_lock = threading.Lock()
_seen: set[str] = set()


def user_text(body: Mapping[str, Any]) -> str:
    return next(str(m.get("content") or "") for m in reversed(body["messages"])
                if m.get("role") == "user")


def reader_reply(body: Any) -> Reply:
    full = user_text(body)
    text = full.split("\n---\n")[-1]  # the chunk itself, not the context lines
    if "FAIL HERE" in text:
        return completion("{not json", usage=(len(text) // 4, 3))
    once = _ONCE.search(text)
    if once:
        with _seen_lock:
            first = once.group(1) not in _seen
            _seen.add(once.group(1))
        if first:
            return completion("{not json", usage=(len(text) // 4, 3))
    law = _LAW.search(text)
    term = _TERM.search(text)
    if term is None and "still missing: " in full and "term_years" in full:
        term = _SMALL_PRINT.search(text)  # seen only when asked for specifically
    answer = {
        "parties": [p.strip() for p in _PARTY.findall(text)],
        "jurisdiction": law.group(1).strip() if law else None,
        "term_years": int(term.group(1)) if term else None,
    }
    if "value" in _schema(body).get("properties", {}):  # a wrapped root list
        answer = {"value": answer["parties"]}
    return completion(json.dumps(answer), usage=(len(text) // 4, 20))


def _schema(body: Mapping[str, Any]) -> dict[str, Any]:
    fmt = body.get("response_format") or {}
    return (fmt.get("json_schema") or {}).get("schema") or fmt.get("schema") or {}


def filler(words: int, seed: str = "clause") -> str:
    """Neutral contract prose of about ``words`` words, in paragraphs."""
    sentence = f"The {seed} shall remain in force as agreed between the parties hereto. "
    per = len(sentence.split())
    paragraphs = [sentence * 5 for _ in range(max(1, words // (per * 5)))]
    return "\n\n".join(paragraphs)
