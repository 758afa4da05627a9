"""Circuit breakers and routing (cheapest first, weighted round-robin) over scripted endpoints."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import pytest
from pydantic import BaseModel

from extractkit import ConfigurationError, EndpointsUnavailableError, Extractor
from extractkit.endpoints import Breaker, BreakerPolicy, Endpoint
from extractkit.endpoints.breaker import CLOSED, HALF_OPEN, OPEN
from extractkit.endpoints.routing import Router, SmoothWeighted, blended, cheapest_first
from extractkit.pricing import Price
from tests.scripted_server import ScriptedServer, completion, error

GOOD = '{"name": "Ada"}'


class Person(BaseModel):
    name: str


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def servers() -> Iterator[tuple[ScriptedServer, ScriptedServer, ScriptedServer]]:
    with ScriptedServer() as a, ScriptedServer() as b, ScriptedServer() as c:
        yield a, b, c


def ep(name: str, srv: ScriptedServer, **kw: object) -> Endpoint:
    return Endpoint(name, base_url=srv.base_url, model=f"model-{name}", **kw)  # type: ignore[arg-type]


# -- the breaker --------------------------------------------------------------------


def test_breaker_opens_after_n_consecutive_failures_then_lets_one_trial_through() -> None:
    clock = Clock()
    breaker = Breaker(BreakerPolicy(failures=3, cooldown=10, clock=clock))
    for _ in range(2):
        assert breaker.allow()
        breaker.failed()
    breaker.succeeded()  # a success resets the count
    for _ in range(3):
        assert breaker.allow()
        breaker.failed()
    assert breaker.state == OPEN and not breaker.allow()
    clock.now += 9.9
    assert not breaker.allow()
    clock.now += 0.1
    assert breaker.state == HALF_OPEN
    assert breaker.allow() and not breaker.allow()  # one trial only
    breaker.failed()  # the trial failed: open again for a whole cool-down
    assert breaker.state == OPEN
    clock.now += 10
    assert breaker.allow()
    breaker.succeeded()
    assert breaker.state == CLOSED and breaker.allow() and breaker.allow()


def test_bad_breaker_policies_are_errors() -> None:
    with pytest.raises(ConfigurationError, match="failures"):
        BreakerPolicy(failures=0)
    with pytest.raises(ConfigurationError, match="cooldown"):
        BreakerPolicy(cooldown=-1)


def test_a_failing_endpoint_is_skipped_while_its_breaker_is_open(servers) -> None:  # type: ignore[no-untyped-def]
    a, b, _ = servers
    a.default = lambda body: error(503, type="server_error")
    b.default = lambda body: completion(GOOD)
    clock = Clock()
    ex = Extractor(endpoint=ep("a", a), fallback=[ep("b", b)], transport_retries=0,
                   breaker=BreakerPolicy(failures=2, cooldown=30, clock=clock))
    for _ in range(2):
        assert ex.extract_result(Person, "A.").endpoint == "b"
    assert len(a.bodies()) == 2
    for _ in range(3):  # open: a is not even tried
        assert ex.extract_result(Person, "A.").endpoint == "b"
    assert len(a.bodies()) == 2
    clock.now += 30  # half-open: one trial, which fails again
    ex.extract_result(Person, "A.")
    ex.extract_result(Person, "A.")
    assert len(a.bodies()) == 3
    a.default = lambda body: completion(GOOD)  # a is back
    clock.now += 30
    assert ex.extract_result(Person, "A.").endpoint == "a"
    assert ex.extract_result(Person, "A.").endpoint == "a"
    assert len(a.bodies()) == 5


def test_the_breaker_is_shared_by_a_batch(servers) -> None:  # type: ignore[no-untyped-def]
    a, b, _ = servers
    a.default = lambda body: error(500, type="server_error")
    b.default = lambda body: completion(GOOD)
    ex = Extractor(endpoint=ep("a", a), fallback=[ep("b", b)], transport_retries=0,
                   breaker=BreakerPolicy(failures=3, cooldown=60, clock=Clock()))
    items = list(ex.map(Person, [f"t{i}" for i in range(20)], concurrency=1))
    assert all(item.ok for item in items) and len(b.bodies()) == 20
    assert len(a.bodies()) == 3


def test_validation_failures_do_not_open_the_breaker(servers) -> None:  # type: ignore[no-untyped-def]
    a, b, _ = servers
    a.default = lambda body: completion('{"nom": 1}')
    b.default = lambda body: completion(GOOD)
    ex = Extractor(endpoint=ep("a", a), fallback=[ep("b", b)], max_retries=0,
                   breaker=BreakerPolicy(failures=1, cooldown=60, clock=Clock()))
    for _ in range(3):
        assert ex.extract_result(Person, "A.").endpoint == "b"
    assert len(a.bodies()) == 3  # the endpoint answered: it is healthy, only not good enough


def test_every_endpoint_cooling_down_fails_the_input_without_a_request(servers) -> None:  # type: ignore[no-untyped-def]
    a, b, _ = servers
    a.default = b.default = lambda body: error(500, type="server_error")
    ex = Extractor(endpoint=ep("a", a), fallback=[ep("b", b)], transport_retries=0,
                   breaker=BreakerPolicy(failures=1, cooldown=60, clock=Clock()))
    with pytest.raises(Exception, match="500"):
        ex.extract(Person, "A.")
    with pytest.raises(EndpointsUnavailableError, match=r"cooling down.*a, b"):
        ex.extract(Person, "A.")
    assert len(a.bodies()) == len(b.bodies()) == 1
    items = list(ex.map(Person, ["x", "y"]))  # an item's failure, not the batch's
    assert [type(i.error) for i in items] == [EndpointsUnavailableError] * 2


# -- routing ------------------------------------------------------------------------


def test_cheapest_first_by_blended_price_with_unknown_prices_last() -> None:
    prices = [None, Price(2.5, 10.0), Price(0.15, 0.6), None, Price(0.4, 1.6)]
    assert cheapest_first(prices) == [2, 4, 1, 0, 3]
    assert blended(Price(1.0, 5.0)) == pytest.approx(2.0)
    # blended, not input alone: a cheap prompt with dear answers can lose
    assert cheapest_first([Price(0.1, 10.0), Price(0.5, 0.5)]) == [1, 0]


def test_routing_cheapest_sends_first_to_the_cheapest_endpoint(servers) -> None:  # type: ignore[no-untyped-def]
    a, b, c = servers
    for srv in servers:
        srv.default = lambda body: completion(GOOD)
    ex = Extractor(endpoint=ep("a", a), routing="cheapest",
                   fallback=[ep("b", b, price=Price(0.1, 0.4)), ep("c", c, price=Price(1, 4))])
    assert ex.extract_result(Person, "A.").endpoint == "b"  # a's model has no known price
    b.default = lambda body: error(500, type="server_error")
    assert ex.with_options(transport_retries=0).extract_result(Person, "A.").endpoint == "c"


def test_smooth_weighted_round_robin_is_deterministic_and_spread() -> None:
    wrr = SmoothWeighted([5, 1, 1])
    picks = [wrr.pick() for _ in range(7)]
    assert picks == [0, 0, 1, 0, 2, 0, 0]
    router = Router("weighted", [None, None, None], [3, 1, 0])
    orders = [router.order() for _ in range(8)]
    assert Counter(o[0] for o in orders) == {0: 6, 1: 2}
    assert all(sorted(o) == [0, 1, 2] for o in orders)  # the others follow as fallbacks
    with pytest.raises(ConfigurationError, match="weights"):
        SmoothWeighted([0, 0])


def test_weighted_routing_shares_a_batch_of_100_by_weight(servers) -> None:  # type: ignore[no-untyped-def]
    a, b, c = servers
    for srv in servers:
        srv.default = lambda body: completion(GOOD)
    ex = Extractor(endpoint=ep("a", a, weight=3), fallback=[ep("b", b, weight=1),
                   ep("c", c, weight=1)], routing="weighted")
    items = list(ex.map(Person, [f"t{i}" for i in range(100)], concurrency=4))
    assert all(item.ok for item in items)
    assert Counter(i.result.endpoint for i in items if i.result) == {"a": 60, "b": 20, "c": 20}
    assert (len(a.bodies()), len(b.bodies()), len(c.bodies())) == (60, 20, 20)


def test_weighted_routing_still_falls_back(servers) -> None:  # type: ignore[no-untyped-def]
    a, b, _ = servers
    a.default = lambda body: completion(GOOD)
    b.default = lambda body: error(500, type="server_error")
    ex = Extractor(endpoint=ep("a", a, weight=1), fallback=[ep("b", b, weight=1)],
                   routing="weighted", transport_retries=0)
    endpoints = [ex.extract_result(Person, "A.").endpoint for _ in range(4)]
    assert endpoints == ["a", "a", "a", "a"]
    assert len(b.bodies()) == 2  # b went first twice, and failed over to a


def test_an_interrupted_half_open_trial_lets_the_next_caller_try(servers) -> None:  # type: ignore[no-untyped-def]
    from extractkit.testing import FunctionModel

    _, b, _ = servers
    calls = [0]

    def interrupted(request: object) -> object:
        calls[0] += 1
        raise KeyboardInterrupt

    clock = Clock()
    policy = BreakerPolicy(failures=1, cooldown=5, clock=clock)
    b.default = lambda body: completion(GOOD)
    ex = Extractor(FunctionModel(interrupted), model="m", fallback=[ep("b", b)], breaker=policy)
    with pytest.raises(KeyboardInterrupt):
        ex.extract(Person, "A.")
    breaker = ex._engine.chain.links[0].breaker  # type: ignore[union-attr]
    breaker.failed()  # now open
    clock.now += 5  # half-open: the trial is interrupted...
    with pytest.raises(KeyboardInterrupt):
        ex.extract(Person, "A.")
    assert breaker.allow()  # ...and the next caller may try


def test_a_single_endpoint_takes_the_plain_path(servers) -> None:  # type: ignore[no-untyped-def]
    a, _, _ = servers
    ex = Extractor(endpoint=ep("a", a), routing="weighted")
    assert ex._engine.chain is None
