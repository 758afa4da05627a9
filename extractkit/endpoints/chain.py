"""Fallback and escalation: several endpoints tried in turn, through the one loop.

A :class:`Chain` is the primary endpoint and its ``fallback`` endpoints, each
with its own :class:`~extractkit.engine.Engine` (so each request is compiled
for *that* endpoint's profile and model), its circuit breaker and, with
``concurrency=``, its own gate. It is built once per extractor and shared by
every extraction (a whole batch).

One extraction over a chain is a :class:`ChainRun`. Each endpoint's try is an
ordinary :class:`~extractkit.loop.Extraction` driven by the ordinary drivers
(with that endpoint's re-asks and transport retries); when it ends in an
error, :meth:`ChainRun.next_after` -- the one place the decision is made --
says which endpoint comes next, or ``None`` (the error is raised):

========================  ==================================================
reason                    errors
========================  ==================================================
``"transport"``           429/5xx/timeouts/connection errors after the
                          endpoint's transport retries
``"unavailable"``         401, 403, 404 (the key, the model), connection refused
``"rejected"``            another 4xx (say, the prompt is too long for it)
``"deadline"``            :class:`~extractkit.errors.DeadlineError` (its ``timeout``)
``"invalid"``             :class:`~extractkit.errors.ExtractionError`: no valid
                          answer after its re-asks, a refusal, a cut answer --
                          *escalation* to the next (stronger) model
========================  ==================================================

Settings, schema and template errors (``FatalError``), unreadable inputs and
bugs never fall back: every endpoint would fail the same way. The next
endpoint gets the original request; with ``escalate_with_errors=True`` an
escalation also shows it the last invalid answer and its errors (as a re-ask
would). :meth:`ChainRun.run` and :meth:`ChainRun.arun` are the thin blocking
and asyncio shells.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from ..errors import (
    ConfigurationError,
    DeadlineError,
    EndpointsUnavailableError,
    ExtractionError,
    ExtractkitError,
    FatalError,
    is_endpoint_fatal,
)
from ..pricing import Price, PriceTable
from ..results import Result, Usage
from .breaker import Breaker, BreakerPolicy
from .endpoint import Endpoint
from .routing import ROUTINGS, Router, price_for

if TYPE_CHECKING:
    from ..engine import Engine
    from ..loop import Extraction
    from ..settings import Settings

#: the name of a chain's first endpoint when it is not an :class:`Endpoint`
DEFAULT_NAME = "default"
#: reasons that say the endpoint is unwell (they count towards its breaker)
UNHEALTHY = frozenset({"transport", "unavailable", "deadline"})

Build = Callable[["Engine"], "Extraction[Any] | Awaitable[Extraction[Any]]"]


def reason_for(error: BaseException) -> str | None:
    """Why an endpoint's try failed, as a fallback reason (table in the module
    docstring); ``None``: an error no other endpoint would avoid."""
    if isinstance(error, FatalError):
        return None
    if isinstance(error, DeadlineError):
        return "deadline"
    if isinstance(error, ExtractionError):
        return "invalid"
    if isinstance(error, ExtractkitError):
        return None
    import openai

    if not isinstance(error, openai.APIError):
        return None
    if is_endpoint_fatal(error):
        return "unavailable"
    status = getattr(error, "status_code", None)
    if isinstance(status, int) and 400 <= status < 500 and status not in (408, 409, 429):
        return "rejected"
    return "transport"


# -- settings and the config file -------------------------------------------------


def check_settings(values: dict[str, Any]) -> None:
    """``Settings.of``'s checks of the chain settings (normalizes ``fallback`` to a tuple)."""
    name = values.get("endpoint_name")
    if name is not None and (not isinstance(name, str) or not name):
        raise ConfigurationError(f"endpoint_name must be an endpoint's name, got {name!r}")
    if name is not None and values.get("endpoint") is not None:
        raise ConfigurationError("give endpoint= or endpoint_name=, not both")
    fallback = values.get("fallback")
    if fallback is not None:
        items = (fallback,) if isinstance(fallback, (str, Endpoint)) else tuple(fallback)
        bad = [f for f in items if not (isinstance(f, Endpoint) or (isinstance(f, str) and f))]
        if bad:
            raise ConfigurationError(
                f"fallback must list endpoint names or extractkit.Endpoint objects, got {bad[0]!r}")
        values["fallback"] = items
    routing = values.get("routing")
    if routing is not None and routing not in ROUTINGS:
        raise ConfigurationError(f"routing must be one of {', '.join(ROUTINGS)}, got {routing!r}")
    breaker = values.get("breaker")
    if breaker is not None and not isinstance(breaker, BreakerPolicy):
        raise ConfigurationError("breaker must be an extractkit.endpoints.BreakerPolicy")
    escalate = values.get("escalate_with_errors")
    if escalate is not None and not isinstance(escalate, bool):
        raise ConfigurationError(f"escalate_with_errors must be True or False, got {escalate!r}")


def apply_config(settings: Settings) -> Settings:
    """What :meth:`Settings.configured <extractkit.settings.Settings.configured>` does."""
    from .config import EndpointsConfig, find_config, load_config

    names_wanted = settings.endpoint_name is not None or any(
        isinstance(f, str) for f in settings.fallback or ())
    if settings.config is not None:
        config = load_config(settings.config)
    elif names_wanted:  # a name to look up: the working directory's file
        found = find_config()
        config = load_config(found) if found is not None else EndpointsConfig()
    else:
        config = EndpointsConfig()
    name = settings.endpoint_name
    unset = (settings.endpoint is None and settings.client is None
             and settings.base_url is None and not settings.local)
    if name is None and unset:
        name = config.default
    endpoint = config.get(name) if name is not None else settings.endpoint
    names = settings.fallback if settings.fallback is not None else config.fallback
    fallback = tuple(config.get(f) if isinstance(f, str) else f for f in names)
    return replace(
        settings, endpoint=endpoint, endpoint_name=None, config=None, fallback=fallback,
        routing=settings.routing or config.routing,
        escalate_with_errors=(settings.escalate_with_errors
                              if settings.escalate_with_errors is not None
                              else config.escalate_with_errors),
        breaker=settings.breaker or config.breaker,
    )


# -- the chain ----------------------------------------------------------------------


@dataclass(frozen=True)
class Link:
    """One endpoint of a chain: its name, engine, breaker, price and gate."""

    name: str
    engine: Engine
    breaker: Breaker
    price: Price | None
    gate: Any = None


class Chain:
    """The endpoints of one extractor, with their breakers and router (shared)."""

    def __init__(self, links: Sequence[Link], router: Router, *,
                 escalate_with_errors: bool = False) -> None:
        self.links = tuple(links)
        self.router = router
        self.escalate_with_errors = escalate_with_errors

    def start(self, build: Build) -> ChainRun:
        """One extraction over the chain; ``build(engine)`` makes an endpoint's
        :class:`~extractkit.loop.Extraction` (or an awaitable of one)."""
        return ChainRun(self, build)


def build_chain(engine: Engine) -> Chain | None:
    """The chain of an engine's settings; ``None`` for a single endpoint (the plain path)."""
    from ..engine import Engine

    settings = engine.settings.configured()
    fallback = settings.fallback or ()
    if not fallback:
        return None
    primary = settings.endpoint
    first_name = primary.name if isinstance(primary, Endpoint) else DEFAULT_NAME
    own = replace(settings, fallback=None, routing=None, escalate_with_errors=None,
                  breaker=None)
    engines: list[tuple[str, Endpoint | None, Engine]] = [
        (first_name, primary if isinstance(primary, Endpoint) else None,
         Engine(own, is_async=engine.is_async))]
    for endpoint in fallback:
        assert isinstance(endpoint, Endpoint)  # names were looked up by configured()
        link_settings = replace(own, client=None, base_url=None, api_key=None, model=None,
                                local=None, context_window=None, endpoint=endpoint)
        engines.append((endpoint.name, endpoint, Engine(link_settings, is_async=engine.is_async)))
    seen: set[str] = set()
    for name, _, _ in engines:
        if name in seen:
            raise ConfigurationError(f"endpoint {name!r} appears twice in the fallback chain")
        seen.add(name)
    policy = settings.breaker or BreakerPolicy()
    table = PriceTable()
    links = []
    for name, own_endpoint, link_engine in engines:
        resolved = link_engine.resolved  # every key variable is checked now, not on failover
        price = price_for(own_endpoint.price if own_endpoint else None, resolved.model,
                          resolved.local, table)
        links.append(Link(name, link_engine, Breaker(policy), price,
                          _gate(own_endpoint, engine.is_async)))
    weights = [e.weight if e else 1 for _, e, _ in engines]
    router = Router(settings.routing or "order", [link.price for link in links], weights)
    return Chain(links, router, escalate_with_errors=bool(settings.escalate_with_errors))


def _gate(endpoint: Endpoint | None, is_async: bool) -> Any:
    if endpoint is None or endpoint.concurrency is None:
        return None
    from ..drivers.gate import Gate, ThreadGate

    return Gate(endpoint.concurrency) if is_async else ThreadGate(endpoint.concurrency)


# -- one extraction over the chain ----------------------------------------------------


@dataclass(frozen=True)
class Fallback:
    """One endpoint given up on: its name, the reason (module docstring), the error."""

    endpoint: str
    reason: str
    error: BaseException


class ChainRun:
    """One extraction over a chain: which endpoint now, what each one did.

    ``attempts`` and ``usage`` cover every endpoint tried (the batch drivers
    read them for an item's usage); ``fallbacks`` the endpoints given up on.
    """

    def __init__(self, chain: Chain, build: Build) -> None:
        self.chain = chain
        self._build = build
        self._queue = [chain.links[i] for i in chain.router.order()]
        self._tried: list[tuple[Link, Extraction[Any]]] = []
        self._carry: list[dict[str, Any]] = []
        self.fallbacks: list[Fallback] = []
        self.link: Link | None = None

    @property
    def attempts(self) -> list[Any]:
        return [a for _, extraction in self._tried for a in extraction.attempts]

    @property
    def usage(self) -> Usage:
        return sum((extraction.usage for _, extraction in self._tried), Usage())

    def first(self) -> Link:
        """The first endpoint whose breaker lets it be tried."""
        link = self._next_allowed()
        if link is None:
            names = ", ".join(link.name for link in self.chain.links)
            raise EndpointsUnavailableError(
                f"every endpoint is cooling down after repeated failures ({names}); "
                "try again later")
        self.link = link
        return link

    def next_after(self, error: BaseException) -> Link | None:
        """The current endpoint failed with ``error``: the endpoint to try next, or
        ``None`` when ``error`` is to be raised. The one fallback decision."""
        link = self.link
        assert link is not None
        reason = self.judge(error)
        if reason is None:
            return None
        given_up = Fallback(link.name, reason, error)
        self.fallbacks.append(given_up)
        nxt = self._next_allowed()
        if nxt is None:
            self.fallbacks.remove(given_up)  # the error raised is this one
            return None
        self._carry = self._escalation(error, nxt) if reason == "invalid" else []
        self.link = nxt
        return nxt

    def judge(self, error: BaseException) -> str | None:
        """Tell the current endpoint's breaker about ``error``; its fallback reason."""
        assert self.link is not None
        reason = reason_for(error)
        if reason in UNHEALTHY:
            self.link.breaker.failed()
        else:
            self.link.breaker.succeeded()  # it answered (or the error is not its fault)
        return reason

    def extraction(self, link: Link, extraction: Extraction[Any]) -> Extraction[Any]:
        """Record ``link``'s extraction (with an escalation's messages carried over)."""
        if self._carry:
            extraction.carry(self._carry)
        self._tried.append((link, extraction))
        return extraction

    def succeeded(self, result: Result[Any]) -> Result[Any]:
        """The current endpoint answered: the result covers every endpoint tried."""
        link = self.link
        assert link is not None
        link.breaker.succeeded()
        self._label()
        result.attempts = self.attempts
        result.usage = self.usage
        result.transport_retries = sum(e.transport_retries for _, e in self._tried)
        result.endpoint = link.name
        return result

    def failed(self, error: BaseException) -> BaseException:
        """No endpoint left: ``error`` (the last one), labelled with what was tried."""
        self._label()
        if isinstance(error, ExtractionError):
            error.attempts = self.attempts
        tried = "; ".join(f"{f.endpoint}: {f.reason}" for f in self.fallbacks)
        if tried and hasattr(error, "add_note"):
            error.add_note(f"endpoints given up on before: {tried}")
        try:
            error.endpoint = self.link.name if self.link else None  # type: ignore[attr-defined]
            error.fallbacks = list(self.fallbacks)  # type: ignore[attr-defined]
        except AttributeError:  # pragma: no cover - an exception type with __slots__
            pass
        return error

    def _next_allowed(self) -> Link | None:
        while self._queue:
            link = self._queue.pop(0)
            if link.breaker.allow():
                return link
            self.fallbacks.append(Fallback(link.name, "cooling down", EndpointsUnavailableError(
                f"endpoint {link.name!r} is cooling down after repeated failures")))
        return None

    def _escalation(self, error: BaseException, nxt: Link) -> list[dict[str, Any]]:
        """The last invalid answer and its errors, for the next endpoint (if asked)."""
        if not self.chain.escalate_with_errors or not isinstance(error, ExtractionError):
            return []
        failed = next((a for a in reversed(error.attempts) if a.errors), None)
        if failed is None:
            return []
        plan = self._tried[-1][1].plan
        feedback = nxt.engine.prompts.feedback(plan, failed.errors, failed)
        return plan.mode.reask(None, failed.raw, feedback)

    def _label(self) -> None:
        table = None
        for link, extraction in self._tried:
            for attempt in extraction.attempts:
                if attempt.endpoint is None:
                    attempt.endpoint = link.name
                if attempt.cost is None:
                    if link.price is not None:
                        attempt.cost = link.price.cost(attempt.usage)
                    else:
                        table = table or PriceTable()
                        attempt.cost = table.cost(_model(attempt), attempt.usage)

    # -- the shells -------------------------------------------------------------------

    def run(self, gate: Any = None) -> Result[Any]:
        """Blocking: each endpoint through :func:`extractkit.drivers.sync.run`."""
        from ..drivers import sync

        link = self.first()
        while True:
            try:
                extraction = self.extraction(link, self._build(link.engine))  # type: ignore[arg-type]
                result = sync.run(link.engine.backend, extraction, gate=link.gate or gate)
            except Exception as exc:
                nxt = self.next_after(exc)
                if nxt is None:
                    raise self.failed(exc) from None
                link = nxt
                continue
            except BaseException:
                link.breaker.released()  # interrupted or cancelled: no verdict on the endpoint
                raise
            return self.succeeded(result)

    async def arun(self, gate: Any = None) -> Result[Any]:
        """asyncio: each endpoint through :func:`extractkit.drivers.aio.run`."""
        from ..drivers import aio

        link = self.first()
        while True:
            try:
                built = self._build(link.engine)
                extraction = self.extraction(
                    link, await built if inspect.isawaitable(built) else built)
                result = await aio.run(link.engine.backend, extraction, gate=link.gate or gate)
            except Exception as exc:
                nxt = self.next_after(exc)
                if nxt is None:
                    raise self.failed(exc) from None
                link = nxt
                continue
            except BaseException:
                link.breaker.released()  # interrupted or cancelled: no verdict on the endpoint
                raise
            return self.succeeded(result)


    def stream(self) -> Iterator[Any]:
        """Blocking streaming (:func:`~extractkit.drivers.stream.stream_sync`): falls back
        only while nothing has been yielded; after the first snapshot, errors are raised."""
        from ..drivers.stream import stream_sync

        link = self.first()
        while True:
            shown = False
            try:
                extraction = self.extraction(link, self._build(link.engine))  # type: ignore[arg-type]
                for snapshot in stream_sync(link.engine.backend, extraction):
                    shown = True
                    if snapshot.result is not None:
                        self.succeeded(snapshot.result)
                    yield snapshot
                return
            except Exception as exc:
                if shown:  # partial values were shown: no fallback, but the breaker hears
                    self.judge(exc)
                    raise self.failed(exc) from None
                nxt = self.next_after(exc)
                if nxt is None:
                    raise self.failed(exc) from None
                link = nxt
            except BaseException:
                link.breaker.released()  # closed early, interrupted or cancelled
                raise

    async def astream(self) -> AsyncIterator[Any]:
        """The asyncio twin of :meth:`stream`."""
        from ..drivers.stream import stream_async

        link = self.first()
        while True:
            shown = False
            try:
                built = self._build(link.engine)
                extraction = self.extraction(
                    link, await built if inspect.isawaitable(built) else built)
                async for snapshot in stream_async(link.engine.backend, extraction):
                    shown = True
                    if snapshot.result is not None:
                        self.succeeded(snapshot.result)
                    yield snapshot
                return
            except Exception as exc:
                if shown:  # partial values were shown: no fallback, but the breaker hears
                    self.judge(exc)
                    raise self.failed(exc) from None
                nxt = self.next_after(exc)
                if nxt is None:
                    raise self.failed(exc) from None
                link = nxt
            except BaseException:
                link.breaker.released()  # closed early, interrupted or cancelled
                raise


def _model(attempt: Any) -> str | None:
    return getattr(attempt.response, "model", None)


def refuse_map_options(cache: Any, batch_api: Any) -> None:
    """What a chain cannot do in ``map`` (yet): a response cache, the Batch API."""
    if cache is not None:
        raise ConfigurationError("cache= (--cache) does not work with fallback endpoints yet")
    if batch_api:
        raise ConfigurationError("batch_api= (--batch-api) does not work with fallback "
                                 "endpoints: a batch goes to one endpoint")


__all__ = ["Chain", "ChainRun", "Fallback", "Link", "build_chain", "reason_for"]

