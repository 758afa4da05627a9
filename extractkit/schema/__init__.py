"""The schema compiler: declaration → wire schema per wire format, cached.

Wire formats (what a mode puts on the wire for an endpoint profile):

``strict``
    OpenAI's strict Structured Outputs subset (see :mod:`.strict`). The
    model's output is decoded back to the original shape before validation.
``plain``
    The original JSON Schema, sent as is (vLLM, Ollama, gateways, llama.cpp).
``prompt``
    No wire schema: a compact rendering for the prompt (see :mod:`.render`).

Whatever the wire format, the original schema stays the validator of record.
Compilation happens once per (declaration, wire format); calls reuse the result.
References are checked once per declaration, for every wire format, when its source
is built (:func:`.source.check_references`): a remote, dangling or cyclic
``$ref`` raises ``SchemaError`` with the pointer before any request.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .source import Invalid, SchemaSource, schema_source

WIRE_FORMATS = ("strict", "plain", "prompt")


@dataclass(frozen=True, eq=False)
class CompiledSchema:
    """One declaration compiled for one wire format."""

    source: SchemaSource
    wire_format: str
    #: schema to put on the wire (``None`` for the prompt wire format)
    wire: dict[str, Any] | None
    #: wire-shaped data → original-shaped data; ``None`` when nothing to undo
    decode: Callable[[Any], Any] | None
    #: (JSON pointer, keyword) left out of the wire schema and enforced locally
    moved: tuple[tuple[str, str], ...]
    #: compact rendering for prompts (computed on first use)
    _prompt: list[str | None]

    @property
    def prompt_text(self) -> str:
        text = self._prompt[0]
        if text is None:
            from .render import render_schema

            text = self._prompt[0] = render_schema(self.source.json_schema)
        return text


_lock = threading.Lock()
_sources: dict[Any, SchemaSource] = {}
_compiled: dict[tuple[SchemaSource, str], CompiledSchema] = {}


def _source_key(spec: Any) -> Any:
    if isinstance(spec, dict):
        return ("doc", json.dumps(spec, sort_keys=True, default=str))
    if isinstance(spec, (str, Path)):
        p = Path(spec)
        try:
            return ("file", str(p.resolve()), p.stat().st_mtime_ns)
        except OSError:
            return ("file", str(p), None)
    try:
        hash(spec)
    except TypeError:
        return ("id", id(spec))
    return ("type", spec)


def get_source(spec: Any) -> SchemaSource:
    """The cached :class:`SchemaSource` for a declaration."""
    if isinstance(spec, SchemaSource):
        return spec
    key = _source_key(spec)
    found = _sources.get(key)
    if found is None:
        found = schema_source(spec)
        with _lock:
            _sources.setdefault(key, found)
    return found


def compile_schema(spec: Any, wire_format: str) -> CompiledSchema:
    """Compile (once) a declaration for a wire format; raises ``SchemaError`` if inexpressible."""
    source = get_source(spec)
    key = (source, wire_format)
    found = _compiled.get(key)
    if found is not None:
        return found
    if wire_format == "strict":
        from .strict import encode_strict

        enc = encode_strict(source.json_schema)
        compiled = CompiledSchema(
            source, wire_format, enc.wire, None if enc.identity else enc.decode, enc.moved, [None]
        )
    elif wire_format == "plain":
        compiled = CompiledSchema(source, wire_format, source.json_schema, None, (), [None])
    elif wire_format == "prompt":
        compiled = CompiledSchema(source, wire_format, None, None, (), [None])
    else:
        raise ValueError(f"unknown wire format {wire_format!r}; expected one of {WIRE_FORMATS}")
    with _lock:
        _compiled.setdefault(key, compiled)
    return _compiled[key]


__all__ = ["WIRE_FORMATS", "CompiledSchema", "Invalid", "SchemaSource", "compile_schema", "get_source"]
