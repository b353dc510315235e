"""The public form's throttle: a token bucket per client (an IPv4 address or an IPv6 /64), the client as
seen past the trusted proxies only, and a ceiling for all clients together with its counter and warning."""

import ipaddress

import pytest
from prometheus_client import REGISTRY
from structlog.testing import capture_logs

from cme_intake.entrypoints.throttle import PublicFormLimits, TokenBuckets, client_address, client_key, network_key

pytestmark = pytest.mark.unit

PROXIES = [ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("2001:db8:ffff::/48")]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def refused(reason: str) -> float:
    return REGISTRY.get_sample_value("cme_public_referrals_refused_total", {"reason": reason}) or 0.0


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


def test_an_ipv6_client_is_its_64_and_an_ipv4_client_its_address():
    assert client_key("2001:db8:1:2:aaaa::1") == client_key("2001:db8:1:2:ffff:ffff:ffff:ffff") == "2001:db8:1:2::/64"
    assert client_key("2001:db8:1:3::1") != client_key("2001:db8:1:2::1")
    assert client_key("198.51.100.7") == "198.51.100.7" != client_key("198.51.100.8")
    assert client_key("::ffff:198.51.100.7") == "198.51.100.7"  # an IPv4 client over a dual-stack socket
    assert client_key("testclient") == "testclient"


def test_rotating_addresses_inside_one_64_draws_on_one_bucket():
    limits = PublicFormLimits(per_minute=1, burst=2, max_clients=100, global_per_minute=1000, clock=Clock())
    answers = [limits.check(limits.client_of(f"2001:db8:1:2::{n:x}", [])) for n in range(1, 5)]
    assert [a.code if a else None for a in answers] == [None, None, "rate_limited", "rate_limited"]
    assert limits.check(limits.client_of("2001:db8:1:3::1", [])) is None  # the next /64 is someone else


def test_forwarded_for_is_read_only_from_a_trusted_proxy():
    # No proxies configured: the header is the client's to write, and ignored.
    assert client_address("10.1.2.3", ["198.51.100.7"], []) == "10.1.2.3"
    # A peer that is not a trusted proxy: ignored too.
    assert client_address("203.0.113.5", ["198.51.100.7"], PROXIES) == "203.0.113.5"
    # From a trusted proxy: the right-most address that is not one of ours; what is left of it is forgeable.
    assert client_address("10.1.2.3", ["198.51.100.99, 198.51.100.7"], PROXIES) == "198.51.100.7"
    assert client_address("10.1.2.3", ["203.0.113.1", "198.51.100.7, 10.9.9.9"], PROXIES) == "198.51.100.7"
    assert client_address("2001:db8:ffff::1", ["2001:db8:1:2::5"], PROXIES) == "2001:db8:1:2::5"
    # Only proxies in the header: the left-most; no header: the proxy itself; garbage: the peer.
    assert client_address("10.1.2.3", ["10.0.0.1, 10.0.0.2"], PROXIES) == "10.0.0.1"
    assert client_address("10.1.2.3", [], PROXIES) == "10.1.2.3"
    assert client_address("10.1.2.3", ["198.51.100.7, not-an-address"], PROXIES) == "10.1.2.3"


def test_clients_behind_the_trusted_proxy_get_separate_buckets():
    limits = PublicFormLimits(per_minute=1, burst=1, max_clients=100, global_per_minute=1000, proxies=PROXIES,
                              clock=Clock())
    a, b = limits.client_of("10.0.0.1", ["198.51.100.7"]), limits.client_of("10.0.0.1", ["198.51.100.8"])
    assert limits.check(a) is None and limits.check(b) is None
    assert limits.check(a).code == "rate_limited"
    # A client cannot escape its bucket by writing X-Forwarded-For itself.
    forged = limits.client_of("10.0.0.1", ["203.0.113.1, 198.51.100.7"])
    assert forged == a and limits.check(forged).code == "rate_limited"


def test_the_global_ceiling_refuses_everyone_counts_and_warns_once_a_minute():
    clock = Clock()
    limits = PublicFormLimits(per_minute=60, burst=5, max_clients=1000, global_per_minute=3, clock=clock)
    before_global, before_client = refused("global_ceiling"), refused("client_rate")
    with capture_logs() as logged:
        answers = [limits.check(f"198.51.100.{n}") for n in range(1, 7)]
    assert [a.code if a else None for a in answers] == [None, None, None] + ["public_form_busy"] * 3
    assert all(a.retry_after >= 1 for a in answers[3:])
    assert refused("global_ceiling") - before_global == 3 and refused("client_rate") == before_client
    assert [(e["event"], e["log_level"]) for e in logged] == [("public_form_global_ceiling_reached", "warning")]
    assert "198.51.100" not in str(logged)  # no address in the log
    clock.now += 61  # a minute on: the bucket has refilled, and a new flood warns again, once
    assert limits.check("198.51.100.50") is None
    with capture_logs() as logged:
        for n in range(60, 70):
            limits.check(f"198.51.100.{n}")
    assert [e["event"] for e in logged] == ["public_form_global_ceiling_reached"]


def test_one_network_cannot_spend_the_global_ceiling_alone():
    """A home's /56 holds 256 /64s (the hostile review's flood): its /48 shares one bucket of twice a client's,
    so the form stays open to everyone else."""
    limits = PublicFormLimits(per_minute=6, burst=5, max_clients=10_000, global_per_minute=60, clock=Clock())
    flood = [limits.check(limits.client_of(f"2001:db8:77:{n:x}00::1", [])) for n in range(256)]
    assert sum(answer is None for answer in flood) == 10  # the network's burst, then its rate
    assert {answer.code for answer in flood if answer is not None} == {"rate_limited"}
    others = [limits.check(limits.client_of(f"2001:db8:{n + 1000:x}::1", [])) for n in range(40)]
    assert all(answer is None for answer in others)  # other networks are still let in
    assert network_key("203.0.113.77") == "203.0.113.0/24"
    assert network_key("2001:db8:77:100::/64") == "2001:db8:77::/48"
    assert network_key("testclient") == "testclient"
