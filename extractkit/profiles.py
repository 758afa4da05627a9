"""Endpoint profiles: what each kind of OpenAI-compatible endpoint accepts.

Capabilities are data. The rest of the code asks a :class:`Profile`; it never
tests an endpoint's name. Add a profile for a new kind of endpoint with
:func:`register_profile`.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlparse

from .errors import ConfigurationError

#: Every mode, strongest first.
MODES: tuple[str, ...] = ("json_schema", "tools", "json_object", "md_json")


@dataclass(frozen=True)
class Profile:
    """What an endpoint accepts.

    ``modes`` lists the supported modes, preferred first: ``auto`` picks the
    first one. ``strict_schema`` says whether ``json_schema`` and ``tools``
    go out as OpenAI *strict* schemas (the wire schema is then re-encoded to
    the strict subset); otherwise the original schema is sent as is.
    ``json_object_schema`` says the endpoint takes
    ``{"type": "json_object", "schema": ...}`` and constrains output to it.
    ``max_tokens_param`` is the name the endpoint expects for the output limit.
    ``length_policy`` says what an answer cut off at the token limit leads to:
    ``"raise"`` for remote endpoints (re-asking with the same limit fails the
    same way), ``"reask"`` for the embedded model, whose guard stops
    degenerate generations early.
    """

    name: str
    modes: tuple[str, ...]
    strict_schema: bool = False
    json_object_schema: bool = False
    supports_n: bool = True
    max_tokens_param: str = "max_tokens"
    #: what a ``finish_reason == "length"`` answer leads to: ``"raise"``
    #: (:class:`~extractkit.errors.IncompleteOutputError`) or ``"reask"``
    length_policy: str = "raise"
    #: prompt + answer tokens the endpoint holds, when known (``None``: unknown;
    #: long documents are then chunked only when ``chunk_tokens`` is set)
    context_window: int | None = None
    #: with ``grounding="require"``, requests carry the documents
    #: (``extra_body={"extractkit_documents": [...]}``) and the backend
    #: constrains grounded strings to substrings of them
    extractive_decoding: bool = False
    #: the endpoint answers ``POST /moderations`` (``client.moderations.create``):
    #: ``moderation=`` other than ``"off"`` needs it (see :mod:`extractkit.moderation`)
    moderation: bool = False
    description: str = ""

    def __post_init__(self) -> None:
        # a profile is a cache key (plans are compiled per profile): keep it hashable
        modes = tuple(self.modes) if not isinstance(self.modes, str) else (self.modes,)
        object.__setattr__(self, "modes", modes)
        unknown = [m for m in modes if m not in MODES]
        if not modes or unknown:
            raise ConfigurationError(
                f"profile {self.name!r}: modes must be a non-empty list of "
                f"{', '.join(MODES)}; got {list(self.modes)!r}"
            )
        if self.length_policy not in ("raise", "reask"):
            raise ConfigurationError(
                f"profile {self.name!r}: length_policy must be 'raise' or 'reask', "
                f"got {self.length_policy!r}"
            )

    def resolve_mode(self, mode: str) -> str:
        """``auto`` → the strongest supported mode; an unsupported mode → error."""
        if mode == "auto":
            return self.modes[0]
        if mode not in MODES:
            raise ConfigurationError(
                f"unknown mode {mode!r}; choose one of: auto, {', '.join(MODES)}"
            )
        if mode not in self.modes:
            raise ConfigurationError(
                f"endpoint profile {self.name!r} does not support mode {mode!r} "
                f"(supported: {', '.join(self.modes)}); pick one of those or another profile"
            )
        return mode


_PROFILES: dict[str, Profile] = {}


def register_profile(profile: Profile) -> Profile:
    """Add or replace a profile by name."""
    _PROFILES[profile.name] = profile
    return profile


register_profile(
    Profile(
        "openai",
        modes=("json_schema", "tools", "json_object", "md_json"),
        strict_schema=True,
        max_tokens_param="max_completion_tokens",
        moderation=True,
        description="OpenAI API: strict Structured Outputs and strict tools.",
    )
)
register_profile(
    Profile(
        "llamacpp",
        modes=("json_object", "tools", "md_json"),
        json_object_schema=True,
        description=(
            "llama.cpp / llama-cpp-python servers: grammar-constrained "
            '{"type": "json_object", "schema": ...}; rejects "json_schema". '
            "Tools need a function-calling chat format on the server."
        ),
    )
)
register_profile(
    Profile(
        "vllm",
        modes=("json_schema", "tools", "json_object", "md_json"),
        description="vLLM: guided decoding from the full JSON Schema (non-strict).",
    )
)
register_profile(
    Profile(
        "ollama",
        modes=("json_schema", "tools", "json_object", "md_json"),
        description="Ollama's OpenAI-compatible API: json_schema via its format option.",
    )
)
register_profile(
    Profile(
        "generic",
        modes=("json_schema", "tools", "json_object", "md_json"),
        description="Any other OpenAI-compatible endpoint (gateways): non-strict schemas.",
    )
)
register_profile(
    Profile(
        "local",
        modes=("json_object", "tools", "md_json"),
        json_object_schema=True,
        length_policy="reask",
        context_window=4096,
        extractive_decoding=True,
        description="The embedded llama-cpp-python model: grammar from the schema.",
    )
)


def get_profile(name: str | Profile) -> Profile:
    if isinstance(name, Profile):
        return name
    try:
        return _PROFILES[name]
    except KeyError:
        raise ConfigurationError(
            f"unknown endpoint profile {name!r}; known: {', '.join(sorted(_PROFILES))}"
        ) from None


def profile_names() -> list[str]:
    return sorted(_PROFILES)


def profile_for_base_url(base_url: str | None) -> Profile:
    """Guess the profile from an endpoint URL: OpenAI's own host, else generic.

    Pass ``endpoint=`` explicitly for llama.cpp, vLLM or Ollama servers.
    """
    if not base_url:
        return _PROFILES["openai"]
    host = urlparse(str(base_url)).hostname or ""
    if host == "api.openai.com" or host.endswith(".openai.azure.com"):
        return _PROFILES["openai"]
    return _PROFILES["generic"]
