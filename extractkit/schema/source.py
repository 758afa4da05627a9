"""Turn what the user declared into one :class:`SchemaSource`.

Three kinds of declaration are accepted:

* a Pydantic v2 model class;
* any other type pydantic understands (``str``, ``int``, ``list[Model]``,
  ``Literal[...]``, an ``Enum``, ``X | None``, a ``TypedDict`` ...);
* a JSON Schema document, as a ``dict`` or a path to a ``.json`` file.

A :class:`SchemaSource` holds an object-rooted JSON Schema for the wire (values
that are not objects are wrapped as ``{"value": ...}`` and unwrapped on
return) and the *validator of record*: pydantic for types, ``jsonschema`` for
documents. Whatever a target cannot express is still enforced here.
"""

from __future__ import annotations

import copy
import json
import re
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
from pydantic import BaseModel, TypeAdapter, ValidationError, create_model

from ..errors import SchemaError
from .view import schema_view

WRAP_KEY = "value"
_NAME_RE = re.compile(r"[^a-zA-Z0-9_-]+")


class Invalid(Exception):
    """Validation failed; ``errors`` name the field paths."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("; ".join(errors))
        self.errors = errors


@dataclass(frozen=True, eq=False)
class SchemaSource:
    """A compiled declaration: wire-ready JSON Schema plus the validator of record."""

    name: str
    description: str | None
    json_schema: dict[str, Any]
    wrapped: bool
    #: validate parsed data (already decoded to the original shape) → typed value
    validate: Callable[[Any, Any], Any]
    #: fast path: validate JSON text directly (pydantic only), else ``None``
    validate_json: Callable[[str | bytes, Any], Any] | None
    origin: str
    #: the Python type declared (``None`` for JSON Schema documents)
    python_type: Any = None


def tool_name(name: str) -> str:
    """A name OpenAI accepts for a function or json_schema (``^[a-zA-Z0-9_-]{1,64}$``)."""
    cleaned = _NAME_RE.sub("_", name).strip("_") or "extract"
    return cleaned[:64]


def _type_name(tp: Any) -> str:
    """A readable name for a type: ``list[Event]`` → ``list_of_Event``, ``int | None`` →
    ``int_or_null`` (used as the json_schema / tool name the model sees)."""
    if tp is type(None) or tp is None:
        return "null"
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is typing.Literal:
        return "choice"
    if origin is typing.Annotated:
        return _type_name(args[0])
    if origin in (typing.Union, types.UnionType):
        return "_or_".join(_type_name(a) for a in args)
    if origin is not None:
        base = getattr(origin, "__name__", "value")
        inner = "_and_".join(_type_name(a) for a in args if a is not Ellipsis)
        return f"{base}_of_{inner}" if inner else base
    name = getattr(tp, "__name__", None)
    if isinstance(name, str) and name and not name.startswith("_"):
        return name
    return re.sub(r"[^A-Za-z0-9]+", "_", repr(tp)).strip("_")[:60] or "value"


def _pydantic_errors(exc: ValidationError, *, strip_wrap: bool) -> list[str]:
    out = []
    for err in exc.errors(include_url=False):
        loc = list(err.get("loc", ()))
        if strip_wrap and loc and loc[0] == WRAP_KEY:
            loc = loc[1:]
        path = ".".join(str(p) for p in loc) or "(root)"
        msg = err.get("msg", "invalid")
        if err.get("type") not in ("missing",) and "input" in err:
            shown = json.dumps(err["input"], default=str)
            if len(shown) > 80:
                shown = shown[:77] + "..."
            msg = f"{msg} (got {shown})"
        out.append(f"{path}: {msg}")
    return out


def _inline_root_ref(schema: dict[str, Any]) -> dict[str, Any]:
    """``{"$ref": "#/$defs/X", "$defs": {...}}`` → X's body at the root (defs kept)."""
    ref = schema.get("$ref")
    if not isinstance(ref, str) or not ref.startswith("#/"):
        return schema
    parts = ref[2:].split("/")
    target: Any = schema
    for part in parts:
        if not isinstance(target, dict) or part not in target:
            return schema
        target = target[part]
    if not isinstance(target, dict):
        return schema
    merged = {k: v for k, v in schema.items() if k != "$ref"}
    for key, value in target.items():
        merged.setdefault(key, value)
    return merged


def _is_object_root(schema: dict[str, Any]) -> bool:
    return isinstance(schema.get("properties"), dict) and schema.get("type", "object") == "object"


def from_model(model: type[BaseModel]) -> SchemaSource:
    schema = _inline_root_ref(model.model_json_schema())

    def validate(data: Any, context: Any) -> Any:
        try:
            return model.model_validate(data, context=context)
        except ValidationError as exc:
            raise Invalid(_pydantic_errors(exc, strip_wrap=False)) from None

    def validate_json(text: str | bytes, context: Any) -> Any:
        return model.model_validate_json(text, context=context)

    doc = (model.__doc__ or "").strip() or None
    return SchemaSource(
        name=tool_name(model.__name__),
        description=schema.get("description") or doc,
        json_schema=schema,
        wrapped=False,
        validate=validate,
        validate_json=validate_json,
        origin=f"{model.__module__}.{model.__qualname__}",
        python_type=model,
    )


def from_type(tp: Any) -> SchemaSource:
    """Any type pydantic can validate; non-object results are wrapped as ``{"value": ...}``."""
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return from_model(tp)
    try:
        adapter: TypeAdapter[Any] = TypeAdapter(tp)
        plain = adapter.json_schema()
    except Exception as exc:  # pydantic raises several kinds here
        raise SchemaError(f"cannot build a schema for {tp!r}: {exc}", source=repr(tp)) from exc
    name = _type_name(tp)
    if _is_object_root(_inline_root_ref(plain)) and plain.get("additionalProperties") is not True:
        schema = _inline_root_ref(plain)

        def validate(data: Any, context: Any) -> Any:
            try:
                return adapter.validate_python(data, context=context)
            except ValidationError as exc:
                raise Invalid(_pydantic_errors(exc, strip_wrap=False)) from None

        def validate_json(text: str | bytes, context: Any) -> Any:
            return adapter.validate_json(text, context=context)

        return SchemaSource(
            tool_name(name), schema.get("description"), schema, False, validate, validate_json,
            repr(tp), tp,
        )

    wrapper = create_model(tool_name(name), **{WRAP_KEY: (tp, ...)})  # type: ignore[call-overload]
    schema = _inline_root_ref(wrapper.model_json_schema())
    schema["additionalProperties"] = False

    def validate_wrapped(data: Any, context: Any) -> Any:
        try:
            return getattr(wrapper.model_validate(data, context=context), WRAP_KEY)
        except ValidationError as exc:
            raise Invalid(_pydantic_errors(exc, strip_wrap=True)) from None

    def validate_json_wrapped(text: str | bytes, context: Any) -> Any:
        return getattr(wrapper.model_validate_json(text, context=context), WRAP_KEY)

    return SchemaSource(
        tool_name(name), None, schema, True, validate_wrapped, validate_json_wrapped, repr(tp), tp
    )


def _jsonschema_errors(validator: Any, data: Any, *, wrapped: bool) -> list[str]:
    out = []
    for err in sorted(validator.iter_errors(data), key=lambda e: list(e.absolute_path)):
        path = list(err.absolute_path)
        if wrapped and path and path[0] == WRAP_KEY:
            path = path[1:]
        where = ".".join(str(p) for p in path) or "(root)"
        out.append(f"{where}: {err.message}")
    return out


def _wrap_document(schema: dict[str, Any]) -> dict[str, Any]:
    inner = {k: v for k, v in schema.items() if k not in ("$defs", "definitions", "$schema")}
    inner = _rewrite_root_refs(inner)
    wrapped: dict[str, Any] = {
        "type": "object",
        "properties": {WRAP_KEY: inner},
        "required": [WRAP_KEY],
        "additionalProperties": False,
    }
    for key in ("$defs", "definitions"):
        if key in schema:
            wrapped[key] = _rewrite_root_refs(schema[key])
    return wrapped


def _rewrite_root_refs(node: Any) -> Any:
    if isinstance(node, dict):
        out = {k: _rewrite_root_refs(v) for k, v in node.items()}
        if out.get("$ref") == "#":
            out["$ref"] = f"#/properties/{WRAP_KEY}"
        return out
    if isinstance(node, list):
        return [_rewrite_root_refs(v) for v in node]
    return node


def from_document(document: dict[str, Any], *, origin: str = "<schema>") -> SchemaSource:
    """A JSON Schema document; checked against its meta-schema first."""
    if not isinstance(document, dict):
        raise SchemaError("a JSON Schema document must be a JSON object", source=origin)
    cls = jsonschema.validators.validator_for(document, default=jsonschema.Draft202012Validator)
    try:
        cls.check_schema(document)
    except jsonschema.SchemaError as exc:
        pointer = "/" + "/".join(str(p) for p in exc.absolute_path) if exc.absolute_path else ""
        raise SchemaError(
            f"invalid JSON Schema: {exc.message}", pointer=pointer,
            keyword=exc.validator if isinstance(exc.validator, str) else None,
            source=origin,
        ) from None
    check_references(document, origin)
    document = copy.deepcopy(document)
    validator = cls(document, format_checker=cls.FORMAT_CHECKER)
    root = _inline_root_ref(document)
    wrapped = not (_is_object_root(root) or (root.get("type") == "object" and "properties" in root))
    wire = _wrap_document(document) if wrapped else root
    name = document.get("title") or Path(origin).stem or "extract"

    def validate(data: Any, context: Any) -> Any:
        value = data.get(WRAP_KEY) if wrapped and isinstance(data, dict) else data
        if wrapped and not (isinstance(data, dict) and WRAP_KEY in data):
            raise Invalid([f"(root): expected an object with the key {WRAP_KEY!r}"])
        errors = _jsonschema_errors(validator, value, wrapped=False)
        if errors:
            raise Invalid(errors)
        return value

    return SchemaSource(
        tool_name(str(name)), document.get("description"), wire, wrapped, validate, None, origin
    )


def load_document(path: str | Path) -> SchemaSource:
    """Read a ``.json`` file holding a JSON Schema document."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SchemaError("schema file not found", source=str(p)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SchemaError(f"cannot read schema file: {exc}", source=str(p)) from None
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SchemaError(
            f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}", source=str(p)
        ) from None
    return from_document(document, origin=str(p))


def check_references(schema: Any, origin: str) -> None:
    """Raise :class:`SchemaError` (naming ``origin`` and the pointer) for a remote
    ``$ref``, one that points nowhere, or a ``$ref`` cycle (see
    :meth:`.view.SchemaView.check_references`): whatever the target, such a schema
    could only fail at validation time, on every attempt."""
    try:
        schema_view(schema).check_references()
    except SchemaError as exc:
        message = str(exc)
        if exc.pointer is not None or exc.keyword:  # drop the "(at ..., keyword ...)" suffix
            message = message.rsplit(" (", 1)[0]
        raise SchemaError(message, pointer=exc.pointer, keyword=exc.keyword,
                          source=origin) from None


def schema_source(spec: Any) -> SchemaSource:
    """Dispatch on the kind of declaration; references are checked here, once."""
    if isinstance(spec, SchemaSource):
        return spec
    if isinstance(spec, dict):
        return from_document(spec)
    if isinstance(spec, (str, Path)) and str(spec).endswith(".json"):
        return load_document(spec)
    source = from_type(spec)
    check_references(source.json_schema, source.origin)
    return source
