"""Prompt templates: the Jinja environment, template lookup and message building.

* Templates run in Jinja's ``SandboxedEnvironment`` with ``StrictUndefined``:
  an undefined variable is a :class:`~extractkit.errors.TemplateError` naming
  the variable and the template, raised while rendering -- before any request.
* Input is data: variable values are inserted as text and never parsed as
  template source, so a document containing ``{{ ... }}`` reaches the model
  verbatim.
* A template may define ``{% block system %}`` and ``{% block user %}``; the
  user block becomes the user message, the system block replaces the default
  system message. A template without blocks is the user message.
* The defaults (``system.j2``, ``schema.j2``, ``user.j2``, ``reask.j2``) live
  in the project's ``prompts/`` folder; a directory passed as
  ``prompts_dir=`` is searched first, so a file there with the same name
  overrides a default.
* Templates are compiled once and cached.
"""

from __future__ import annotations

import inspect
import re
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import jinja2
from jinja2.sandbox import SandboxedEnvironment

from .errors import TemplateError
from .modes import Plan
from .results import Attempt

_TEMPLATE_SUFFIXES = (".j2", ".jinja", ".jinja2", ".txt", ".md", ".prompt")
_UNDEFINED_RE = re.compile(r"'([^']+)' is undefined|has no attribute '([^']+)'")


def default_prompts_dir() -> Path:
    """Where the default templates are: inside the wheel, or the source tree's ``prompts/``."""
    packaged = Path(__file__).parent / "_prompts"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parent.parent / "prompts"


def _undefined_name(exc: jinja2.UndefinedError) -> str | None:
    match = _UNDEFINED_RE.search(str(exc.message or ""))
    if not match:
        return None
    return match.group(1) or match.group(2)


class PromptTemplate:
    """A compiled template that renders to a (system, user) pair."""

    __slots__ = ("_globals", "_template", "has_blocks", "name")

    def __init__(self, template: jinja2.Template, name: str) -> None:
        self._template = template
        # Flattened once: merging Jinja's ChainMap of globals on every render is costly.
        self._globals = dict(template.globals)
        self.name = name
        self.has_blocks = "user" in template.blocks or "system" in template.blocks
        if "system" in template.blocks and "user" not in template.blocks:
            raise TemplateError(
                f"template {name} defines a system block but no user block; "
                "add {% block user %}...{% endblock %}",
                template=name,
            )

    def render(self, variables: Mapping[str, Any]) -> tuple[str | None, str]:
        """Render to ``(system or None, user)``; errors name the template and variable."""
        try:
            ctx = self._template.new_context({**self._globals, **variables}, shared=True)
            if not self.has_blocks:
                return None, "".join(self._template.root_render_func(ctx)).strip()
            user = "".join(self._template.blocks["user"](ctx)).strip()
            system = None
            if "system" in self._template.blocks:
                system = "".join(self._template.blocks["system"](ctx)).strip()
            return system, user
        except jinja2.UndefinedError as exc:
            var = _undefined_name(exc)
            what = f"variable {var!r}" if var else "a variable"
            raise TemplateError(
                f"template {self.name}: {what} is undefined ({exc.message}); "
                f"pass it as an argument or define it in the template",
                template=self.name,
                variable=var,
            ) from None
        except jinja2.exceptions.SecurityError as exc:
            raise TemplateError(
                f"template {self.name}: blocked by the sandbox: {exc}", template=self.name
            ) from None
        except jinja2.TemplateError as exc:
            raise TemplateError(f"template {self.name}: {exc}", template=self.name) from None
        except Exception as exc:  # e.g. {{ 1/0 }} or the sandbox's range limit
            raise TemplateError(
                f"template {self.name}: rendering failed: {type(exc).__name__}: {exc}",
                template=self.name,
            ) from None


def _syntax_error(exc: jinja2.TemplateSyntaxError, name: str) -> TemplateError:
    where = exc.filename or exc.name or name
    return TemplateError(
        f"template syntax error in {where}, line {exc.lineno}: {exc.message}",
        template=str(where),
        line=exc.lineno,
    )


class Prompts:
    """Jinja environment over the user's prompt directories, then the defaults."""

    def __init__(self, dirs: Sequence[str | Path] = ()) -> None:
        self.dirs = tuple(Path(d) for d in dirs)
        loader = jinja2.ChoiceLoader(
            [jinja2.FileSystemLoader(str(d)) for d in (*self.dirs, default_prompts_dir())]
        )
        self.env = SandboxedEnvironment(
            loader=loader,
            undefined=jinja2.StrictUndefined,
            autoescape=False,
            trim_blocks=True,
            lstrip_blocks=True,
            auto_reload=False,
        )
        self._cache: dict[Any, PromptTemplate] = {}
        self._system: dict[Plan, str] = {}
        self._lock = threading.Lock()
        self._reask = self.get("reask.j2")

    # -- templates ------------------------------------------------------------

    def get(self, spec: str | Path) -> PromptTemplate:
        """A template by name (looked up in the prompt directories), by path, or inline source."""
        key = ("spec", str(spec), isinstance(spec, Path))
        found = self._cache.get(key)
        if found is None:
            found = self._load(spec)
            with self._lock:
                self._cache[key] = found
        return found

    def from_source(self, source: str, name: str) -> PromptTemplate:
        """Compile inline template text (e.g. a docstring; indentation is normalised)."""
        key = ("source", source, name)
        found = self._cache.get(key)
        if found is None:
            text = inspect.cleandoc(source)
            try:
                compiled = self.env.from_string(text)
            except jinja2.TemplateSyntaxError as exc:
                raise _syntax_error(exc, name) from None
            found = PromptTemplate(compiled, name)
            with self._lock:
                self._cache[key] = found
        return found

    def _load(self, spec: str | Path) -> PromptTemplate:
        text = str(spec)
        looks_like_file = isinstance(spec, Path) or (
            "\n" not in text and "{" not in text and text.endswith(_TEMPLATE_SUFFIXES)
        )
        if not looks_like_file:
            return self.from_source(text, "<inline template>")
        path = Path(text)
        if path.is_file():
            try:
                source = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise TemplateError(f"cannot read template {path}: {exc}", template=str(path)) from None
            try:
                compiled = self.env.from_string(source)
            except jinja2.TemplateSyntaxError as exc:
                exc.filename = str(path)
                raise _syntax_error(exc, str(path)) from None
            return PromptTemplate(compiled, str(path))
        try:
            compiled = self.env.get_template(text)
        except jinja2.TemplateNotFound:
            searched = ", ".join(str(d) for d in (*self.dirs, default_prompts_dir()))
            raise TemplateError(
                f"template {text!r} not found (no such file; searched: {searched})",
                template=text,
            ) from None
        except jinja2.TemplateSyntaxError as exc:
            raise _syntax_error(exc, text) from None
        return PromptTemplate(compiled, compiled.filename or text)

    # -- messages -------------------------------------------------------------

    def system_message(self, plan: Plan) -> str:
        """The default system message for a plan (rendered once per plan)."""
        found = self._system.get(plan)
        if found is None:
            source = plan.compiled.source
            variables = {
                "name": source.name,
                "description": source.description,
                "mode": plan.mode.name,
                "prompted": plan.mode.prompted,
                "schema": plan.compiled.prompt_text if plan.mode.prompted else None,
            }
            found = self.get("system.j2").render(variables)[1]
            with self._lock:
                self._system[plan] = found
        return found

    def messages(
        self, plan: Plan, template: PromptTemplate, variables: Mapping[str, Any]
    ) -> list[dict[str, Any]]:
        """System and user messages for one call."""
        system, user = template.render(variables)
        if system is None:
            system = self.system_message(plan)
        elif plan.mode.prompted:
            system = f"{system}\n\n{self._schema_section(plan)}"
        return [{"role": "system", "content": system}, {"role": "user", "content": user}]

    def with_system(self, plan: Plan, messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Caller-built messages plus what the mode needs: the default system message
        when there is none; the schema section appended to theirs in prompted modes."""
        if not messages or messages[0].get("role") not in ("system", "developer"):
            return [{"role": "system", "content": self.system_message(plan)}, *messages]
        if plan.mode.prompted:
            first = dict(messages[0])
            first["content"] = f"{first.get('content') or ''}\n\n{self._schema_section(plan)}"
            return [first, *messages[1:]]
        return messages

    def _schema_section(self, plan: Plan) -> str:
        return self.get("schema.j2").render(
            {"mode": plan.mode.name, "schema": plan.compiled.prompt_text}
        )[1]

    def feedback(self, plan: Plan, errors: list[str], attempt: Attempt) -> str:
        """The re-ask message listing the errors of the last attempt."""
        return self._reask.render(
            {"errors": errors, "mode": plan.mode.name, "repairs": list(attempt.repairs)}
        )[1]


_by_dirs: dict[tuple[str, ...], Prompts] = {}


def get_prompts(dirs: Sequence[str | Path] | None = None) -> Prompts:
    """The shared :class:`Prompts` for a tuple of directories (default: none)."""
    key = tuple(str(Path(d).resolve()) for d in dirs or ())
    found = _by_dirs.get(key)
    if found is None:
        found = Prompts(key)
        _by_dirs[key] = found
    return found
