"""The function-style API: ``Extractor(...).extract(Schema, text)`` and its async twin."""

from __future__ import annotations

import os
from collections.abc import (
    AsyncIterable,
    AsyncIterator,
    Callable,
    Iterable,
    Iterator,
    Mapping,
    Sequence,
)
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, overload

from .conversation import check_messages, fit_conversation
from .drivers import aio, sync
from .engine import Engine
from .errors import InputError
from .grounding.check import pick_documents
from .loop import Extraction
from .modes import Plan
from .profiles import Profile
from .results import Result
from .settings import Settings
from .spend import SpendLimit, limit_for

if TYPE_CHECKING:
    from .cache import ResponseCache
    from .documents.run import ChunkedRun
    from .drivers.batch_api import BatchAPI
    from .drivers.gate import Gate, ThreadGate
    from .drivers.jobs import ItemResult
    from .drivers.stream import Snapshot
    from .endpoints.endpoint import Endpoint
    from .engine import Engine

T = TypeVar("T")

Input = str | Sequence[Mapping[str, Any]]
#: a chat history: ``[{"role": "user", "content": "..."}, ...]``
Conversation = Sequence[Mapping[str, Any]]


def _input(text: Any, messages: Conversation | None) -> Any:
    """What to extract from: ``text`` or ``messages=`` (exactly one of them)."""
    if messages is not None:
        if text is not None:
            raise InputError("pass the text or messages=, not both")
        if isinstance(messages, (str, bytes)):
            raise InputError("messages= takes a list of {'role': ..., 'content': ...} "
                             "messages; pass a text as the text argument")
        return list(messages)
    if text is None:
        raise InputError("nothing to extract from: pass a text or messages=[...]")
    return text


def _text_of(text: Any) -> Any:
    """The text of a ``Document`` or a path (read with ``load_document``); else ``text``."""
    if isinstance(text, os.PathLike):
        from .documents import as_document

        return as_document(text).text
    return getattr(text, "text", text)


class _Base:
    _is_async = False

    def __init__(
        self,
        client: Any = None,
        *,
        model: str | None = None,
        mode: str | None = None,
        endpoint: str | Profile | Endpoint | None = None,
        max_retries: int | None = None,
        transport_retries: int | None = None,
        prompt: str | Path | None = None,
        prompts_dir: str | Path | None = None,
        base_url: str | None = None,
        api_key: str | None = None,
        local: bool | None = None,
        grounding: str | None = None,
        documents: str | Sequence[str] | None = None,
        coerce: bool | None = None,
        moderation: str | None = None,
        moderation_model: str | None = None,
        endpoint_name: str | None = None,
        fallback: Sequence[str | Endpoint] | None = None,
        routing: str | None = None,
        escalate_with_errors: bool | None = None,
        **params: Any,
    ) -> None:
        settings = Settings.of(
            client=client, model=model, mode=mode, endpoint=endpoint, max_retries=max_retries,
            transport_retries=transport_retries, prompt=prompt, prompts_dir=prompts_dir,
            base_url=base_url, api_key=api_key, local=local, coerce=coerce, grounding=grounding,
            documents=documents, moderation=moderation, moderation_model=moderation_model,
            endpoint_name=endpoint_name, fallback=fallback,
            routing=routing, escalate_with_errors=escalate_with_errors, **params,
        )
        self._engine = Engine(settings, is_async=self._is_async)

    @property
    def settings(self) -> Settings:
        return self._engine.settings

    def with_options(self, **settings: Any) -> Any:
        """A copy with some settings changed (call-level settings win)."""
        clone = object.__new__(type(self))
        merged = Settings.of(**settings).over(self._engine.settings)
        clone._engine = Engine(merged, is_async=self._is_async)
        return clone

    def _prepare(
        self, schema: Any, text: Input, variables: Mapping[str, Any], context: Any,
        engine: Engine | None = None,
    ) -> tuple[Plan, Extraction[Any]]:
        """The extraction of one input, on ``engine`` (a fallback chain's endpoint) or ours."""
        engine = engine or self._engine
        plan = engine.plan(schema)
        if isinstance(text, str):
            if not text.strip():
                raise InputError("the text to extract from is empty")
            values = {"text": text, **variables}
            template = engine.prompts.get(engine.settings.prompt or "user.j2")
            messages = engine.messages(plan, template, values)
        else:
            return plan, self._conversation(plan, text, variables, context, engine)
        documents = pick_documents(values, engine.settings.documents)
        return plan, engine.start(plan, messages, context=values if context is None else context,
                                  documents=documents)

    def _conversation(
        self, plan: Plan, messages: Sequence[Mapping[str, Any]], variables: Mapping[str, Any],
        context: Any, engine: Engine,
    ) -> Extraction[Any]:
        """A chat history's extraction: checked, fitted to the context window, grounded in
        its turns (see :mod:`extractkit.conversation`)."""
        turns = check_messages(messages)
        full = engine.prompts.with_system(plan, turns)
        head = full[: len(full) - len(turns)]
        fitted = fit_conversation(engine, plan, head, full[len(head):])
        values = dict(variables)
        documents = pick_documents(values, engine.settings.documents) or fitted.document
        return engine.start(plan, fitted.messages, context=values if context is None else context,
                            documents=documents, dropped_turns=fitted.dropped)

    def _chunked(
        self, schema: Any, text: Any, variables: Mapping[str, Any], context: Any
    ) -> ChunkedRun | None:
        """The chunked run of a long document (``None``: one request will do)."""
        if isinstance(text, (list, tuple)):
            return None
        from .documents.run import plan_document


        return plan_document(self._engine, schema, text, variables, context)

    def _builder(
        self, schema: Any, text: Input, variables: Mapping[str, Any], context: Any
    ) -> Callable[[Engine], Extraction[Any]]:
        """How a fallback chain builds this input's extraction for each endpoint."""
        return lambda engine: self._prepare(schema, text, variables, context, engine)[1]

    def _map_start(
        self, schema: Any, variables: Mapping[str, Any], context: Any, cache: Any, batch_api: Any
    ) -> tuple[Any, Callable[[Any], Any]]:
        """The backend and the job start of ``map`` (a chain's run per input, with a chain)."""
        chain = self._engine.chain
        if chain is None:
            def start(value: Any) -> Extraction[Any]:
                text, own = _text_and_variables(value, variables)
                return self._prepare(schema, text, own, context)[1]

            return self._engine.backend, start
        from .endpoints.chain import refuse_map_options

        refuse_map_options(cache, batch_api)

        def start_chain(value: Any) -> Any:
            text, own = _text_and_variables(value, variables)
            return chain.start(self._builder(schema, text, own, context))

        return None, start_chain

    def render(
        self, schema: Any, text: Input | None = None, *,
        messages: Conversation | None = None, context: Any = None, **variables: Any
    ) -> dict[str, Any]:
        """The exact request that would be sent (nothing is sent; sync on both classes)."""
        return self._prepare(schema, _input(text, messages), variables, context)[1].request()


class Extractor(_Base):
    """Blocking extraction against an ``openai.OpenAI`` client or the local model.

    >>> ex = Extractor(client=OpenAI(), model="gpt-4o-mini")   # doctest: +SKIP
    >>> invoice = ex.extract(Invoice, text)                     # doctest: +SKIP
    """

    @overload
    def extract(
        self, schema: type[T], text: Input | None = None, *,
        messages: Conversation | None = None, context: Any = None, **variables: Any,
    ) -> T: ...
    @overload
    def extract(
        self, schema: Any, text: Input | None = None, *,
        messages: Conversation | None = None, context: Any = None, **variables: Any,
    ) -> Any: ...
    def extract(
        self, schema: Any, text: Input | None = None, *,
        messages: Conversation | None = None, context: Any = None, **variables: Any,
    ) -> Any:
        """Extract ``schema`` from ``text``, or from a chat history (``messages=[...]``,
        see :mod:`extractkit.conversation`)."""
        result = self.extract_result(schema, text, messages=messages, context=context,
                                     **variables)
        return result.value

    @overload
    def extract_result(
        self, schema: type[T], text: Input | None = None, *,
        messages: Conversation | None = None, context: Any = None, **variables: Any
    ) -> Result[T]: ...
    @overload
    def extract_result(
        self, schema: Any, text: Input | None = None, *,
        messages: Conversation | None = None, context: Any = None, **variables: Any
    ) -> Result[Any]: ...
    def extract_result(
        self, schema: Any, text: Input | None = None, *,
        messages: Conversation | None = None, context: Any = None, **variables: Any
    ) -> Result[Any]:
        """Like :meth:`extract`, returning the :class:`~extractkit.results.Result`.

        A document too long for the context window is read in chunks: the
        result is then a :class:`~extractkit.documents.run.DocumentResult`.
        """
        text = _input(text, messages)
        chunked = self._chunked(schema, text, variables, context)
        if chunked is not None:
            from .documents.run import run_document

            return run_document(chunked)
        text = _text_of(text)
        chain = self._engine.chain
        if chain is not None:
            return chain.start(self._builder(schema, text, variables, context)).run()
        _, extraction = self._prepare(schema, text, variables, context)
        return sync.run(self._engine.backend, extraction)

    @overload
    def stream(
        self, schema: type[T], text: Input | None = None, *,
        messages: Conversation | None = None, context: Any = None, **variables: Any
    ) -> Iterator[Snapshot[T]]: ...
    @overload
    def stream(
        self, schema: Any, text: Input | None = None, *,
        messages: Conversation | None = None, context: Any = None, **variables: Any
    ) -> Iterator[Snapshot[Any]]: ...
    def stream(
        self, schema: Any, text: Input | None = None, *,
        messages: Conversation | None = None, context: Any = None, **variables: Any
    ) -> Iterator[Snapshot[Any]]:
        """:class:`~extractkit.drivers.stream.Snapshot` objects while the model writes;
        the last one (``done=True``) holds the validated value."""
        from .drivers.stream import stream_sync

        text = _input(text, messages)
        chain = self._engine.chain
        if chain is not None:
            return chain.start(self._builder(schema, text, variables, context)).stream()
        _, extraction = self._prepare(schema, text, variables, context)
        return stream_sync(self._engine.backend, extraction)

    def map(
        self,
        schema: Any,
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
        context: Any = None,
        **variables: Any,
    ) -> Iterator[ItemResult[Any]]:
        """Extract ``schema`` from many inputs, ``concurrency`` at a time.

        Yields an :class:`~extractkit.drivers.batch.ItemResult` (``id``,
        ``ok``, ``value`` or ``error``, ``usage``) per input as each completes
        (``ordered=True``: in input order). An input is a text (or message
        list), a ``{"text": ..., **variables}`` mapping (its own template
        variables, over the shared ``variables``), a ``{"messages": [...],
        **variables}`` conversation, or an ``(id, input)`` pair. ``gate`` is a
        :class:`~extractkit.drivers.gate.ThreadGate` to share one limit between
        several batches. ``cache`` is a response-cache path
        (or :class:`~extractkit.cache.ResponseCache`); ``batch_api=True`` (or
        a :class:`~extractkit.BatchAPI`) goes through the provider's
        Batch API. ``max_cost`` (dollars) and ``max_tokens_total`` (over
        ``Settings.max_cost``/``max_tokens_total``) stop the batch before an
        input that would pass them, raising
        :class:`~extractkit.errors.SpendLimitReached` after the last item;
        ``spend`` is a :class:`~extractkit.spend.SpendLimit` shared between
        batches (see :mod:`extractkit.spend`). See :mod:`extractkit.drivers.batch`.
        """
        from .drivers.mapping import map_inputs

        backend, start = self._map_start(schema, variables, context, cache, batch_api)
        return map_inputs(
            backend, inputs, start, concurrency=concurrency, ordered=ordered,
            cache=cache, gate=gate, batch_api=batch_api,
            spend=limit_for(self._engine, max_cost, max_tokens_total, spend),
        )


class AsyncExtractor(_Base):
    """The async twin of :class:`Extractor` (``openai.AsyncOpenAI`` client)."""

    _is_async = True

    @overload
    async def extract(
        self, schema: type[T], text: Input | None = None, *,
        messages: Conversation | None = None, context: Any = None, **variables: Any,
    ) -> T: ...
    @overload
    async def extract(
        self, schema: Any, text: Input | None = None, *,
        messages: Conversation | None = None, context: Any = None, **variables: Any,
    ) -> Any: ...
    async def extract(
        self, schema: Any, text: Input | None = None, *,
        messages: Conversation | None = None, context: Any = None, **variables: Any,
    ) -> Any:
        result = await self.extract_result(schema, text, messages=messages, context=context,
                                           **variables)
        return result.value

    @overload
    async def extract_result(
        self, schema: type[T], text: Input | None = None, *,
        messages: Conversation | None = None, context: Any = None, **variables: Any
    ) -> Result[T]: ...
    @overload
    async def extract_result(
        self, schema: Any, text: Input | None = None, *,
        messages: Conversation | None = None, context: Any = None, **variables: Any
    ) -> Result[Any]: ...
    async def extract_result(
        self, schema: Any, text: Input | None = None, *,
        messages: Conversation | None = None, context: Any = None, **variables: Any
    ) -> Result[Any]:
        text = _input(text, messages)
        chunked = self._chunked(schema, text, variables, context)
        if chunked is not None:
            from .documents.run import arun_document

            return await arun_document(chunked)
        text = _text_of(text)
        chain = self._engine.chain
        if chain is not None:
            return await chain.start(self._builder(schema, text, variables, context)).arun()
        _, extraction = self._prepare(schema, text, variables, context)
        return await aio.run(self._engine.backend, extraction)

    @overload
    def stream(
        self, schema: type[T], text: Input | None = None, *,
        messages: Conversation | None = None, context: Any = None, **variables: Any
    ) -> AsyncIterator[Snapshot[T]]: ...
    @overload
    def stream(
        self, schema: Any, text: Input | None = None, *,
        messages: Conversation | None = None, context: Any = None, **variables: Any
    ) -> AsyncIterator[Snapshot[Any]]: ...
    def stream(
        self, schema: Any, text: Input | None = None, *,
        messages: Conversation | None = None, context: Any = None, **variables: Any
    ) -> AsyncIterator[Snapshot[Any]]:
        from .drivers.stream import stream_async

        text = _input(text, messages)
        chain = self._engine.chain
        if chain is not None:
            return chain.start(self._builder(schema, text, variables, context)).astream()
        _, extraction = self._prepare(schema, text, variables, context)
        return stream_async(self._engine.backend, extraction)

    def map(
        self,
        schema: Any,
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
        context: Any = None,
        **variables: Any,
    ) -> AsyncIterator[ItemResult[Any]]:
        """``async for item in ex.map(schema, inputs)``: see :meth:`Extractor.map`.

        ``gate`` is an asyncio :class:`~extractkit.drivers.gate.Gate`. The
        provider Batch API needs a blocking client: ``batch_api=`` is refused
        with a :class:`~extractkit.errors.ConfigurationError` (use
        :meth:`Extractor.map`).
        """
        from .drivers.mapping import amap_inputs

        backend, start = self._map_start(schema, variables, context, cache, batch_api)
        return amap_inputs(
            backend, inputs, start, concurrency=concurrency, ordered=ordered,
            cache=cache, gate=gate, batch_api=batch_api,
            spend=limit_for(self._engine, max_cost, max_tokens_total, spend),
        )


def _text_and_variables(value: Any, shared: Mapping[str, Any]) -> tuple[Any, dict[str, Any]]:
    """A ``map`` input's text and template variables: ``{"text": ..., **own}`` adds its own;
    ``{"messages": [...], **own}`` is a conversation."""
    if not isinstance(value, Mapping):
        return value, dict(shared)
    key = "messages" if "messages" in value and "text" not in value else "text"
    if key not in value:
        raise InputError("a mapping input needs a 'text' (or 'messages') key, got keys "
                         f"{sorted(value)!r}")
    own = {k: v for k, v in value.items() if k != key}
    return value[key], {**shared, **own}
