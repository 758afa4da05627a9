"""Labelled examples: what to extract from, and what should come out.

A dataset file is JSON Lines, one example per line::

    {"id": "inv-1", "text": "Invoice 42 from ACME ...", "expected": {"number": 42}}
    {"id": "inv-2", "path": "docs/inv-2.pdf", "expected": {...}}
    {"id": "msg-7", "vars": {"text": "...", "lang": "de"}, "expected": {...}}

``text`` is the document; ``path`` a file read like a CLI input (relative
to the dataset file's folder); ``vars`` the template variables of an
``@extract`` function (the document text is ``vars["text"]`` when present).
``id`` defaults to ``FILE:LINE``. Blank lines are skipped. A bad line raises
:class:`~extractkit.errors.InputError` naming the file and line.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import InputError


@dataclass(frozen=True)
class Example:
    """One labelled input."""

    id: str
    expected: Any
    text: str | None = None
    path: str | None = None
    vars: Mapping[str, Any] = field(default_factory=dict)

    def document_text(self) -> str | None:
        """The source text (for grounding display): ``text``, the file, or ``vars["text"]``."""
        if self.text is not None:
            return self.text
        if self.path is not None:
            return read_source(self.path)
        value = self.vars.get("text")
        return value if isinstance(value, str) else None

    def model_input(self, variables: bool = True) -> Any:
        """What the extraction is called with: the text, or the template variables
        (``variables``: the target is an ``@extract`` function that takes them)."""
        if self.vars:
            if variables:
                return dict(self.vars)
            extra = sorted(set(self.vars) - {"text"})
            if extra or not isinstance(self.vars.get("text"), str):
                raise InputError(
                    f"{self.id}: template variables {', '.join(extra) or '(no text)'} need an "
                    "@extract function as the target (a model or JSON Schema takes one text)",
                    path=self.id)
            return self.vars["text"]
        text = self.document_text()
        assert text is not None
        return text


def read_source(path: str) -> str:
    """A document's text, through the documents loader (PDF, HTML, DOCX, text)."""
    from ..documents.load import load_document

    return load_document(path).text


def example_from(data: Any, where: str, base: Path | None = None) -> Example:
    """An :class:`Example` from one parsed line (``where`` names it in errors)."""
    if not isinstance(data, dict):
        raise InputError(f"{where}: an example is a JSON object", path=where)
    if "expected" not in data:
        raise InputError(f'{where}: an example needs "expected" (the right answer)', path=where)
    sources = [k for k in ("text", "path", "vars") if data.get(k) is not None]
    if len(sources) != 1:
        raise InputError(f'{where}: an example needs exactly one of "text", "path" or "vars"',
                         path=where)
    ident = str(data["id"]) if data.get("id") is not None else where
    text, path, variables = data.get("text"), data.get("path"), data.get("vars") or {}
    if text is not None and not isinstance(text, str):
        raise InputError(f'{where}: "text" must be a string', path=where)
    if path is not None:
        if not isinstance(path, str):
            raise InputError(f'{where}: "path" must be a string', path=where)
        if base is not None and not Path(path).is_absolute():
            path = str(base / path)
    if not isinstance(variables, dict):
        raise InputError(f'{where}: "vars" must be an object of template variables', path=where)
    return Example(ident, data["expected"], text, path, variables)


def load_dataset(path: str | Path) -> list[Example]:
    """The examples of a JSON Lines dataset file."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except OSError as exc:
        raise InputError(f"{path}: cannot read the dataset: {exc.strerror}",
                         path=str(path)) from None
    except UnicodeDecodeError:
        raise InputError(f"{path}: the dataset is not UTF-8", path=str(path)) from None
    examples: list[Example] = []
    seen: set[str] = set()
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            data = json.loads(line)
        except ValueError as exc:
            raise InputError(f"{where}: not a JSON line: {exc}", path=where) from None
        example = example_from(data, where, path.parent)
        if example.id in seen:
            raise InputError(f"{where}: duplicate example id {example.id!r}", path=where)
        seen.add(example.id)
        examples.append(example)
    if not examples:
        raise InputError(f"{path}: the dataset has no examples", path=str(path))
    return examples


def as_examples(dataset: str | Path | Iterable[Any]) -> list[Example]:
    """A dataset file, or examples given as :class:`Example` objects or dicts."""
    if isinstance(dataset, (str, Path)):
        return load_dataset(dataset)
    out: list[Example] = []
    for number, item in enumerate(dataset, 1):
        out.append(item if isinstance(item, Example)
                   else example_from(item, f"dataset item {number}"))
    return out


__all__ = ["Example", "as_examples", "example_from", "load_dataset", "read_source"]
