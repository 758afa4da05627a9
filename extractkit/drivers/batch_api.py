"""The provider Batch API: the same requests at batch prices, answered within a day.

``extractkit run ... --batch-api`` or ``map(..., batch_api=True)``:

1. each input's :class:`~extractkit.loop.Extraction` gives its first request
   (:meth:`~extractkit.loop.Extraction.request`, the very request the online
   drivers send), written as one line of an OpenAI Batch JSONL file
   (``custom_id``, ``method``, ``url``, ``body``) spooled on disk;
2. the file is uploaded (``purpose="batch"``) and a batch created on
   ``/v1/chat/completions`` with a 24 h completion window;
3. the batch is polled until it is ``completed``, ``failed``, ``expired`` or
   ``cancelled``; its output (and error) file is downloaded and streamed;
4. each response, matched to its input by ``custom_id``, goes through the
   same :meth:`~extractkit.loop.Extraction.receive` as online: a valid
   answer is a result, a refusal or an exhausted re-ask budget an error;
5. what is left -- answers needing a re-ask, requests the batch failed or
   never ran -- continues online with the normal driver, same extraction.

Inputs are sent in batches of at most ``max_requests`` (50,000 by default,
the provider's limit). With a response cache, requests it can answer are not
submitted, and batch answers are stored in it.
"""

from __future__ import annotations

import itertools
import json
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import IO, Any, Final

import openai
from openai.types import Batch
from openai.types.chat import ChatCompletion
from pydantic import ValidationError

from ..cache import request_key
from ..errors import ConfigurationError, is_item_failure
from ..loop import Extraction
from .batch import map_jobs
from .gate import DEFAULT_CONCURRENCY, ThreadGate
from .jobs import ItemResult, Job, item_result

ENDPOINT: Final = "/v1/chat/completions"
TERMINAL_STATUSES = frozenset({"completed", "failed", "expired", "cancelled"})
#: Keyword arguments of ``create`` that are SDK options, not body fields.
_SDK_OPTIONS = frozenset({"extra_headers", "extra_query", "timeout", "extra_body"})


@dataclass(frozen=True)
class BatchAPI:
    """Options of a Batch API run.

    ``on_status`` is called with the SDK's ``Batch`` after creation and
    after every poll (for progress reports).
    """

    poll_interval: float = 30.0
    completion_window: str = "24h"
    max_requests: int = 50_000
    metadata: Mapping[str, str] | None = None
    on_status: Callable[[Batch], None] | None = field(default=None, compare=False)


@dataclass
class _Pending:
    job: Job
    extraction: Extraction[Any]
    key: str | None


def batch_line(custom_id: str, request: Mapping[str, Any]) -> dict[str, Any]:
    """One line of a Batch input file for ``request`` (kwargs of ``chat.completions.create``)."""
    body = {k: v for k, v in request.items() if k not in _SDK_OPTIONS}
    body.update(request.get("extra_body") or {})
    return {"custom_id": custom_id, "method": "POST", "url": ENDPOINT, "body": body}


def run_jobs(
    backend: Any,
    jobs: Iterable[Job],
    options: BatchAPI | None = None,
    *,
    concurrency: int = DEFAULT_CONCURRENCY,
    gate: ThreadGate | None = None,
) -> Iterator[ItemResult[Any]]:
    """Run ``jobs`` through the Batch API of ``backend``'s client; re-ask online."""
    options = options or BatchAPI()
    client = _client_of(backend)
    source = iter(jobs)
    while chunk := list(itertools.islice(source, options.max_requests)):
        runner = _Chunk(backend, client, options)
        yield from runner.run(chunk, concurrency=concurrency, gate=gate)


def _client_of(backend: Any) -> openai.OpenAI:
    client = getattr(backend, "client", None)
    if not isinstance(client, openai.OpenAI):
        raise ConfigurationError(
            "the Batch API needs a blocking openai.OpenAI client (an OpenAI-compatible "
            f"endpoint), not {type(client if client is not None else backend).__name__}"
        )
    return client.with_options(max_retries=5)


class _Chunk:
    """One batch: submit, wait, match answers, hand the rest to the online driver."""

    def __init__(self, backend: Any, client: openai.OpenAI, options: BatchAPI) -> None:
        self.backend = backend
        self.client = client
        self.options = options
        self.cache = getattr(backend, "cache", None)
        self.url: str = getattr(backend, "url", "")
        self.pending: dict[str, _Pending] = {}
        self.online: list[_Pending] = []

    def run(
        self, jobs: list[Job], *, concurrency: int, gate: ThreadGate | None
    ) -> Iterator[ItemResult[Any]]:
        with tempfile.TemporaryFile() as spool:
            yield from self._spool(jobs, spool)
            if self.pending:
                batch = self._submit(spool)
                yield from self._collect(batch)
        self.online.extend(self.pending.values())
        self.pending.clear()
        redo = [Job(p.job.id, p.job.index, _resume(p.extraction)) for p in self.online]
        yield from map_jobs(self.backend, redo, concurrency=concurrency, gate=gate)

    # -- 1. the input file ----------------------------------------------------

    def _spool(self, jobs: list[Job], spool: IO[bytes]) -> Iterator[ItemResult[Any]]:
        for job in jobs:
            if job.error is not None:
                yield item_result(job, None, None, job.error)
                continue
            try:
                extraction = job.start()
            except Exception as exc:
                if not is_item_failure(exc):
                    raise
                yield item_result(job, None, None, exc)
                continue
            assert isinstance(extraction, Extraction)
            if extraction.moderator is not None:
                raise ConfigurationError(
                    "moderation= is not available with the Batch API (answers arrive hours "
                    "later, unscreened); run the batch online, or set moderation='off'")
            request = extraction.request()
            key = request_key(request, self.url) if self.cache is not None else None
            hit = self.cache.get(key) if self.cache is not None and key else None
            entry = _Pending(job, extraction, key)
            if hit is not None:
                item = self._receive(entry, hit, fresh=False)
                if item is not None:
                    yield item
                continue
            custom_id = str(job.index)
            line = json.dumps(batch_line(custom_id, request), ensure_ascii=False, default=str)
            spool.write(line.encode("utf-8") + b"\n")
            self.pending[custom_id] = entry

    # -- 2./3. submit and wait ----------------------------------------------

    def _submit(self, spool: IO[bytes]) -> Batch:
        spool.seek(0)
        uploaded = self.client.files.create(
            file=("extractkit-batch.jsonl", spool, "application/jsonl"), purpose="batch"
        )
        batch = self.client.batches.create(
            input_file_id=uploaded.id,
            endpoint=ENDPOINT,
            completion_window=self.options.completion_window,  # type: ignore[arg-type]
            metadata=dict(self.options.metadata) if self.options.metadata else None,
        )
        return self._wait(batch)

    def _wait(self, batch: Batch) -> Batch:
        self._report(batch)
        while batch.status not in TERMINAL_STATUSES:
            time.sleep(self.options.poll_interval)
            batch = self.client.batches.retrieve(batch.id)
            self._report(batch)
        return batch

    def _report(self, batch: Batch) -> None:
        if self.options.on_status is not None:
            self.options.on_status(batch)

    # -- 4. answers -------------------------------------------------------------

    def _collect(self, batch: Batch) -> Iterator[ItemResult[Any]]:
        for file_id in (batch.output_file_id, batch.error_file_id):
            if not file_id:
                continue
            for custom_id, response in self._lines(file_id):
                entry = self.pending.pop(custom_id, None)
                if entry is None:
                    continue
                if response is None:
                    self.online.append(entry)  # the batch could not run it: online
                    continue
                item = self._receive(entry, response, fresh=True)
                if item is not None:
                    yield item

    def _settle(self, entry: _Pending, response: Any, fresh: bool, *, ok: bool) -> None:
        if self.cache is None or not entry.key:
            return
        if ok and fresh:
            self.cache.put(entry.key, response, url=self.url)
        elif not ok and not fresh:
            self.cache.discard(entry.key)

    def _lines(self, file_id: str) -> Iterator[tuple[str, ChatCompletion | None]]:
        with self.client.files.with_streaming_response.content(file_id) as stream:
            for line in stream.iter_lines():
                if line.strip():
                    yield _parse_line(line)

    def _receive(self, entry: _Pending, response: Any, *, fresh: bool) -> ItemResult[Any] | None:
        """The item's result or final error; ``None`` when it needs a re-ask (online).

        The cache keeps only answers the loop accepted (see :mod:`extractkit.cache`)."""
        job, extraction = entry.job, entry.extraction
        try:
            result = extraction.receive(response)
        except Exception as exc:
            self._settle(entry, response, fresh, ok=False)
            if not is_item_failure(exc):
                raise
            return item_result(job, extraction, None, exc)
        self._settle(entry, response, fresh, ok=result is not None)
        if result is None:
            self.online.append(entry)
            return None
        return item_result(job, extraction, result, None)


def _parse_line(line: str) -> tuple[str, ChatCompletion | None]:
    """``(custom_id, response)`` of an output line; ``None`` for a failed request."""
    try:
        record = json.loads(line)
        custom_id = str(record["custom_id"])
    except (ValueError, KeyError, TypeError):
        return "", None
    response = record.get("response") or {}
    if record.get("error") or response.get("status_code") != 200:
        return custom_id, None
    try:
        return custom_id, ChatCompletion.model_validate(response.get("body"))
    except ValidationError:
        return custom_id, None


def _resume(extraction: Extraction[Any]) -> Callable[[], Extraction[Any]]:
    return lambda: extraction
