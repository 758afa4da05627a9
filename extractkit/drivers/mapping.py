"""What the ``map`` methods of the front doors do: inputs → jobs → a batch driver.

The online drivers are in :mod:`.batch`; ``batch_api=`` hands the jobs to the
provider Batch API (:mod:`.batch_api`), which finishes what is left online.
Keeping this glue here means neither of those two modules imports the other's
caller.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..cache import ResponseCache, cached
from ..errors import ConfigurationError
from ..loop import Extraction
from .batch import amap_jobs, map_jobs
from .batch_api import BatchAPI, run_jobs
from .gate import DEFAULT_CONCURRENCY, Gate, ThreadGate
from .jobs import ItemResult, ajobs_from, call_args, jobs_from

if TYPE_CHECKING:
    from ..spend import SpendLimit

__all__ = ["amap_inputs", "call_args", "map_inputs"]


def map_inputs(
    backend: Any,
    inputs: Iterable[Any],
    start: Callable[[Any], Extraction[Any]],
    *,
    concurrency: int = DEFAULT_CONCURRENCY,
    ordered: bool = False,
    cache: ResponseCache | str | Path | None = None,
    gate: ThreadGate | None = None,
    batch_api: bool | BatchAPI = False,
    spend: SpendLimit | None = None,
) -> Iterator[ItemResult[Any]]:
    """What the sync ``map`` methods do: inputs → jobs → :func:`map_jobs` (or the Batch API)."""
    if cache is not None:
        backend = cached(backend, cache)
    jobs = jobs_from(inputs, start)
    if not batch_api:
        return map_jobs(backend, jobs, concurrency=concurrency, ordered=ordered, gate=gate,
                        spend=spend)
    if spend is not None:
        raise ConfigurationError(
            "max_cost/max_tokens_total cannot stop a Batch API job, which is sent whole: "
            "estimate it first (extractkit run --dry-run) or run online")
    if ordered:
        raise ConfigurationError("ordered=True is not available with the Batch API")
    options = batch_api if isinstance(batch_api, BatchAPI) else BatchAPI()
    return run_jobs(backend, jobs, options, concurrency=concurrency, gate=gate)


def amap_inputs(
    backend: Any,
    inputs: Iterable[Any] | AsyncIterable[Any],
    start: Callable[[Any], Any],
    *,
    concurrency: int = DEFAULT_CONCURRENCY,
    ordered: bool = False,
    cache: ResponseCache | str | Path | None = None,
    gate: Gate | None = None,
    batch_api: bool | BatchAPI = False,
    spend: SpendLimit | None = None,
) -> AsyncIterator[ItemResult[Any]]:
    """What the async ``map`` methods do: inputs → jobs → :func:`amap_jobs`.

    The provider Batch API needs a blocking client: ``batch_api=`` is accepted
    for parity with the sync ``map`` and refused with a clear error.
    """
    if batch_api:
        raise ConfigurationError(
            "batch_api= needs a blocking openai.OpenAI client: use Extractor.map / the sync "
            "@extract function (or `extractkit run --batch-api`) for Batch API runs"
        )
    if cache is not None:
        backend = cached(backend, cache)
    jobs = ajobs_from(inputs, start)
    return amap_jobs(backend, jobs, concurrency=concurrency, ordered=ordered, gate=gate,
                     spend=spend)
