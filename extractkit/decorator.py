"""``@extract``: a typed Python function whose docstring is the prompt.

.. code-block:: python

    @extract(model="gpt-4o-mini")
    def invoice(text: str, currency_hint: str = "EUR") -> Invoice:
        \"\"\"Extract the invoice. Assume {{ currency_hint }} when no currency is given.
        Document:
        {{ text }}\"\"\"

* Parameters are template variables, bound like a normal call (defaults
  applied; ``**kwargs`` spread into the variables).
* The return annotation is the schema; ``schema=`` (a JSON Schema ``dict`` or
  ``.json`` path) overrides it and the function then returns ``dict``.
* The docstring is the template, unless ``prompt=`` names a template file, a
  template in ``prompts_dir`` or gives template text.
* **The body runs before rendering** and may return a ``dict`` of extra
  template variables (for example values computed from the arguments);
  returning ``None`` (a body that is only a docstring) adds nothing. An
  ``async def`` body is awaited.
* Template variables (arguments plus extras) are the pydantic validation
  context, so a validator can check a value against the source text.
"""

from __future__ import annotations

import functools
import inspect
import sys
import typing
from collections.abc import (
    AsyncIterable,
    AsyncIterator,
    Awaitable,
    Callable,
    Iterable,
    Iterator,
    Mapping,
    Sequence,
)
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, ParamSpec, TypeVar, overload

from .drivers import aio, sync
from .engine import Engine
from .errors import ArgumentsError, ConfigurationError
from .grounding.check import marked_documents, pick_documents
from .loop import Extraction
from .modes import Plan
from .profiles import Profile
from .prompts import PromptTemplate
from .results import Result
from .settings import Settings
from .spend import SpendLimit, limit_for

if TYPE_CHECKING:
    from .cache import ResponseCache
    from .drivers.batch_api import BatchAPI
    from .drivers.gate import Gate, ThreadGate
    from .drivers.jobs import ItemResult
    from .drivers.stream import Snapshot
    from .endpoints.endpoint import Endpoint

_UNSET: Any = object()
P = ParamSpec("P")
R = TypeVar("R")


class _Bound:
    """Shared machinery of the sync and async wrappers (no I/O here)."""

    _is_async = False

    def __init__(
        self,
        fn: Callable[..., Any],
        settings: Settings,
        schema: Any = None,
        localns: dict[str, Any] | None = None,
    ) -> None:
        self._fn = fn
        self._localns = localns
        self._settings = settings
        self._schema_override = schema
        self._signature = inspect.signature(fn)
        self._var_kw = next(
            (p.name for p in self._signature.parameters.values()
             if p.kind is inspect.Parameter.VAR_KEYWORD),
            None,
        )
        self._engine = Engine(settings, is_async=self._is_async)
        self._schema: Any = None
        self._template: PromptTemplate | None = None
        self._plan: Plan | None = None
        self._documents: tuple[tuple[str, ...], bool] | None = None
        self._conversation: Any = _UNSET
        if settings.prompt is None and not (fn.__doc__ and fn.__doc__.strip()):
            raise ConfigurationError(
                f"@extract function {fn.__qualname__} has no docstring and no prompt=; "
                "the docstring (or prompt=) is the template"
            )
        if schema is None and "return" not in getattr(fn, "__annotations__", {}):
            raise ConfigurationError(
                f"@extract function {fn.__qualname__} needs a return annotation "
                "(the schema) or schema=..."
            )
        functools.update_wrapper(self, fn)  # type: ignore[arg-type]

    # -- compiled once ------------------------------------------------------

    @property
    def schema(self) -> Any:
        """What is extracted: the return annotation, or ``schema=``."""
        if self._schema is None:
            if self._schema_override is not None:
                self._schema = self._schema_override
            else:
                try:
                    hints = typing.get_type_hints(
                        self._fn, localns=self._localns, include_extras=True
                    )
                except Exception as exc:
                    raise ConfigurationError(
                        f"cannot resolve the return annotation of {self._fn.__qualname__}: {exc}"
                    ) from exc
                self._schema = hints["return"]
        return self._schema

    @property
    def template(self) -> PromptTemplate:
        if self._template is None:
            prompts = self._engine.prompts
            if self._settings.prompt is not None:
                self._template = prompts.get(self._settings.prompt)
            else:
                name = f"docstring of {self._fn.__module__}.{self._fn.__qualname__}"
                self._template = prompts.from_source(self._fn.__doc__ or "", name)
        return self._template

    @property
    def plan(self) -> Plan:
        if self._plan is None:
            self._plan = self._engine.plan(self.schema)
        return self._plan

    # -- per call -------------------------------------------------------------

    def _variables(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        try:
            bound = self._signature.bind(*args, **kwargs)
        except TypeError as exc:
            raise ArgumentsError(f"{self._fn.__qualname__}(): {exc}") from None
        bound.apply_defaults()
        variables = dict(bound.arguments)
        if self._var_kw is not None:
            variables.update(variables.pop(self._var_kw, {}))
        return variables

    def _add_extras(self, variables: dict[str, Any], extras: Any) -> dict[str, Any]:
        if extras is None:
            return variables
        if not isinstance(extras, Mapping):
            raise ConfigurationError(
                f"the body of @extract function {self._fn.__qualname__} returned "
                f"{type(extras).__name__}; it may return None or a dict of extra template variables"
            )
        return {**variables, **extras}

    @property
    def document_names(self) -> tuple[str, ...]:
        """The parameters that carry documents (``documents=``, ``SourceText`` markers,
        else ``text``, else the first parameter)."""
        return self._document_names()[0]

    def _document_names(self) -> tuple[tuple[str, ...], bool]:
        if self._documents is None:
            explicit = self._settings.documents or marked_documents(self._fn, self._localns)
            if explicit:
                self._documents = (tuple(explicit), True)
            else:
                params = list(self._signature.parameters)
                default = ("text",) if "text" in params else tuple(params[:1])
                self._documents = (default, False)
        return self._documents

    @property
    def conversation_parameter(self) -> str | None:
        """The parameter typed :data:`~extractkit.Messages` (a chat history), if any."""
        if self._conversation is _UNSET:
            from .conversation import is_messages_type

            try:
                hints = typing.get_type_hints(self._fn, localns=self._localns)
            except Exception:
                hints = {}
            self._conversation = next(
                (name for name in self._signature.parameters
                 if name in hints and is_messages_type(hints[name])), None)
        return self._conversation  # type: ignore[no-any-return]

    def _start(self, variables: dict[str, Any], engine: Engine | None = None) -> Extraction[Any]:
        """The extraction of one call, on ``engine`` (a fallback chain's endpoint) or ours."""
        plan = self.plan if engine is None else engine.plan(self.schema)
        engine = engine or self._engine
        messages = engine.messages(plan, self.template, variables)
        if self.conversation_parameter is not None:
            return self._start_conversation(plan, messages, variables, engine)
        names, explicit = self._document_names()
        documents = (pick_documents(variables, names) if explicit
                     else pick_documents(variables, None, names))
        return engine.start(plan, messages, context=variables, documents=documents)

    def _chain_run(self, variables: dict[str, Any]) -> Any:
        """A fallback chain's run of one call (``None``: a single endpoint)."""
        chain = self._engine.chain
        if chain is None:
            return None
        return chain.start(functools.partial(_start_on, self, variables))

    def _start_conversation(self, plan: Plan, messages: list[dict[str, Any]],
                            variables: dict[str, Any], engine: Engine) -> Extraction[Any]:
        """The system prompt, the conversation (fitted to the context window), then the
        rendered docstring as the last user message (see :mod:`extractkit.conversation`)."""
        from .conversation import check_messages, fit_conversation

        name = self.conversation_parameter
        assert name is not None
        turns = check_messages(variables.get(name), where=name)
        fitted = fit_conversation(engine, plan, messages[:1], turns, messages[1:])
        names, explicit = self._document_names()
        documents = (pick_documents(variables, names) if explicit
                     else pick_documents(variables, None, names) or fitted.document)
        return engine.start(plan, fitted.messages, context=variables, documents=documents,
                            dropped_turns=fitted.dropped)

    def _chunked(self, variables: dict[str, Any]) -> Any:
        """The chunked run when the document argument is too long for one prompt.

        The document is the first argument holding a ``Document`` or a path,
        else the ``text`` argument. Not chunked, a ``Document`` argument is
        replaced by its text (in place) so the template shows the text.
        """
        import os

        from .documents import Document

        if self.conversation_parameter is not None:
            return None  # a conversation is fitted to the window turn by turn, not chunked
        name = next((k for k, v in variables.items() if isinstance(v, (Document, os.PathLike))),
                    "text" if isinstance(variables.get("text"), str) else None)
        if name is None:
            return None
        from .documents.run import plan_document

        rest = {k: v for k, v in variables.items() if k != name}
        run = plan_document(self._engine, self.schema, variables[name], rest,
                            template=self.template, text_variable=name)
        if run is None and not isinstance(variables[name], str):
            from .documents import as_document

            variables[name] = as_document(variables[name]).text
        return run

    def _map_backend(self, cache: Any, batch_api: Any) -> Any:
        """``map``'s backend; ``None`` with a fallback chain (each endpoint has its own)."""
        if self._engine.chain is None:
            return self._engine.backend
        from .endpoints.chain import refuse_map_options

        refuse_map_options(cache, batch_api)
        return None

    def _with(self, **settings: Any) -> Any:
        merged = Settings.of(**settings).over(self._settings)
        return type(self)(self._fn, merged, self._schema_override, self._localns)

    def __repr__(self) -> str:
        return f"<extract function {self._fn.__qualname__}>"


class ExtractFunction(_Bound, Generic[P, R]):
    """A sync ``@extract`` function. Call it like the original function."""

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        return self.result(*args, **kwargs).value  # type: ignore[no-any-return]

    def result(self, *args: P.args, **kwargs: P.kwargs) -> Result[R]:
        """Call and return the full :class:`~extractkit.results.Result` (a
        :class:`~extractkit.documents.run.DocumentResult` for a document read in chunks)."""
        variables = self._variables(args, kwargs)
        variables = self._add_extras(variables, self._fn(*args, **kwargs))
        chunked = self._chunked(variables)
        if chunked is not None:
            from .documents.run import run_document

            return run_document(chunked)
        chained = self._chain_run(variables)
        if chained is not None:
            return chained.run()  # type: ignore[no-any-return]
        return sync.run(self._engine.backend, self._start(variables))

    def render(self, *args: P.args, **kwargs: P.kwargs) -> dict[str, Any]:
        """Dry run: the exact request that would be sent. Nothing is sent."""
        return self._prepare(args, kwargs).request()

    def stream(self, *args: P.args, **kwargs: P.kwargs) -> Iterator[Snapshot[R]]:
        """Partial values of the return type while the model writes; the last is validated."""
        from .drivers.stream import stream_sync

        if self._engine.chain is not None:
            variables = self._variables(args, kwargs)
            variables = self._add_extras(variables, self._fn(*args, **kwargs))
            return self._chain_run(variables).stream()  # type: ignore[no-any-return]
        return stream_sync(self._engine.backend, self._prepare(args, kwargs))

    def with_options(self, **settings: Any) -> ExtractFunction[P, R]:
        """The same function with some settings changed (model, temperature, client...)."""
        return self._with(**settings)  # type: ignore[no-any-return]

    def _prepare(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Extraction[Any]:
        variables = self._variables(args, kwargs)
        variables = self._add_extras(variables, self._fn(*args, **kwargs))
        return self._start(variables)

    def map(
        self,
        inputs: Iterable[Any],
        *,
        concurrency: int = 8,
        ordered: bool = False,
        cache: ResponseCache | str | Path | None = None,
        gate: ThreadGate | None = None,
        batch_api: bool | BatchAPI = False,
        max_cost: float | None = None,
        max_tokens_total: int | None = None,
        spend: SpendLimit | None = None,
    ) -> Iterator[ItemResult[R]]:
        """Call the function on many inputs, ``concurrency`` at a time.

        An input is the first positional argument, or a ``dict`` of keyword
        arguments; an ``(id, input)`` pair names it. Yields an
        :class:`~extractkit.drivers.batch.ItemResult` per input as each
        completes. The options are those of :meth:`extractkit.Extractor.map`.
        """
        from .drivers.mapping import call_args, map_inputs

        backend = self._map_backend(cache, batch_api)

        def start(value: Any) -> Any:
            if backend is None:
                args, kwargs = call_args(value)
                variables = self._variables(args, kwargs)
                return self._chain_run(self._add_extras(variables, self._fn(*args, **kwargs)))
            return self._prepare(*call_args(value))

        return map_inputs(
            backend, inputs, start, concurrency=concurrency, ordered=ordered,
            cache=cache, gate=gate, batch_api=batch_api,
            spend=limit_for(self._engine, max_cost, max_tokens_total, spend),
        )


class AsyncExtractFunction(_Bound, Generic[P, R]):
    """An ``async def`` ``@extract`` function; calls return awaitables."""

    _is_async = True

    async def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        return (await self.result(*args, **kwargs)).value  # type: ignore[no-any-return]

    async def result(self, *args: P.args, **kwargs: P.kwargs) -> Result[R]:
        variables = self._variables(args, kwargs)
        variables = self._add_extras(variables, await self._fn(*args, **kwargs))
        chunked = self._chunked(variables)
        if chunked is not None:
            from .documents.run import arun_document

            return await arun_document(chunked)
        chained = self._chain_run(variables)
        if chained is not None:
            return await chained.arun()  # type: ignore[no-any-return]
        return await aio.run(self._engine.backend, self._start(variables))

    async def render(self, *args: P.args, **kwargs: P.kwargs) -> dict[str, Any]:
        """Dry run, awaited: the body of an ``async def`` function runs first (it may
        add template variables), so unlike the sync twin this is a coroutine."""
        return (await self._prepare(args, kwargs)).request()

    async def stream(self, *args: P.args, **kwargs: P.kwargs) -> AsyncIterator[Snapshot[R]]:
        from .drivers.stream import stream_async

        if self._engine.chain is not None:
            variables = self._variables(args, kwargs)
            variables = self._add_extras(variables, await self._fn(*args, **kwargs))
            async for value in self._chain_run(variables).astream():
                yield value
            return
        extraction = await self._prepare(args, kwargs)
        async for value in stream_async(self._engine.backend, extraction):
            yield value

    def with_options(self, **settings: Any) -> AsyncExtractFunction[P, R]:
        return self._with(**settings)  # type: ignore[no-any-return]

    async def _prepare(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Extraction[Any]:
        variables = self._variables(args, kwargs)
        variables = self._add_extras(variables, await self._fn(*args, **kwargs))
        return self._start(variables)

    def map(
        self,
        inputs: Iterable[Any] | AsyncIterable[Any],
        *,
        concurrency: int = 8,
        ordered: bool = False,
        cache: ResponseCache | str | Path | None = None,
        gate: Gate | None = None,
        batch_api: bool | BatchAPI = False,
        max_cost: float | None = None,
        max_tokens_total: int | None = None,
        spend: SpendLimit | None = None,
    ) -> AsyncIterator[ItemResult[R]]:
        """``async for item in fn.map(inputs)``: see :meth:`ExtractFunction.map`
        (``batch_api=`` is refused: the Batch API needs the sync function)."""
        from .drivers.mapping import amap_inputs, call_args

        backend = self._map_backend(cache, batch_api)

        async def start_chain(value: Any) -> Any:
            args, kwargs = call_args(value)
            variables = self._variables(args, kwargs)
            return self._chain_run(self._add_extras(variables, await self._fn(*args, **kwargs)))

        def start(value: Any) -> Awaitable[Any]:
            if backend is None:
                return start_chain(value)
            return self._prepare(*call_args(value))

        return amap_inputs(
            backend, inputs, start, concurrency=concurrency, ordered=ordered,
            cache=cache, gate=gate, batch_api=batch_api,
            spend=limit_for(self._engine, max_cost, max_tokens_total, spend),
        )


class _Decorator:
    def __init__(self, settings: Settings, schema: Any) -> None:
        self._settings = settings
        self._schema = schema

    @overload
    def __call__(  # type: ignore[overload-overlap]
        self, fn: Callable[P, Awaitable[R]]
    ) -> AsyncExtractFunction[P, R]: ...
    @overload
    def __call__(self, fn: Callable[P, R]) -> ExtractFunction[P, R]: ...
    def __call__(self, fn: Callable[..., Any]) -> Any:
        return self._wrap(fn, sys._getframe(1).f_locals)

    def _wrap(self, fn: Callable[..., Any], localns: dict[str, Any]) -> Any:
        # The caller's locals let annotations name classes defined in a function body.
        if inspect.iscoroutinefunction(fn):
            return AsyncExtractFunction(fn, self._settings, self._schema, localns)
        return ExtractFunction(fn, self._settings, self._schema, localns)


@overload
def extract(  # type: ignore[overload-overlap]
    fn: Callable[P, Awaitable[R]], /
) -> AsyncExtractFunction[P, R]: ...
@overload
def extract(fn: Callable[P, R], /) -> ExtractFunction[P, R]: ...
@overload
def extract(
    *,
    client: Any = None,
    model: str | None = None,
    mode: str | None = None,
    endpoint: str | Profile | Endpoint | None = None,
    max_retries: int | None = None,
    transport_retries: int | None = None,
    prompt: str | Path | None = None,
    prompts_dir: str | Path | None = None,
    schema: Any = None,
    base_url: str | None = None,
    api_key: str | None = None,
    local: bool | None = None,
    grounding: str | None = None,
    documents: str | tuple[str, ...] | None = None,
    coerce: bool | None = None,
    moderation: str | None = None,
    moderation_model: str | None = None,
    endpoint_name: str | None = None,
    fallback: Sequence[str | Endpoint] | None = None,
    routing: str | None = None,
    escalate_with_errors: bool | None = None,
    **params: Any,
) -> _Decorator: ...
def extract(fn: Callable[..., Any] | None = None, /, *, schema: Any = None, **settings: Any) -> Any:
    """Turn a typed function with a template docstring into an extraction.

    Use bare (``@extract``) when the environment configures a model, or with
    settings (``@extract(model=..., client=..., mode=..., max_retries=...,
    transport_retries=..., temperature=..., grounding=..., documents=...)``). See the
    module docstring for the rules.
    """
    decorator = _Decorator(Settings.of(**settings), schema)
    if fn is not None:
        return decorator._wrap(fn, sys._getframe(1).f_locals)
    return decorator


def _start_on(bound: _Bound, variables: dict[str, Any], engine: Engine) -> Extraction[Any]:
    return bound._start(variables, engine)
