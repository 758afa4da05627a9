"""Loading what the CLI is pointed at: schema files and input documents.

``SCHEMA`` is ``file.py`` (a Pydantic model or an ``@extract`` function;
``file.py:Name`` picks one) or ``file.json`` (a JSON Schema document).
``INPUT`` is a file, a directory (its files, recursively, hidden ones
skipped, in sorted order) or ``-`` for standard input. A ``.jsonl`` file
holds one input per line, ``{"id": ..., "text": ...}`` or a chat history
``{"id": ..., "messages": [...]}``. Other files are read
with :func:`extractkit.documents.load_document` (PDF, HTML, DOCX, Markdown,
text), so each input carries its :class:`~extractkit.documents.Document`
(text and page map).
"""

from __future__ import annotations

import importlib.util
import itertools
import json
import re
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from .decorator import AsyncExtractFunction, ExtractFunction
from .documents import Document, load_bytes, load_document
from .errors import InputError, SchemaError
from .schema import get_source

_module_ids = itertools.count()


@dataclass(frozen=True)
class SchemaTarget:
    """What to extract: a declaration (model / JSON Schema) or an ``@extract`` function."""

    file: str
    name: str
    schema: Any = None
    function: ExtractFunction[..., Any] | None = None


_INTERNAL_NAME = re.compile(r"_extractkit_schema_\d+_\w*?\.(?=\w)|_extractkit_schema_\d+_\w+")


def user_facing(text: str) -> str:
    """``text`` without the internal module names schema files are imported under
    (``<class '_extractkit_schema_0_person.Person'>`` → ``<class 'Person'>``)."""
    return _INTERNAL_NAME.sub("", text)


def _import_file(path: Path) -> Any:
    module_name = f"_extractkit_schema_{next(_module_ids)}_{path.stem}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise SchemaError("cannot import this file as Python", source=str(path))
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except SyntaxError as exc:
        sys.modules.pop(module_name, None)
        raise SchemaError(
            f"Python syntax error at line {exc.lineno}: {exc.msg}", source=str(path)
        ) from None
    except Exception as exc:
        sys.modules.pop(module_name, None)
        raise SchemaError(
            f"importing the schema file failed: {type(exc).__name__}: {user_facing(str(exc))}",
            source=str(path),
        ) from None
    return module


def _candidates(module: Any) -> tuple[dict[str, type[BaseModel]], dict[str, Any]]:
    models: dict[str, type[BaseModel]] = {}
    functions: dict[str, Any] = {}
    for name, obj in vars(module).items():
        if name.startswith("_"):
            continue
        if isinstance(obj, (ExtractFunction, AsyncExtractFunction)):
            functions[name] = obj
        elif (
            isinstance(obj, type)
            and issubclass(obj, BaseModel)
            and obj.__module__ == module.__name__
        ):
            models[name] = obj
    return models, functions


def _json_schema(model: type[BaseModel], file: str) -> dict[str, Any]:
    """``model``'s JSON Schema, or a :class:`SchemaError` naming the file and the model."""
    try:
        return model.model_json_schema()
    except Exception as exc:  # e.g. PydanticUserError: a forward reference never defined
        message = user_facing(str(exc)).split("\n\n")[0]  # drop pydantic's help link
        raise SchemaError(f"model {model.__name__}: {message}", source=file) from None


def _roots(models: dict[str, type[BaseModel]], file: str) -> list[str]:
    """Models no other model in the file refers to (the likely extraction targets)."""
    referenced: set[str] = set()
    for model in models.values():
        defs = _json_schema(model, file).get("$defs", {})
        referenced.update(name for name in defs if name != model.__name__)
    return [name for name, model in models.items() if model.__name__ not in referenced]


def load_target(spec: str) -> SchemaTarget:
    """Load ``file.py``, ``file.py:Name`` or ``file.json``."""
    file, _, name = spec.partition(":") if spec.count(":") == 1 and not Path(spec).exists() else (
        spec, "", ""
    )
    path = Path(file)
    if not path.exists():
        raise SchemaError("schema file not found", source=file)
    if path.suffix == ".json":
        source = get_source(path)
        return SchemaTarget(file, source.name, schema=path)
    if path.suffix != ".py":
        raise SchemaError("a schema file must be a .py or a .json file", source=file)
    module = _import_file(path)
    models, functions = _candidates(module)
    if name:
        if name in functions:
            return SchemaTarget(file, name, function=functions[name])
        if name in models:
            return SchemaTarget(file, name, schema=models[name])
        known = ", ".join(sorted([*functions, *models])) or "none"
        raise SchemaError(f"no model or @extract function named {name!r} (found: {known})",
                          source=file)
    if len(functions) == 1:
        fn_name, fn = next(iter(functions.items()))
        return SchemaTarget(file, fn_name, function=fn)
    if not functions:
        roots = _roots(models, file)
        if len(roots) == 1:
            return SchemaTarget(file, roots[0], schema=models[roots[0]])
        if not models:
            raise SchemaError(
                "no Pydantic model or @extract function defined in this file", source=file
            )
    found = ", ".join(sorted([*functions, *(_roots(models, file) or models)]))
    raise SchemaError(
        f"several candidates ({found}); pick one with {file}:NAME", source=file
    )


@dataclass(frozen=True)
class InputDoc:
    """One input document: its id (path or ``-``), text and document, or the error reading it.

    ``variables`` are its own template variables: the fields of a JSON Lines
    line other than ``id`` and ``text`` (or ``messages``).
    """

    id: str
    text: str | None = None
    error: InputError | None = None
    document: Document | None = None
    variables: Mapping[str, Any] = field(default_factory=dict)
    #: a JSON Lines line's ``messages`` (a chat history); ``text`` is then its turns' text
    messages: tuple[dict[str, Any], ...] | None = None


def read_text(path: Path) -> str:
    """The text of the document file at ``path`` (any format :func:`load_document` reads)."""
    return load_document(path).text


def iter_inputs(specs: list[str], stdin: Any = None) -> Iterator[InputDoc]:
    """Expand INPUT arguments to documents, lazily; a bad one becomes an error record."""
    for spec in specs:
        if spec == "-":
            stream = stdin if stdin is not None else sys.stdin.buffer
            try:
                document = load_bytes(stream.read(), "<stdin>")
                yield InputDoc("-", document.text, document=document)
            except InputError as exc:
                yield InputDoc("-", error=exc)
            continue
        path = Path(spec)
        if path.is_dir():
            files = sorted(
                p for p in path.rglob("*")
                if p.is_file() and not any(part.startswith(".") for part in p.relative_to(path).parts)
            )
            for file in files:
                yield from _read_docs(file)
            continue
        yield from _read_docs(path)


def count_inputs(specs: list[str]) -> int | None:
    """How many documents :func:`iter_inputs` will yield for ``specs``, without reading
    them (a ``.jsonl`` file's non-blank lines are counted); ``None`` for standard input."""
    total = 0
    for spec in specs:
        if spec == "-":
            return None
        path = Path(spec)
        files = [path]
        if path.is_dir():
            files = [
                p for p in path.rglob("*")
                if p.is_file() and not any(part.startswith(".") for part in p.relative_to(path).parts)
            ]  # fmt: skip
        for file in files:
            total += _count_lines(file) if file.suffix == ".jsonl" and file.is_file() else 1
    return total


def _count_lines(path: Path) -> int:
    try:
        with path.open("rb") as handle:
            return sum(1 for line in handle if line.strip())
    except OSError:
        return 1  # it becomes one error record


def _read_doc(path: Path) -> InputDoc:
    try:
        document = load_document(path)
    except InputError as exc:
        return InputDoc(str(path), error=exc)
    except Exception as exc:  # a parser's own failure on a hostile file: this input fails alone
        error = InputError(f"{path}: cannot read: {type(exc).__name__}: {exc}", path=str(path))
        return InputDoc(str(path), error=error)
    return InputDoc(str(path), document.text, document=document)


def _read_docs(path: Path) -> Iterator[InputDoc]:
    if path.suffix == ".jsonl" and path.is_file():
        yield from iter_jsonl(path)
    else:
        yield _read_doc(path)


def iter_jsonl(path: Path) -> Iterator[InputDoc]:
    """The documents of a JSON Lines file, one per line: ``{"id": ..., "text": ...}``.

    Other fields of a line are that input's template variables.

    Read lazily. A line without an ``id`` is named ``FILE:LINE``; a line that
    is not such an object becomes an error record; blank lines are skipped.
    """
    try:
        handle = path.open("rb")
    except OSError as exc:
        error = InputError(f"{path}: cannot read: {exc.strerror}", path=str(path))
        yield InputDoc(str(path), error=error)
        return
    with handle:
        for number, line in enumerate(handle, 1):
            if line.strip():
                yield _jsonl_doc(line, f"{path}:{number}")


def _jsonl_doc(line: bytes, where: str) -> InputDoc:
    try:
        record = json.loads(line.decode("utf-8-sig"))
    except UnicodeDecodeError:
        return InputDoc(where, error=InputError(f"{where}: not UTF-8 text", path=where))
    except ValueError as exc:
        return InputDoc(where, error=InputError(f"{where}: not a JSON line: {exc}", path=where))
    if isinstance(record, dict) and "messages" in record and "text" not in record:
        return _conversation_doc(record, where)
    if not isinstance(record, dict) or not isinstance(record.get("text"), str):
        message = (f'{where}: a JSON Lines input needs {{"id": ..., "text": "..."}} (or '
                   '{"id": ..., "messages": [...]}) on each line')
        return InputDoc(where, error=InputError(message, path=where))
    ident = str(record["id"]) if record.get("id") is not None else where
    if not record["text"].strip():
        return InputDoc(ident, error=InputError(f"{ident}: input is empty", path=where))
    variables = {k: v for k, v in record.items() if k not in ("id", "text")}
    document = Document.from_text(record["text"])
    return InputDoc(ident, record["text"], document=document, variables=variables)


def _conversation_doc(record: dict[str, Any], where: str) -> InputDoc:
    """A line ``{"id": ..., "messages": [...]}``: a chat history (its text is the turns')."""
    from .conversation import check_messages, conversation_text

    ident = str(record["id"]) if record.get("id") is not None else where
    try:
        messages = check_messages(record["messages"], where=f"{where}: messages")
    except InputError as exc:
        return InputDoc(ident, error=exc)
    variables = {k: v for k, v in record.items() if k not in ("id", "messages")}
    return InputDoc(ident, conversation_text(messages), variables=variables,
                    messages=tuple(messages))
