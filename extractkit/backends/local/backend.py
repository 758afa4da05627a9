"""The backends: chat-completions requests in, the SDK's own response objects out."""

from __future__ import annotations

import asyncio
import random
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

from openai.types.chat import ChatCompletion, ChatCompletionChunk

from ...errors import InputError
from ...schema.gbnf import schema_to_gbnf
from ...schema.view import SchemaView, schema_view
from .copybias import DEFAULT_COPY_BIAS, CopyBias
from .extractive import ExtractiveConstraint, SubstringIndex, constraint_for
from .guards import timeout_from_env, token_budget
from .model import LoadedModel, default_model_path, load_model
from .prompting import LocalRequest, read_request
from .sampling import Generation, Sampler, generate

#: Temperatures tried, in turn, when a greedy re-ask writes an answer already
#: given in the conversation (the same answer would fail the same way).
REASK_TEMPERATURES = (0.7, 1.0)


@dataclass
class _Prepared:
    """What one request compiles to, once, before its generations."""

    prompt: list[int]
    gbnf: str | None
    view: SchemaView | None
    #: the documents' substring index (extractive decoding), or ``None``
    index: SubstringIndex | None


class LocalBackend:
    """Synchronous backend running the embedded model in this process.

    ``model_path`` defaults to :func:`default_model_path`; ``timeout`` (seconds
    per generation, prompt evaluation included) to ``$EXTRACTKIT_LOCAL_TIMEOUT``
    or 20; ``copy_bias`` is the logit bonus for copying the user's text into
    string values (0 turns it off). The model is loaded on first use and
    shared by every backend using the same file.
    """

    profile = "local"

    def __init__(
        self,
        model_path: str | None = None,
        *,
        timeout: float | None = None,
        copy_bias: float = DEFAULT_COPY_BIAS,
    ) -> None:
        self.model_path = model_path or default_model_path()
        self.timeout = timeout if timeout is not None else timeout_from_env()
        self.copy_bias = copy_bias

    @property
    def model(self) -> LoadedModel:
        return load_model(self.model_path)

    def complete(self, request: dict[str, Any]) -> ChatCompletion:
        req = read_request(request)
        model = self.model
        choices: list[dict[str, Any]] = []
        completion_tokens = 0
        with model.lock:
            prepared = self._prepare(model, req)
            for index in range(req.n):
                generation = Generation()
                for _ in self._answer(model, prepared, req, index, generation):
                    pass
                completion_tokens += generation.completion_tokens
                choices.append(
                    {
                        "index": index,
                        "message": _message(req, generation.text, _new_id("call")),
                        "finish_reason": _finish_reason(req, generation),
                        "logprobs": None,
                    }
                )
        return ChatCompletion.model_validate(
            {
                "id": _new_id("chatcmpl-local"),
                "object": "chat.completion",
                "created": int(time.time()),
                "model": req.model or model.name,
                "choices": choices,
                "usage": _usage(len(prepared.prompt), completion_tokens),
            }
        )

    def stream(self, request: dict[str, Any]) -> Iterator[ChatCompletionChunk]:
        return self._stream(request, None)

    def _stream(
        self, request: dict[str, Any], cancel: threading.Event | None
    ) -> Iterator[ChatCompletionChunk]:
        req = read_request(request)
        model = self.model
        chunk_id, created = _new_id("chatcmpl-local"), int(time.time())
        name = req.model or model.name

        def chunk(choices: list[dict[str, Any]], usage: Any = None) -> ChatCompletionChunk:
            body = {"id": chunk_id, "object": "chat.completion.chunk", "created": created}
            body.update(model=name, choices=choices, usage=usage)
            return ChatCompletionChunk.model_validate(body)

        completion_tokens = 0
        with model.lock:
            prepared = self._prepare(model, req)
            for index in range(req.n):
                generation = Generation()
                yield chunk([_first_delta(req, index, _new_id("call"))])
                for piece in self._answer(model, prepared, req, index, generation, cancel):
                    yield chunk([_piece_delta(req, index, piece)])
                completion_tokens += generation.completion_tokens
                final = {
                    "index": index,
                    "delta": {},
                    "finish_reason": _finish_reason(req, generation),
                }
                yield chunk([final])
        if req.include_usage:
            yield chunk([], _usage(len(prepared.prompt), completion_tokens))

    def _prepare(self, model: LoadedModel, req: LocalRequest) -> _Prepared:
        text = model.render(req.messages)
        prompt = model.llama.tokenize(text.encode("utf-8"), add_bos=True, special=True)
        if len(prompt) > 1 and prompt[0] == prompt[1] == model.llama.token_bos():
            prompt = prompt[1:]  # the template wrote BOS and the tokenizer added one
        if len(prompt) + 8 >= model.n_ctx:
            raise InputError(
                f"the prompt takes {len(prompt)} tokens; the local model's context holds "
                f"{model.n_ctx}: shorten the input"
            )
        if req.schema is None:
            return _Prepared(prompt, None, None, None)
        gbnf = schema_to_gbnf(req.schema)
        model.matcher(gbnf).close()  # parse it now: a bad grammar fails before any output
        view = schema_view(req.schema)
        found = constraint_for(view, req.documents, model.pieces())
        return _Prepared(prompt, gbnf, view, None if found is None else found.index)

    def _answer(
        self,
        model: LoadedModel,
        prepared: _Prepared,
        req: LocalRequest,
        index: int,
        result: Generation,
        cancel: threading.Event | None = None,
    ) -> Iterator[str]:
        """One choice. A re-ask that repeats an earlier answer is tried again, sampled.

        While the answer could still turn out to repeat an earlier one, its
        pieces are held back, so a stream never shows an attempt that is
        dropped. When even the sampled tries repeat it, the next re-ask of
        the conversation is answered without generating (see above).
        """
        previous = {_squash(a) for a in req.previous_answers}
        schedule = _schedule(req, index)
        if len(schedule) > 1 and len(previous) < len(req.previous_answers):
            # The conversation shows the same answer twice: the sampled tries of
            # an earlier re-ask repeated it too. Another generation would burn
            # the time budget on it again; answer it at once.
            result.text, result.finish_reason = req.previous_answers[-1], "stop"
            yield result.text
            return
        for attempt, (temperature, seed) in enumerate(schedule):
            last = attempt == len(schedule) - 1
            generation = Generation()
            held: list[str] = []
            fresh = not previous
            for piece in self._run(
                model, prepared, req, temperature, seed, generation, cancel
            ):
                if fresh:
                    yield piece
                    continue
                held.append(piece)
                written = _squash(generation.text)
                if not any(p.startswith(written) for p in previous):
                    fresh = True
                    yield "".join(held)
            result.completion_tokens += generation.completion_tokens
            result.attempts += 1
            if fresh or last or (cancel is not None and cancel.is_set()):
                if not fresh:
                    yield "".join(held)
                result.text, result.finish_reason = generation.text, generation.finish_reason
                return

    def _run(
        self,
        model: LoadedModel,
        prepared: _Prepared,
        req: LocalRequest,
        temperature: float,
        seed: int,
        result: Generation,
        cancel: threading.Event | None,
    ) -> Iterator[str]:
        matcher = model.matcher(prepared.gbnf) if prepared.gbnf is not None else None
        constraint = bias = None
        if prepared.view is not None and prepared.index is not None:
            constraint = ExtractiveConstraint(prepared.view, prepared.index, model.pieces())
        if prepared.view is not None and self.copy_bias > 0 and req.source:
            bias = CopyBias(req.source, model, self.copy_bias, prepared.view.root)
        sampler = Sampler(
            model,
            temperature=temperature,
            top_p=req.top_p,
            seed=seed,
            matcher=matcher,
            constraint=constraint,
            bias=bias,
        )
        return generate(
            model,
            prepared.prompt,
            req,
            sampler=sampler,
            budget=token_budget(req, len(prepared.prompt), model.n_ctx),
            deadline=time.monotonic() + self.timeout,
            result=result,
            cancel=cancel,
        )


def _schedule(req: LocalRequest, index: int) -> list[tuple[float, int]]:
    """``(temperature, seed)`` of each try for one choice.

    A first try as the request asks; for a greedy re-ask, then sampled tries
    at :data:`REASK_TEMPERATURES`, seeded by the attempt number so runs are
    reproducible when the request sets a seed.
    """
    base = req.seed + index if req.seed is not None else random.randrange(2**31)
    temperature = req.temperature or 0.0
    tries = [(temperature, base)]
    if req.previous_answers and temperature <= 0:
        attempt = len(req.previous_answers)
        tries += [(t, base + 7919 * attempt + k) for k, t in enumerate(REASK_TEMPERATURES, 1)]
    return tries


def _squash(text: str) -> str:
    """``text`` without whitespace: answers that differ only in layout are the same answer."""
    return "".join(text.split())


def _new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:24]}"


def _message(req: LocalRequest, text: str, call_id: str) -> dict[str, Any]:
    if req.tool_name is None:
        return {"role": "assistant", "content": text}
    call = {
        "id": call_id,
        "type": "function",
        "function": {"name": req.tool_name, "arguments": text},
    }
    return {"role": "assistant", "content": None, "tool_calls": [call]}


def _finish_reason(req: LocalRequest, generation: Generation) -> str:
    if generation.finish_reason == "stop" and req.tool_name is not None:
        return "tool_calls"
    return generation.finish_reason


def _usage(prompt_tokens: int, completion_tokens: int) -> dict[str, int]:
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }


def _first_delta(req: LocalRequest, index: int, call_id: str) -> dict[str, Any]:
    if req.tool_name is None:
        delta: dict[str, Any] = {"role": "assistant", "content": ""}
    else:
        call = {
            "index": 0,
            "id": call_id,
            "type": "function",
            "function": {"name": req.tool_name, "arguments": ""},
        }
        delta = {"role": "assistant", "tool_calls": [call]}
    return {"index": index, "delta": delta, "finish_reason": None}


def _piece_delta(req: LocalRequest, index: int, piece: str) -> dict[str, Any]:
    if req.tool_name is None:
        delta: dict[str, Any] = {"content": piece}
    else:
        delta = {"tool_calls": [{"index": 0, "function": {"arguments": piece}}]}
    return {"index": index, "delta": delta, "finish_reason": None}


class AsyncLocalBackend:
    """Asynchronous backend: the same model, run in a worker thread."""

    profile = "local"

    def __init__(
        self,
        model_path: str | None = None,
        *,
        timeout: float | None = None,
        copy_bias: float = DEFAULT_COPY_BIAS,
    ) -> None:
        self._sync = LocalBackend(model_path, timeout=timeout, copy_bias=copy_bias)

    @property
    def model(self) -> LoadedModel:
        return self._sync.model

    async def complete(self, request: dict[str, Any]) -> ChatCompletion:
        return await asyncio.to_thread(self._sync.complete, request)

    async def stream(self, request: dict[str, Any]) -> AsyncIterator[ChatCompletionChunk]:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        cancel = threading.Event()

        def produce() -> None:
            try:
                for item in self._sync._stream(request, cancel):
                    loop.call_soon_threadsafe(queue.put_nowait, ("chunk", item))
            except BaseException as exc:
                loop.call_soon_threadsafe(queue.put_nowait, ("error", exc))
            else:
                loop.call_soon_threadsafe(queue.put_nowait, ("done", None))

        worker = asyncio.ensure_future(asyncio.to_thread(produce))
        try:
            while True:
                kind, item = await queue.get()
                if kind == "done":
                    break
                if kind == "error":
                    raise item
                yield item
        finally:
            cancel.set()
            await asyncio.shield(worker)


__all__ = ["REASK_TEMPERATURES", "AsyncLocalBackend", "LocalBackend"]
