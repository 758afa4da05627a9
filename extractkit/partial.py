"""Partial values from JSON that is still being written.

Two pieces, both usable on their own:

* :class:`JsonStream` -- an incremental JSON parser. :meth:`JsonStream.feed`
  consumes only the new text (strings are skipped in bulk with regular
  expressions, never re-scanned), keeps the values completed so far and a stack
  of the containers still open, and reports whether anything visible changed.
  :meth:`JsonStream.value` rebuilds only the open path -- the root, the
  containers still open and the string being written -- so asking for a value
  costs the size of that path, not of the document.
* :class:`Shape` -- how JSON becomes a partial value of a declared type,
  compiled once per type by :func:`shape_for`:

  ========================== =====================================================
  declared                   partial value
  ========================== =====================================================
  pydantic model             instance of a cached partial class (see
                             :func:`partial_model`): every field ``Any``, default
                             ``None`` (``None`` = not written yet); nested models
                             partial too
  ``str``                    the characters written so far
  ``int``/``float``/``bool`` set once the token is complete (``12`` may become
                             ``123``, so it is not shown before a delimiter)
  ``Literal``/``Enum``       set once the string is complete *and* allowed
                             (an enum member for enums); otherwise ``None``
  ``list``/``dict``          the items/entries so far, each a partial value
  ``X | Y``                  chosen by the JSON kind; between several models, by
                             the keys written so far and ``Literal`` tags
  ``TypedDict``/dataclass    a ``dict`` of partial values
  other (``date``, ``UUID``) set once complete, converted by pydantic (``None``
                             if the text does not convert)
  JSON Schema / ``Any``      plain JSON (partial dicts, lists, strings)
  ========================== =====================================================

  A JSON value of another kind than the declared type is shown as plain JSON
  (or ``None`` for models, literals and enums): partial values are a view,
  never validated; the final value is.

The parser accepts JSON plus trailing commas. Anything else it cannot read
(comments, single quotes, Python literals...) stops it: :attr:`JsonStream.error`
says why and no further changes are reported. Text after the root value is
ignored.
"""

from __future__ import annotations

import collections.abc
import dataclasses
import enum
import json
import re
import types
import typing
from collections.abc import Callable, Container, Mapping
from typing import Any, Literal, Union

from pydantic import BaseModel, ConfigDict, RootModel, TypeAdapter, create_model

from .jsontext import INTEGER, NUMBER

__all__ = [
    "ANY",
    "JsonStream",
    "Shape",
    "Unwrap",
    "ValidatedList",
    "build",
    "partial_model",
    "shape_for",
]

_HIDDEN: Any = object()
"""Marker: nothing to show (a string in progress whose type shows nothing partial)."""

# --------------------------------------------------------------------------- shapes


class Shape:
    """Base shape: plain JSON. Subclasses turn JSON into partial values of a type.

    The parser calls these hooks; none of them may keep a reference to the
    ``values``/``items`` containers it is given except in its return value.
    """

    #: partial strings (still being written) are shown
    shows_partial: bool = True

    def container(self, kind: str) -> Shape:
        """The shape for a ``{`` (``kind == "{"``) or ``[`` written where this one is expected.

        A shape returns itself when it takes that kind of container; anything
        else (plain JSON, by default) means the JSON does not fit the type.
        """
        return ANY

    def field(self, key: str, seen: Mapping[str, Any]) -> Shape:
        """Shape of the value under ``key`` (``seen``: raw entries written before it)."""
        return ANY

    def item(self) -> Shape:
        """Shape of each array item."""
        return ANY

    def scalar(self, value: Any) -> Any:
        """A complete JSON scalar (str, int, float, bool, None) → its partial value."""
        return value

    def accepts(self, value: Any) -> bool:
        """Whether a complete scalar fits this shape (used to choose between union members)."""
        return True

    def partial_str(self, text: str) -> Any:
        """A string still being written → its partial value, or ``_HIDDEN``."""
        return text if self.shows_partial else _HIDDEN

    def build_object(self, values: dict[str, Any], raw: Mapping[str, Any]) -> Any:
        """Entries (partial values; ``values`` is a fresh dict the shape may keep)."""
        return values

    def build_array(self, items: list[Any]) -> Any:
        """Items (partial values; ``items`` is a fresh list the shape may keep)."""
        return items

    def complete_item(self, raw: Any, built: Any) -> Any:
        """An array item just closed: its raw JSON and partial value → the value to keep."""
        return built


class _Plain(Shape):
    def container(self, kind: str) -> Shape:
        return self


ANY: Shape = _Plain()
"""Plain JSON: partial dicts, lists and strings."""


class _Str(Shape):
    pass


class _Scalar(Shape):
    """``int``, ``float``, ``bool`` or ``None``: shown only once complete."""

    shows_partial = False

    def __init__(self, kind: type) -> None:
        self.kind = kind

    def accepts(self, value: Any) -> bool:
        if self.kind is float:
            return isinstance(value, (int, float)) and not isinstance(value, bool)
        if self.kind is int:
            return isinstance(value, int) and not isinstance(value, bool)
        return isinstance(value, self.kind)


class _Choice(Shape):
    """``Literal`` and ``Enum``: a complete, allowed scalar; otherwise ``None``."""

    shows_partial = False

    def __init__(self, allowed: dict[tuple[type, Any], Any]) -> None:
        self.allowed = allowed

    def scalar(self, value: Any) -> Any:
        return self.allowed.get((type(value), value))

    def accepts(self, value: Any) -> bool:
        return (type(value), value) in self.allowed


class _Convert(Shape):
    """Any other type (``date``, ``UUID``, ``Decimal``...): converted once complete."""

    shows_partial = False

    def __init__(self, tp: Any) -> None:
        self.tp = tp
        self._adapter: TypeAdapter[Any] | None = None

    def _convert(self, value: Any) -> Any:
        if self._adapter is None:
            self._adapter = TypeAdapter(self.tp)
        return self._adapter.validate_python(value)

    def scalar(self, value: Any) -> Any:
        try:
            return self._convert(value)
        except Exception:
            return None

    def accepts(self, value: Any) -> bool:
        try:
            self._convert(value)
        except Exception:
            return False
        return True


class _List(Shape):
    def __init__(self, item: Shape) -> None:
        self._item = item

    def container(self, kind: str) -> Shape:
        return self if kind == "[" else ANY

    def item(self) -> Shape:
        return self._item

    def accepts(self, value: Any) -> bool:
        return False


class ValidatedList(_List):
    """A list whose items are validated as soon as they close (top-level ``list[T]``)."""

    def __init__(self, item: Shape, validate: Callable[[Any], Any]) -> None:
        super().__init__(item)
        self.validate = validate

    def complete_item(self, raw: Any, built: Any) -> Any:
        try:
            return self.validate(raw)
        except Exception:  # invalid item: stays partial; the final validation reports it
            return built


class _Dict(Shape):
    def __init__(self, value: Shape) -> None:
        self._value = value

    def container(self, kind: str) -> Shape:
        return self if kind == "{" else ANY

    def field(self, key: str, seen: Mapping[str, Any]) -> Shape:
        return self._value

    def accepts(self, value: Any) -> bool:
        return False


class _Keyed(Shape):
    """``TypedDict`` and dataclasses: a dict with a shape per known key."""

    def __init__(self, fields: Callable[[], dict[str, Shape]]) -> None:
        self._make = fields
        self._fields: dict[str, Shape] | None = None

    def container(self, kind: str) -> Shape:
        return self if kind == "{" else ANY

    def field(self, key: str, seen: Mapping[str, Any]) -> Shape:
        if self._fields is None:
            self._fields = self._make()
        return self._fields.get(key, ANY)

    def accepts(self, value: Any) -> bool:
        return False


_setattr = object.__setattr__


class _Model(Shape):
    """A pydantic model: partial values are instances of :func:`partial_model`."""

    shows_partial = False

    def __init__(self, model: type[BaseModel]) -> None:
        self.model = model
        self._fields: dict[str, tuple[str, Shape]] | None = None
        self._partial: type[BaseModel] | None = None
        self._defaults: dict[str, None] = {}

    def _load(self) -> dict[str, tuple[str, Shape]]:
        if self._fields is None:
            fields: dict[str, tuple[str, Shape]] = {}
            by_name: list[tuple[str, Shape]] = []
            for name, info in self.model.model_fields.items():
                shape = shape_for(info.annotation)
                alias = info.validation_alias
                key = alias if isinstance(alias, str) else info.alias
                fields[key or name] = (name, shape)
                by_name.append((name, shape))
            for name, shape in by_name:  # the attribute name works too, unless it is an alias
                fields.setdefault(name, (name, shape))
            self._partial = partial_model(self.model)
            self._defaults = dict.fromkeys(self.model.model_fields)
            self._fields = fields
        return self._fields

    def container(self, kind: str) -> Shape:
        return self if kind == "{" else ANY

    def field(self, key: str, seen: Mapping[str, Any]) -> Shape:
        entry = self._load().get(key)
        return ANY if entry is None else entry[1]

    def scalar(self, value: Any) -> Any:
        return None

    def accepts(self, value: Any) -> bool:
        return False

    def build_object(self, values: dict[str, Any], raw: Mapping[str, Any]) -> Any:
        fields = self._load()
        present = {fields[k][0]: v for k, v in values.items() if k in fields}
        assert self._partial is not None
        obj = self._partial.__new__(self._partial)
        state = dict(self._defaults)
        state.update(present)
        _setattr(obj, "__dict__", state)
        _setattr(obj, "__pydantic_fields_set__", set(present))
        _setattr(obj, "__pydantic_extra__", None)
        _setattr(obj, "__pydantic_private__", None)
        return obj

    def score(self, raw: Mapping[str, Any]) -> int:
        """How well the keys written so far fit this model (-1: a ``Literal`` tag says no)."""
        fields = self._load()
        score = 0
        for key, value in raw.items():
            entry = fields.get(key)
            if entry is None:
                continue
            shape = entry[1]
            if isinstance(shape, _Choice) and not isinstance(value, (dict, list)):
                if not shape.accepts(value):
                    return -1
                score += 2
            score += 1
        return score


class _Union(Shape):
    def __init__(self, options: list[Shape]) -> None:
        self.options = options
        self._by_rank = sorted(options, key=_scalar_rank)
        self._partial = next((o for o in options if o.shows_partial), None)
        self.shows_partial = self._partial is not None

    def container(self, kind: str) -> Shape:
        fits = [o for o in self.options if o.container(kind) is o]
        models = [o for o in fits if isinstance(o, _Model)]
        if len(models) > 1:
            return _ModelUnion(models)
        return fits[0] if fits else ANY

    def scalar(self, value: Any) -> Any:
        if value is None:
            return None
        for option in self._by_rank:
            if option.accepts(value):
                return option.scalar(value)
        return None

    def accepts(self, value: Any) -> bool:
        return any(o.accepts(value) for o in self.options)

    def partial_str(self, text: str) -> Any:
        return _HIDDEN if self._partial is None else self._partial.partial_str(text)


def _scalar_rank(shape: Shape) -> int:
    """Union members tried in this order for a complete scalar (exact kinds first)."""
    if isinstance(shape, _Choice):
        return 0
    if isinstance(shape, (_Scalar, _Str)):
        return 1
    if isinstance(shape, _Convert):
        return 2
    return 3


class _ModelUnion(Shape):
    """Several models where an object is written: the best fit for the keys so far."""

    shows_partial = False

    def __init__(self, models: list[_Model]) -> None:
        self.models = models
        self._unions: dict[tuple[int, ...], Shape] = {}

    def _pick(self, raw: Mapping[str, Any]) -> _Model:
        return max(self.models, key=lambda m: m.score(raw))

    def field(self, key: str, seen: Mapping[str, Any]) -> Shape:
        """Every model still possible may own the key: their shapes as a union."""
        shapes: list[Shape] = []
        for model in self.models:
            if model.score(seen) >= 0:
                shape = model.field(key, seen)
                if shape not in shapes:
                    shapes.append(shape)
        if len(shapes) <= 1:
            return shapes[0] if shapes else ANY
        ids = tuple(id(s) for s in shapes)
        union = self._unions.get(ids)
        if union is None:
            union = self._unions[ids] = _Union(shapes)
        return union

    def build_object(self, values: dict[str, Any], raw: Mapping[str, Any]) -> Any:
        return self._pick(raw).build_object(values, raw)


class Unwrap(Shape):
    """The ``{"value": ...}`` wrapper of non-object types: shows the inner value."""

    shows_partial = False

    def __init__(self, inner: Shape, key: str = "value") -> None:
        self.inner = inner
        self.key = key

    def container(self, kind: str) -> Shape:
        return self if kind == "{" else ANY

    def field(self, key: str, seen: Mapping[str, Any]) -> Shape:
        return self.inner if key == self.key else ANY

    def scalar(self, value: Any) -> Any:
        return None

    def build_object(self, values: dict[str, Any], raw: Mapping[str, Any]) -> Any:
        return values.get(self.key)


# --------------------------------------------------------------------------- compiling


_STR, _BOOL, _INT, _FLOAT, _NONE = (
    _Str(),
    _Scalar(bool),
    _Scalar(int),
    _Scalar(float),
    _Scalar(type(None)),
)
_PRIMITIVES: dict[Any, Shape] = {
    str: _STR,
    bool: _BOOL,
    int: _INT,
    float: _FLOAT,
    type(None): _NONE,
    None: _NONE,
}
_LISTS = (
    list,
    tuple,
    set,
    frozenset,
    collections.abc.Sequence,
    collections.abc.Set,
    collections.abc.Iterable,
    collections.abc.MutableSequence,
)
_DICTS = (dict, collections.abc.Mapping, collections.abc.MutableMapping)
_shapes: dict[Any, Shape] = {}
_models: dict[type[BaseModel], type[BaseModel]] = {}


def shape_for(tp: Any) -> Shape:
    """The (cached) shape of a declared type."""
    try:
        found = _shapes.get(tp)
    except TypeError:  # unhashable annotation
        return _compile(tp)
    if found is None:
        found = _compile(tp)
        _shapes[tp] = found
    return found


def _compile(tp: Any) -> Shape:
    if tp is Any or tp is object:
        return ANY
    if tp in _PRIMITIVES:
        return _PRIMITIVES[tp]
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is typing.Annotated:
        return shape_for(args[0])
    if origin is Union or origin is types.UnionType:
        return _union(args)
    if origin is Literal:
        return _Choice({(type(v), v): v for v in args})
    supertype = getattr(tp, "__supertype__", None) or getattr(tp, "__value__", None)
    if supertype is not None:  # NewType, ``type X = ...``
        return shape_for(supertype)
    if origin is not None:
        return _generic(tp, origin, args)
    if isinstance(tp, type):
        return _class(tp)
    return _Convert(tp)


def _union(args: tuple[Any, ...]) -> Shape:
    options = [shape_for(a) for a in args if a is not type(None) and a is not None]
    if len(options) == 1:
        return options[0]
    return _Union(options) if options else _NONE


def _generic(tp: Any, origin: Any, args: tuple[Any, ...]) -> Shape:
    if origin in _LISTS:
        if origin is tuple and not (len(args) == 2 and args[1] is Ellipsis):
            return _List(ANY)  # a fixed-length tuple: items of mixed types
        return _List(shape_for(args[0]) if args else ANY)
    if origin in _DICTS:
        return _Dict(shape_for(args[1]) if len(args) == 2 else ANY)
    if isinstance(origin, type) and issubclass(origin, BaseModel):
        return _class(tp)
    return _Convert(tp)


def _class(tp: type) -> Shape:
    if issubclass(tp, RootModel):
        return shape_for(tp.model_fields["root"].annotation)
    if issubclass(tp, BaseModel):
        return _Model(tp)
    if issubclass(tp, enum.Enum):
        return _Choice(
            {
                (type(m.value), m.value): m
                for m in tp
                if isinstance(m.value, (str, int, float, bool))
            }
        )
    if typing.is_typeddict(tp):
        return _Keyed(lambda: {k: shape_for(v) for k, v in typing.get_type_hints(tp).items()})
    if dataclasses.is_dataclass(tp):
        return _Keyed(lambda: {k: shape_for(v) for k, v in typing.get_type_hints(tp).items()})
    if issubclass(tp, (list, tuple, set, frozenset)):
        return _List(ANY)
    if issubclass(tp, dict):
        return _Dict(ANY)
    return _Convert(tp)


def partial_model(model: type[BaseModel]) -> type[BaseModel]:
    """The cached partial class of ``model``: same field names, every field ``Any = None``.

    Instances are built without validation; nested models hold partial
    instances (or, for validated list items, real ones). ``None`` means "not
    written yet". ``PartialX.__partial_of__`` is ``X``.
    """
    found = _models.get(model)
    if found is None:
        fields: dict[str, Any] = {name: (Any, None) for name in model.model_fields}
        found = create_model(
            f"Partial{model.__name__}",
            __config__=ConfigDict(
                extra="ignore", protected_namespaces=(), arbitrary_types_allowed=True
            ),
            __doc__=f"Partial view of {model.__qualname__}: every field optional, None until "
            "written.",
            __module__=model.__module__,
            **fields,
        )
        found.__partial_of__ = model  # type: ignore[attr-defined]
        _models[model] = found
    return found


def build(shape: Shape, data: Any) -> Any:
    """The partial value of plain (already parsed) JSON ``data`` -- O(size of ``data``)."""
    if isinstance(data, dict):
        obj = shape.container("{")
        values = {k: build(obj.field(k, data), v) for k, v in data.items()}
        return obj.build_object(values, data)
    if isinstance(data, list):
        arr = shape.container("[")
        item = arr.item()
        return arr.build_array([build(item, v) for v in data])
    return shape.scalar(data)


# --------------------------------------------------------------------------- parser

# parser states: what may come next
_VALUE, _KEY, _COLON, _AFTER, _DONE, _FAILED = range(6)
# tokens in progress
_NO_TOKEN, _STRING, _NUMBER, _WORD = range(4)

_WS = re.compile(r"[ \t\r\n]*")
_STRING_BODY = re.compile(r'[^"\\]*(?:\\.[^"\\]*)*', re.S)
_NUMBER_CHARS = re.compile(r"[0-9eE.+\-]*")
_WORD_CHARS = re.compile(r"[A-Za-z]*")
_WORDS = {"true": True, "false": False, "null": None}
_DECODER = json.JSONDecoder(strict=False)


def _match_end(pattern: re.Pattern[str], text: str, i: int) -> int:
    """End of ``pattern`` at ``i`` (the patterns used here match the empty string)."""
    match = pattern.match(text, i)
    return i if match is None else match.end()


def _decode(raw: str) -> str:
    if "\\" not in raw:
        return raw
    value: str = _DECODER.decode('"' + raw + '"')
    return value


def _decode_partial(raw: str) -> str:
    """Decode the body of a string still being written (an unfinished escape is left out)."""
    if "\\" not in raw:
        return raw
    try:
        text = _decode(raw)
    except ValueError:  # an escape cut short at the end (or an invalid one, reported at the end)
        try:
            text = _decode(raw[: raw.rfind("\\")])
        except ValueError:
            text = raw[: raw.find("\\")]
    if text and "\ud800" <= text[-1] <= "\udbff":
        return text[:-1]  # a high surrogate whose pair may follow
    return text


class _Open:
    """A container still open: its completed entries, raw and as partial values."""

    __slots__ = ("built", "is_object", "key", "raw", "shape")

    def __init__(self, shape: Shape, is_object: bool) -> None:
        self.shape = shape
        self.is_object = is_object
        self.raw: Any = {} if is_object else []
        self.built: Any = {} if is_object else []
        self.key = ""

    def view(self, pending: Any) -> Any:
        """This container's partial value, with ``pending`` as its open last entry."""
        if self.is_object:
            values = dict(self.built)
            if pending is not _HIDDEN:
                values[self.key] = pending
            return self.shape.build_object(values, self.raw)
        items = list(self.built)
        if pending is not _HIDDEN:
            items.append(pending)
        return self.shape.build_array(items)

    def raw_view(self, pending: Any) -> Any:
        if self.is_object:
            values = dict(self.raw)
            if pending is not _HIDDEN:
                values[self.key] = pending
            return values
        items = list(self.raw)
        if pending is not _HIDDEN:
            items.append(pending)
        return items


class JsonStream:
    """Incremental JSON parser building partial values of a :class:`Shape`.

    >>> p = JsonStream()
    >>> p.feed('{"name": "Ad')
    True
    >>> p.value()
    {'name': 'Ad'}
    >>> p.feed('a", "tags": [1, 2')
    True
    >>> p.value()
    {'name': 'Ada', 'tags': [1]}
    >>> p.feed("]}"), p.done, p.close()
    (True, True, {'name': 'Ada', 'tags': [1, 2]})
    """

    def __init__(self, shape: Shape = ANY) -> None:
        self.shape = shape
        #: why parsing stopped (text that is not JSON), or ``None``
        self.error: str | None = None
        self._state = _VALUE
        self._stack: list[_Open] = []
        self._token = _NO_TOKEN
        self._buf = ""  # number or word in progress
        self._parts: list[str] = []  # raw body of the string in progress
        self._is_key = False
        self._escape = False  # the string's last chunk ended with a backslash
        self._slot: Shape = shape  # shape of the value in progress
        self._shows = False  # the string in progress is visible
        self._root: Any = None
        self._root_raw: Any = None
        self._changed = False
        self._fed = 0  # characters fed before the current chunk

    # -- public ---------------------------------------------------------------

    @property
    def done(self) -> bool:
        """The root value is complete."""
        return self._state == _DONE

    @property
    def depth(self) -> int:
        """How many containers are open."""
        return len(self._stack)

    def closed_items(self, depth: int) -> int:
        """Completed entries of the open container at ``depth`` (0: the root)."""
        return len(self._stack[depth].raw) if depth < len(self._stack) else 0

    def feed(self, text: str) -> bool:
        """Consume the next piece of text; whether the visible value changed."""
        i, n = 0, len(text)
        while i < n and self._state < _DONE:
            if self._token == _STRING:
                i = self._string(text, i)
            elif self._token:
                i = self._scalar_token(text, i)
            elif text[i] in " \t\r\n":
                i = _match_end(_WS, text, i)
            else:
                self._punctuation(text[i], self._fed + i)
                i += 1
        self._fed += n
        changed, self._changed = self._changed, False
        return changed

    def close(self) -> Any:
        """End of input: the complete value; ``ValueError`` if the text was not a whole document."""
        if self._token in (_NUMBER, _WORD) and self._state < _DONE:
            self._end_scalar(self._fed)
        if self.error is not None:
            raise ValueError(self.error)
        if self._state != _DONE:
            raise ValueError("incomplete JSON document")
        return self._root

    def value(self) -> Any:
        """The current partial value (``None`` before anything visible)."""
        if self._state == _DONE:
            return self._root
        pending = self._leaf(raw=False)
        for node in reversed(self._stack):
            pending = node.view(pending)
        return None if pending is _HIDDEN else pending

    def data(self, hold: Container[str] = (), *, settled: bool = False) -> Any:
        """The current partial value as plain JSON (copies the open path: O(document)).

        A string still being written under a key in ``hold`` is left out; with
        ``settled``, so is a nested object with no complete member yet.
        """
        if self._state == _DONE:
            return self._root_raw
        pending = self._leaf(raw=True)
        if pending is not _HIDDEN and self._stack:
            top = self._stack[-1]
            if top.is_object and top.key in hold:
                pending = _HIDDEN
        for depth in range(len(self._stack) - 1, -1, -1):
            node = self._stack[depth]
            empty = node.is_object and not node.raw and pending is _HIDDEN
            pending = _HIDDEN if settled and empty and depth else node.raw_view(pending)
        return None if pending is _HIDDEN else pending

    # -- scanning -------------------------------------------------------------

    def _leaf(self, *, raw: bool) -> Any:
        if self._token != _STRING or self._is_key:
            return _HIDDEN
        if not raw and not self._shows:
            return _HIDDEN
        text = _decode_partial("".join(self._parts))
        return text if raw else self._slot.partial_str(text)

    def _punctuation(self, c: str, pos: int) -> None:
        state = self._state
        if state == _VALUE:
            self._value_start(c, pos)
        elif state == _AFTER:
            top = self._stack[-1]
            if c == ",":
                self._state = _KEY if top.is_object else _VALUE
            elif c == ("}" if top.is_object else "]"):
                self._close()
            else:
                self._fail(f"expected ',' or a closing bracket, got {c!r}", pos)
        elif state == _KEY:
            if c == '"':
                self._begin_string(is_key=True)
            elif c == "}":
                self._close()
            else:
                self._fail(f"expected a key, got {c!r}", pos)
        elif c == ":":  # _COLON
            self._state = _VALUE
        else:
            self._fail(f"expected ':', got {c!r}", pos)

    def _value_start(self, c: str, pos: int) -> None:
        if c == '"':
            self._begin_string(is_key=False)
        elif c == "{" or c == "[":
            shape = self._child_shape().container(c)
            self._stack.append(_Open(shape, c == "{"))
            self._state = _KEY if c == "{" else _VALUE
            self._changed = True
        elif c in "-0123456789":
            self._token, self._buf = _NUMBER, c
        elif c.isalpha():
            self._token, self._buf = _WORD, c
        elif c == "]" and self._stack and not self._stack[-1].is_object:
            self._close()  # empty array, or a trailing comma
        else:
            self._fail(f"expected a value, got {c!r}", pos)

    def _child_shape(self) -> Shape:
        if not self._stack:
            return self.shape
        top = self._stack[-1]
        return top.shape.field(top.key, top.raw) if top.is_object else top.shape.item()

    def _begin_string(self, *, is_key: bool) -> None:
        self._token = _STRING
        self._parts = []
        self._is_key = is_key
        if not is_key:
            self._slot = self._child_shape()
            self._shows = self._slot.shows_partial
            self._changed = self._changed or self._shows

    def _string(self, text: str, i: int) -> int:
        n = len(text)
        parts = self._parts
        if self._escape:
            parts.append(text[i])
            self._escape = False
            i += 1
        j = _match_end(_STRING_BODY, text, i)
        if j > i:
            parts.append(text[i:j])
        if j == n:
            self._changed = self._changed or self._shows
            return n
        if text[j] == '"':
            self._end_string(self._fed + j)
            return j + 1
        parts.append("\\")  # a backslash ending the chunk: its escaped character comes next
        self._escape = True
        self._changed = self._changed or self._shows
        return n

    def _end_string(self, pos: int) -> None:
        self._token = _NO_TOKEN
        try:
            text = _decode("".join(self._parts))
        except ValueError as exc:
            self._fail(f"invalid string escape ({exc})", pos)
            return
        self._parts = []
        if self._is_key:
            self._stack[-1].key = text
            self._state = _COLON
        else:
            self._put(text, self._slot.scalar(text))

    def _scalar_token(self, text: str, i: int) -> int:
        chars = _NUMBER_CHARS if self._token == _NUMBER else _WORD_CHARS
        j = _match_end(chars, text, i)
        if j > i:
            self._buf += text[i:j]
        if j < len(text):
            self._end_scalar(self._fed + j)
        return j

    def _end_scalar(self, pos: int) -> None:
        token, buf = self._token, self._buf
        self._token, self._buf = _NO_TOKEN, ""
        value: Any
        if token == _WORD:
            if buf not in _WORDS:
                self._fail(f"unknown word {buf!r}", pos)
                return
            value = _WORDS[buf]
        elif INTEGER.fullmatch(buf):
            value = int(buf)
        elif NUMBER.fullmatch(buf):
            value = float(buf)
        else:
            self._fail(f"invalid number {buf!r}", pos)
            return
        self._put(value, self._child_shape().scalar(value))

    # -- building -------------------------------------------------------------

    def _close(self) -> None:
        node = self._stack.pop()
        if node.is_object:
            built = node.shape.build_object(node.built, node.raw)
        else:
            built = node.shape.build_array(node.built)
        self._put(node.raw, built)

    def _put(self, raw: Any, built: Any) -> None:
        self._changed = True
        if not self._stack:
            self._root_raw, self._root = raw, built
            self._state = _DONE
            return
        top = self._stack[-1]
        if top.is_object:
            top.raw[top.key] = raw
            top.built[top.key] = built
        else:
            top.raw.append(raw)
            top.built.append(top.shape.complete_item(raw, built))
        self._state = _AFTER

    def _fail(self, reason: str, pos: int) -> None:
        self.error = f"{reason} at character {pos}"
        self._state = _FAILED
        self._token = _NO_TOKEN
