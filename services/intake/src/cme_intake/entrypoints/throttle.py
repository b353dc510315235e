"""A token bucket per client, in this process: the public form's protection against floods.

Each client may send `burst` requests at once, then one more every `60 / per_minute` seconds. Buckets of
clients not seen for a while are dropped first when more than `max_clients` are held, so the table
cannot grow without bound. Per process: several replicas each allow the rate (see the README).
"""

import math
import time
from collections import OrderedDict
from collections.abc import Callable


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
