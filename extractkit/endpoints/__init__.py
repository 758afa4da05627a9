"""Many endpoints as one: named endpoints, a config file, fallback and escalation,
circuit breakers and routing. See docs/endpoints.md.

* :mod:`.endpoint` -- :class:`Endpoint`, an endpoint as data (never a key);
* :mod:`.config` -- ``extractkit.toml`` / ``[tool.extractkit]``;
* :mod:`.chain` -- the fallback chain and its one decision, :meth:`ChainRun.next_after`;
* :mod:`.breaker` -- a circuit breaker per endpoint;
* :mod:`.routing` -- ``order``, ``cheapest``, ``weighted``.
"""

from __future__ import annotations

from .breaker import Breaker, BreakerPolicy
from .chain import Chain, ChainRun, Fallback, reason_for
from .config import EndpointsConfig, find_config, load_config
from .endpoint import Endpoint
from .routing import ROUTINGS, Router

__all__ = [
    "ROUTINGS",
    "Breaker",
    "BreakerPolicy",
    "Chain",
    "ChainRun",
    "Endpoint",
    "EndpointsConfig",
    "Fallback",
    "Router",
    "find_config",
    "load_config",
    "reason_for",
]
