"""Per-field markers: policies attached to schema fields as data.

A marker is an ``x-`` keyword on a field's schema. JSON Schema files write it
directly; Pydantic models attach it with ``Annotated`` (or
``Field(json_schema_extra={...})``), and it lands in the model's JSON Schema,
so one schema walker (:mod:`extractkit.schema.view`) reads both the same way:

=================  ==========================================  =========================
keyword            values                                      read by
=================  ==========================================  =========================
``x-grounding``    ``true`` (must appear in the document),     grounding
                   ``false`` (never checked: summaries,
                   normalized values)
``x-merge``        ``"first"``, ``"last"``, ``"longest"``,     merging chunked documents
                   ``"most_frequent"``, ``"union"``, ``"best"``
                   (the best evidence), or the name of a
                   registered callable
``x-match``        ``"exact"``, ``"normalized"``,              eval
                   ``"numeric"``, ``"date"``, ``"enum"``,
                   ``"fuzzy"``, a registered callable's name,
                   or an object ``{"type": ..., options}``
=================  ==========================================  =========================

::

    from typing import Annotated
    from extractkit.markers import Grounded, Merge, Match

    class Contract(BaseModel):
        party: Annotated[str, Grounded()]
        summary: Annotated[str, Grounded(False)]          # not checked
        effective_date: Annotated[str, Merge("first"), Match("date")]

The strict encoder drops ``x-`` keywords from what goes on the wire.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

GROUNDING_KEY = "x-grounding"
MERGE_KEY = "x-merge"
MATCH_KEY = "x-match"

MERGE_POLICIES = ("first", "last", "longest", "most_frequent", "union", "best")
MATCHERS = ("exact", "normalized", "numeric", "date", "enum", "fuzzy")

_lock = threading.Lock()
_callables: dict[str, Callable[..., Any]] = {}


def register_callable(fn: Callable[..., Any], name: str | None = None) -> str:
    """Register a merge or match function under a name usable in ``x-merge``/``x-match``."""
    key = name or f"{getattr(fn, '__module__', '')}.{getattr(fn, '__qualname__', repr(fn))}"
    with _lock:
        _callables[key] = fn
    return key


def registered_callable(name: str) -> Callable[..., Any] | None:
    """The function registered under ``name`` (``None`` if there is none)."""
    return _callables.get(name)


class _Marker:
    """Base: adds ``{key: value}`` to the JSON Schema of the annotated field."""

    def _keywords(self) -> dict[str, Any]:  # pragma: no cover - overridden
        raise NotImplementedError

    def __get_pydantic_json_schema__(self, core_schema: Any, handler: Any) -> Any:
        schema = dict(handler(core_schema))
        schema.update(self._keywords())
        return schema


@dataclass(frozen=True)
class Grounded(_Marker):
    """The field's values must (``True``) or need not (``False``) appear in the document."""

    enabled: bool = True

    def _keywords(self) -> dict[str, Any]:
        return {GROUNDING_KEY: bool(self.enabled)}


@dataclass(frozen=True)
class SourceText:
    """Marks an ``@extract`` parameter as a document the values are grounded in::

        @extract
        def parties(contract: Annotated[str, SourceText()], notes: str) -> Parties: ...

    Without any marked parameter (and without ``documents=``), the parameter
    named ``text`` is the document, else the first parameter.
    """


@dataclass(frozen=True)
class Merge(_Marker):
    """How values of this field from several chunks of a document are combined."""

    policy: str | Callable[..., Any] = "first"
    name: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        if isinstance(self.policy, str):
            if self.policy not in MERGE_POLICIES and registered_callable(self.policy) is None:
                raise ValueError(
                    f"unknown merge policy {self.policy!r}; expected one of "
                    f"{', '.join(MERGE_POLICIES)} or a callable"
                )
        elif not callable(self.policy):
            raise TypeError("Merge(policy) takes a policy name or a callable")

    def _keywords(self) -> dict[str, Any]:
        if callable(self.policy):
            return {MERGE_KEY: register_callable(self.policy, self.name or None)}
        return {MERGE_KEY: self.policy}


@dataclass(frozen=True)
class Match(_Marker):
    """How eval compares this field's extracted value with the expected one."""

    matcher: str | Callable[..., Any] = "exact"
    threshold: float | None = None
    tolerance: float | None = None
    name: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        if isinstance(self.matcher, str):
            if self.matcher not in MATCHERS and registered_callable(self.matcher) is None:
                raise ValueError(
                    f"unknown matcher {self.matcher!r}; expected one of "
                    f"{', '.join(MATCHERS)} or a callable"
                )
        elif not callable(self.matcher):
            raise TypeError("Match(matcher) takes a matcher name or a callable")

    def _keywords(self) -> dict[str, Any]:
        kind = (register_callable(self.matcher, self.name or None)
                if callable(self.matcher) else self.matcher)
        options = {k: v for k, v in (("threshold", self.threshold),
                                     ("tolerance", self.tolerance)) if v is not None}
        return {MATCH_KEY: {"type": kind, **options} if options else kind}


__all__ = [
    "GROUNDING_KEY",
    "MATCHERS",
    "MATCH_KEY",
    "MERGE_KEY",
    "MERGE_POLICIES",
    "Grounded",
    "Match",
    "Merge",
    "SourceText",
    "register_callable",
    "registered_callable",
]
