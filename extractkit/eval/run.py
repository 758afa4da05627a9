"""Running an eval: extract every example (or read earlier results), then score.

Both ways go through records shaped like ``extractkit run -o`` lines
(``input``, ``ok``, ``value`` or ``error``, ``usage``, and ``grounding``,
``document``, ``conflicts`` when the run produced them), plus ``seconds``:
:func:`score_records` turns records and examples into an
:class:`~extractkit.eval.report.EvalReport`.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from pydantic_core import to_jsonable_python

from ..errors import ExtractionError, InputError
from ..pricing import PriceTable
from ..redact import redact, redact_data
from ..schema import get_source
from .compare import Comparer
from .dataset import Example, as_examples
from .report import DocumentReport, EvalReport

Record = dict[str, Any]
#: ``map(inputs, **options)`` yielding :class:`~extractkit.drivers.batch.ItemResult`
MapFn = Callable[..., Iterator[Any]]


def json_schema_of(schema: Any) -> dict[str, Any]:
    """The JSON Schema document of a Pydantic model, type or JSON Schema dict."""
    if schema is None:
        return {}
    return dict(get_source(schema).json_schema)


def _error_text(exc: BaseException) -> str:
    if isinstance(exc, (InputError, ExtractionError)):
        return redact(str(exc) or type(exc).__name__)
    return redact(f"{type(exc).__name__}: {exc}")


def item_record(item: Any, seconds: float | None) -> Record:
    """A record for one :class:`~extractkit.drivers.batch.ItemResult`: the record
    ``extractkit run -o`` writes (so whatever it gains -- grounding, chunks,
    conflicts -- eval records carry too), plus the attempts of a failure, the
    answering model and the time."""
    from ..cli import _item_record

    record: Record = {k: v for k, v in _item_record(item, "").items() if k != "fingerprint"}
    if item.error is not None:
        attempts = getattr(item.error, "attempts", None)
        if attempts and "attempts" not in record:
            record["attempts"] = [to_jsonable_python(a.as_dict(), fallback=str)
                                  for a in attempts]
    elif hasattr(item.result, "record"):  # a chunked document: its chunks, conflicts, spans
        record.update(item.result.record())
    elif "grounding" not in record:
        grounding = getattr(item.result, "grounding", None)
        if grounding is not None:
            record["grounding"] = grounding.as_dict()
    record["model"] = item.model
    if item.cached:
        record["cached"] = True  # every response from the cache: it cost nothing
    if seconds is not None:
        record["seconds"] = round(seconds, 4)
    return dict(redact_data(record))  # as the record files of run do


def run_examples(map_fn: MapFn, examples: list[Example], *, concurrency: int = 1,
                 cache: Any = None, variables: bool = True) -> Iterator[Record]:
    """Records for every example, in completion order, through ``map_fn``.

    A document's time runs from when the batch driver takes its input to its
    answer (so with ``concurrency`` 1 it is the document's own wall time).
    ``variables``: ``map_fn`` takes template variables (an ``@extract``
    function); else an example's ``vars`` must be just ``{"text": ...}``.
    """
    started: dict[str, float] = {}
    bad: list[Record] = []

    def inputs() -> Iterator[tuple[str, Any]]:
        for example in examples:
            try:
                value = example.model_input(variables)
            except InputError as exc:
                bad.append({"input": example.id, "ok": False, "error": str(exc),
                            "usage": {}})
                continue
            started[example.id] = time.perf_counter()
            yield example.id, value

    options: dict[str, Any] = {"concurrency": concurrency}
    if cache is not None:
        options["cache"] = cache
    for item in map_fn(inputs(), **options):
        begun = started.get(item.id)
        yield item_record(item, None if begun is None else time.perf_counter() - begun)
    yield from bad


def chunk_aware(runner: Any) -> MapFn:
    """``runner.map``, except that a text too long for one prompt is read in chunks
    (:func:`extractkit.cli.chunked_item`, each chunk through the same loop), as
    ``extractkit run`` does; its item comes out when its chunks are merged."""
    from ..cli import chunked_item

    def map_fn(inputs: Iterable[tuple[str, Any]], **options: Any) -> Iterator[Any]:
        done: list[Any] = []

        def short_ones() -> Iterator[tuple[str, Any]]:
            for ident, value in inputs:
                item = chunked_item(runner, ident, value)
                if item is None:
                    yield ident, value
                else:
                    done.append(item)

        for item in runner.map(short_ones(), **options):
            yield item
            while done:
                yield done.pop(0)
        yield from done

    return map_fn


def run_callable(fn: Callable[..., Any], examples: list[Example]) -> Iterator[Record]:
    """Records from a plain function ``fn(input) -> value`` (one example at a time)."""
    for example in examples:
        begun = time.perf_counter()
        try:
            data = example.model_input()
            value = fn(**data) if isinstance(data, dict) else fn(data)
        except Exception as exc:
            yield {"input": example.id, "ok": False, "error": _error_text(exc), "usage": {},
                   "seconds": round(time.perf_counter() - begun, 4)}
            continue
        yield {"input": example.id, "ok": True, "value": redact_data(to_jsonable_python(value)),
               "usage": {}, "seconds": round(time.perf_counter() - begun, 4)}


def score_records(
    schema: Any,
    examples: Iterable[Example],
    records: Iterable[Mapping[str, Any]],
    *,
    match_config: Mapping[str, Any] | None = None,
    prices: PriceTable | None = None,
    model: str | None = None,
    local: bool = False,
) -> EvalReport:
    """Score records against examples, matched by ``input`` == example id (or path).

    An example without a record counts as failed ("no result").
    """
    comparer = Comparer(json_schema_of(schema), match_config)
    prices = prices if prices is not None else PriceTable()
    found: dict[str, Mapping[str, Any]] = {}
    for line in records:
        found[str(line.get("input"))] = line
    docs: list[DocumentReport] = []
    for example in examples:
        record: Mapping[str, Any] | None = found.get(example.id)
        if record is None and example.path is not None:
            record = found.get(example.path) or found.get(str(Path(example.path)))
        if record is None:
            docs.append(DocumentReport(example.id, False, comparer.missing(example.expected),
                                       "no result for this example"))
            continue
        usage = {k: int(v) for k, v in (record.get("usage") or {}).items()
                 if isinstance(v, (int, float))}
        cost = 0.0 if record.get("cached") else _cost(prices, (record.get("model"), model),
                                                       usage, local)
        seconds = record.get("seconds")
        if record.get("ok"):
            outcomes = comparer.compare(example.expected, record.get("value"))
            docs.append(DocumentReport(example.id, True, outcomes, None, usage, cost, seconds))
        else:
            docs.append(DocumentReport(example.id, False, comparer.missing(example.expected),
                                       str(record.get("error") or "failed"), usage, cost,
                                       seconds))
    return EvalReport(docs, model, local)


def _cost(prices: PriceTable, models: tuple[str | None, str | None], usage: Mapping[str, int],
          local: bool) -> float | None:
    """Like the run summary: the answering model's price, else the requested model's."""
    from ..results import Usage

    spent = Usage(usage.get("prompt_tokens", 0), usage.get("completion_tokens", 0),
                  usage.get("total_tokens", 0))
    if local:
        return 0.0
    if not spent.total_tokens:
        return 0.0
    for model in models:
        cost = prices.cost(model, spent)
        if cost is not None:
            return cost
    return None


def evaluate(
    fn_or_extractor: Any,
    dataset: str | Path | Iterable[Any],
    schema: Any = None,
    *,
    concurrency: int = 1,
    cache: Any = None,
    match_config: Mapping[str, Any] | None = None,
    prices: PriceTable | None = None,
    records: list[Record] | None = None,
) -> EvalReport:
    """Extract every example of ``dataset`` and score the results.

    ``fn_or_extractor`` is an ``@extract`` function, an
    :class:`~extractkit.Extractor` (then pass ``schema``), or any callable
    ``fn(input) -> value`` (its value is scored against ``schema``, if given,
    else by the defaults for plain JSON). ``dataset`` is a JSON Lines file
    (see :mod:`extractkit.eval.dataset`) or a list of examples/dicts.
    ``records``, when given a list, receives the run's records (for the
    review page). Returns an :class:`~extractkit.eval.report.EvalReport`.
    """
    from ..decorator import AsyncExtractFunction, ExtractFunction
    from ..extractor import Extractor

    examples = as_examples(dataset)
    model: str | None = None
    local = False
    if isinstance(fn_or_extractor, (ExtractFunction, AsyncExtractFunction)):
        if isinstance(fn_or_extractor, AsyncExtractFunction):
            raise TypeError("evaluate() takes a sync @extract function; "
                            "use the sync decorator for evals")
        schema = fn_or_extractor.schema if schema is None else schema
        settings = fn_or_extractor._settings
        stream = run_examples(fn_or_extractor.map, examples, concurrency=concurrency,
                              cache=cache)
    elif isinstance(fn_or_extractor, Extractor):
        if schema is None:
            raise TypeError("evaluate(extractor, dataset, schema): an Extractor needs the schema")
        settings = fn_or_extractor.settings
        stream = run_examples(functools.partial(fn_or_extractor.map, schema), examples,
                              concurrency=concurrency, cache=cache, variables=False)
    elif callable(fn_or_extractor):
        settings = None
        stream = run_callable(fn_or_extractor, examples)
    else:
        raise TypeError("evaluate() takes an @extract function, an Extractor or a callable")
    if settings is not None:
        local = settings.uses_local()
        try:
            model = settings.resolved_model()
        except Exception:
            model = None
    collected = list(stream)
    if records is not None:
        records.extend(collected)
    return score_records(schema, examples, collected, match_config=match_config,
                         prices=prices, model=model, local=local)


__all__ = ["evaluate", "item_record", "json_schema_of", "run_callable", "run_examples",
           "score_records"]
