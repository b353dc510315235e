"""Whether a kit consumer is making progress, and the figures an operator watches (issue 11: a consumer
that has stopped must never look healthy, and must say where it stopped).

A partition is stalled when records wait on it (its high watermark is past the offset the consumer has
settled up to) and that offset has not moved for `stall_seconds`. A consumer is unhealthy while one of
its partitions is stalled or blocked (a batch it can neither decode nor dead-letter: see fetching.py),
while its fetches keep failing, or while one handler call has run `stall_seconds` without settling a
record. An idle consumer (nothing waiting) is never stalled; a busy one is not while it still settles
records, since a record's retries are bounded (the settings check that `stall_seconds` outlasts them).

A watchdog, one of the subscriber's own tasks (so it stops with it), looks every few seconds, exports
lag, position, last progress and stalled per partition, and logs each change with topic, partition and
offset; `problems()` is what the service's readiness reports.
"""

import asyncio
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aiokafka import ConsumerRebalanceListener, TopicPartition
from aiokafka.codec import has_lz4, has_snappy, has_zstd
from aiokafka.errors import ConsumerStoppedError, IllegalStateError

from ..clock import SYSTEM_CLOCK
from ..logging import get_logger
from ..metrics import (
    CONSUMER_FETCH_ERRORS,
    CONSUMER_LAG,
    CONSUMER_LAST_PROGRESS,
    CONSUMER_POSITION,
    CONSUMER_STALLED,
)

if TYPE_CHECKING:
    from .consumer import Delivery

log = get_logger(__name__)

# Consecutive failed fetches after which the consumer reports itself unhealthy even though no partition
# has been waiting `stall_seconds` yet (the guard backs off 1, 2, 4 s between them).
FETCH_FAILURES_UNHEALTHY = 3


def missing_codecs() -> list[str]:
    """Codecs a partner's client may compress with that aiokafka cannot read here (cramjam missing)."""
    checks = {"snappy": has_snappy, "lz4": has_lz4, "zstd": has_zstd}  # gzip is the standard library's
    return [name for name, available in checks.items() if not available()]


@dataclass
class _Partition:
    moved_at: float  # monotonic: when its offset last moved, or it was last seen with nothing waiting
    settled: int | None = None  # the offset after the last record settled since it was assigned
    at: int | None = None  # where it waits: `settled`, or before anything was settled, its position
    lag: int | None = None
    stalled: bool = False  # as last logged
    blocked_at: int | None = None  # a batch there can be neither decoded nor dead-lettered
    blocked_by: str | None = None


class ConsumerHealth:
    """One consumer's progress, fed by its subscriber (records handed out and settled, fetch failures,
    rebalances) and judged by its watchdog."""

    def __init__(self, name: str, group_id: str, stall_seconds: float) -> None:
        self.name, self.group_id, self.stall_seconds = name, group_id, stall_seconds
        self.check_seconds = min(5.0, stall_seconds / 5)
        self._partitions: dict[TopicPartition, _Partition] = {}
        self._busy_since: float | None = None
        self._in_hand: Delivery | None = None  # the first record of the handler call under way
        self._last_settled_at = 0.0
        self._fetch_failures = 0
        self._fetch_error: str | None = None
        self._watching: Any = None

    # ------------------------------------------------------------------ fed by the subscriber

    def listener(self) -> ConsumerRebalanceListener:
        return _Rebalances(self)

    def assigned(self, partitions: Iterable[TopicPartition]) -> None:
        now = time.monotonic()
        for tp in partitions:  # another member may have moved it on meanwhile: start afresh
            self._forget(tp)
            self._partitions[tp] = _Partition(moved_at=now)

    def revoked(self, partitions: Iterable[TopicPartition]) -> None:
        for tp in partitions:
            self._forget(tp)

    @contextmanager
    def handling(self, deliveries: Sequence["Delivery"]) -> Iterator[None]:
        """Around one handler call: busy while it runs; its records settled if it returns."""
        self._busy_since, self._in_hand = time.monotonic(), deliveries[0] if deliveries else None
        first: dict[TopicPartition, int] = {}
        for delivery in deliveries:
            tp = TopicPartition(delivery.topic, delivery.partition)
            first[tp] = min(first.get(tp, delivery.offset), delivery.offset)
        for tp, offset in first.items():
            partition = self._partition(tp)
            if partition.settled is None:  # its first records since it was assigned: all before them settled
                partition.settled = offset
        try:
            yield
        finally:
            self._busy_since = self._in_hand = None
        self.settled(deliveries)

    def settled(self, deliveries: Iterable["Delivery"]) -> None:
        for delivery in deliveries:
            self.advanced(TopicPartition(delivery.topic, delivery.partition), delivery.offset + 1)

    def advanced(self, tp: TopicPartition, next_offset: int) -> None:
        """Everything before `next_offset` on `tp` is settled (handled, dead-lettered or skipped)."""
        partition = self._partition(tp)
        if partition.settled is None or next_offset > partition.settled:
            partition.settled = partition.at = next_offset
            partition.moved_at = time.monotonic()
        if partition.blocked_at is not None and next_offset > partition.blocked_at:
            partition.blocked_at = partition.blocked_by = None

    def record_settled(self) -> None:
        """A record settled inside a handler call still under way (the batch path's retries)."""
        self._last_settled_at = time.monotonic()

    def settled_offset(self, tp: TopicPartition) -> int | None:
        partition = self._partitions.get(tp)
        return partition.settled if partition is not None else None

    def fetched(self) -> None:
        self._fetch_failures, self._fetch_error = 0, None

    def fetch_failed(self, error_type: str, topic: str) -> None:
        self._fetch_failures += 1
        self._fetch_error = error_type
        CONSUMER_FETCH_ERRORS.labels(self.name, self.group_id, topic, error_type).inc()

    def blocked(self, tp: TopicPartition, offset: int, error_type: str) -> None:
        partition = self._partition(tp)
        partition.blocked_at, partition.blocked_by = offset, error_type
        CONSUMER_STALLED.labels(self.name, self.group_id, tp.topic, str(tp.partition)).set(1)

    @property
    def fetch_failures(self) -> int:
        return self._fetch_failures

    # ------------------------------------------------------------------ judged

    def problems(self) -> list[dict[str, Any]]:
        """What keeps this consumer from making progress now; empty when it is healthy."""
        now = time.monotonic()
        found: list[dict[str, Any]] = []
        if missing := missing_codecs():
            found.append({"consumer": self.name, "reason": "codec_missing", "codecs": missing})
        for tp, partition in sorted(self._partitions.items()):
            where = {"consumer": self.name, "topic": tp.topic, "partition": tp.partition}
            if partition.blocked_at is not None:
                found.append({**where, "offset": partition.blocked_at, "reason": "blocked",
                              "error_type": partition.blocked_by})
            elif self._stalled(partition, now):
                found.append({**where, "offset": partition.at, "lag": partition.lag, "reason": "stalled",
                              "seconds": round(now - partition.moved_at)})
        if self._busy_since is not None and not self._alive(now) and self._in_hand is not None:
            found.append({"consumer": self.name, "topic": self._in_hand.topic, "partition": self._in_hand.partition,
                          "offset": self._in_hand.offset, "reason": "handler_running",
                          "seconds": round(now - self._busy_since)})
        if self._fetch_failures >= FETCH_FAILURES_UNHEALTHY:
            found.append({"consumer": self.name, "reason": "fetch_failing", "error_type": self._fetch_error,
                          "attempts": self._fetch_failures})
        return found

    @property
    def healthy(self) -> bool:
        return not self.problems()

    def _alive(self, now: float) -> bool:
        """A handler call is under way and has started or settled a record within `stall_seconds`."""
        return self._busy_since is not None and now - max(self._busy_since, self._last_settled_at) <= self.stall_seconds

    def _stalled(self, partition: _Partition, now: float) -> bool:
        return bool(partition.lag) and now - partition.moved_at > self.stall_seconds and not self._alive(now)

    # ------------------------------------------------------------------ the watchdog

    def watch(self, subscriber: Any, consumer: Any) -> None:
        """Start the watchdog for this aiokafka consumer (FastStream makes a new one at each start) as a
        task of the subscriber's, so that it stops when the subscriber does."""
        if self._watching is not consumer:
            self._watching = consumer
            subscriber.add_task(self._watch, (consumer,))

    async def _watch(self, consumer: Any) -> None:
        while True:
            try:
                await self.check(consumer)
            except (ConsumerStoppedError, IllegalStateError):
                return
            except Exception as exc:  # the broker away, say: the next look may do better
                log.warning("consumer_check_failed", consumer=self.name, error_type=type(exc).__name__)
            await asyncio.sleep(self.check_seconds)

    async def check(self, consumer: Any) -> None:
        """Read each assigned partition's high watermark against where the consumer is; export; log changes."""
        now = time.monotonic()
        assigned = consumer.assignment()
        for tp in [tp for tp in self._partitions if tp not in assigned]:
            self._forget(tp)
        for tp in sorted(assigned):
            partition = self._partition(tp)
            at = partition.settled
            if at is None or self._in_hand is None:
                # Nothing settled since it was assigned, or nothing in hand: where the consumer has read to.
                # That is past a transaction's commit markers, which take offsets no record ever settles:
                # with only the settled offset, a transactional partner's partition lagged by one for ever.
                try:
                    position = await asyncio.wait_for(consumer.position(tp), 1.0)
                    at = position if at is None else max(at, position)
                except (TimeoutError, IllegalStateError):  # its position is being reset, or it was revoked
                    at = partition.at if at is None else at
            highwater = consumer.highwater(tp)
            lag = max(0, highwater - at) if highwater is not None and at is not None else None
            if at != partition.at or not lag:
                partition.moved_at = now
            partition.at, partition.lag = at, lag
            self._export(tp, partition, now)

    def _export(self, tp: TopicPartition, partition: _Partition, now: float) -> None:
        labels = (self.name, self.group_id, tp.topic, str(tp.partition))
        stalled = self._stalled(partition, now) or partition.blocked_at is not None
        if partition.lag is not None:
            CONSUMER_LAG.labels(*labels).set(partition.lag)
        if partition.at is not None:
            CONSUMER_POSITION.labels(*labels).set(partition.at)
        CONSUMER_LAST_PROGRESS.labels(*labels).set(SYSTEM_CLOCK.now().timestamp() - (now - partition.moved_at))
        CONSUMER_STALLED.labels(*labels).set(1 if stalled else 0)
        if stalled and not partition.stalled:
            log.error("consumer_stalled", consumer=self.name, group=self.group_id, topic=tp.topic,
                      partition=tp.partition, offset=partition.blocked_at if partition.blocked_at is not None
                      else partition.at, lag=partition.lag, error_type=partition.blocked_by,
                      seconds=round(now - partition.moved_at))
        elif partition.stalled and not stalled:
            log.info("consumer_progressing", consumer=self.name, group=self.group_id, topic=tp.topic,
                     partition=tp.partition, offset=partition.at)
        partition.stalled = stalled

    def _partition(self, tp: TopicPartition) -> _Partition:
        partition = self._partitions.get(tp)
        if partition is None:
            partition = self._partitions[tp] = _Partition(moved_at=time.monotonic())
        return partition

    def _forget(self, tp: TopicPartition) -> None:
        """A partition no longer ours: its figures go, rather than stand still in /metrics."""
        if self._partitions.pop(tp, None) is not None:
            labels = (self.name, self.group_id, tp.topic, str(tp.partition))
            for gauge in (CONSUMER_LAG, CONSUMER_POSITION, CONSUMER_LAST_PROGRESS, CONSUMER_STALLED):
                try:
                    gauge.remove(*labels)
                except KeyError:
                    pass


class _Rebalances(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, health: ConsumerHealth) -> None:
        self._health = health

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        self._health.revoked(revoked)

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        self._health.assigned(assigned)
