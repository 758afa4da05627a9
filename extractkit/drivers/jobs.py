"""What goes into a batch and what comes out: :class:`Job` and :class:`ItemResult`.

The front doors turn inputs into jobs (an id, a position and a function
building the :class:`~extractkit.loop.Extraction`); the batch drivers run
them and yield one :class:`ItemResult` per input.
"""

from __future__ import annotations

import functools
from collections.abc import (
    AsyncIterable,
    AsyncIterator,
    Awaitable,
    Callable,
    Iterable,
    Iterator,
    Mapping,
)
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from ..cache import served_from_cache
from ..loop import Extraction
from ..results import Result, Usage

T = TypeVar("T")

Start = Callable[[], "Extraction[Any] | Awaitable[Extraction[Any]]"]


@dataclass(frozen=True)
class Job:
    """One input: its id, its position, and how to build its extraction.

    ``error`` is set for an input that failed before any request (it could
    not be read, say): the item comes out with that error and ``start`` is
    never called.
    """

    id: str
    index: int
    start: Start
    error: BaseException | None = None


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
        return Job(ident, index, functools.partial(_raise, value), error=value)
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



def call_args(value: Any) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """How an ``@extract`` function is called for one input: a mapping is keyword
    arguments, anything else the first positional argument."""
    if isinstance(value, Mapping):
        return (), dict(value)
    return (value,), {}
