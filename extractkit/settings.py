"""Settings and how they resolve: call > decorator > environment > defaults.

Environment variables read:

``EXTRACTKIT_MODEL``
    model name when none is given.
``EXTRACTKIT_ENDPOINT``
    endpoint profile (``openai``, ``llamacpp``, ``vllm``, ``ollama``, ``generic``).
``OPENAI_BASE_URL`` / ``OPENAI_API_KEY``
    a remote endpoint; when neither is set (and no client is given) the
    embedded local model is used.
``EXTRACTKIT_LOCAL_MODEL``
    path of a GGUF file to use instead of the bundled model.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from .errors import ConfigurationError

#: Request parameters passed through to ``chat.completions.create`` unchanged.
GENERATION_PARAMS = frozenset(
    {
        "temperature",
        "top_p",
        "max_tokens",
        "max_completion_tokens",
        "seed",
        "stop",
        "n",
        "presence_penalty",
        "frequency_penalty",
        "logit_bias",
        "logprobs",
        "top_logprobs",
        "user",
        "metadata",
        "store",
        "service_tier",
        "reasoning_effort",
        "parallel_tool_calls",
        "extra_body",
        "extra_headers",
        "extra_query",
        "timeout",
    }
)

DEFAULT_MAX_RETRIES = 2
DEFAULT_MODE = "auto"
LOCAL_MODEL_NAME = "smollm2-135m-instruct"


@dataclass(frozen=True)
class Settings:
    """Everything that configures an extraction. ``None`` means "not set here"."""

    client: Any = None
    model: str | None = None
    mode: str | None = None
    endpoint: str | None = None
    base_url: str | None = None
    api_key: str | None = field(default=None, repr=False)
    max_retries: int | None = None
    local: bool | None = None
    prompt: str | Path | None = None
    prompts_dir: str | Path | tuple[str | Path, ...] | None = None
    params: Mapping[str, Any] = field(default_factory=dict)
    # -- long documents (extractkit.documents.run) --
    #: ``"auto"`` (chunk when the prompt would not fit), ``"on"`` (always), ``"off"``
    chunking: str | None = None
    chunk_tokens: int | None = None
    overlap_tokens: int | None = None
    passes: int | None = None
    #: overrides the endpoint profile's ``context_window``
    context_window: int | None = None
    #: give each chunk after the first a short excerpt of the document's start
    document_context: bool | None = None

    @classmethod
    def of(cls, **kwargs: Any) -> Settings:
        """Build from keyword arguments; unknown names must be generation parameters."""
        known = {f.name for f in fields(cls)}
        params = dict(kwargs.pop("params", None) or {})
        values: dict[str, Any] = {}
        for key, value in kwargs.items():
            if key in known:
                values[key] = value
            elif key in GENERATION_PARAMS:
                if value is not None:
                    params[key] = value
            else:
                raise ConfigurationError(
                    f"unknown setting {key!r}; settings are {', '.join(sorted(known - {'params'}))} "
                    f"and the request parameters {', '.join(sorted(GENERATION_PARAMS))}"
                )
        retries = values.get("max_retries")
        if retries is not None and (not isinstance(retries, int) or retries < 0):
            raise ConfigurationError("max_retries must be a non-negative integer")
        _check_document_settings(values)
        return cls(params=params, **values)

    def over(self, base: Settings) -> Settings:
        """These settings on top of ``base`` (set values win; params merge)."""
        changes: dict[str, Any] = {}
        for f in fields(self):
            if f.name == "params":
                continue
            value = getattr(self, f.name)
            if value is not None:
                changes[f.name] = value
        merged = replace(base, **changes)
        if self.params:
            merged = replace(merged, params={**base.params, **self.params})
        return merged

    # -- resolved values --------------------------------------------------

    @property
    def resolved_mode(self) -> str:
        return self.mode or DEFAULT_MODE

    @property
    def resolved_max_retries(self) -> int:
        return DEFAULT_MAX_RETRIES if self.max_retries is None else self.max_retries

    @property
    def resolved_endpoint(self) -> str | None:
        return self.endpoint or os.environ.get("EXTRACTKIT_ENDPOINT") or None

    def uses_local(self) -> bool:
        """Local model unless a client, a base URL or an API key points elsewhere."""
        if self.local:
            return True
        if self.client is not None or self.local is False:
            return False
        return not (
            self.base_url
            or self.api_key
            or os.environ.get("OPENAI_BASE_URL")
            or os.environ.get("OPENAI_API_KEY")
        )

    def resolved_model(self) -> str:
        model = self.model or os.environ.get("EXTRACTKIT_MODEL")
        if model:
            return model
        default = getattr(self.client, "default_model", None)  # e.g. extractkit.testing doubles
        if isinstance(default, str) and default:
            return default
        if self.uses_local():
            return LOCAL_MODEL_NAME
        raise ConfigurationError(
            "no model given: pass model=... (or --model) or set EXTRACTKIT_MODEL"
        )

    @property
    def resolved_chunking(self) -> str:
        return self.chunking or "auto"

    @property
    def resolved_passes(self) -> int:
        return self.passes or 1

    def prompt_dirs(self) -> tuple[str | Path, ...]:
        if self.prompts_dir is None:
            return ()
        if isinstance(self.prompts_dir, (str, Path)):
            return (self.prompts_dir,)
        return tuple(self.prompts_dir)



CHUNKING_MODES = ("auto", "on", "off")


def _check_document_settings(values: Mapping[str, Any]) -> None:
    chunking = values.get("chunking")
    if chunking is not None and chunking not in CHUNKING_MODES:
        raise ConfigurationError(
            f"chunking must be one of {', '.join(CHUNKING_MODES)}, got {chunking!r}"
        )
    for name, low in (("chunk_tokens", 1), ("overlap_tokens", 0), ("passes", 1),
                      ("context_window", 1)):
        value = values.get(name)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool)
                                  or value < low):
            raise ConfigurationError(f"{name} must be an integer >= {low}, got {value!r}")
