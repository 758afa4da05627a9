"""Many extractions at once: a bounded window of work, one shared limiter.

The front doors turn inputs into :class:`Job` objects (an id and a function
building the :class:`~extractkit.loop.Extraction`), and these drivers run
them, yielding one :class:`ItemResult` per input as each completes:

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

Every request of a batch goes through one :class:`Gate` (or
:class:`ThreadGate`): it bounds the requests in flight, and on a 429 it
pauses *every* request for the server's ``Retry-After`` (or the backoff) and
halves the number allowed in flight, growing it back by one per window of
successes. Other transient errors (5xx, timeouts) are retried per item. An
item that fails never stops the batch: it comes out with its ``error``.
Only configuration errors (bad template, schema or settings: every item
would fail the same way) end the whole batch, raised from the iterator.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import queue
import threading
import time
from collections.abc import (
    AsyncIterable,
    AsyncIterator,
    Awaitable,
    Callable,
    Iterable,
    Iterator,
    Mapping,
)
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from ..cache import cached, served_from_cache
from ..errors import ConfigurationError, SchemaError, TemplateError
from ..loop import Extraction
from ..pricing import PriceTable
from ..results import Result, Usage
from ..retry import TransportRetry
from . import aio, sync

T = TypeVar("T")

DEFAULT_CONCURRENCY = 8

#: Errors that would fail every item alike: they end the batch.
FATAL_ERRORS: tuple[type[BaseException], ...] = (ConfigurationError, SchemaError, TemplateError)

#: ``ordered=True`` holds at most this many windows of finished results.
_ORDERED_WINDOWS = 4

Start = Callable[[], "Extraction[Any] | Awaitable[Extraction[Any]]"]


# -- what goes in and what comes out -----------------------------------------


@dataclass(frozen=True)
class Job:
    """One input: its id, its position, and how to build its extraction."""

    id: str
    index: int
    start: Start


@dataclass(frozen=True)
class ItemResult(Generic[T]):
    """The outcome for one input: a :class:`~extractkit.results.Result` or an error.

    ``usage`` counts every token spent on the item, failed or not; ``cached``
    is true when every response came from the response cache.
    """

    id: str
    index: int
    result: Result[T] | None = None
    error: BaseException | None = None
    usage: Usage = field(default_factory=Usage)
    cached: bool = False

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def value(self) -> T:
        """The extracted value; raises the item's error if it failed."""
        if self.error is not None:
            raise self.error
        assert self.result is not None
        return self.result.value

    @property
    def model(self) -> str | None:
        return self.result.model if self.result is not None else None


def _raise(error: BaseException) -> Extraction[Any]:
    raise error


def _split(item: Any, index: int) -> tuple[str, Any]:
    if isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], (str, int)):
        return str(item[0]), item[1]
    return str(index), item


def _job(ident: str, value: Any, *, index: int, start: Callable[[Any], Any]) -> Job:
    if isinstance(value, BaseException):
        return Job(ident, index, functools.partial(_raise, value))
    return Job(ident, index, functools.partial(start, value))


def jobs_from(inputs: Iterable[Any], start: Callable[[Any], Any]) -> Iterator[Job]:
    """Jobs for ``inputs``, lazily.

    An input is a value handed to ``start`` (its id is its position, ``"0"``,
    ``"1"``...), or an ``(id, value)`` pair. A value that is an exception
    becomes a failed item without a request (for inputs that could not be read).
    """
    for index, item in enumerate(inputs):
        yield _job(*_split(item, index), index=index, start=start)


async def ajobs_from(
    inputs: Iterable[Any] | AsyncIterable[Any], start: Callable[[Any], Any]
) -> AsyncIterator[Job]:
    """:func:`jobs_from` over a sync or an async iterable."""
    if not isinstance(inputs, AsyncIterable):
        for job in jobs_from(inputs, start):
            yield job
        return
    index = 0
    async for item in inputs:
        yield _job(*_split(item, index), index=index, start=start)
        index += 1


def item_result(
    job: Job, extraction: Extraction[Any] | None, result: Any, error: Any
) -> ItemResult[Any]:
    if extraction is None:
        return ItemResult(job.id, job.index, error=error)
    attempts = extraction.attempts
    cached = bool(attempts) and all(served_from_cache(a.response) for a in attempts)
    return ItemResult(
        job.id, job.index, result=result, error=error, usage=extraction.usage, cached=cached
    )


class Tally:
    """Running totals of a batch: counts, tokens, estimated cost, rate.

    Cost comes from ``prices`` (a :class:`~extractkit.pricing.PriceTable`) for
    the model named in each item's response, else the requested ``model``; answers from
    the response cache and the local model (``local=True``) cost nothing.
    """

    def __init__(
        self, prices: PriceTable | None = None, *, model: str | None = None, local: bool = False
    ) -> None:
        self.prices = prices if prices is not None else PriceTable()
        self.model = model
        self.local = local
        self.ok = 0
        self.failed = 0
        self.cached = 0
        self.skipped = 0
        self.usage = Usage()
        self.cost = 0.0
        self.unpriced: set[str] = set()
        self.started = time.monotonic()

    def add(self, item: ItemResult[Any]) -> None:
        if item.ok:
            self.ok += 1
        else:
            self.failed += 1
        if item.cached:
            self.cached += 1
            return
        self.usage = self.usage + item.usage
        cost = self.prices.cost(item.model, item.usage, local=self.local)
        if cost is None:  # the endpoint's name for the model may not be in the table
            cost = self.prices.cost(self.model, item.usage)
        if cost is not None:
            self.cost += cost
        elif item.usage.total_tokens:
            self.unpriced.add(item.model or self.model or "?")

    @property
    def done(self) -> int:
        return self.ok + self.failed

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    @property
    def rate(self) -> float:
        """Items per second since the start."""
        return self.done / self.elapsed if self.elapsed > 0 else 0.0

    def cost_text(self) -> str:
        text = f"${self.cost:.4f}"
        if self.unpriced:
            text += f" (+ unpriced: {', '.join(sorted(self.unpriced))})"
        return text

    def line(self) -> str:
        """One line for a progress display."""
        return (
            f"{self.done} done, {self.failed} failed, {self.rate:.1f}/s, "
            f"{self.usage.total_tokens:,} tokens, ~{self.cost_text()}"
        )

    def summary(self) -> str:
        """The end-of-run report."""
        parts = [f"{self.ok} ok", f"{self.failed} failed"]
        if self.skipped:
            parts.append(f"{self.skipped} already done")
        if self.cached:
            parts.append(f"{self.cached} from the cache")
        usage = self.usage
        return (
            f"{', '.join(parts)} in {self.elapsed:.1f} s; tokens: {usage.prompt_tokens:,} prompt "
            f"+ {usage.completion_tokens:,} completion; estimated cost {self.cost_text()}"
        )


# -- the shared limiter --------------------------------------------------------


def is_rate_limit(exc: BaseException | None) -> bool:
    return getattr(exc, "status_code", None) == 429


class _Limits:
    """Bookkeeping shared by both gates (no waiting here).

    ``limit`` is how many requests may be in flight now (at most
    ``concurrency``). A 429 halves it, once per *epoch*: requests sent before
    the last cut do not cut it again. Every ``limit`` successes in a row add one.
    """

    def __init__(self, concurrency: int) -> None:
        if concurrency < 1:
            raise ConfigurationError("concurrency must be at least 1")
        self.concurrency = concurrency
        self.limit = concurrency
        self.in_flight = 0
        self.resume_at = 0.0
        self.rate_limited = 0
        self._epoch = 0
        self._streak = 0

    @property
    def paused_for(self) -> float:
        return max(0.0, self.resume_at - time.monotonic())

    def _take(self) -> int:
        self.in_flight += 1
        return self._epoch

    def _give_back(self, token: int, exc: BaseException | None, delay: float | None) -> None:
        self.in_flight -= 1
        if exc is None:
            self._streak += 1
            if self._streak >= self.limit and self.limit < self.concurrency:
                self.limit += 1
                self._streak = 0
        elif is_rate_limit(exc) and delay is not None:
            self.rate_limited += 1
            self._streak = 0
            self.resume_at = max(self.resume_at, time.monotonic() + delay)
            if token == self._epoch:
                self._epoch += 1
                self.limit = max(1, self.limit // 2)


class Gate(_Limits):
    """The asyncio limiter shared by every request of a batch (see the module docstring).

    Share one between several batches to limit them together.
    """

    def __init__(self, concurrency: int = DEFAULT_CONCURRENCY) -> None:
        super().__init__(concurrency)
        self._waiters: list[asyncio.Future[int]] = []
        self._timer: asyncio.TimerHandle | None = None

    async def acquire(self) -> int:
        """Wait for a free slot (and for any pause to end); returns a token for :meth:`release`."""
        if not self._waiters and self.in_flight < self.limit and self.paused_for == 0:
            return self._take()
        waiter: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        self._wake()
        try:
            return await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self._give_back(waiter.result(), None, None)
                self._wake()
            elif waiter in self._waiters:
                self._waiters.remove(waiter)
            raise

    def release(
        self, token: int, exc: BaseException | None = None, delay: float | None = None
    ) -> None:
        """Give the slot back; with the error (and retry delay) if the request failed."""
        self._give_back(token, exc, delay)
        self._wake()

    def _wake(self) -> None:
        pause = self.paused_for
        if pause > 0:
            if self._timer is None:
                loop = asyncio.get_running_loop()
                self._timer = loop.call_later(pause, self._resume)
            return
        while self._waiters and self.in_flight < self.limit:
            waiter = self._waiters.pop(0)
            if not waiter.done():
                waiter.set_result(self._take())

    def _resume(self) -> None:
        self._timer = None
        self._wake()


class ThreadGate(_Limits):
    """The same limiter for threads (the blocking driver)."""

    def __init__(self, concurrency: int = DEFAULT_CONCURRENCY) -> None:
        super().__init__(concurrency)
        self._cond = threading.Condition()

    def acquire(self) -> int:
        with self._cond:
            while True:
                pause = self.paused_for
                if pause > 0:
                    self._cond.wait(pause)
                elif self.in_flight < self.limit:
                    return self._take()
                else:
                    self._cond.wait()

    def release(
        self, token: int, exc: BaseException | None = None, delay: float | None = None
    ) -> None:
        with self._cond:
            self._give_back(token, exc, delay)
            self._cond.notify_all()


# -- the window ------------------------------------------------------------------


class _Window:
    """Which jobs may start and which results may come out (no I/O)."""

    def __init__(self, size: int, ordered: bool) -> None:
        self.size = size
        self.ordered = ordered
        self.in_flight = 0
        self.started = 0
        self._head = 0
        self._held: dict[int, ItemResult[Any]] = {}

    def has_room(self) -> bool:
        if self.in_flight >= self.size:
            return False
        return not self.ordered or self.started - self._head < self.size * _ORDERED_WINDOWS

    def start(self) -> None:
        self.in_flight += 1
        self.started += 1

    def finish(self, item: ItemResult[Any]) -> list[ItemResult[Any]]:
        self.in_flight -= 1
        if not self.ordered:
            return [item]
        self._held[item.index] = item
        ready = []
        while self._head in self._held:
            ready.append(self._held.pop(self._head))
            self._head += 1
        return ready


# -- asyncio ---------------------------------------------------------------------


async def _arun_job(
    backend: Any, job: Job, gate: Gate, retry: Callable[[], TransportRetry]
) -> ItemResult[Any]:
    extraction: Extraction[Any] | None = None
    try:
        started = job.start()
        extraction = await started if inspect.isawaitable(started) else started
        assert extraction is not None
        result = await aio.run(backend, extraction, retry(), gate)
    except FATAL_ERRORS:
        raise
    except Exception as exc:
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
    retry: Callable[[], TransportRetry] = TransportRetry,
) -> AsyncIterator[ItemResult[Any]]:
    """Run ``jobs`` on asyncio over the async ``backend``; results as they complete."""
    gate = gate if gate is not None else Gate(concurrency)
    window = _Window(concurrency, ordered)
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
                task = asyncio.create_task(_arun_job(backend, job, gate, retry))
                task.add_done_callback(finished.put_nowait)
                tasks.add(task)
                window.start()
            if window.in_flight == 0:
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


def _run_job(
    backend: Any, job: Job, gate: ThreadGate, retry: Callable[[], TransportRetry]
) -> ItemResult[Any]:
    extraction: Extraction[Any] | None = None
    try:
        extraction = job.start()  # type: ignore[assignment]
        assert extraction is not None
        result = sync.run(backend, extraction, retry(), gate)
    except FATAL_ERRORS:
        raise
    except Exception as exc:
        return item_result(job, extraction, None, exc)
    return item_result(job, extraction, result, None)


def map_jobs(
    backend: Any,
    jobs: Iterable[Job],
    *,
    concurrency: int = DEFAULT_CONCURRENCY,
    ordered: bool = False,
    gate: ThreadGate | None = None,
    retry: Callable[[], TransportRetry] = TransportRetry,
) -> Iterator[ItemResult[Any]]:
    """Run ``jobs`` on a thread pool over the blocking ``backend``; results as they complete."""
    gate = gate if gate is not None else ThreadGate(concurrency)
    window = _Window(concurrency, ordered)
    source = iter(jobs)
    finished: queue.SimpleQueue[Future[ItemResult[Any]]] = queue.SimpleQueue()
    futures: set[Future[ItemResult[Any]]] = set()
    pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="extractkit-batch")
    exhausted = False
    try:
        while True:
            while not exhausted and window.has_room():
                job = next(source, None)
                if job is None:
                    exhausted = True
                    break
                future = pool.submit(_run_job, backend, job, gate, retry)
                future.add_done_callback(finished.put)
                futures.add(future)
                window.start()
            if window.in_flight == 0:
                return
            done = finished.get()
            futures.discard(done)
            yield from window.finish(done.result())
    finally:
        for future in futures:
            future.cancel()
        pool.shutdown(wait=False, cancel_futures=True)


# -- front-door glue ------------------------------------------------------------------


def call_args(value: Any) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """How an ``@extract`` function is called for one input: a mapping is keyword
    arguments, anything else the first positional argument."""
    if isinstance(value, Mapping):
        return (), dict(value)
    return (value,), {}


def map_inputs(
    backend: Any,
    inputs: Iterable[Any],
    start: Callable[[Any], Extraction[Any]],
    *,
    concurrency: int = DEFAULT_CONCURRENCY,
    ordered: bool = False,
    cache: Any = None,
    gate: ThreadGate | None = None,
    batch_api: Any = False,
) -> Iterator[ItemResult[Any]]:
    """What the sync ``map`` methods do: inputs → jobs → :func:`map_jobs` (or the Batch API)."""
    if cache is not None:
        backend = cached(backend, cache)
    jobs = jobs_from(inputs, start)
    if not batch_api:
        return map_jobs(backend, jobs, concurrency=concurrency, ordered=ordered, gate=gate)
    from ..batch_api import BatchAPI, run_jobs

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
    cache: Any = None,
    gate: Gate | None = None,
) -> AsyncIterator[ItemResult[Any]]:
    """What the async ``map`` methods do: inputs → jobs → :func:`amap_jobs`."""
    if cache is not None:
        backend = cached(backend, cache)
    jobs = ajobs_from(inputs, start)
    return amap_jobs(backend, jobs, concurrency=concurrency, ordered=ordered, gate=gate)
