"""Chunked extraction of one long document, through the one loop.

When the prompt for a document would not fit the endpoint's context window
(``Profile.context_window``, or ``context_window=``), :func:`plan_document`
cuts the text into chunks and returns a :class:`ChunkedRun`. The run is
sans-IO like :class:`~extractkit.loop.Extraction`: it hands out rounds of
:class:`~extractkit.drivers.batch.Job` objects (one ``Extraction`` per
chunk, built by the engine with the same template, validation, repair and
re-asks as any call) and takes back their :class:`ItemResult` s. The batch
drivers (:func:`~extractkit.drivers.batch.map_jobs` /
:func:`~extractkit.drivers.batch.amap_jobs`) run each round concurrently
under one gate; :func:`run_document` and :func:`arun_document` are those
two loops.

Rounds: every chunk; then the chunks that failed, once more; what still
fails is reported in :attr:`DocumentResult.failed_chunks`, never dropped.
With ``passes=N``, pass *k* > 1 asks every chunk only for the top-level
fields still empty, showing what was found (bounded), and stops early when
nothing is missing. Values are merged by schema
(:mod:`extractkit.documents.merge`) and the merged value is validated by
the validator of record before it is returned.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from pydantic_core import to_jsonable_python

from ..drivers.batch import DEFAULT_CONCURRENCY, ItemResult, Job, amap_jobs, map_jobs
from ..errors import ExtractionError
from ..grounding.align import ground_value
from ..grounding.spans import Grounding, LeafGrounding
from ..loop import Extraction
from ..results import Attempt, Result, Usage
from ..schema import Invalid
from ..schema.source import WRAP_KEY
from ..schema.view import SchemaView, schema_view
from .chunk import chunk_text
from .conflicts import Conflict
from .evidence import Ranker, field_asks, field_queries
from .merge import Part, is_empty, merge_parts
from .tokens import answer_reserve, exceeds, token_counter

if TYPE_CHECKING:
    from ..engine import Engine
    from ..modes import Plan
    from ..prompts import PromptTemplate


#: the document excerpt given to every chunk after the first
CONTEXT_TOKENS = 200
#: characters of "what was found" shown to pass k > 1
FOUND_CHARS = 1200
#: chunk size when neither the window nor ``chunk_tokens`` says
FALLBACK_CHUNK_TOKENS = 3000
#: characters either side of a value read to score its evidence (policy ``best``)
EVIDENCE_CHARS = 160


# -- what comes out ------------------------------------------------------------


@dataclass(frozen=True)
class ChunkOutcome:
    """One chunk of one pass: where it is, and its result or error."""

    chunk: int
    start: int
    end: int
    pages: tuple[int, ...]
    pass_number: int
    result: Result[Any] | None = None
    error: BaseException | None = None
    usage: Usage = field(default_factory=Usage)
    tries: int = 1

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(frozen=True)
class FailedChunk:
    """A chunk that failed twice: which one, where, and why."""

    chunk: int
    start: int
    end: int
    pass_number: int
    error: str

    def as_dict(self) -> dict[str, Any]:
        return {"chunk": self.chunk, "start": self.start, "end": self.end,
                "pass": self.pass_number, "error": self.error}


@dataclass(frozen=True)
class PassReport:
    """What one pass asked for, found, and cost."""

    number: int
    asked: tuple[str, ...]  # the fields asked for (pass 1: all)
    filled: tuple[str, ...]  # fields empty before this pass and not after it
    usage: Usage

    def as_dict(self) -> dict[str, Any]:
        return {"pass": self.number, "asked": list(self.asked), "filled": list(self.filled),
                "usage": self.usage.as_dict()}


@dataclass
class DocumentResult(Result[Any]):
    """A :class:`~extractkit.results.Result` for a document read in chunks.

    ``value`` is the merged, validated value; ``attempts`` and ``usage``
    cover every chunk, pass and retry. ``grounding`` is in document
    coordinates (spans carry ``page`` and ``chunk``); ``sources`` maps each
    leaf pointer of the value to the chunk it came from.
    """

    path: str | None = None
    pages: int = 0
    chunks: list[ChunkOutcome] = field(default_factory=list)
    failed_chunks: list[FailedChunk] = field(default_factory=list)
    conflicts: list[Conflict] = field(default_factory=list)
    grounding: Grounding | None = None
    sources: dict[str, int] = field(default_factory=dict)
    passes: list[PassReport] = field(default_factory=list)
    #: how many chunks the document was cut into (under ``focus``, some are never asked)
    total_chunks: int = 0
    #: under ``focus``: chunk index → the top-level fields pass 1 asked of it
    asked: dict[int, list[str]] = field(default_factory=dict)

    @property
    def chunk_count(self) -> int:
        """How many chunks were read (every chunk, unless ``focus`` left some out)."""
        return len({c.chunk for c in self.chunks})

    def record(self) -> dict[str, Any]:
        """The ``document``/``conflicts``/``passes`` members of a CLI ``-o`` record."""
        out: dict[str, Any] = {
            "document": {
                "path": self.path, "pages": self.pages, "chunks": self.chunk_count,
                "total_chunks": self.total_chunks,
                "failed_chunks": [f.as_dict() for f in self.failed_chunks],
                "sources": self.sources,
            },
            "conflicts": [c.as_dict() for c in self.conflicts],
            "passes": [p.as_dict() for p in self.passes],
        }
        if self.asked:
            out["document"]["asked"] = {str(k): v for k, v in self.asked.items()}
        if self.grounding is not None:
            out["grounding"] = self.grounding.as_dict()
        return out


# -- deciding to chunk -----------------------------------------------------------


def _doc_parts(document: Any) -> tuple[str, str | None, str | None, Any, int]:
    """(text, path, title, page_of, page count) of a text or a ``Document``."""
    if isinstance(document, str):
        return document, None, None, None, 0
    pages = getattr(document, "pages", ())
    return (document.text, getattr(document, "path", None), getattr(document, "title", None),
            getattr(document, "page_of", None) if pages else None, len(pages))


def _messages_text(messages: Sequence[Mapping[str, Any]]) -> str:
    return "\n".join(str(m.get("content") or "") for m in messages)


def may_chunk(engine: Engine) -> bool:
    """Whether any document could be chunked under these settings (a cheap pre-check)."""
    s = engine.settings
    if s.resolved_chunking == "off":
        return False
    return (s.resolved_chunking == "on" or s.chunk_tokens is not None
            or (s.context_window or engine.profile.context_window) is not None)


def plan_document(
    engine: Engine,
    schema: Any,
    document: Any,
    variables: Mapping[str, Any],
    context: Any = None,
    *,
    template: PromptTemplate | None = None,
    text_variable: str = "text",
) -> ChunkedRun | None:
    """A :class:`ChunkedRun` when ``document`` needs chunks, else ``None``.

    ``document`` is a text, a path (read with
    :func:`~extractkit.documents.load_document`) or a
    :class:`~extractkit.documents.Document` (anything with ``.text``; its
    ``path``, ``title``, ``pages`` and ``page_of`` are used when present). Under
    ``chunking="auto"`` a document is chunked when its prompt plus room for the
    answer exceeds the context window (or its text exceeds an explicit
    ``chunk_tokens``); ``"on"`` always chunks; ``"off"`` never does (a too-long
    prompt then fails as it always did). ``template`` renders each chunk's
    user message (default: ``prompt=`` or ``user.j2``) with the chunk's text in
    the variable ``text_variable``; ``@extract`` functions pass their docstring.
    """
    settings = engine.settings
    mode = settings.resolved_chunking
    if not may_chunk(engine):
        return None
    if isinstance(document, os.PathLike):
        from . import as_document

        document = as_document(document)
    if not (isinstance(document, str) or hasattr(document, "text")):
        return None
    text, path, title, page_of, page_count = _doc_parts(document)
    plan = engine.plan(schema)
    if template is None:
        template = engine.prompts.get(settings.prompt or "user.j2")
    window = settings.context_window or engine.profile.context_window
    messages = engine.messages(plan, template, {**variables, text_variable: text})
    prompt = _messages_text(messages)
    reserve = answer_reserve(engine.params, window) if window else 0
    # a byte-level BPE token is at least one byte: a prompt this short fits
    if (mode == "auto" and window is not None and settings.chunk_tokens is None
            and len(prompt.encode("utf-8")) + 64 + reserve <= window):
        return None
    count = token_counter(engine.model, engine.profile.name)
    if mode == "auto":
        # counted only as far as it takes to know (a 10 MB document is not tokenized whole)
        too_long = (window is not None and exceeds(count, prompt, window - reserve)) or (
            settings.chunk_tokens is not None and exceeds(count, text, settings.chunk_tokens))
        if not too_long:
            return None
    overhead = count(_messages_text(engine.messages(plan, template,
                                                    {**variables, text_variable: ""})))
    use_context = settings.document_context is not False
    context_budget = CONTEXT_TOKENS if use_context else 0
    if settings.chunk_tokens is not None:
        chunk_tokens = settings.chunk_tokens
    elif window is not None:
        chunk_tokens = window - overhead - reserve - context_budget - 64
    else:
        chunk_tokens = FALLBACK_CHUNK_TOKENS
    if chunk_tokens < 64:
        from ..errors import ConfigurationError

        raise ConfigurationError(
            f"the prompt without the document takes {overhead} tokens and the answer needs "
            f"{reserve}: a context window of {window} leaves no room for chunks; "
            "raise context_window or shorten the template"
        )
    overlap = settings.overlap_tokens
    if overlap is None:
        overlap = min(64, chunk_tokens // 8)
    elif overlap >= chunk_tokens:
        from ..errors import ConfigurationError

        raise ConfigurationError(
            f"overlap_tokens ({overlap}) must be smaller than chunk_tokens ({chunk_tokens})")
    chunks = chunk_text(text, chunk_tokens=chunk_tokens, overlap_tokens=overlap,
                        count_tokens=count)
    if not chunks:  # all space: nothing to read in parts
        return None
    excerpt = _document_context(text, title, count) if use_context and len(chunks) > 1 else ""
    return ChunkedRun(engine, plan, template, chunks, dict(variables), context,
                      schema=schema, text=text, path=path, page_of=page_of, pages=page_count,
                      document_context=excerpt, passes=settings.resolved_passes,
                      text_variable=text_variable, focus=settings.focus or 0)


def _document_context(text: str, title: str | None, count: Callable[[str], int]) -> str:
    """The document's title and first lines, cut to :data:`CONTEXT_TOKENS`."""
    head = (f"{title}\n" if title else "") + text[: CONTEXT_TOKENS * 6]
    head = " ".join(head.split())
    while head and count(head) > CONTEXT_TOKENS:
        head = head[: int(len(head) * 0.8)]
    return head


# -- the run ---------------------------------------------------------------------


class ChunkedRun:
    """Rounds of chunk jobs and what they gave (see the module docstring)."""

    def __init__(
        self,
        engine: Engine,
        plan: Plan,
        template: PromptTemplate,
        chunks: Sequence[Any],
        variables: dict[str, Any],
        context: Any,
        *,
        schema: Any = None,
        text: str,
        path: str | None = None,
        page_of: Callable[[int], int | None] | None = None,
        pages: int = 0,
        document_context: str = "",
        passes: int = 1,
        text_variable: str = "text",
        focus: int = 0,
    ) -> None:
        self._engine = engine
        self._plan = plan
        #: the declaration ``plan`` was compiled from: a fallback chain's endpoints
        #: compile it for their own profiles
        self._schema = plan.compiled.source.json_schema if schema is None else schema
        self._template = template
        self.chunks = list(chunks)
        self._variables = variables
        self._context = context
        self._text = text
        self._path = path
        self._page_of = page_of
        self._page_count = pages
        self.document_context = document_context
        self._passes = passes
        self._text_variable = text_variable
        source = plan.compiled.source
        self._view: SchemaView = schema_view(source.json_schema)
        self._wrapped = source.wrapped
        # a non-object return (``list[T]``) is wrapped as {"value": ...} on the wire
        self._root = self._view.root.properties[WRAP_KEY] if source.wrapped else self._view.root
        self._pass = 1
        self._asked: tuple[str, ...] = ()
        self._found = ""
        self._todo: list[int] = [c.index for c in self.chunks]
        self._retrying = False
        self._outcomes: list[ChunkOutcome] = []
        self._failures: dict[int, ChunkOutcome] = {}
        self._all_failed: list[ChunkOutcome] = []
        self._parts: list[Part] = []
        self._reports: list[PassReport] = []
        self._pass_usage = Usage()
        self._merged: Any = None
        self.done = False
        # focus: each top-level field is asked of the document's start and of its
        # ``focus`` most relevant chunks, with a plan of just those fields
        self._asks: dict[int, list[str]] = {}
        self._queries: dict[str, list[str]] = {}
        self._ranker: Ranker | None = None
        self._subplans: dict[tuple[str, ...], Plan] = {}
        self._subschemas: dict[tuple[str, ...], dict[str, Any]] = {}
        if focus and self._root.unwrap().kind == "object" and len(self.chunks) > 1:
            self._queries = field_queries(self._root)
            if self._queries:
                self._ranker = Ranker([c.text for c in self.chunks])
                self._asks = field_asks(self._ranker, self._queries, focus)
                self._todo = list(self._asks)
        self._asked_first = {i: list(f) for i, f in self._asks.items()}

    @property
    def asks(self) -> dict[int, list[str]]:
        """Under ``focus``: chunk index → the fields pass 1 asked of it (else empty)."""
        return {i: list(f) for i, f in self._asked_first.items()}

    def _plan_for(self, chunk: int, engine: Engine) -> Plan:
        """The plan chunk ``chunk`` is asked with, compiled for ``engine``'s profile: the
        whole schema, or under ``focus`` a schema of just the fields routed to it."""
        fields = self._asks.get(chunk)
        if not fields or self._pass > 1 or len(fields) == len(self._queries):
            return self._plan if engine is self._engine else engine.plan(self._schema)
        key = tuple(fields)
        schema = self._subschemas.get(key)
        if schema is None:
            schema = dict(self._plan.compiled.source.json_schema)
            props = schema.get("properties") or {}
            schema["properties"] = {k: props[k] for k in fields}
            if "required" in schema:
                schema["required"] = [k for k in schema["required"] if k in fields]
            self._subschemas[key] = schema
        if engine is not self._engine:
            return engine.plan(schema)
        plan = self._subplans.get(key)
        if plan is None:
            plan = self._subplans[key] = engine.plan(schema)
        return plan

    # -- jobs ---------------------------------------------------------------------

    def jobs(self) -> list[Job]:
        """The jobs of the current round."""
        return [Job(f"chunk-{i}", i, self._starter(self.chunks[i])) for i in self._todo]

    def _starter(self, chunk: Any) -> Callable[[], Any]:
        def start() -> Any:
            values: dict[str, Any] = {**self._variables, self._text_variable: chunk.text}
            if self.document_context and chunk.index > 0:
                values["document_context"] = self.document_context
            values["chunk_number"] = chunk.index + 1
            values["chunk_count"] = len(self.chunks)
            if self._pass > 1:
                values["missing"] = list(self._asked)
                values["found"] = self._found
            chain = self._engine.chain
            if chain is None:
                return self._start_on(self._engine, chunk, values)
            # a fallback chain: each chunk fails over / escalates like any input
            return chain.start(functools.partial(self._start_on, chunk=chunk, values=values))

        return start

    def _start_on(self, engine: Engine, chunk: Any, values: dict[str, Any]) -> Extraction[Any]:
        """Chunk ``chunk``'s extraction on ``engine`` (ours, or a chain endpoint's)."""
        plan = self._plan_for(chunk.index, engine)
        messages = engine.messages(plan, self._template, values)
        context = values if self._context is None else self._context
        # the chunk is what its values are grounded in (and, under require on the
        # embedded model, what extractive decoding copies from)
        return engine.start(plan, messages, context=context, documents={"text": chunk.text})

    # -- results ------------------------------------------------------------------

    def receive(self, items: Sequence[ItemResult[Any]]) -> None:
        """Take the results of the current round and move on."""
        for item in items:
            chunk = self.chunks[item.index]
            self._pass_usage = self._pass_usage + item.usage
            outcome = ChunkOutcome(
                chunk.index, chunk.start, chunk.end, self._pages(chunk), self._pass,
                item.result, item.error, item.usage, 2 if self._retrying else 1,
            )
            self._outcomes.append(outcome)
            if item.ok:
                self._failures.pop(chunk.index, None)
                self._parts.append(self._part(chunk, item.result))
            else:
                self._failures[chunk.index] = outcome
        if self._failures and not self._retrying:
            self._todo = sorted(self._failures)
            self._retrying = True
            return
        self._end_pass()

    def _end_pass(self) -> None:
        before = self._missing(self._merged) if self._pass > 1 else self._asked
        self._merged = merge_parts(self._root, sorted(self._parts, key=_part_order),
                                   scalar_policy="best" if self._ranker else "first")
        missing = self._missing(self._merged)
        asked = self._asked if self._pass > 1 else ("*",)
        filled = tuple(f for f in before if f not in missing) if self._pass > 1 else ()
        self._reports.append(PassReport(self._pass, asked, filled, self._pass_usage))
        self._all_failed.extend(sorted(self._failures.values(), key=lambda o: o.chunk))
        self._failures = {}
        if self._pass >= self._passes or not missing or not self._parts:
            self.done = True
            return
        self._pass += 1
        self._asked = missing
        self._found = _found_text(self._merged.value)
        self._todo = [c.index for c in self.chunks]
        self._retrying = False
        self._pass_usage = Usage()
        self._asks = {}  # a later pass asks every chunk for what is missing

    def _missing(self, merged: Any) -> tuple[str, ...]:
        value = merged.value if merged is not None else None
        root = self._root.unwrap()
        if root.kind != "object":
            return ()
        value = value if isinstance(value, Mapping) else {}
        return tuple(k for k in root.properties if is_empty(value.get(k)))

    def _pages(self, chunk: Any) -> tuple[int, ...]:
        if self._page_of is None:
            return ()
        first, last = self._page_of(chunk.start), self._page_of(max(chunk.start, chunk.end - 1))
        if first is None or last is None:
            return ()
        return tuple(range(first, last + 1))

    def _part(self, chunk: Any, result: Result[Any] | None) -> Part:
        assert result is not None
        value = to_jsonable_python(result.value)
        grounding = getattr(result, "grounding", None)
        if grounding is None:
            grounding = self._ground(value, chunk.text)
        shifted: dict[str, LeafGrounding] = {}
        for pointer, leaf in grounding.items():
            spans = tuple(
                s.shifted(chunk.start, chunk=chunk.index,
                          page=self._page_of(s.start + chunk.start) if self._page_of else None)
                for s in leaf.spans
            )
            shifted[pointer] = LeafGrounding(pointer, leaf.value, leaf.status, leaf.score,
                                             spans, leaf.required)
        return Part(_part_key(self._pass, chunk.index), value, shifted, self._scores(shifted))

    def _scores(self, grounding: Mapping[str, LeafGrounding]) -> dict[str, float]:
        """Evidence of each top-level scalar value found in the text: how much the
        document around its spans speaks of its field (read by the merge policy
        ``best``). A value not found in the text gets no score: echoing the field's
        description is no evidence."""
        if self._ranker is None:
            return {}
        out: dict[str, float] = {}
        for pointer, leaf in grounding.items():
            query = self._queries.get(pointer[1:])
            if query is None or not leaf.spans:
                continue
            out[pointer] = max(
                self._ranker.passage_score(
                    self._text[max(0, s.start - EVIDENCE_CHARS): s.end + EVIDENCE_CHARS], query)
                for s in leaf.spans)
        return out

    def _ground(self, value: Any, text: str) -> Grounding:
        if not self._wrapped:
            return ground_value(value, self._view, {"text": text})
        found = ground_value({WRAP_KEY: value}, self._view, {"text": text})
        cut = len(WRAP_KEY) + 1
        return Grounding({p[cut:]: replace(g, pointer=p[cut:]) for p, g in found.items()})

    # -- the result -------------------------------------------------------------

    def result(self) -> DocumentResult:
        """The merged, validated result (raises if no chunk gave a value)."""
        assert self.done
        failed = [
            FailedChunk(o.chunk, o.start, o.end, o.pass_number,
                        f"{type(o.error).__name__}: {o.error}")
            for o in self._all_failed
        ]
        attempts: list[Attempt] = [a for o in self._outcomes if o.result is not None
                                   for a in o.result.attempts]
        usage = sum((o.usage for o in self._outcomes), Usage())
        if not self._parts:
            reasons = "; ".join(f"chunk {f.chunk}: {f.error}" for f in failed[:3])
            raise ExtractionError(
                f"every one of the {len(self.chunks)} chunks failed: {reasons}",
                attempts=attempts,
            )
        merged = self._merged
        source = self._plan.compiled.source
        try:
            data = {WRAP_KEY: merged.value} if self._wrapped else merged.value
            value = source.validate(data, self._context)
        except Invalid as exc:
            raise ExtractionError(
                f"the value merged from {len(self.chunks)} chunks is not valid: "
                + "; ".join(exc.errors[:5]),
                attempts=attempts,
            ) from None
        last = next(o.result for o in reversed(self._outcomes) if o.result is not None)
        assert last is not None
        chunk_of = {k: _chunk_of_key(k) for k in {p.chunk for p in self._parts}}
        sources = {p: chunk_of[c] for p, c in merged.sources.items()}
        conflicts = [_unkey_conflict(c) for c in merged.conflicts]
        # with a fallback chain, each chunk says who answered it; the document names
        # them all (in the order they first answered)
        answered = dict.fromkeys(o.result.endpoint for o in self._outcomes
                                 if o.result is not None and o.result.endpoint)
        return DocumentResult(
            value=value, attempts=attempts, usage=usage, model=last.model,
            finish_reason=last.finish_reason,
            transport_retries=sum(o.result.transport_retries for o in self._outcomes
                                  if o.result is not None),
            path=self._path, pages=self._page_count, chunks=list(self._outcomes),
            failed_chunks=failed, conflicts=conflicts, grounding=merged.grounding,
            sources=sources, passes=list(self._reports), total_chunks=len(self.chunks),
            asked=self.asks, endpoint=", ".join(answered) or None,
        )


# Parts of pass k are merged after those of earlier passes: a value found
# earlier is kept; a later pass fills what was missing. The merge key of a
# part packs (pass, chunk) into one int; conflicts and sources give the chunk.
_PASS_STRIDE = 1 << 32


def _part_key(pass_number: int, chunk: int) -> int:
    return (pass_number - 1) * _PASS_STRIDE + chunk


def _chunk_of_key(key: int) -> int:
    return key % _PASS_STRIDE


def _part_order(part: Part) -> int:
    return part.chunk


def _unkey_conflict(conflict: Conflict) -> Conflict:
    return replace(conflict, candidates=tuple(replace(c, chunk=_chunk_of_key(c.chunk))
                                              for c in conflict.candidates))


def _found_text(value: Any) -> str:
    if isinstance(value, Mapping):
        value = {k: v for k, v in value.items() if not is_empty(v)}
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= FOUND_CHARS else text[:FOUND_CHARS] + " ..."


# -- drivers ------------------------------------------------------------------------


def run_document(run: ChunkedRun, *, concurrency: int = DEFAULT_CONCURRENCY,
                 gate: Any = None) -> DocumentResult:
    """Drive ``run`` to its result on the blocking backend (threads, one gate)."""
    from ..drivers.batch import ThreadGate

    backend = run._engine.backend
    gate = gate if gate is not None else ThreadGate(concurrency)
    while not run.done:
        run.receive(list(map_jobs(backend, run.jobs(), concurrency=concurrency, gate=gate)))
    return run.result()


async def arun_document(run: ChunkedRun, *, concurrency: int = DEFAULT_CONCURRENCY,
                        gate: Any = None) -> DocumentResult:
    """Drive ``run`` to its result on the async backend (asyncio, one gate)."""
    from ..drivers.batch import Gate

    backend = run._engine.backend
    gate = gate if gate is not None else Gate(concurrency)
    while not run.done:
        items = [item async for item in amap_jobs(backend, run.jobs(),
                                                  concurrency=concurrency, gate=gate)]
        run.receive(items)
    return run.result()


__all__ = [
    "ChunkOutcome",
    "ChunkedRun",
    "DocumentResult",
    "FailedChunk",
    "PassReport",
    "arun_document",
    "may_chunk",
    "plan_document",
    "run_document",
]
