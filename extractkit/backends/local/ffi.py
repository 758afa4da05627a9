"""Everything that touches llama.cpp below llama-cpp-python's public API.

llama-cpp-python exposes generation as a whole; per-token control (a grammar
checked lazily, a mask of our own, a prompt evaluated in batches) needs the
low-level bindings and two private attributes of :class:`llama_cpp.Llama`:
``_model.vocab`` and ``_ctx.ctx``. They are used here and
nowhere else, against the version range pinned in ``pyproject.toml``
(``llama-cpp-python>=0.3.36,<0.4``); a new release is checked by running
``tests/test_local_backend.py``.

``llama_cpp`` is imported inside the functions, so importing the backend
does not load the native library.
"""

from __future__ import annotations

import ctypes
import math
from typing import TYPE_CHECKING, Any

from ...errors import SchemaError

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt
    from llama_cpp import Llama


def grammar_sampler(llama: Llama, gbnf: str) -> Any:
    """llama.cpp's grammar sampler for ``gbnf`` (start rule ``root``)."""
    import llama_cpp

    sampler = llama_cpp.llama_sampler_init_grammar(
        llama._model.vocab, gbnf.encode("utf-8"), b"root"
    )
    if not sampler:
        raise SchemaError("llama.cpp rejected the grammar built from the schema")
    return sampler


def clone_sampler(sampler: Any) -> Any:
    import llama_cpp

    return llama_cpp.llama_sampler_clone(sampler)


def free_sampler(sampler: Any) -> None:
    import llama_cpp

    llama_cpp.llama_sampler_free(sampler)


def is_end(llama: Llama, token: int) -> bool:
    """Whether ``token`` ends a generation (end of turn, end of text)."""
    import llama_cpp

    return bool(llama_cpp.llama_vocab_is_eog(llama._model.vocab, token))


def last_logits(llama: Llama) -> npt.NDArray[np.float32]:
    """The logits after the last evaluated token (a view, valid until the next eval)."""
    import llama_cpp
    import numpy as np

    pointer = llama_cpp.llama_get_logits_ith(llama._ctx.ctx, -1)
    return np.ctypeslib.as_array(pointer, shape=(llama.n_vocab(),))


def cached_tokens(llama: Llama) -> list[int]:
    """The tokens whose state the context holds (from the previous generation)."""
    return [int(t) for t in llama.input_ids[: llama.n_tokens]]


class GrammarMatcher:
    """llama.cpp's grammar engine over a model's vocabulary: which token may come next.

    Wraps one grammar sampler (owned: :meth:`close` frees it).
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


__all__ = [
    "GrammarMatcher",
    "cached_tokens",
    "clone_sampler",
    "free_sampler",
    "grammar_sampler",
    "is_end",
    "last_logits",
]
