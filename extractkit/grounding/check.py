"""The loop's grounding step: after an answer validates, align it to the documents.

:class:`GroundingCheck` is built once per extraction (the documents' indexes
are built on first use and reused by every attempt). Its :meth:`apply` runs
on a valid :class:`~extractkit.results.Attempt`:

* ``check``: ``attempt.grounding`` is set; ungrounded values of grounded
  fields are logged (INFO, logger ``extractkit``) and nothing fails;
* ``require``: the same, and each ungrounded value of a grounded field
  becomes a validation error (``/email: 'ann@example.com' does not appear in
  the document``), so the loop re-asks as for any other invalid answer.

``off`` builds no check at all (:func:`grounding_check` returns ``None``):
the loop then does nothing extra.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from typing import Any

from pydantic_core import to_jsonable_python

from ..errors import ConfigurationError
from ..schema.source import WRAP_KEY, SchemaSource
from ..schema.view import SchemaView, schema_view
from .align import Aligner
from .policy import GROUNDING_MODES
from .spans import Grounding, LazyLeaves

log = logging.getLogger("extractkit")

_views_lock = threading.Lock()
_views: dict[int, tuple[SchemaSource, SchemaView]] = {}


def _view_of(source: SchemaSource) -> SchemaView:
    # one view per schema source, found by identity (a dict lookup per extraction)
    found = _views.get(id(source))
    if found is None or found[0] is not source:
        with _views_lock:
            found = _views[id(source)] = (source, schema_view(source.json_schema))
    return found[1]


class GroundingCheck:
    """Grounding for one extraction: the mode, the documents and their indexes."""

    __slots__ = ("_aligner", "_source", "_view", "mode")

    def __init__(self, mode: str, source: SchemaSource, documents: Mapping[str, Any]) -> None:
        self.mode = mode
        self._source = source
        self._view = _view_of(source)
        self._aligner = Aligner(documents)

    @property
    def documents(self) -> Mapping[str, str]:
        """Name → text of every document."""
        return self._aligner.texts

    def ground(self, value: Any) -> Grounding:
        """Where each leaf of a validated value stands in the documents."""
        data = to_jsonable_python(value, by_alias=True)
        if self._source.wrapped:
            prefix = "/" + WRAP_KEY
            return self._aligner.ground({WRAP_KEY: data}, self._view, prefix=prefix)
        return self._aligner.ground(data, self._view)

    def apply(self, attempt: Any) -> None:
        """Ground a valid attempt; under ``require`` ungrounded values become its errors.

        Under ``check`` with INFO logging off nothing is reported, so the
        alignment waits until the grounding is first read.
        """
        if self.mode == "check" and not log.isEnabledFor(logging.INFO):
            value = attempt.value
            attempt.grounding = Grounding(LazyLeaves(lambda: self.ground(value).leaves))
            return
        grounding = self.ground(attempt.value)
        attempt.grounding = grounding
        missing = grounding.ungrounded
        if not missing:
            return
        where = "the document" if len(self.documents) == 1 else "the documents"
        errors = [f"{g.pointer or '(root)'}: {g.value!r} does not appear in {where}"
                  for g in missing]
        if self.mode == "require":
            attempt.errors = errors
        else:
            log.info("grounding: %d of %d value(s) not found in %s: %s", len(missing),
                     len(grounding), where, "; ".join(errors[:5]))


def grounding_check(mode: str, source: SchemaSource,
                    documents: Mapping[str, Any] | None) -> GroundingCheck | None:
    """The check for one extraction, or ``None`` when there is nothing to do (``off``,
    or ``check`` without documents). ``require`` without documents is an error."""
    if mode not in GROUNDING_MODES:
        raise ConfigurationError(
            f"unknown grounding mode {mode!r}; choose one of: {', '.join(GROUNDING_MODES)}"
        )
    if mode == "off":
        return None
    if not documents:
        if mode == "require":
            raise ConfigurationError(
                "grounding='require' needs a document to check values against: pass the "
                "text (or messages=[...]: the conversation is the document), or name the "
                "variables that hold documents with documents=(...)"
            )
        return None
    return GroundingCheck(mode, source, documents)





def pick_documents(variables: Mapping[str, Any], names: tuple[str, ...] | None,
                   default: tuple[str, ...] = ("text",)) -> dict[str, Any]:
    """The template variables that carry documents.

    ``names`` (the ``documents=`` setting) must each be a variable holding a
    ``str`` (or an object with a ``.text`` str): anything else is a
    :class:`~extractkit.errors.ConfigurationError` naming the variable.
    Without ``names``, the ``default`` variables that hold text are used.
    """
    out: dict[str, Any] = {}
    for name in names or default:
        value = variables.get(name)
        if isinstance(value, str) or isinstance(getattr(value, "text", None), str):
            out[name] = value
        elif names:
            got = "missing" if name not in variables else f"a {type(value).__name__}"
            raise ConfigurationError(
                f"documents: template variable {name!r} is {got}; a document variable "
                "holds the text (a str)"
            )
    return out


def marked_documents(fn: Any, localns: Mapping[str, Any] | None = None) -> tuple[str, ...]:
    """Parameters of ``fn`` annotated ``Annotated[str, SourceText()]``."""
    import typing

    from ..markers import SourceText

    try:
        hints = typing.get_type_hints(fn, localns=dict(localns or {}), include_extras=True)
    except Exception:
        hints = dict(getattr(fn, "__annotations__", {}))
    names = []
    for name, hint in hints.items():
        if name != "return" and typing.get_origin(hint) is typing.Annotated and any(
                isinstance(meta, SourceText) for meta in hint.__metadata__):
            names.append(name)
    return tuple(names)


__all__ = ["GroundingCheck", "grounding_check", "marked_documents", "pick_documents"]
