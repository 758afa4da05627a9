"""Endpoint profiles: what each kind of OpenAI-compatible endpoint accepts.

Capabilities are data. The rest of the code asks a :class:`Profile`; it never
tests an endpoint's name. The providers' profiles live in a data file,
``provider_profiles.toml`` (:data:`PROFILES_FILE`), each with a link to the
documentation it was taken from, the host names that identify it and the
signatures ``endpoint="auto"`` recognizes it by (:mod:`extractkit.detect`).
Add a profile for a new kind of endpoint with :func:`register_profile`.
"""

from __future__ import annotations

import fnmatch
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from .errors import ConfigurationError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

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
    #: the documentation page the capabilities were taken from (not part of equality)
    docs: str = field(default="", compare=False)
    #: caveats: what depends on the model, what was not confirmed (not part of equality)
    notes: str = field(default="", compare=False)

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


# -- profiles as data (provider_profiles.toml) ------------------------------------

#: the bundled data file: every provider profile, with its documentation link
PROFILES_FILE = Path(__file__).with_name("provider_profiles.toml")

#: what ``endpoint="auto"`` resolves to when the server kind is not recognized
FALLBACK_PROFILE = "generic"


@dataclass(frozen=True)
class Signature:
    """One way of recognizing a server kind (``endpoint="auto"``, :mod:`extractkit.detect`).

    Either ``owned_by`` values in the answer of ``GET <base_url>/models``, or a
    ``probe``: a GET at the server root whose JSON answer has every dotted path
    of ``expect``, each value containing its substring (``""``: any value).
    """

    profile: str
    owned_by: tuple[str, ...] = ()
    probe: str | None = None
    expect: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Catalogue:
    """What a profiles data file holds (see :func:`load_profiles`)."""

    profiles: tuple[Profile, ...]
    #: (host-name pattern, profile name), in file order
    hosts: tuple[tuple[str, str], ...]
    signatures: tuple[Signature, ...]
    #: OpenAI's strict-mode size limits (``[strict_limits]``), for the strict encoder
    strict_limits: Mapping[str, int]


_PROFILE_KEYS = frozenset({f.name for f in fields(Profile)} | {"hosts", "detect"})
_DETECT_KEYS = frozenset({"owned_by", "probe", "expect"})
_LIMIT_KEYS = frozenset({"docs", "max_depth", "max_properties", "max_enum_values",
                         "max_string_chars", "large_enum", "large_enum_chars"})


def _unknown(where: str, table: Mapping[str, Any], known: frozenset[str]) -> None:
    extra = sorted(set(table) - known)
    if extra:
        raise ConfigurationError(
            f"{where}: unknown key {extra[0]!r}; known keys: {', '.join(sorted(known))}")


def _strings(where: str, key: str, value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ConfigurationError(f"{where}: {key} must be a list of non-empty strings")
    return tuple(value)


def _signature(where: str, name: str, table: Any) -> Signature:
    if not isinstance(table, dict):
        raise ConfigurationError(f"{where}: each [[profile.detect]] must be a table")
    _unknown(where, table, _DETECT_KEYS)
    owned_by = _strings(where, "owned_by", table["owned_by"]) if "owned_by" in table else ()
    probe = table.get("probe")
    expect = table.get("expect", {})
    if probe is not None and (not isinstance(probe, str) or not probe.startswith("/")):
        raise ConfigurationError(f"{where}: probe must be a path starting with '/'")
    if not isinstance(expect, dict) or not all(isinstance(v, str) for v in expect.values()):
        raise ConfigurationError(f"{where}: expect must map dotted paths to substrings")
    if bool(owned_by) == (probe is not None) or (probe is not None and not expect):
        raise ConfigurationError(
            f"{where}: a detect signature has either owned_by, or a probe with expect")
    return Signature(name, owned_by, probe, tuple(sorted(expect.items())))


_BOOL_KEYS = frozenset({"strict_schema", "json_object_schema", "supports_n",
                        "extractive_decoding", "moderation"})
_STR_KEYS = frozenset({"name", "max_tokens_param", "length_policy", "description", "docs",
                       "notes"})


def _check_types(where: str, values: Mapping[str, Any]) -> None:
    for key, value in values.items():
        if key in _BOOL_KEYS and not isinstance(value, bool):
            raise ConfigurationError(f"{where}: {key} must be true or false, got {value!r}")
        if key in _STR_KEYS and not isinstance(value, str):
            raise ConfigurationError(f"{where}: {key} must be a string, got {value!r}")
        if key == "context_window" and (
                not isinstance(value, int) or isinstance(value, bool) or value < 1):
            raise ConfigurationError(f"{where}: context_window must be a positive integer")


def load_profiles(path: str | Path = PROFILES_FILE) -> Catalogue:
    """Read a profiles data file (TOML, the format of :data:`PROFILES_FILE`).

    Unknown keys and wrong types are a :class:`ConfigurationError` naming the file,
    the profile and the key. Nothing is registered: see :func:`register_profile`.
    """
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigurationError(f"{path}: cannot read profiles: {exc}") from None
    _unknown(str(path), data, frozenset({"profile", "strict_limits"}))
    limits = data.get("strict_limits", {})
    _unknown(f"{path} [strict_limits]", limits, _LIMIT_KEYS)
    bad = [k for k, v in limits.items() if k != "docs" and (
        not isinstance(v, int) or isinstance(v, bool) or v < 1)]
    if bad:
        raise ConfigurationError(f"{path} [strict_limits]: {bad[0]} must be a positive integer")
    profiles: list[Profile] = []
    hosts: list[tuple[str, str]] = []
    signatures: list[Signature] = []
    for index, table in enumerate(data.get("profile", [])):
        name = table.get("name") if isinstance(table, dict) else None
        where = f"{path}: profile {name!r}" if name else f"{path}: profile #{index + 1}"
        if not isinstance(name, str) or not name:
            raise ConfigurationError(f"{where}: every [[profile]] needs a name")
        _unknown(where, table, _PROFILE_KEYS)
        values = {k: v for k, v in table.items() if k not in ("hosts", "detect")}
        _check_types(where, values)
        if "modes" in values:
            values["modes"] = tuple(_strings(where, "modes", values["modes"]))
        try:
            profiles.append(Profile(**values))
        except TypeError as exc:  # a missing required field
            raise ConfigurationError(f"{where}: {exc}") from None
        hosts.extend((h.lower(), name) for h in _strings(where, "hosts", table.get("hosts", [])))
        detect = table.get("detect", [])
        if not isinstance(detect, list):
            raise ConfigurationError(f"{where}: detect must be a list of [[profile.detect]] tables")
        signatures.extend(_signature(where, name, d) for d in detect)
    return Catalogue(tuple(profiles), tuple(hosts), tuple(signatures),
                     {k: v for k, v in limits.items() if k != "docs"})


CATALOGUE = load_profiles()
for _loaded in CATALOGUE.profiles:
    register_profile(_loaded)
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
    if name == "auto":
        raise ConfigurationError(
            "endpoint 'auto' is not a profile: it is detected from the server at the base "
            "URL when settings are resolved (extractkit.detect); pass a base URL or a client"
        )
    try:
        return _PROFILES[name]
    except KeyError:
        raise ConfigurationError(
            f"unknown endpoint profile {name!r}; known: {', '.join(sorted(_PROFILES))}"
        ) from None


def profile_names() -> list[str]:
    return sorted(_PROFILES)


def profile_by_host(base_url: str | None) -> Profile | None:
    """The profile whose host pattern (``hosts`` in the data file) matches the URL, if any."""
    host = (urlparse(str(base_url or "")).hostname or "").lower()
    if not host:
        return None
    for pattern, name in CATALOGUE.hosts:
        if fnmatch.fnmatchcase(host, pattern):
            return _PROFILES.get(name)
    return None


def profile_for_base_url(base_url: str | None) -> Profile:
    """Guess the profile from an endpoint URL, by host name: no URL means OpenAI's own
    API; a host listed in the data file gets its profile; any other host ``generic``.

    This does no I/O. ``endpoint="auto"`` asks the server instead (:mod:`extractkit.detect`).
    """
    if not base_url:
        return _PROFILES["openai"]
    return profile_by_host(base_url) or _PROFILES[FALLBACK_PROFILE]
