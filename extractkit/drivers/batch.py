"""Many extractions at once: a bounded window of work, one shared limiter.

The front doors turn inputs into :class:`~extractkit.drivers.jobs.Job`
objects (:mod:`.mapping`, :mod:`.jobs`), and these drivers run them, yielding one
:class:`~extractkit.drivers.jobs.ItemResult` per input as each completes:

* :func:`amap_jobs` runs on asyncio over an async backend;
* :func:`map_jobs` runs a thread pool over the blocking driver. It serves
  the sync API (``Extractor.map``, ``ExtractFunction.map``, the CLI): it works
  with whatever blocking client or backend was configured (an ``OpenAI``
  client, the local model, a cache), and on a loopback benchmark it is as
  fast as asyncio over ``AsyncOpenAI`` (see ``bench/batch.py``).

Both consume inputs lazily and keep at most ``concurrency`` extractions in
flight, so memory stays flat however many inputs there are. Results come out
in completion order (``ordered=True`` restores input order, holding at most
a few windows of finished results).

Every request of a batch goes through one :class:`~extractkit.drivers.gate.Gate`
(or :class:`~extractkit.drivers.gate.ThreadGate`), which slows the whole
batch down on 429s; other transient errors (5xx, timeouts) are retried per
item within its ``transport_retries``. An item that fails
(:func:`~extractkit.errors.is_item_failure`: no valid answer, a refusal, an
endpoint error) never stops the batch: it comes out with its ``error``.
A :class:`~extractkit.errors.FatalError` (bad template, schema or settings:
every item would fail the same way) ends the whole batch, raised from the
iterator, and so does any other exception -- a bug, with its traceback.

A ``spend=`` :class:`~extractkit.spend.SpendLimit` is asked before each
input starts: when it refuses and nothing is in flight, the batch ends with
:class:`~extractkit.errors.SpendLimitReached`, raised after the last item
(see :mod:`extractkit.spend`).

The thread pool's workers are daemon threads (:class:`~.workers.DaemonPool`):
when the consumer stops (Ctrl-C, an exception, closing the iterator) nothing
still hanging on a request or sleeping on a ``Retry-After`` keeps the process
alive.
"""

from __future__ import annotations

import asyncio
import inspect
import queue
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any

from ..errors import is_item_failure
from ..loop import Extraction
from . import aio, sync
from .gate import DEFAULT_CONCURRENCY, Gate, ThreadGate, is_rate_limit
from .jobs import ItemResult, Job, ajobs_from, call_args, item_result, jobs_from
from .workers import DaemonPool

if TYPE_CHECKING:
    from ..spend import SpendLimit

__all__ = [
    "DEFAULT_CONCURRENCY",
    "Gate",
    "ItemResult",
    "Job",
    "ThreadGate",
    "ajobs_from",
    "amap_jobs",
    "call_args",
    "is_rate_limit",
    "item_result",
    "jobs_from",
    "map_jobs",
]

#: ``ordered=True`` holds at most this many windows of finished results.
_ORDERED_WINDOWS = 4


# -- the window ------------------------------------------------------------------


class _Window:
    """Which jobs may start and which results may come out (no I/O)."""

    def __init__(self, size: int, ordered: bool, spend: Any = None) -> None:
        self.size = size
        self.ordered = ordered
        self.spend = spend
        self.in_flight = 0
        self.started = 0
        self._head = 0
        self._held: dict[int, ItemResult[Any]] = {}

    def has_room(self) -> bool:
        if self.in_flight >= self.size:
            return False
        if self.ordered and self.started - self._head >= self.size * _ORDERED_WINDOWS:
            return False
        return self.spend is None or self.spend.may_start(self.in_flight)

    def stopped_by_spend(self, exhausted: bool) -> bool:
        """Nothing in flight, inputs left, and the limit refuses the next one."""
        return not exhausted and self.spend is not None and not self.spend.may_start(0)

    def start(self) -> None:
        self.in_flight += 1
        self.started += 1

    def finish(self, item: ItemResult[Any]) -> list[ItemResult[Any]]:
        self.in_flight -= 1
        if self.spend is not None:
            self.spend.add(item)
        if not self.ordered:
            return [item]
        self._held[item.index] = item
        ready = []
        while self._head in self._held:
            ready.append(self._held.pop(self._head))
            self._head += 1
        return ready


# -- asyncio ---------------------------------------------------------------------


async def _arun_job(backend: Any, job: Job, gate: Gate) -> ItemResult[Any]:
    if job.error is not None:
        return item_result(job, None, None, job.error)
    extraction: Extraction[Any] | None = None
    try:
        started = job.start()
        extraction = await started if inspect.isawaitable(started) else started
        assert extraction is not None
        if isinstance(extraction, Extraction):
            result = await aio.run(backend, extraction, gate=gate)
        else:  # a fallback chain's run (extractkit.endpoints.chain.ChainRun)
            result = await extraction.arun(gate)
    except Exception as exc:
        if not is_item_failure(exc):
            raise
        return item_result(job, extraction, None, exc)
    return item_result(job, extraction, result, None)


async def _next_job(jobs: Iterator[Job] | AsyncIterator[Job]) -> Job | None:
    if isinstance(jobs, AsyncIterator):
        return await anext(jobs, None)
    return next(jobs, None)


async def amap_jobs(
    backend: Any,
    jobs: Iterable[Job] | AsyncIterable[Job],
    *,
    concurrency: int = DEFAULT_CONCURRENCY,
    ordered: bool = False,
    gate: Gate | None = None,
    spend: SpendLimit | None = None,
) -> AsyncIterator[ItemResult[Any]]:
    """Run ``jobs`` on asyncio over the async ``backend``; results as they complete."""
    gate = gate if gate is not None else Gate(concurrency)
    window = _Window(concurrency, ordered, spend)
    source = aiter(jobs) if isinstance(jobs, AsyncIterable) else iter(jobs)
    finished: asyncio.Queue[asyncio.Task[ItemResult[Any]]] = asyncio.Queue()
    tasks: set[asyncio.Task[ItemResult[Any]]] = set()
    exhausted = False
    try:
        while True:
            while not exhausted and window.has_room():
                job = await _next_job(source)
                if job is None:
                    exhausted = True
                    break
                task = asyncio.create_task(_arun_job(backend, job, gate))
                task.add_done_callback(finished.put_nowait)
                tasks.add(task)
                window.start()
            if window.in_flight == 0:
                if window.stopped_by_spend(exhausted) and await _next_job(source) is not None:
                    assert spend is not None
                    raise spend.reached()
                return
            done = await finished.get()
            tasks.discard(done)
            for item in window.finish(done.result()):
                yield item
    finally:
        await _cancel(tasks)


async def _cancel(tasks: set[asyncio.Task[Any]]) -> None:
    for task in tasks:
        task.cancel()
    if tasks:
        await asyncio.gather(*tasks, return_exceptions=True)


# -- threads -----------------------------------------------------------------------


def _run_job(backend: Any, job: Job, gate: ThreadGate) -> ItemResult[Any]:
    if job.error is not None:
        return item_result(job, None, None, job.error)
    extraction: Extraction[Any] | None = None
    try:
        extraction = job.start()  # type: ignore[assignment]
        assert extraction is not None
        if isinstance(extraction, Extraction):
            result = sync.run(backend, extraction, gate=gate)
        else:  # a fallback chain's run (extractkit.endpoints.chain.ChainRun)
            result = extraction.run(gate)
    except Exception as exc:
        if not is_item_failure(exc):
            raise
        return item_result(job, extraction, None, exc)
    return item_result(job, extraction, result, None)


def map_jobs(
    backend: Any,
    jobs: Iterable[Job],
    *,
    concurrency: int = DEFAULT_CONCURRENCY,
    ordered: bool = False,
    gate: ThreadGate | None = None,
    spend: SpendLimit | None = None,
) -> Iterator[ItemResult[Any]]:
    """Run ``jobs`` on a thread pool over the blocking ``backend``; results as they complete."""
    gate = gate if gate is not None else ThreadGate(concurrency)
    window = _Window(concurrency, ordered, spend)
    source = iter(jobs)
    finished: queue.SimpleQueue[Future[ItemResult[Any]]] = queue.SimpleQueue()
    futures: set[Future[ItemResult[Any]]] = set()
    # daemon workers: a Ctrl-C (or any exit) never waits for requests that hang
    pool = DaemonPool(concurrency, name="extractkit-batch")
    exhausted = False
    try:
        while True:
            while not exhausted and window.has_room():
                job = next(source, None)
                if job is None:
                    exhausted = True
                    break
                future = pool.submit(_run_job, backend, job, gate)
                future.add_done_callback(finished.put)
                futures.add(future)
                window.start()
            if window.in_flight == 0:
                if window.stopped_by_spend(exhausted) and next(source, None) is not None:
                    assert spend is not None
                    raise spend.reached()
                return
            done = finished.get()
            futures.discard(done)
            yield from window.finish(done.result())
    finally:
        for future in futures:
            future.cancel()
        pool.shutdown()


def __getattr__(name: str) -> Any:
    # ``Tally`` lived here once; it is the CLI's concern now (:mod:`extractkit.tally`).
    if name == "Tally":
        from ..tally import Tally

        return Tally
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
