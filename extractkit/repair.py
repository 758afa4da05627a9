"""Find and repair the JSON document in a model reply, without touching its values.

Models wrap JSON in code fences and prose, leave trailing commas, write Python
literals, single quotes or comments, put raw newlines inside strings, and stop
mid-document when they run out of tokens. :func:`repair_json` fixes those
*syntax* faults only: it never changes a value that was written completely.

Rules:

* A text that already parses is returned unchanged (``fixes == ()``); the check
  is a plain :func:`json.loads`, so valid replies cost no more than that.
* The repair is a single left-to-right scan that knows about strings and keeps
  a stack of open objects and arrays; it is linear in the text length.
* A truncated tail is closed only where that is unambiguous: an open string is
  closed, a dangling ``,`` or a key without a value is dropped, and open arrays
  and objects are closed innermost first. A number or literal cut off at the end
  of the text inside an object or array (``[1, 2, 3`` may have been ``33``;
  ``tr`` may have been ``true``) is dropped together with its member, never
  completed. A complete literal at the very end (``true``) is kept, and so is a
  number that is the whole document (it cannot be told from a complete one).
* ``NaN`` and ``Infinity`` pass through, as :func:`json.loads` accepts them.
* Anything else that does not fit JSON (a missing ``:`` or ``,``, an unknown
  word, mismatched brackets, an invalid escape or number) is not guessed at:
  :func:`repair_json` returns ``None`` and :func:`parse_reply` raises
  :class:`json.JSONDecodeError` (a :class:`ValueError`) naming the reason and
  the position in the reply.

Every fix made is reported by name (the ``FIX_*`` constants below).
"""

from __future__ import annotations

import bisect
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, NamedTuple, NoReturn

from .jsontext import CLOSER_OF, FENCE_INFO, FENCE_LANGUAGES, NUMBER, OPENER

__all__ = [
    "FIX_BYTE_ORDER_MARK",
    "FIX_CLOSED_ARRAY",
    "FIX_CLOSED_OBJECT",
    "FIX_CLOSED_STRING",
    "FIX_CODE_FENCE",
    "FIX_COMMENT",
    "FIX_CONTROL_CHARACTER",
    "FIX_DANGLING_COMMA",
    "FIX_DANGLING_KEY",
    "FIX_ESCAPED_APOSTROPHE",
    "FIX_INCOMPLETE_VALUE",
    "FIX_PYTHON_LITERAL",
    "FIX_SINGLE_QUOTES",
    "FIX_SURROUNDING_TEXT",
    "FIX_TRAILING_COMMA",
    "FIX_UNQUOTED_KEY",
    "Repaired",
    "find_json",
    "json_candidates",
    "parse_reply",
    "repair_json",
]

FIX_CODE_FENCE = "removed code fence"
FIX_SURROUNDING_TEXT = "removed surrounding text"
FIX_BYTE_ORDER_MARK = "removed byte order mark"
FIX_TRAILING_COMMA = "removed trailing comma"
FIX_COMMENT = "removed comment"
FIX_SINGLE_QUOTES = "converted single-quoted string"
FIX_UNQUOTED_KEY = "quoted unquoted key"
FIX_CONTROL_CHARACTER = "escaped control character in string"
FIX_ESCAPED_APOSTROPHE = "unescaped \\' in string"
FIX_PYTHON_LITERAL = "converted Python literal"
FIX_CLOSED_STRING = "closed truncated string"
FIX_DANGLING_COMMA = "dropped dangling comma"
FIX_DANGLING_KEY = "dropped dangling key"
FIX_INCOMPLETE_VALUE = "dropped incomplete trailing value"
FIX_CLOSED_OBJECT = "closed truncated object"
FIX_CLOSED_ARRAY = "closed truncated array"


@dataclass(frozen=True)
class Repaired:
    """Result of :func:`repair_json`."""

    #: The JSON text after repair; always parses with :func:`json.loads`.
    text: str
    #: What was fixed, in order of first occurrence; ``()`` if nothing was.
    fixes: tuple[str, ...]


def find_json(text: str) -> str | None:
    """Locate the JSON document in a model reply.

    Tries, in order: the whole text (if it parses or can be repaired); the
    content of the first ```` ```json ```` (or bare ```` ``` ````) fenced block
    holding a JSON object or array; the first balanced ``{...}``/``[...]`` span in
    the prose that holds one (scanning knows about strings and comments, so
    brackets inside them do not count). An opening bracket that is never closed
    (truncated output) gives the text from that bracket to the end. When no
    candidate can be repaired, the first candidate is returned anyway; ``None``
    only when there is no candidate at all.
    """
    if _parses(text):
        return text
    located = _locate(text)
    return located.candidate if located.found else None


def repair_json(text: str) -> Repaired | None:
    """Repair the syntax of the JSON in ``text`` (see the module docstring).

    Returns ``Repaired(text, ())`` unchanged when ``text`` already parses, the
    repaired document and the list of fixes when it could be repaired, and
    ``None`` when it cannot be repaired unambiguously.
    """
    if _parses(text):
        return Repaired(text, ())
    result = _locate(text).result
    if isinstance(result, _Failure):
        return None
    return Repaired(result.text, result.fixes)


def parse_reply(text: str) -> tuple[Any, tuple[str, ...]]:
    """Find, repair and parse the JSON in a model reply.

    Returns ``(data, fixes)``. Raises :class:`json.JSONDecodeError` (a
    :class:`ValueError`) whose message gives the reason and whose ``pos``,
    ``lineno`` and ``colno`` point into ``text`` when nothing can be parsed.
    """
    try:
        return json.loads(text), ()
    except (ValueError, RecursionError):
        pass
    located = _locate(text)
    result = located.result
    if isinstance(result, _Outcome):
        return result.data, result.fixes
    if not located.found:
        raise json.JSONDecodeError("no JSON object or array found in the reply", text, 0)
    message = f"cannot repair the JSON in the reply: {result.reason}"
    raise json.JSONDecodeError(message, text, located.offset + result.pos)


def json_candidates(text: str) -> Iterator[tuple[Any, tuple[str, ...]]]:
    """Every JSON object or array in a reply that parses or can be repaired.

    Yields ``(data, fixes)`` left to right: the whole text if it parses, else
    fenced blocks (and the spans inside them), then the bracketed spans of the
    prose. Spans inside a fenced block of another language (```` ```python ````)
    are code, not answers, and are left out. The same document may come more
    than once (a fenced block is also a span); callers that care deduplicate.
    Linear in the text length.
    """
    whole = _attempt(text)
    if isinstance(whole, _Outcome):
        yield whole.data, whole.fixes
        return
    code = [(start, end) for start, end, _b, _c, is_json in _all_fences(text) if not is_json]
    for candidate in _candidates(text):
        if any(start <= candidate.offset < end for start, end in code):
            continue
        result = _attempt(candidate.text, candidate.fixes)
        if isinstance(result, _Outcome) and isinstance(result.data, (dict, list)):
            yield result.data, result.fixes


# --------------------------------------------------------------------------- results


class _Outcome(NamedTuple):
    text: str
    fixes: tuple[str, ...]
    data: Any


class _Failure(NamedTuple):
    pos: int
    reason: str


class _Located(NamedTuple):
    candidate: str
    offset: int
    result: _Outcome | _Failure
    found: bool


class _Candidate(NamedTuple):
    text: str
    offset: int
    fixes: tuple[str, ...]


def _parses(text: str) -> bool:
    try:
        json.loads(text)
    except (ValueError, RecursionError):
        return False
    return True


def _attempt(text: str, located_fixes: tuple[str, ...] = ()) -> _Outcome | _Failure:
    """Repair one candidate and check the result really parses."""
    try:
        return _Outcome(text, located_fixes, json.loads(text))
    except (ValueError, RecursionError):
        pass
    try:
        repaired, fixes = _Scanner(text).run()
    except _Fail as fail:
        return _Failure(fail.pos, fail.reason)
    try:
        data = json.loads(repaired)
    except RecursionError:
        return _Failure(0, "nested too deeply")
    except ValueError as exc:  # pragma: no cover - the scanner validates every token
        return _Failure(0, f"repaired text still invalid ({exc})")
    return _Outcome(repaired, _merge(located_fixes, fixes), data)


def _merge(*groups: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(fix for group in groups for fix in group))


# --------------------------------------------------------------------------- locating


_SPAN_STOP = re.compile(r"[\[\]{}\"'/,:]")
_TOKEN_STARTS = frozenset("{[,:")
_STRING_END = {'"': re.compile(r'["\\]'), "'": re.compile(r"['\\]")}


_NEWLINE = re.compile("\n")
_NON_BLANK = re.compile(r"\S")


def _locate(text: str) -> _Located:
    """Pick the candidate to use: the whole text, else fenced blocks, else spans."""
    whole = _attempt(text)
    if isinstance(whole, _Outcome):
        return _Located(text, 0, whole, True)
    scalar: _Located | None = None
    failed: _Located | None = None
    for candidate in _candidates(text):
        result = whole if candidate.text == text else _attempt(candidate.text, candidate.fixes)
        located = _Located(candidate.text, candidate.offset, result, True)
        if isinstance(result, _Failure):
            failed = failed or located
        elif isinstance(result.data, (dict, list)):
            return located
        else:
            scalar = scalar or located
    return scalar or failed or _Located(text, 0, whole, False)


def _candidates(text: str) -> Iterator[_Candidate]:
    """Fenced block contents (and spans inside them), then spans in the text."""
    bounds = _content_bounds(text)
    for start, end, body_start, content in _fences(text):
        inner = content.strip()
        if not inner:
            continue
        offset = body_start + len(content) - len(content.lstrip())
        fence = (
            (FIX_CODE_FENCE, FIX_SURROUNDING_TEXT)
            if _has_text_outside(bounds, start, end)
            else (FIX_CODE_FENCE,)
        )
        yield _Candidate(inner, offset, fence)
        for span in _span_candidates(inner):
            if span.text != inner:
                yield span._replace(offset=offset + span.offset, fixes=_merge(fence, span.fixes))
    yield from _span_candidates(text)


def _span_candidates(text: str) -> Iterator[_Candidate]:
    bounds = _content_bounds(text)
    for start, span in _spans(text):
        prose = _has_text_outside(bounds, start, start + len(span))
        yield _Candidate(span, start, (FIX_SURROUNDING_TEXT,) if prose else ())


def _content_bounds(text: str) -> tuple[int, int]:
    """Where the text starts and ends once surrounding whitespace is left out."""
    return len(text) - len(text.lstrip()), len(text.rstrip())


def _has_text_outside(bounds: tuple[int, int], start: int, end: int) -> bool:
    return start > bounds[0] or end < bounds[1]


def _fences(text: str) -> Iterator[tuple[int, int, int, str]]:
    """Yield ``(fence_start, fence_end, body_start, content)`` of JSON-ish fences.

    A fence opens at the start of a line (so a ```` ``` ```` inside a JSON string
    is not taken for one); an unclosed fence runs to the end of the text.
    Linear in the text: each line's first and last non-blank positions are
    found once (:class:`_Lines`), however many fence markers it holds.
    """
    for start, end, body, content, is_json in _all_fences(text):
        if is_json:
            yield start, end, body, content


def _all_fences(text: str) -> Iterator[tuple[int, int, int, str, bool]]:
    """Every fenced block, with whether its info string says JSON (or nothing)."""
    lines = _Lines(text)
    pos = text.find("```")
    while pos != -1:
        if not lines.starts_line(pos):
            pos = text.find("```", pos + 3)
            continue
        info = FENCE_INFO.match(text, pos + 3)
        assert info is not None  # the pattern matches the empty string
        body = info.end()
        close = _closing_fence(text, body, lines)
        content_end = len(text) if close == -1 else close
        fence_end = len(text) if close == -1 else close + 3
        is_json = info.group().lower() in FENCE_LANGUAGES
        yield pos, fence_end, body, text[body:content_end], is_json
        if close == -1:
            return
        pos = text.find("```", fence_end)


class _Lines:
    """Where each line's content starts and ends, computed once per line on demand."""

    def __init__(self, text: str) -> None:
        self.text = text
        self._newlines = [m.start() for m in _NEWLINE.finditer(text)]
        self._bounds: dict[int, tuple[int, int]] = {}
        self._cursor = 0  # positions asked for mostly grow: walk forward, bisect back

    def _line(self, pos: int) -> tuple[int, int]:
        """``(start, end)`` of the line holding ``pos`` (``end`` at its newline)."""
        newlines, i = self._newlines, self._cursor
        if i and newlines[i - 1] >= pos:
            i = bisect.bisect_left(newlines, pos)
        else:
            while i < len(newlines) and newlines[i] < pos:
                i += 1
        self._cursor = i
        start = self._newlines[i - 1] + 1 if i else 0
        end = self._newlines[i] if i < len(self._newlines) else len(self.text)
        return start, end

    def _content(self, pos: int) -> tuple[int, int, int]:
        start, end = self._line(pos)
        found = self._bounds.get(start)
        if found is None:
            first = _NON_BLANK.search(self.text, start, end)
            if first is None:
                found = (end, start)
            else:
                last = end
                while last > first.start() and self.text[last - 1].isspace():
                    last -= 1
                found = (first.start(), last)
            self._bounds[start] = found
        return start, found[0], found[1]

    def starts_line(self, pos: int) -> bool:
        """Only blanks stand between the start of the line and ``pos``."""
        return self._content(pos)[1] >= pos

    def ends_line(self, pos: int) -> bool:
        """Only blanks stand between ``pos`` and the end of its line."""
        return self._content(pos)[2] <= pos

    def line_start(self, pos: int) -> int:
        return self._line(pos)[0]


def _closing_fence(text: str, body: int, lines: _Lines | None = None) -> int:
    """Position of the fence closing the block whose body starts at ``body``, or -1.

    A closing fence starts its line or ends it (``{...}```` on the last line).
    """
    lines = lines or _Lines(text)
    k = text.find("```", body)
    while k != -1:
        opens_line = lines.line_start(k) > body and lines.starts_line(k)
        if opens_line or lines.ends_line(k + 3):
            return k
        k = text.find("```", k + 3)
    return -1


def _spans(text: str) -> Iterator[tuple[int, str]]:
    """Yield ``(start, span)`` for bracketed spans, left to right, not nested.

    A span that never closes (truncated output) runs to the end and is the last.
    """
    pos = 0
    while (match := OPENER.search(text, pos)) is not None:
        start = match.start()
        end = _span_end(text, start)
        if end is None:
            yield start, text[start:]
            return
        yield start, text[start:end]
        pos = end


def _span_end(text: str, start: int) -> int | None:
    """End (exclusive) of the bracketed span opening at ``start``; None if unclosed.

    A ``'`` opens a string only where a value or key may start (after one of
    ``{ [ , :``, comments and whitespace aside); elsewhere it is an apostrophe.
    """
    closers: list[str] = []
    i = start
    prev = ""  # the last character that counts, outside strings and comments
    while (match := _SPAN_STOP.search(text, i)) is not None:
        j = match.start()
        c = text[j]
        if text[i:j].strip():
            prev = text[j - 1]
        i = j + 1
        if c == "/":
            end = _comment_end(text, j)
            if end is None:
                return None
            if end > i:  # a comment: skip it, leaving ``prev`` as it was
                i = end
                continue
        elif c == '"' or (c == "'" and prev in _TOKEN_STARTS):
            end = _string_end(text, j)
            if end is None:
                return None
            i = end
        elif c in "{[":
            closers.append(CLOSER_OF[c])
        elif c in "}]" and (closers.pop() != c or not closers):
            return j + 1
        prev = c
    return None


def _string_end(text: str, j: int) -> int | None:
    stop = _STRING_END[text[j]]
    i = j + 1
    while (match := stop.search(text, i)) is not None:
        if match.group() == "\\":
            i = match.end() + 1
        else:
            return match.end()
    return None


def _comment_end(text: str, j: int) -> int | None:
    """End of a comment starting at ``j``; ``j + 1`` if the slash starts none."""
    marker = text[j + 1 : j + 2]
    if marker == "/":
        end = text.find("\n", j)
        return None if end == -1 else end
    if marker == "*":
        end = text.find("*/", j + 2)
        return None if end == -1 else end + 2
    return j + 1


# --------------------------------------------------------------------------- repairing


_WHITESPACE = re.compile(r"[ \t\r\n]+")
_NUMBER_CHARS = re.compile(r"[0-9eE.+\-]+")
_WORD = re.compile(r"-?[A-Za-z_$][A-Za-z0-9_$]*")
_IDENTIFIER = re.compile(r"[A-Za-z_$][A-Za-z0-9_$]*")
_STRING_STOP = {'"': re.compile(r'["\\\x00-\x1f]'), "'": re.compile(r"['\"\\\x00-\x1f]")}
_HEX4 = re.compile(r"[0-9a-fA-F]{4}")
_HEX_PREFIX = re.compile(r"[0-9a-fA-F]{0,3}")
_HIGH_SURROGATE = re.compile(r"\\u[dD][89abAB][0-9a-fA-F]{2}")
_SIMPLE_ESCAPES = frozenset('"\\/bfnrt')
_CONTROL_ESCAPES = {"\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}
# json.loads accepts NaN and Infinity, so they pass through as they would there.
_LITERALS = {
    "true": "true",
    "false": "false",
    "null": "null",
    "True": "true",
    "False": "false",
    "None": "null",
    "NaN": "NaN",
    "Infinity": "Infinity",
    "-Infinity": "-Infinity",
}

_VALUE, _KEY, _COLON, _AFTER, _DONE = "value", "key", "colon", "after", "done"


class _Fail(Exception):
    """The text cannot be repaired unambiguously."""

    def __init__(self, pos: int, reason: str) -> None:
        super().__init__(reason)
        self.pos = pos
        self.reason = reason


class _Scanner:
    """One pass over a JSON-ish text, writing repaired JSON to ``out``.

    ``expect`` is what the grammar allows next: a value, a key (or ``}``), the
    colon after a key, a ``,`` or closer after a value, or nothing (done).
    ``closers`` is the bracket stack (the closer each open container needs) and
    ``starts[k]`` the output index where the current member of container ``k``
    starts, its leading comma included, so an unfinished member can be dropped.
    """

    def __init__(self, text: str) -> None:
        self.s = text
        self.n = len(text)
        self.i = 0
        self.out: list[str] = []
        self.closers: list[str] = []
        self.starts: list[int] = []
        self.expect = _VALUE
        self.comma_at: int | None = None
        self.fixes: dict[str, None] = {}

    def run(self) -> tuple[str, tuple[str, ...]]:
        if self.s.startswith("\ufeff"):
            self.i = 1
            self._fix(FIX_BYTE_ORDER_MARK)
        while self.i < self.n:
            self._step()
        self._finish()
        return "".join(self.out), tuple(self.fixes)

    # -- dispatch

    def _step(self) -> None:
        c = self.s[self.i]
        if c in " \t\r\n":
            self._whitespace()
        elif c == "/":
            self._comment()
        elif c in "}]":
            self._close(c)
        elif c == ",":
            self._comma()
        elif c == ":":
            self._colon()
        elif self.expect == _KEY:
            self.comma_at = None
            self._key(c)
        elif self.expect == _VALUE:
            self.comma_at = None
            self._value(c)
        else:
            self._unexpected()

    def _fix(self, fix: str) -> None:
        self.fixes[fix] = None

    def _unexpected(self) -> NoReturn:
        raise _Fail(self.i, f"expected {self._expected()}, found {self.s[self.i]!r}")

    def _expected(self) -> str:
        if self.expect == _VALUE:
            return "a value"
        if self.expect == _KEY:
            return "a key or '}'"
        if self.expect == _COLON:
            return "':' after the key"
        if self.expect == _AFTER:
            return f"',' or {self.closers[-1]!r}"
        return "the end of the JSON document"

    def _after_value(self) -> None:
        self.comma_at = None
        self.expect = _AFTER if self.closers else _DONE

    # -- layout

    def _whitespace(self) -> None:
        match = _WHITESPACE.match(self.s, self.i)
        assert match is not None
        self.out.append(match.group())
        self.i = match.end()

    def _comment(self) -> None:
        end = _comment_end(self.s, self.i)
        if end == self.i + 1:
            self._unexpected()
        if self.s[self.i + 1] == "*":
            self.out.append(" ")  # keep tokens on both sides apart
        self.i = self.n if end is None else end
        self._fix(FIX_COMMENT)

    # -- structure

    def _open(self, c: str) -> None:
        self.out.append(c)
        self.i += 1
        self.closers.append(CLOSER_OF[c])
        self.starts.append(len(self.out))
        self.expect = _KEY if c == "{" else _VALUE

    def _close(self, c: str) -> None:
        if not self.closers:
            raise _Fail(self.i, f"unmatched {c!r}")
        needed = self.closers[-1]
        if needed != c:
            kind = "object" if needed == "}" else "array"
            raise _Fail(self.i, f"found {c!r} but the open {kind} needs {needed!r}")
        if self.expect != _AFTER:
            if self.expect != (_KEY if c == "}" else _VALUE):
                self._unexpected()
            if self.comma_at is not None:
                self.out[self.comma_at] = ""
                self._fix(FIX_TRAILING_COMMA)
        self.out.append(c)
        self.i += 1
        self.closers.pop()
        self.starts.pop()
        self._after_value()

    def _comma(self) -> None:
        if self.expect != _AFTER:
            self._unexpected()
        self.starts[-1] = self.comma_at = len(self.out)
        self.out.append(",")
        self.i += 1
        self.expect = _KEY if self.closers[-1] == "}" else _VALUE

    def _colon(self) -> None:
        if self.expect != _COLON:
            self._unexpected()
        self.out.append(":")
        self.i += 1
        self.expect = _VALUE

    # -- tokens

    def _key(self, c: str) -> None:
        if c in "\"'":
            self._string(c, key=True)
            return
        match = _IDENTIFIER.match(self.s, self.i)
        if match is None:
            self._unexpected()
        if match.end() == self.n:
            self._drop_member(FIX_DANGLING_KEY)
            return
        self.out.append(f'"{match.group()}"')
        self.i = match.end()
        self._fix(FIX_UNQUOTED_KEY)
        self.expect = _COLON

    def _value(self, c: str) -> None:
        if c in "{[":
            self._open(c)
        elif c in "\"'":
            self._string(c, key=False)
        elif (word := _WORD.match(self.s, self.i)) is not None:
            self._word(word.group())
        elif c in "-0123456789":
            self._number()
        else:
            self._unexpected()

    def _number(self) -> None:
        match = _NUMBER_CHARS.match(self.s, self.i)
        assert match is not None
        if match.end() == self.n and self.closers:
            self._drop_member(FIX_INCOMPLETE_VALUE)
            return
        if not NUMBER.fullmatch(match.group()):
            raise _Fail(self.i, f"invalid number {match.group()!r}")
        self.out.append(match.group())
        self.i = match.end()
        self._after_value()

    def _word(self, word: str) -> None:
        end = self.i + len(word)
        literal = _LITERALS.get(word)
        if literal is not None:
            if literal != word:
                self._fix(FIX_PYTHON_LITERAL)
            self.out.append(literal)
            self.i = end
            self._after_value()
        elif end == self.n and self.closers and any(name.startswith(word) for name in _LITERALS):
            self._drop_member(FIX_INCOMPLETE_VALUE)
        else:
            raise _Fail(self.i, f"unknown literal {word!r}")

    def _string(self, quote: str, *, key: bool) -> None:
        if quote == "'":
            self._fix(FIX_SINGLE_QUOTES)
        self.out.append('"')
        self.i += 1
        if not self._string_body(quote):
            self._truncated_string(key=key)
        elif key:
            self.expect = _COLON
        else:
            self._after_value()

    def _string_body(self, quote: str) -> bool:
        """Copy string content up to the closing quote; False if the text ends first."""
        stop = _STRING_STOP[quote]
        while (match := stop.search(self.s, self.i)) is not None:
            j = match.start()
            if j > self.i:
                self.out.append(self.s[self.i : j])
            ch = self.s[j]
            self.i = j + 1
            if ch == quote:
                self.out.append('"')
                return True
            if ch == "\\":
                if not self._escape(j, quote):
                    return False
            elif ch == '"':
                self.out.append('\\"')
            else:
                self.out.append(_CONTROL_ESCAPES.get(ch, f"\\u{ord(ch):04x}"))
                self._fix(FIX_CONTROL_CHARACTER)
        if self.i < self.n:
            self.out.append(self.s[self.i :])
        self.i = self.n
        return False

    def _escape(self, j: int, quote: str) -> bool:
        """Copy the escape at ``j``; False if the text ends inside it."""
        e = self.s[j + 1 : j + 2]
        if e == "u":
            digits = self.s[j + 2 : j + 6]
            if _HEX4.fullmatch(digits):
                self.out.append(self.s[j : j + 6])
                self.i = j + 6
                return True
            if j + 2 + len(digits) == self.n and _HEX_PREFIX.fullmatch(digits):
                self.i = self.n
                return False
            raise _Fail(j, "invalid \\u escape in string")
        if not e:
            self.i = self.n
            return False
        if e == "'":
            self.out.append("'")
            if quote == '"':
                self._fix(FIX_ESCAPED_APOSTROPHE)
        elif e in _SIMPLE_ESCAPES:
            self.out.append(self.s[j : j + 2])
        else:
            raise _Fail(j, f"invalid escape {self.s[j : j + 2]!r} in string")
        self.i = j + 2
        return True

    # -- truncation

    def _truncated_string(self, *, key: bool) -> None:
        if key:
            self._drop_member(FIX_DANGLING_KEY)
            return
        if self.out and _HIGH_SURROGATE.fullmatch(self.out[-1]):
            self.out.pop()  # half of a surrogate pair
        self.out.append('"')
        self._fix(FIX_CLOSED_STRING)
        self._after_value()

    def _drop_member(self, fix: str) -> None:
        """Drop the unfinished last member of the innermost container (text ended)."""
        if not self.closers:
            raise _Fail(self.i, "the text ends inside a value")
        del self.out[self.starts[-1] :]
        self.i = self.n
        self.expect = _AFTER
        self.comma_at = None
        self._fix(fix)

    def _finish(self) -> None:
        if self.expect == _VALUE and not self.closers:
            raise _Fail(self.n, "no JSON value")
        if self.expect == _COLON or (self.expect == _VALUE and self.closers[-1] == "}"):
            self._drop_member(FIX_DANGLING_KEY)
        elif self.expect in (_KEY, _VALUE) and self.comma_at is not None:
            self._drop_member(FIX_DANGLING_COMMA)
        if "}" in self.closers:
            self._fix(FIX_CLOSED_OBJECT)
        if "]" in self.closers:
            self._fix(FIX_CLOSED_ARRAY)
        self.out.extend(reversed(self.closers))
        self.closers.clear()
        self.starts.clear()
