"""Named endpoints from a config file: ``extractkit.toml`` or ``[tool.extractkit]``.

::

    # extractkit.toml (or the same under [tool.extractkit] in pyproject.toml)
    default = "cheap"                 # the endpoint used when none is named
    fallback = ["strong"]             # tried in order when it fails
    routing = "order"                 # or "cheapest", "weighted"
    escalate_with_errors = true

    [breaker]
    failures = 5                      # consecutive failures that open it
    cooldown = 30                     # seconds it stays open

    [endpoints.cheap]
    base_url = "http://localhost:8080/v1"
    model = "qwen2.5-7b-instruct"
    api_key_env = "CHEAP_KEY"         # the NAME of the variable, never the key
    profile = "llamacpp"
    price = {input = 0.1, output = 0.4}
    context_window = 32768
    concurrency = 4
    weight = 3

Every key is checked: an unknown key, a value of the wrong type and an API
key written in the file are :class:`~extractkit.errors.ConfigurationError`\\ s
naming the file and the key. A file is parsed once per modification time.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ConfigurationError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

from .breaker import BreakerPolicy
from .endpoint import Endpoint, price_of
from .routing import ROUTINGS

CONFIG_FILE = "extractkit.toml"
PYPROJECT = "pyproject.toml"

_ENDPOINT_KEYS = {
    "base_url": str, "model": str, "api_key_env": str, "profile": str, "price": dict,
    "context_window": int, "concurrency": int, "weight": int,
}
_TOP_KEYS = ("default", "fallback", "routing", "escalate_with_errors", "breaker", "endpoints")
#: keys that would hold a secret: refused, whatever their value
_SECRET_KEYS = ("api_key", "key", "token", "secret", "password", "authorization")


@dataclass(frozen=True)
class EndpointsConfig:
    """What a config file says: named endpoints and the defaults of a chain."""

    path: str | None = None
    endpoints: Mapping[str, Endpoint] = field(default_factory=dict)
    default: str | None = None
    fallback: tuple[str, ...] = ()
    routing: str | None = None
    escalate_with_errors: bool | None = None
    breaker: BreakerPolicy | None = None

    def get(self, name: str) -> Endpoint:
        """The endpoint called ``name``; an unknown name is an error listing the known ones."""
        found = self.endpoints.get(name)
        if found is None:
            known = ", ".join(sorted(self.endpoints)) or "none"
            where = f" in {self.path}" if self.path else " (no config file: write extractkit.toml)"
            raise ConfigurationError(
                f"no endpoint named {name!r}{where}; endpoints defined: {known}")
        return found


def find_config(directory: str | Path = ".") -> Path | None:
    """``extractkit.toml`` in ``directory``, else its ``pyproject.toml`` when that has a
    ``[tool.extractkit]`` table, else ``None`` (parents are not searched)."""
    base = Path(directory)
    own = base / CONFIG_FILE
    if own.is_file():
        return own
    pyproject = base / PYPROJECT
    if pyproject.is_file():
        try:
            data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
            return None  # not ours to complain about unless it has our table
        if isinstance(data.get("tool"), dict) and "extractkit" in data["tool"]:
            return pyproject
    return None


_cache: dict[str, tuple[int, EndpointsConfig]] = {}
_lock = threading.Lock()


def load_config(path: str | Path) -> EndpointsConfig:
    """Parse and check a config file (``pyproject.toml``: its ``[tool.extractkit]`` table)."""
    file = Path(path)
    try:
        stamp = file.stat().st_mtime_ns
        with _lock:
            hit = _cache.get(str(file))
        if hit is not None and hit[0] == stamp:
            return hit[1]
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigurationError(f"cannot read config file {file}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigurationError(f"config file {file} is not UTF-8 text") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigurationError(f"config file {file} is not valid TOML: {exc}") from None
    prefix = ""
    if file.name == PYPROJECT:
        table = data.get("tool", {}).get("extractkit") if isinstance(data.get("tool"), dict) \
            else None
        if not isinstance(table, dict):
            raise ConfigurationError(f"{file} has no [tool.extractkit] table")
        data, prefix = table, "tool.extractkit."
    config = parse_config(data, str(file), prefix)
    with _lock:
        _cache[str(file)] = (stamp, config)
    return config


def parse_config(data: Mapping[str, Any], name: str, prefix: str = "") -> EndpointsConfig:
    """A parsed TOML table → :class:`EndpointsConfig` (``name`` and ``prefix`` for errors)."""

    def fail(key: str, problem: str) -> ConfigurationError:
        return ConfigurationError(f"{name}: {prefix}{key}: {problem}")

    for key in data:
        if key.lower() in _SECRET_KEYS:
            raise fail(key, _NO_SECRETS)
        if key not in _TOP_KEYS:
            raise fail(key, f"unknown key; the keys are {', '.join(_TOP_KEYS)}")
    endpoints: dict[str, Endpoint] = {}
    table = data.get("endpoints", {})
    if not isinstance(table, dict):
        raise fail("endpoints", "must be a table of named endpoints ([endpoints.NAME])")
    for ep_name, entry in table.items():
        endpoints[ep_name] = _endpoint(ep_name, entry, fail)
    default = data.get("default")
    if default is not None and not isinstance(default, str):
        raise fail("default", f"must be an endpoint name, got {default!r}")
    fallback = data.get("fallback", [])
    if isinstance(fallback, str):
        fallback = [fallback]
    if not isinstance(fallback, list) or not all(isinstance(f, str) for f in fallback):
        raise fail("fallback", f"must be a list of endpoint names, got {fallback!r}")
    for key, names in (("default", [default] if default else []), ("fallback", fallback)):
        for ep_name in names:
            if ep_name not in endpoints:
                raise fail(key, f"no endpoint named {ep_name!r} (defined: "
                                f"{', '.join(sorted(endpoints)) or 'none'})")
    routing = data.get("routing")
    if routing is not None and routing not in ROUTINGS:
        raise fail("routing", f"must be one of {', '.join(ROUTINGS)}, got {routing!r}")
    escalate = data.get("escalate_with_errors")
    if escalate is not None and not isinstance(escalate, bool):
        raise fail("escalate_with_errors", f"must be true or false, got {escalate!r}")
    return EndpointsConfig(
        path=name, endpoints=endpoints, default=default, fallback=tuple(fallback),
        routing=routing, escalate_with_errors=escalate,
        breaker=_breaker(data["breaker"], fail) if "breaker" in data else None,
    )


_NO_SECRETS = ("API keys do not belong in files; put the key in an environment variable "
               "and name that variable with api_key_env")


def _endpoint(name: str, entry: Any, fail: Any) -> Endpoint:
    where = f"endpoints.{name}"
    if not isinstance(entry, dict):
        raise fail(where, "must be a table (base_url, model, api_key_env, ...)")
    values: dict[str, Any] = {}
    for key, value in entry.items():
        if key.lower() in _SECRET_KEYS or key.lower().endswith(("_key", "_token", "_secret")):
            raise fail(f"{where}.{key}", _NO_SECRETS)
        kind = _ENDPOINT_KEYS.get(key)
        if kind is None:
            raise fail(f"{where}.{key}",
                       f"unknown key; an endpoint's keys are {', '.join(_ENDPOINT_KEYS)}")
        if not isinstance(value, kind) or isinstance(value, bool):
            raise fail(f"{where}.{key}", f"must be {_KIND_NAMES[kind]}, got {value!r}")
        values[key] = value
    if "price" in values:
        try:
            values["price"] = price_of(values["price"], "price")
        except ConfigurationError:
            raise fail(f"{where}.price", "must be {input = DOLLARS, output = DOLLARS} per "
                                         "million tokens") from None
    try:
        return Endpoint(name, **values)
    except ConfigurationError as exc:
        raise fail(where, str(exc)) from None


_KIND_NAMES = {str: "a string", int: "an integer", dict: "a table"}


def _breaker(entry: Any, fail: Any) -> BreakerPolicy:
    if not isinstance(entry, dict):
        raise fail("breaker", "must be a table (failures, cooldown)")
    values: dict[str, Any] = {}
    for key, value in entry.items():
        if key not in ("failures", "cooldown"):
            raise fail(f"breaker.{key}", "unknown key; the keys are failures, cooldown")
        values[key] = value
    try:
        return BreakerPolicy(**values)
    except ConfigurationError as exc:
        raise fail("breaker", str(exc)) from None
