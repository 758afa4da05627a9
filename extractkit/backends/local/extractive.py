"""Extractive decoding: grounded strings can only be copied from the documents.

When a request carries document texts (``extra_body.extractkit_documents``),
every string value whose schema node is grounded
(:func:`extractkit.grounding.policy.is_grounded`) is constrained, token by
token, to a substring of one of the documents. The JSON grammar still decides
the shape of the answer; this is a second, dynamic mask next to it:

* :class:`SubstringIndex` -- a suffix automaton over the documents' UTF-8
  bytes (built once per request, linear in their size): from any state, which
  byte may extend the current string so that it still occurs in a document;
* :class:`JsonCursor` -- follows the answer as it is written, knows which
  schema node the current string belongs to (one walk of
  :mod:`extractkit.schema.view`, keys read as they are written) and decodes
  JSON escapes, so ``\\n`` or ``\\u00e9`` in the answer must match a newline
  or an ``é`` of the text: the decoded value is an exact substring;
* :class:`ExtractiveConstraint` -- the two together, asked about whole tokens.

A copied passage may not start or end with whitespace, nor end inside a word
of the text (``"Oka"`` when the text says ``"Okafor"``; only ASCII letters and
digits count as word characters, so text without spaces is not held back).
Nullable fields may still be ``null``; a grounded string may not be empty;
strings that are not grounded (enums, formats, patterns, ``x-grounding:
false``) are left to the grammar alone.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from ...grounding.policy import is_grounded
from ...schema.view import Node, SchemaView

#: Joins documents in the automaton: never part of UTF-8 text, so no
#: substring can run across two documents.
_SEPARATOR = 0xFF
_QUOTE, _BACKSLASH = 0x22, 0x5C
_SIMPLE_ESCAPES = {
    ord('"'): b'"',
    ord("\\"): b"\\",
    ord("/"): b"/",
    ord("b"): b"\b",
    ord("f"): b"\f",
    ord("n"): b"\n",
    ord("r"): b"\r",
    ord("t"): b"\t",
}
_HEX = frozenset(b"0123456789abcdefABCDEF")
#: Printable characters that a JSON string can only hold escaped.
_ESCAPED = frozenset('"\\/')
_WHITESPACE = frozenset(b" \t\n\r\f\v")


class SubstringIndex:
    """Suffix automaton over the UTF-8 bytes of some documents.

    State 0 is the empty string; :meth:`step` follows one byte (``-1``: the
    extended string occurs in no document). Building costs time and memory
    linear in the documents' total size.
    """

    def __init__(self, texts: Iterable[str]) -> None:
        # Every document ends with the separator, so "followed by the
        # separator" means "ends where a document ends".
        data = b"".join(t.encode("utf-8") + bytes([_SEPARATOR]) for t in texts)
        self.size = len(data)
        self._next: list[dict[int, int]] = [{}]
        self._link: list[int] = [-1]
        self._length: list[int] = [0]
        last = 0
        for byte in data:
            last = self._extend(last, byte)

    def _extend(self, last: int, byte: int) -> int:
        nxt, link, length = self._next, self._link, self._length
        current = len(nxt)
        nxt.append({})
        link.append(0)
        length.append(length[last] + 1)
        p = last
        while p != -1 and byte not in nxt[p]:
            nxt[p][byte] = current
            p = link[p]
        if p != -1:
            q = nxt[p][byte]
            if length[p] + 1 == length[q]:
                link[current] = q
            else:
                clone = len(nxt)
                nxt.append(dict(nxt[q]))
                link.append(link[q])
                length.append(length[p] + 1)
                while p != -1 and nxt[p].get(byte) == q:
                    nxt[p][byte] = clone
                    p = link[p]
                link[q] = clone
                link[current] = clone
        return current

    @property
    def states(self) -> int:
        return len(self._next)

    def step(self, state: int, byte: int) -> int:
        if byte == _SEPARATOR:
            return -1
        return self._next[state].get(byte, -1)

    def next_bytes(self, state: int) -> set[int]:
        """The bytes that may extend the string at ``state``."""
        return {b for b in self._next[state] if b != _SEPARATOR}

    def next_chars(self, state: int) -> set[str]:
        """The characters that may extend the string at ``state`` (UTF-8 decoded)."""
        found: set[str] = set()
        stack = [(state, b"")]
        while stack:
            at, prefix = stack.pop()
            for byte, target in self._next[at].items():
                if byte == _SEPARATOR:
                    continue
                data = prefix + bytes([byte])
                try:
                    found.add(data.decode("utf-8"))
                except UnicodeDecodeError:
                    if len(data) < 4:
                        stack.append((target, data))
        return found

    def can_end(self, state: int, last: int) -> bool:
        """Whether a copied passage ending in byte ``last`` at ``state`` ends a word somewhere.

        A passage ending in an ASCII letter or digit must be followed, in one
        of its occurrences, by something else (or by the end of a document):
        ``"Oka"`` cannot be closed when the text only has ``"Okafor"``. Text
        without spaces (CJK) is not held back: only ASCII counts as a word.
        """
        if not _is_word_byte(last):
            return last not in _WHITESPACE
        return any(not _is_word_byte(b) for b in self._next[state])

    def contains(self, data: bytes | str) -> bool:
        """Whether ``data`` occurs in one of the documents."""
        raw = data.encode("utf-8") if isinstance(data, str) else data
        state = 0
        for byte in raw:
            state = self.step(state, byte)
            if state < 0:
                return False
        return True


class Rejected(Exception):
    """The bytes fed would put a grounded string outside every document."""


class JsonCursor:
    """Follows a JSON answer byte by byte: where are we, and under which schema node?

    The grammar guarantees the answer is JSON; the cursor only tracks what the
    constraint needs. A frame is ``(kind, nodes, key, expecting_key, position)``;
    ``nodes`` are the schema nodes that may describe the container (several
    for a union).
    """

    __slots__ = (
        "content",
        "escape",
        "frames",
        "grounded",
        "in_string",
        "index",
        "is_key",
        "length",
        "state",
        "strict",
        "surrogate",
    )

    def __init__(self, root: Node, index: SubstringIndex | None = None) -> None:
        #: grounded strings are checked against this (``None``: nothing is grounded)
        self.index = index
        #: raise :class:`Rejected`; when false, a string that leaves the text just
        #: stops being checked (following an answer the grammar forced)
        self.strict = True
        self.frames: list[tuple[str, tuple[Node, ...], str | None, bool, int]] = [
            ("root", (root,), None, False, 0)
        ]
        self.in_string = False
        self.is_key = False
        self.grounded = False
        #: the decoded bytes of the current string (a key or a value)
        self.content = bytearray()
        self.escape = bytearray()
        self.surrogate = 0
        self.state = 0  # automaton state of a grounded string
        self.length = 0  # content bytes of the current string

    def clone(self) -> JsonCursor:
        other = JsonCursor.__new__(JsonCursor)
        other.index, other.strict = self.index, self.strict
        other.frames = list(self.frames)
        other.in_string, other.is_key, other.grounded = self.in_string, self.is_key, self.grounded
        other.content, other.escape = bytearray(self.content), bytearray(self.escape)
        other.surrogate, other.state, other.length = self.surrogate, self.state, self.length
        return other

    @property
    def in_grounded_string(self) -> bool:
        return self.in_string and self.grounded

    @property
    def in_value_string(self) -> bool:
        return self.in_string and not self.is_key

    def feed(self, data: bytes) -> None:
        """Advance over ``data``; raises :class:`Rejected` when a grounded string leaves the text."""
        for byte in data:
            if self.in_string:
                self._string_byte(byte)
            else:
                self._structure_byte(byte)

    # -- outside strings ------------------------------------------------------

    def _structure_byte(self, byte: int) -> None:
        if byte in _WHITESPACE:
            return
        kind, nodes, key, expecting_key, position = self.frames[-1]
        if byte == _QUOTE:
            self.in_string, self.length, self.state = True, 0, 0
            self.escape.clear()
            self.surrogate = 0
            self.content.clear()
            self.is_key = kind == "object" and expecting_key
            self.grounded = (
                not self.is_key
                and self.index is not None
                and any(is_grounded(n) for n in _of_kind(self._value_nodes(), "string"))
            )
        elif byte in b"{[":
            container = "object" if byte == ord("{") else "array"
            nodes = tuple(_of_kind(self._value_nodes(), container))
            self.frames.append((container, nodes, None, container == "object", 0))
        elif byte in b"}]":
            if len(self.frames) > 1:
                self.frames.pop()
        elif byte == ord(":"):
            self.frames[-1] = (kind, nodes, key, False, position)
        elif byte == ord(","):
            self.frames[-1] = (kind, nodes, None, kind == "object", position + 1)

    def _value_nodes(self) -> list[Node]:
        kind, nodes, key, _, position = self.frames[-1]
        out: list[Node] = []
        for node in nodes:
            if kind == "root":
                out.append(node)
            elif kind == "object" and key is not None:
                child = node.properties.get(key) or node.additional
                if child is not None:
                    out.append(child)
            elif kind == "array":
                prefix = node.prefix_items
                child = prefix[position] if position < len(prefix) else node.items
                if child is not None:
                    out.append(child)
        return out

    # -- inside strings -------------------------------------------------------

    def _reject(self) -> None:
        if self.strict:
            raise Rejected
        self.grounded = False

    def _string_byte(self, byte: int) -> None:
        if self.escape:
            self.escape.append(byte)
            self._escape_progress()
        elif byte == _BACKSLASH:
            self.escape.append(byte)
            self._escape_possible()
        elif byte == _QUOTE:
            self._close()
        else:
            self._content(bytes([byte]))

    def _escape_progress(self) -> None:
        esc = self.escape
        if esc[1] != ord("u"):
            decoded = _SIMPLE_ESCAPES.get(esc[1])
            esc.clear()
            if decoded is None:
                self._reject()
                return
            self._content(decoded)
            return
        if len(esc) > 2 and esc[-1] not in _HEX:
            esc.clear()
            self._reject()
            return
        if len(esc) < 6:
            self._escape_possible()
            return
        code = int(esc[2:6].decode("ascii"), 16)
        esc.clear()
        if 0xD800 <= code < 0xDC00:
            if self.surrogate:
                self._reject()
            self.surrogate = code
            return
        if 0xDC00 <= code < 0xE000:
            if not self.surrogate:
                self._reject()
                return
            code = 0x10000 + ((self.surrogate - 0xD800) << 10) + (code - 0xDC00)
            self.surrogate = 0
        elif self.surrogate:
            self.surrogate = 0
            self._reject()
        self._content(chr(code).encode("utf-8"))

    def _escape_possible(self) -> None:
        """An unfinished escape in a grounded string must be able to end in the text.

        (Checked as it is written: a token that stops inside ``\\u00`` is only
        allowed when some character of the text, escaped, starts that way.)
        """
        if not (self.grounded and self.index is not None):
            return
        if self.surrogate:
            self._reject()  # characters beyond U+FFFF are written as they are
            return
        # Printable ASCII is written as it is: ``\\u0041`` for "A" only wastes tokens.
        chars = {
            c for c in self.index.next_chars(self.state) if not " " <= c <= "~" or c in _ESCAPED
        }
        esc = self.escape
        if len(esc) == 1:
            ok = bool(chars)
        else:
            digits = esc[2:].decode("ascii").lower()
            ok = any(ord(c) < 0x10000 and f"{ord(c):04x}".startswith(digits) for c in chars)
        if not ok:
            self._reject()

    def _content(self, data: bytes) -> None:
        if self.surrogate:
            self.surrogate = 0
            self._reject()
        self.length += len(data)
        self.content += data
        if self.grounded and self.index is not None:
            if self.length == len(data) and data[0] in _WHITESPACE:
                self._reject()  # a value does not start with whitespace
                return
            for byte in data:
                state = self.index.step(self.state, byte)
                if state < 0:
                    self._reject()
                    return
                self.state = state

    def _close(self) -> None:
        if self.surrogate:
            self.surrogate = 0
            self._reject()
        self.in_string = False
        if self.is_key:
            kind, nodes, _, _, position = self.frames[-1]
            key = self.content.decode("utf-8", "replace")
            self.frames[-1] = (kind, nodes, key, False, position)
        elif self.grounded and self.length == 0:
            self._reject()  # an empty value copies nothing: write null, or a passage
        elif (
            self.grounded
            and self.index is not None
            and not self.index.can_end(self.state, self.content[-1])
        ):
            self._reject()  # mid-word, or trailing whitespace


def _is_word_byte(byte: int) -> bool:
    return 0x30 <= byte <= 0x39 or 0x41 <= byte <= 0x5A or 0x61 <= byte <= 0x7A


def _of_kind(nodes: Iterable[Node], kind: str) -> list[Node]:
    """The alternatives among ``nodes`` (unions opened) that can hold a ``kind`` value."""
    out: list[Node] = []
    for node in nodes:
        node = node.unwrap()
        for alt in [b.unwrap() for b in node.branches] or [node]:
            if alt.kind == kind:
                out.append(alt)
    return out


class ExtractiveConstraint:
    """Which tokens keep every grounded string a substring of the documents.

    ``pieces`` are the bytes of each token of the vocabulary.
    """

    def __init__(self, view: SchemaView, index: SubstringIndex, pieces: Sequence[bytes]) -> None:
        self.index = index
        self.pieces = pieces
        self.cursor = JsonCursor(view.root, index)

    def allows(self, token: int) -> bool:
        piece = self.pieces[token]
        if not self.cursor.in_string and _QUOTE not in piece:
            return True  # structure, numbers, literals: the grammar's business
        try:
            self.cursor.clone().feed(piece)
        except Rejected:
            return False
        return True

    def accept(self, token: int) -> None:
        piece = self.pieces[token]
        trial = self.cursor.clone()
        try:
            trial.feed(piece)
        except Rejected:
            # Only reached when the grammar left no allowed token: follow the
            # answer anyway, that string unchecked (grounding reports it).
            self.cursor.strict = False
            self.cursor.feed(piece)
            self.cursor.strict = True
            return
        self.cursor = trial

    def first_bytes(self) -> set[int] | None:
        """The bytes an allowed token may start with, when that is a short list."""
        cursor = self.cursor
        if not cursor.in_grounded_string or cursor.escape:
            return None
        # Quotes, backslashes and control characters of the text can only be
        # written escaped (a backslash first); a raw quote closes the string.
        raw = {b for b in self.index.next_bytes(cursor.state) if b >= 0x20}
        allowed = (raw - {_QUOTE}) | {_BACKSLASH}
        if cursor.length and self.index.can_end(cursor.state, cursor.content[-1]):
            allowed.add(_QUOTE)
        return allowed


def constraint_for(
    view: SchemaView, documents: Sequence[str], pieces: Sequence[bytes]
) -> ExtractiveConstraint | None:
    """The constraint of a request, or ``None`` when it has no documents or no grounded field."""
    if not documents or not _has_grounded_string(view.root):
        return None
    return ExtractiveConstraint(view, SubstringIndex(documents), pieces)


def _has_grounded_string(root: Node) -> bool:
    seen: set[str] = set()
    stack = [root]
    while stack:
        node = stack.pop()
        if node.pointer in seen:
            continue
        seen.add(node.pointer)
        node = node.unwrap()
        alts = [b.unwrap() for b in node.branches] or [node]
        for alt in alts:
            if alt.kind == "string" and is_grounded(alt):
                return True
            stack.extend(alt.properties.values())
            stack.extend(n for n in (alt.additional, alt.items) if n is not None)
            stack.extend(alt.prefix_items)
    return False


__all__ = ["ExtractiveConstraint", "JsonCursor", "Rejected", "SubstringIndex", "constraint_for"]
