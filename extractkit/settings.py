"""Settings and how they resolve: call > decorator > environment > defaults.

Environment variables read:

``EXTRACTKIT_MODEL``
    model name when none is given.
``EXTRACTKIT_ENDPOINT``
    endpoint profile (``openai``, ``llamacpp``, ``vllm``, ``ollama``, ``generic``...,
    see ``extractkit/provider_profiles.toml``), or ``auto``: ask the server
    (:mod:`extractkit.detect`).
``OPENAI_BASE_URL`` / ``OPENAI_API_KEY``
    a remote endpoint; when neither is set (and no client is given) the
    embedded local model is used.
``EXTRACTKIT_LOCAL_MODEL``
    path of a GGUF file to use instead of the bundled model.

The environment is read in this module only: :meth:`Settings.resolve` turns
settings + environment + defaults into one :class:`Resolved` value (where
requests go, with which :class:`~extractkit.profiles.Profile`, which model,
which budgets), computed once per engine and used by the engine and the
backend factory alike.

Two budgets, not to be confused:

``max_retries``
    validation re-asks: how many times an invalid answer is sent back to the
    model with its errors (default 2).
``transport_retries``
    retries of one request after a transport failure (429, 5xx, timeout,
    dropped connection or cut stream), with backoff (default 5). The
    ``openai`` client's own ``max_retries`` is switched off on the copy
    extractkit uses, so this is the only transport budget.

And one deadline: ``timeout`` is the seconds one extraction may take, every
transport retry, backoff and re-ask included (default 600, i.e. the ``openai``
SDK's own per-request default; ``math.inf`` for none). Every read waits at
most what is left, and the call is cut there even if the server keeps
trickling bytes (:class:`~extractkit.errors.DeadlineError`), with or without an
explicit ``timeout=`` (see :mod:`extractkit.drivers.send`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .detect import resolve_auto
from .errors import ConfigurationError
from .events import Hook, hooks_of
from .grounding.policy import DEFAULT_GROUNDING, GROUNDING_MODES
from .profiles import Profile, get_profile, profile_for_base_url

if TYPE_CHECKING:
    from .endpoints.breaker import BreakerPolicy
    from .endpoints.endpoint import Endpoint

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
    }
)

DEFAULT_MAX_RETRIES = 2
DEFAULT_TRANSPORT_RETRIES = 5
#: seconds for one whole extraction (retries and re-asks included)
DEFAULT_TIMEOUT = 600.0
DEFAULT_MODE = "auto"
DEFAULT_MODERATION_MODEL = "omni-moderation-latest"
MODERATION_MODES = ("off", "input", "output", "both")
LOCAL_MODEL_NAME = "smollm2-135m-instruct"
NO_MODEL = "no model given: pass model=... (or --model) or set EXTRACTKIT_MODEL"


@dataclass(frozen=True)
class Settings:
    """Everything that configures an extraction. ``None`` means "not set here"."""

    client: Any = None
    model: str | None = None
    mode: str | None = None
    #: an endpoint profile (a registered name or a :class:`Profile`, registered or not),
    #: or an :class:`~extractkit.endpoints.Endpoint` (URL, model, key variable, profile...)
    endpoint: str | Profile | Endpoint | None = None
    base_url: str | None = None
    api_key: str | None = field(default=None, repr=False)
    max_retries: int | None = None
    transport_retries: int | None = None
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
    #: ask each top-level field only of the document's start and its N most relevant
    #: chunks (evidence ranking, extractkit.documents.evidence); 0 or None: every chunk
    focus: int | None = None
    # -- grounding (see extractkit.grounding) --
    #: ``"off"``, ``"check"`` (default) or ``"require"``
    grounding: str | None = None
    #: names of the template variables that hold documents (default: ``text``)
    documents: tuple[str, ...] | None = None
    #: schema-aligned coercion of answers that fail validation (see extractkit.coerce)
    coerce: bool | None = None
    #: seconds for one whole extraction, retries and re-asks included (see module docstring)
    timeout: float | None = None
    # -- observability (docs/observability.md) --
    #: hooks called with every event of an extraction (extractkit.events); given as one
    #: callable or a sequence, kept as a tuple
    on_event: tuple[Hook, ...] | None = field(default=None, repr=False)
    #: OpenTelemetry spans (extractkit.tracing): ``True`` on, ``False`` off, ``None``
    #: on when a tracer provider is configured
    tracing: bool | None = None
    # -- moderation (see extractkit.moderation) --
    #: ``"off"`` (default), ``"input"``, ``"output"`` or ``"both"``
    moderation: str | None = None
    #: the model of ``moderations.create`` (default ``omni-moderation-latest``)
    moderation_model: str | None = None
    # -- named endpoints, fallback and routing (see extractkit.endpoints) --
    #: an endpoint of the config file, by name (``--endpoint-name``)
    endpoint_name: str | None = None
    #: the config file (``--config``); default: ./extractkit.toml or ./pyproject.toml
    config: str | Path | None = None
    #: endpoints (names or :class:`~extractkit.endpoints.Endpoint`) tried in order when one fails
    fallback: tuple[str | Endpoint, ...] | None = None
    #: ``"order"`` (default), ``"cheapest"`` or ``"weighted"``
    routing: str | None = None
    #: the next endpoint of a chain also sees the last invalid answer and its errors
    escalate_with_errors: bool | None = None
    #: when an endpoint's circuit breaker opens (consecutive failures, cool-down)
    breaker: BreakerPolicy | None = None
    # -- spending limits of a batch (extractkit.spend) and prices (extractkit.pricing) --
    #: US dollars a ``map`` batch may spend; it stops before an input that would pass it
    max_cost: float | None = None
    #: prompt + completion tokens a ``map`` batch may spend (same rule as ``max_cost``)
    max_tokens_total: int | None = None
    #: the price table: a ``PriceTable``, a JSON file's path, or model → ``Price`` mapping
    prices: Any = None

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
        _check_grounding(values)
        for budget in ("max_retries", "transport_retries"):
            retries = values.get(budget)
            if retries is not None and (
                not isinstance(retries, int) or isinstance(retries, bool) or retries < 0
            ):
                raise ConfigurationError(f"{budget} must be a non-negative integer, got {retries!r}")
        timeout = values.get("timeout")
        if timeout is not None and (
            not isinstance(timeout, (int, float)) or isinstance(timeout, bool)
            or not timeout > 0
        ):
            raise ConfigurationError(
                f"timeout must be a positive number of seconds (math.inf for none), got {timeout!r}")
        endpoint = values.get("endpoint")
        if endpoint is not None and not isinstance(endpoint, (str, Profile)):
            from .endpoints.endpoint import Endpoint

            if not isinstance(endpoint, Endpoint):
                raise ConfigurationError(
                    "endpoint must be a profile name, an extractkit.Profile or an "
                    f"extractkit.Endpoint, got {type(endpoint).__name__}"
                )
        _check_document_settings(values)
        _check_observability(values)
        _check_moderation(values)
        if any(values.get(k) is not None for k in _ENDPOINT_SETTINGS):
            from .endpoints.chain import check_settings

            check_settings(values)
        from .spend import check_limits

        check_limits(values.get("max_cost"), values.get("max_tokens_total"))
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
    def resolved_grounding(self) -> str:
        return self.grounding or DEFAULT_GROUNDING

    @property
    def resolved_max_retries(self) -> int:
        return DEFAULT_MAX_RETRIES if self.max_retries is None else self.max_retries

    @property
    def resolved_coerce(self) -> bool:
        return True if self.coerce is None else bool(self.coerce)

    @property
    def resolved_transport_retries(self) -> int:
        if self.transport_retries is None:
            return DEFAULT_TRANSPORT_RETRIES
        return self.transport_retries

    @property
    def resolved_timeout(self) -> float:
        return DEFAULT_TIMEOUT if self.timeout is None else float(self.timeout)

    @property
    def resolved_endpoint(self) -> str | Profile | None:
        """The endpoint *profile* (an :class:`Endpoint` object's own profile)."""
        endpoint = self.endpoint
        if endpoint is not None and not isinstance(endpoint, (str, Profile)):
            endpoint = endpoint.profile
        return endpoint or os.environ.get("EXTRACTKIT_ENDPOINT") or None

    def uses_local(self) -> bool:
        """Local model unless a client, a base URL or an API key points elsewhere."""
        if self._names_endpoint():
            return self._applied().uses_local()
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
        if self._names_endpoint():
            return self._applied().resolved_model()
        model = self._model_or_none(self.uses_local())
        if model is None:
            raise ConfigurationError(NO_MODEL)
        return model

    def _model_or_none(self, local: bool) -> str | None:
        model = self.model or os.environ.get("EXTRACTKIT_MODEL")
        if model:
            return model
        default = getattr(self.client, "default_model", None)  # e.g. extractkit.testing doubles
        if isinstance(default, str) and default:
            return default
        return LOCAL_MODEL_NAME if local else None

    def configured(self) -> Settings:
        """These settings with the config file applied: ``endpoint_name`` (or the file's
        ``default``) becomes ``endpoint``, fallback names become
        :class:`~extractkit.endpoints.Endpoint` objects, the file's chain defaults fill
        in what is not set. Without a config file, a name, or a fallback: ``self``."""
        if self.config is None and self.endpoint_name is None and not self.fallback:
            return self
        from .endpoints.chain import apply_config

        return apply_config(self)

    def _names_endpoint(self) -> bool:
        return (self.config is not None or self.endpoint_name is not None
                or not (self.endpoint is None or isinstance(self.endpoint, (str, Profile))))

    def _applied(self) -> Settings:
        """:meth:`configured`, then the :class:`Endpoint`'s own values under these."""
        settings = self.configured()
        endpoint = settings.endpoint
        if endpoint is None or isinstance(endpoint, (str, Profile)):
            return settings
        return settings._over_endpoint(endpoint)

    def resolve(self) -> Resolved:
        """These settings with the environment and defaults applied (see :class:`Resolved`)."""
        settings = self.configured()
        from_endpoint = settings.endpoint
        if from_endpoint is None or isinstance(from_endpoint, (str, Profile)):
            return settings._resolve()
        return replace(settings._over_endpoint(from_endpoint)._resolve(),
                       endpoint_name=from_endpoint.name)

    def _over_endpoint(self, endpoint: Endpoint) -> Settings:
        """An :class:`Endpoint`'s values under these settings (set values win); its key
        is read from the environment variable it names."""
        key = None
        if endpoint.api_key_env is not None:
            key = os.environ.get(endpoint.api_key_env) or None
            if key is None:
                raise ConfigurationError(
                    f"endpoint {endpoint.name!r}: the environment variable "
                    f"{endpoint.api_key_env} (its API key, api_key_env) is not set")
        local = endpoint.local
        own = Settings(
            base_url=endpoint.base_url, model=endpoint.model, api_key=key,
            endpoint=None if local else endpoint.profile,
            local=True if local else (False if endpoint.base_url or key else None),
            context_window=endpoint.context_window,
        )
        return replace(self, endpoint=None).over(own)

    def _resolve(self) -> Resolved:
        client = self.client
        # local=True (--local) wins over the environment: $EXTRACTKIT_ENDPOINT and
        # $OPENAI_BASE_URL are ignored; only an explicit endpoint= conflicts with it
        endpoint = self.endpoint if self.local else self.resolved_endpoint
        assert endpoint is None or isinstance(endpoint, (str, Profile))  # applied by resolve()
        local = self.uses_local()
        if local and self.local and endpoint not in (None, "local") and not (
            isinstance(endpoint, Profile) and endpoint.name == "local"
        ):
            raise ConfigurationError(
                f"local=True uses the embedded model; it cannot also use endpoint={endpoint!r}"
            )
        named = self.model or os.environ.get("EXTRACTKIT_MODEL")
        if local and not self.local and named and named != LOCAL_MODEL_NAME:
            raise ConfigurationError(
                f"model {named!r} is a remote model, but no endpoint is configured: set "
                "OPENAI_API_KEY (and OPENAI_BASE_URL for a non-OpenAI server), or pass "
                "--base-url/base_url= or a client; to run the embedded local model instead, "
                "leave the model unset or pass --local (local=True)"
            )
        base_url = None if client is not None else (
            self.base_url or os.environ.get("OPENAI_BASE_URL") or None
        )
        api_key = None if client is not None else (
            self.api_key or os.environ.get("OPENAI_API_KEY") or None
        )
        profile = _profile(client, endpoint, local=local, base_url=base_url,
                           api_key=api_key, timeout=self.resolved_timeout)
        moderation = self.moderation or "off"
        if moderation != "off":
            from .moderation import check_endpoint

            check_endpoint(profile, local=local)
        return Resolved(
            client=client,
            local=local,
            local_by_default=local and not self.local,
            base_url=base_url,
            api_key=api_key,
            profile=profile,
            model=self._model_or_none(local),
            mode=self.resolved_mode,
            max_retries=self.resolved_max_retries,
            transport_retries=self.resolved_transport_retries,
            coerce=self.resolved_coerce,
            timeout=self.resolved_timeout,
            moderation=moderation,
            moderation_model=self.moderation_model or DEFAULT_MODERATION_MODEL,
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


def _check_grounding(values: dict[str, Any]) -> None:
    mode = values.get("grounding")
    if mode is not None and mode not in GROUNDING_MODES:
        raise ConfigurationError(
            f"unknown grounding mode {mode!r}; choose one of: {', '.join(GROUNDING_MODES)}"
        )
    docs = values.get("documents")
    if docs is None:
        return
    names = (docs,) if isinstance(docs, str) else tuple(docs)
    if not names or not all(isinstance(n, str) and n for n in names):
        raise ConfigurationError(
            "documents must name one or more template variables, e.g. documents=('contract',)"
        )
    values["documents"] = names


def _check_observability(values: dict[str, Any]) -> None:
    if values.get("on_event") is not None:
        values["on_event"] = hooks_of(values["on_event"])
    tracing = values.get("tracing")
    if tracing is not None and not isinstance(tracing, bool):
        raise ConfigurationError(f"tracing must be True, False or None, got {tracing!r}")


def _profile(
    client: Any, endpoint: str | Profile | None, *, local: bool, base_url: str | None,
    api_key: str | None = None, timeout: float | None = None,
) -> Profile:
    """The one rule for which profile describes the endpoint (no model loaded).

    ``endpoint="auto"`` asks the server (:mod:`extractkit.detect`: once per base URL,
    cached; the only I/O here). With no ``endpoint=``: no URL means OpenAI, a host
    named in the profiles data file gets its profile, any other host ``generic``.
    """
    if client is not None:
        own = getattr(client, "profile", None)  # a backend object says what it is
        if endpoint in (None, "auto") and isinstance(own, (str, Profile)):
            return get_profile(own)
        base_url = str(getattr(client, "base_url", "") or "") or None
        key = getattr(client, "api_key", None)
        api_key = key if isinstance(key, str) else None
    elif local:
        return get_profile("local")
    if endpoint == "auto":
        return get_profile(resolve_auto(base_url, api_key, timeout=timeout))
    if endpoint is not None:
        return get_profile(endpoint)
    return profile_for_base_url(base_url)


@dataclass(frozen=True)
class Resolved:
    """Settings + environment + defaults, resolved once (:meth:`Settings.resolve`).

    ``client`` is the client or backend given, else ``None``; ``local`` says
    the embedded model answers (``local_by_default``: because nothing else was
    configured, which is announced once on stderr); ``base_url``/``api_key`` are the remote
    endpoint when no client was given. ``profile`` is what the endpoint
    accepts; ``model`` is ``None`` when nothing names one (an error once a
    request is built).
    """

    client: Any
    local: bool
    local_by_default: bool
    base_url: str | None
    api_key: str | None = field(repr=False)
    profile: Profile
    model: str | None
    mode: str
    max_retries: int
    transport_retries: int
    #: schema-aligned coercion of invalid answers (extractkit.coerce), on by default
    coerce: bool = True
    #: seconds for one whole extraction (``DEFAULT_TIMEOUT``; ``math.inf``: none)
    timeout: float = DEFAULT_TIMEOUT
    #: what goes through the endpoint's moderation API first (extractkit.moderation)
    moderation: str = "off"
    moderation_model: str = DEFAULT_MODERATION_MODEL
    #: the name of the :class:`~extractkit.endpoints.Endpoint` answering (``None``: unnamed)
    endpoint_name: str | None = None


#: settings checked by :func:`extractkit.endpoints.chain.check_settings`
_ENDPOINT_SETTINGS = ("endpoint_name", "config", "fallback", "routing", "escalate_with_errors",
                      "breaker")


CHUNKING_MODES = ("auto", "on", "off")


def _check_document_settings(values: Mapping[str, Any]) -> None:
    chunking = values.get("chunking")
    if chunking is not None and chunking not in CHUNKING_MODES:
        raise ConfigurationError(
            f"chunking must be one of {', '.join(CHUNKING_MODES)}, got {chunking!r}"
        )
    for name, low in (("chunk_tokens", 1), ("overlap_tokens", 0), ("passes", 1),
                      ("context_window", 1), ("focus", 0)):
        value = values.get(name)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool)
                                  or value < low):
            raise ConfigurationError(f"{name} must be an integer >= {low}, got {value!r}")


def _check_moderation(values: Mapping[str, Any]) -> None:
    mode = values.get("moderation")
    if mode is not None and mode not in MODERATION_MODES:
        raise ConfigurationError(
            f"moderation must be one of {', '.join(MODERATION_MODES)}, got {mode!r}"
        )
    model = values.get("moderation_model")
    if model is not None and not (isinstance(model, str) and model.strip()):
        raise ConfigurationError(f"moderation_model must be a model name, got {model!r}")
