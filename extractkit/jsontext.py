"""The lexical rules of JSON inside a model's answer, in one place.

Three scanners read answers, each for its own job: :mod:`extractkit.repair`
rewrites a whole answer into valid JSON, :mod:`extractkit.partial` parses an
unfinished answer incrementally, and the stream driver finds where the JSON
starts in text that is still arriving. They share these rules, so a fence,
a number or the start of a document means the same thing to all three.
"""

from __future__ import annotations

import re

#: where a JSON document (object or array) may start
OPENER = re.compile(r"[\[{]")
#: the closer each opener needs
CLOSER_OF = {"{": "}", "[": "]"}
#: a complete JSON number
NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
#: a complete JSON number without fraction or exponent
INTEGER = re.compile(r"-?(?:0|[1-9][0-9]*)")
#: the info word after an opening fence (```json)
FENCE_INFO = re.compile(r"[A-Za-z0-9_+.\-]*")
#: fences whose body is taken for JSON (``` alone included)
FENCE_LANGUAGES = frozenset({"", "json", "jsonc", "json5", "javascript", "js"})


def starts_line(text: str, pos: int) -> bool:
    """Nothing but blanks between the start of ``pos``'s line and ``pos``."""
    return not text[text.rfind("\n", 0, pos) + 1 : pos].strip()


def fence_body(text: str, pos: int) -> int | None:
    """Where the body of a JSON fence opened by the ```` ``` ```` at ``pos`` starts.

    ``None`` when that ```` ``` ```` opens no JSON fence: it does not start its
    line (so a ```` ``` ```` inside a JSON string is not taken for one) or its
    info word names another language (```` ```python ````).
    """
    if not starts_line(text, pos):
        return None
    info = FENCE_INFO.match(text, pos + 3)
    assert info is not None  # the pattern matches the empty string
    return info.end() if info.group().lower() in FENCE_LANGUAGES else None
