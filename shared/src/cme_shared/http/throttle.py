"""A public form's protection against floods (SEC-11): a token bucket per client, and one for everyone.

Used by every route that takes no token (intake's public referral form, rights' public complaint form), each
with its own limits, noun and refusal counter.

- **Per client**: each client may send `burst` requests at once, then one more every `60 / per_minute`
  seconds. A client is an IPv4 address, or an IPv6 /64 (one household's or one host's prefix: rotating
  addresses inside it gets no fresh bucket). Buckets of clients not seen for a while are dropped first when
  more than `max_clients` are held, so the table cannot grow without bound.
- **Who the client is**: the TCP peer, unless the peer is one of the trusted proxies (`CME_TRUSTED_PROXIES`,
  CIDRs): then the right-most `X-Forwarded-For` address that is not a trusted proxy (what the nearest
  proxy we trust saw; everything to its left is the client's to forge).
- **Per network**: the clients of one network (an IPv6 /48, a site's usual allocation, or an IPv4 /24)
  share a bucket of twice a client's rate and burst, so one household or host with many /64s (a /56 holds
  256) cannot spend the global ceiling alone.
- **Global ceiling**: all clients together get `global_per_minute` (a burst of as many); beyond it the
  form answers 429 `public_form_busy` whoever asks, counts the refusal and logs a warning (no address) at
  most once a minute, so an alert fires on a distributed flood.

Per process: several replicas each allow the rates (see the README).
"""

import ipaddress
import math
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from prometheus_client import Counter

from ..logging import get_logger

log = get_logger(__name__)

Network = ipaddress.IPv4Network | ipaddress.IPv6Network



def refusal_counter(name: str, what: str) -> Counter:
    """A form's refusal counter, by reason (client_rate, network_rate, global_ceiling): one per form."""
    return Counter(name, f"Public {what} form requests refused before their body was read, by reason "
                   "(client_rate, network_rate, global_ceiling)", ["reason"])

# At most one warning line per this many seconds while the global ceiling refuses.
WARNING_INTERVAL_SECONDS = 60.0
IPV6_CLIENT_PREFIX = 64
IPV6_NETWORK_PREFIX, IPV4_NETWORK_PREFIX = 48, 24
NETWORK_SHARE = 2  # a network's bucket: this many clients' rate and burst


class TokenBuckets:
    def __init__(self, *, per_minute: float, burst: int, max_clients: int = 10_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._rate = per_minute / 60.0
        self._burst = float(burst)
        self._max_clients = max_clients
        self._clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # client -> (tokens, at)

    def take(self, client: str) -> bool:
        """Spend one token of `client`'s bucket; False when it is empty."""
        now = self._clock()
        tokens, at = self._buckets.pop(client, (self._burst, now))
        tokens = min(self._burst, tokens + (now - at) * self._rate)
        allowed = tokens >= 1.0
        self._buckets[client] = (tokens - 1.0 if allowed else tokens, now)
        while len(self._buckets) > self._max_clients:
            self._buckets.popitem(last=False)  # the least recently seen
        return allowed

    def retry_after(self, client: str) -> int:
        tokens, _ = self._buckets.get(client, (self._burst, 0.0))
        return max(1, math.ceil((1.0 - tokens) / self._rate)) if self._rate > 0 else 60


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        address = ipaddress.ip_address(text.strip())
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def client_key(address: str) -> str:
    """The bucket an address draws on: the IPv4 address itself, an IPv6 address's /64 (anything else, as
    written: an in-process test client, say)."""
    parsed = _address(address)
    if parsed is None:
        return address
    if isinstance(parsed, ipaddress.IPv6Address):
        return str(ipaddress.IPv6Network((parsed, IPV6_CLIENT_PREFIX), strict=False))
    return str(parsed)


def network_key(client: str) -> str:
    """The network a client's bucket belongs to: the /48 of an IPv6 /64, the /24 of an IPv4 address."""
    try:
        network = ipaddress.ip_network(client, strict=False)
    except ValueError:
        return client
    prefix = IPV6_NETWORK_PREFIX if network.version == 6 else IPV4_NETWORK_PREFIX
    return str(network.supernet(new_prefix=prefix)) if network.prefixlen > prefix else str(network)


def _trusted(address: ipaddress.IPv4Address | ipaddress.IPv6Address | None, proxies: Sequence[Network]) -> bool:
    return address is not None and any(address.version == net.version and address in net for net in proxies)


def client_address(peer: str | None, forwarded_for: Iterable[str], proxies: Sequence[Network]) -> str:
    """Who sent the request: the TCP peer, or, when the peer is a trusted proxy, the right-most
    X-Forwarded-For entry that is not one (all of them trusted: the left-most)."""
    peer = peer or "unknown"
    if not proxies or not _trusted(_address(peer), proxies):
        return peer
    hops = [hop.strip() for value in forwarded_for for hop in value.split(",") if hop.strip()]
    for hop in reversed(hops):
        address = _address(hop)
        if address is None:
            return peer  # not an address: our proxy would not have written it; keep to what we know
        if not _trusted(address, proxies):
            return str(address)
    return str(_address(hops[0])) if hops else peer


@dataclass(frozen=True)
class Throttled:
    """Why a request was refused before its body was read, and when to try again (seconds)."""

    code: str
    message: str
    retry_after: int


class PublicFormLimits:
    """The per-client buckets and the global one, with the refusal counter and the warning line."""

    def __init__(self, *, per_minute: float, burst: int, max_clients: int, global_per_minute: float,
                 counter: Counter, noun: str, proxies: Sequence[Network] = (),
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._counter, self._noun = counter, noun
        self.clients = TokenBuckets(per_minute=per_minute, burst=burst, max_clients=max_clients, clock=clock)
        self.networks = TokenBuckets(per_minute=per_minute * NETWORK_SHARE, burst=burst * NETWORK_SHARE,
                                     max_clients=max_clients, clock=clock)
        self._everyone = TokenBuckets(per_minute=global_per_minute, burst=max(1, math.ceil(global_per_minute)),
                                      max_clients=1, clock=clock)
        self._proxies = tuple(proxies)
        self._clock = clock
        self._warned_at: float | None = None
        self._refused_since_warning = 0

    def client_of(self, peer: str | None, forwarded_for: Iterable[str]) -> str:
        return client_key(client_address(peer, forwarded_for, self._proxies))

    def check(self, client: str) -> Throttled | None:
        """Spend a token of the client's bucket and one of everyone's; the refusal, if any."""
        if not self.clients.take(client):
            self._counter.labels(reason="client_rate").inc()
            return Throttled("rate_limited", f"too many {self._noun} from this address; please try again later",
                           self.clients.retry_after(client))
        network = network_key(client)
        if network != client and not self.networks.take(network):
            self._counter.labels(reason="network_rate").inc()
            return Throttled("rate_limited", f"too many {self._noun} from this network; please try again later",
                           self.networks.retry_after(network))
        if not self._everyone.take("*"):
            self._counter.labels(reason="global_ceiling").inc()
            self._warn()
            return Throttled("public_form_busy",
                           f"the form is receiving more {self._noun} than it can take just now; please try "
                           "again later, or call the council if a child is at risk", self._everyone.retry_after("*"))
        return None

    def _warn(self) -> None:
        self._refused_since_warning += 1
        now = self._clock()
        if self._warned_at is None or now - self._warned_at >= WARNING_INTERVAL_SECONDS:
            log.warning("public_form_global_ceiling_reached", count=self._refused_since_warning)
            self._warned_at = now
            self._refused_since_warning = 0
