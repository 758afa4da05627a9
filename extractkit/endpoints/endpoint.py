"""An endpoint as data: where requests go, which model answers, what it accepts and costs.

An :class:`Endpoint` never holds an API key: it names the environment
variable that does (``api_key_env``), read when the endpoint is resolved
(:meth:`Settings.resolve <extractkit.settings.Settings.resolve>`). So an
endpoint can be written in a config file, logged and shown in errors.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import ConfigurationError
from ..pricing import Price
from ..profiles import Profile


@dataclass(frozen=True)
class Endpoint:
    """One named endpoint.

    ``base_url`` is the OpenAI-compatible server (``None``: ``$OPENAI_BASE_URL``
    or OpenAI's); ``model`` the model asked; ``api_key_env`` the *name* of the
    environment variable holding its key; ``profile`` a registered profile name
    (or a :class:`~extractkit.profiles.Profile`; ``None``: guessed from the URL;
    ``"local"``: the embedded model); ``price`` dollars per million tokens
    (``None``: looked up in the price table by model); ``context_window`` its
    tokens; ``concurrency`` at most this many requests in flight to it when it
    is part of a chain; ``weight`` its share under ``routing="weighted"``.
    """

    name: str
    base_url: str | None = None
    model: str | None = None
    api_key_env: str | None = None
    profile: str | Profile | None = None
    price: Price | None = None
    context_window: int | None = None
    concurrency: int | None = None
    weight: int = 1

    def __post_init__(self) -> None:
        where = f"endpoint {self.name!r}"
        if not isinstance(self.name, str) or not self.name:
            raise ConfigurationError(f"an endpoint needs a non-empty name, got {self.name!r}")
        for key in ("base_url", "model", "api_key_env"):
            value = getattr(self, key)
            if value is not None and (not isinstance(value, str) or not value):
                raise ConfigurationError(f"{where}: {key} must be a non-empty string, "
                                         f"got {value!r}")
        if self.profile is not None and not isinstance(self.profile, (str, Profile)):
            raise ConfigurationError(f"{where}: profile must be a profile name or a Profile")
        if self.price is not None and not isinstance(self.price, Price):
            object.__setattr__(self, "price", price_of(self.price, where))
        for key, low in (("context_window", 1), ("concurrency", 1), ("weight", 0)):
            value = getattr(self, key)
            if value is not None and (not isinstance(value, int) or isinstance(value, bool)
                                      or value < low):
                raise ConfigurationError(f"{where}: {key} must be an integer >= {low}, "
                                         f"got {value!r}")

    @property
    def local(self) -> bool:
        """The embedded model answers (``profile="local"``)."""
        name = self.profile.name if isinstance(self.profile, Profile) else self.profile
        return name == "local"


def price_of(value: Any, where: str) -> Price:
    """``{"input": $, "output": $}`` (dollars per million tokens) → :class:`Price`."""
    if isinstance(value, Price):
        return value
    try:
        if not isinstance(value, dict) or set(value) != {"input", "output"}:
            raise TypeError
        numbers = [value["input"], value["output"]]
        if any(isinstance(n, bool) or not isinstance(n, (int, float)) or n < 0 for n in numbers):
            raise TypeError
    except TypeError:
        raise ConfigurationError(
            f"{where}: price must be {{input = DOLLARS, output = DOLLARS}} (per million "
            f"tokens, non-negative), got {value!r}") from None
    return Price(float(numbers[0]), float(numbers[1]))
