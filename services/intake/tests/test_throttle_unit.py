"""The public form's token bucket per client address."""

import pytest

from cme_intake.entrypoints.throttle import TokenBuckets

pytestmark = pytest.mark.unit


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_burst_then_one_per_interval():
    clock = Clock()
    buckets = TokenBuckets(per_minute=6, burst=3, clock=clock)
    assert [buckets.take("a") for _ in range(4)] == [True, True, True, False]
    assert buckets.retry_after("a") == 10
    clock.now += 9
    assert not buckets.take("a")
    clock.now += 1.5
    assert buckets.take("a") and not buckets.take("a")


def test_clients_have_their_own_buckets():
    buckets = TokenBuckets(per_minute=1, burst=1, clock=Clock())
    assert buckets.take("a") and not buckets.take("a")
    assert buckets.take("b")


def test_the_table_of_clients_is_bounded():
    buckets = TokenBuckets(per_minute=1, burst=1, max_clients=2, clock=Clock())
    for client in ("a", "b", "c"):
        buckets.take(client)
    assert len(buckets._buckets) == 2
