"""Between FastStream and aiokafka: no record a partner can write is dropped in silence, nor stops a partition.

What FastStream 0.7.8 and aiokafka 0.14 do on their own, which the kit cannot leave to them:
- aiokafka decodes a fetched batch lazily, while `getone`/`getmany` hand its records out: a batch it
  cannot decode (a codec library missing, a header name that is not UTF-8, a bad CRC) raises out of the
  call with no partition or offset on it, leaves the position where it was, and fails again at the next
  fetch, for ever. In a `getmany` the records it had already taken from other partitions are lost with
  it: their positions have moved on, and nothing hands them out again.
- FastStream's consume loop answers such a failure by sleeping (15 s after UnsupportedCodecError, 5 s
  after any other KafkaError) or, for any other exception, by letting its task die and restarting it;
  with the broker built with `logger=None`, all of it silently.
- FastStream reads every header value as UTF-8 text, and the body by its content-type header (JSON,
  text): a partner chooses both, and a value that does not match fails the record before the kit sees
  it; a single record is then read again for ever, a batch is passed over and never handled.

So the kit gives FastStream a parser that always succeeds and a decoder that leaves the body as bytes
(the kit parses the raw record itself), and stands between the consume loop and the fetch (`FetchGuard`):
when a fetch fails, every partition is put back where its settled records end, and each one with records
waiting is read raw, batch by batch, with aiokafka's own decoder. The first batch that will not decode is
dead-lettered whole, its bytes exactly as on the log, and the partition moves past it; the records before
it (and those of that batch before the one that failed) are handed on as usual. A batch that fails only
because this process lacks a codec is the deployment's fault, not the partner's: it is never
dead-lettered; the partition is reported blocked at that offset and paused (the others flow meanwhile),
and tried again now and then, until the codec is installed or an operator skips the batch (`skip_batch`).
"""

import asyncio
import dataclasses
from collections import deque
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import chain
from typing import TYPE_CHECKING, Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka import errors as kafka_errors
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.client import AIOKafkaClient
from aiokafka.errors import ConsumerStoppedError, UnsupportedCodecError
from aiokafka.protocol.fetch import FetchRequest
from aiokafka.record import MemoryRecords

from ..logging import get_logger
from .health import ConsumerHealth

if TYPE_CHECKING:
    from ..kafka_security import KafkaConnection
    from .consumer import ReliableConsumer

log = get_logger(__name__)

# A raw read asks for this much of a partition; the broker sends at least one whole batch even if larger.
RAW_FETCH_BYTES = 1 << 20
LOG_OVERHEAD = 12  # a batch starts with its base offset (8 bytes) and the length of the rest (4)
MAX_PAUSE_SECONDS = 30.0


# ---------------------------------------------------------------------------- FastStream's side


async def tolerant_parser(record: Any, parse: Callable[[Any], Awaitable[Any]]) -> Any:
    """FastStream's parser, given header values it can always read as text when the partner's are not
    (any bytes, or null); the message keeps the record exactly as it came, which is all the kit reads."""
    try:
        return await parse(record)
    except Exception:
        batch = isinstance(record, (tuple, list))
        message = await parse(tuple(map(_texted, record)) if batch else _texted(record))
        message.raw_message = record
        return message


async def raw_body(message: Any) -> Any:
    """The body as bytes, whatever its content-type header claims: the kit's parsers read it."""
    return message.body


def _texted(record: ConsumerRecord[Any, Any]) -> ConsumerRecord[Any, Any]:
    headers = tuple((name, b"" if value is None else value.decode("utf-8", "replace").encode())
                    for name, value in record.headers)
    return dataclasses.replace(record, headers=headers)


# ---------------------------------------------------------------------------- reading a partition raw


@dataclass(frozen=True)
class RawBatch:
    """One batch as on the log, with aiokafka's reading of it: its records, and if it could not read them
    all, why (`records` then holds those it read before it failed)."""

    base_offset: int
    next_offset: int
    data: bytes
    records: list[ConsumerRecord[bytes, bytes]]
    error: Exception | None = None
    unread_from: int | None = None  # with `error`: the first offset it could not read

    @property
    def last_offset(self) -> int:
        return self.next_offset - 1


async def read_raw(client: AIOKafkaClient, tp: TopicPartition, offset: int) -> bytes:
    """The partition's log from `offset` (from the start of the batch holding it), undecoded."""
    node = client.cluster.leader_for_partition(tp)
    if node is None or node < 0:
        raise kafka_errors.LeaderNotAvailableError(str(tp))
    request = FetchRequest(0, 1, RAW_FETCH_BYTES, 0, [(tp.topic, [(tp.partition, offset, RAW_FETCH_BYTES)])])
    response = await client.send(node, request)
    for topic, partitions in response.topics:
        for partition, error_code, _highwater, *data in partitions:
            if topic == tp.topic and partition == tp.partition:
                error = kafka_errors.for_code(error_code)
                if error is not kafka_errors.NoError:
                    raise error(str(tp))
                return bytes(data[-1] or b"")
    return b""


def split_batches(tp: TopicPartition, raw: bytes, from_offset: int) -> Iterator[RawBatch]:
    """Whole batches in `raw` (the broker may end a response inside one), each read as the fetcher reads
    it (CRC checked, control batches skipped, records before `from_offset` left out)."""
    pos = 0
    while len(raw) - pos >= LOG_OVERHEAD:
        length = int.from_bytes(raw[pos + 8:pos + LOG_OVERHEAD], "big", signed=True)
        end = pos + LOG_OVERHEAD + length
        if length <= 0 or end > len(raw):
            return
        data = raw[pos:end]
        pos = end
        batch = MemoryRecords(data).next_batch()
        if batch is None:
            return
        records: list[ConsumerRecord[bytes, bytes]] = []
        try:
            if not batch.validate_crc():
                raise kafka_errors.CorruptRecordException("invalid CRC")
            if not batch.is_control_batch:
                for record in batch:
                    if record.offset >= from_offset:
                        records.append(_consumer_record(tp, record))
        except Exception as exc:
            unread = records[-1].offset + 1 if records else max(batch.base_offset, from_offset)
            yield RawBatch(batch.base_offset, batch.next_offset, data, records, exc, unread)
            return
        yield RawBatch(batch.base_offset, batch.next_offset, data, records)


def _consumer_record(tp: TopicPartition, record: Any) -> ConsumerRecord[bytes, bytes]:
    key, value = record.key, record.value
    return ConsumerRecord(tp.topic, tp.partition, record.offset, record.timestamp, record.timestamp_type, key,
                          value, record.checksum, len(key) if key is not None else -1,
                          len(value) if value is not None else -1, tuple(record.headers))


# ---------------------------------------------------------------------------- the guard


@dataclass
class _Undecodable:
    tp: TopicPartition
    batch: RawBatch
    before: list[ConsumerRecord[bytes, bytes]]  # the partition's records ahead of it, readable


class FetchGuard:
    """Wraps one kit subscriber's fetch (`get_msg`, the step FastStream's consume loop calls) so that a
    failed fetch is contained as the module docstring says, and reported to the consumer's health."""

    def __init__(self, kit: "ReliableConsumer[Any]", subscriber: Any, health: ConsumerHealth, *,
                 batch: bool, max_records: int | None = None,
                 advance: Callable[[Any, TopicPartition, int], Awaitable[None]] | None = None) -> None:
        self._kit, self._subscriber, self._health = kit, subscriber, health
        self._batch, self._max_records = batch, max_records
        self._advance = advance
        self._fetch = subscriber.get_msg
        self._served: deque[ConsumerRecord[bytes, bytes]] = deque()  # read raw, handed out before fetching on
        self._resume: tuple[TopicPartition, int] | None = None  # past a dead-lettered batch, once they settle
        self._blocks: dict[TopicPartition, tuple[int, int]] = {}  # a blocked partition's offset, times found there
        self._waiting: list[dict[str, int]] = []  # partitions with records waiting when a fetch last failed
        subscriber.get_msg = self.get_msg

    @contextmanager
    def handling(self, deliveries: Any) -> Iterator[None]:
        """Around the handler call: progress on success; on failure (the records are nacked, read again)
        what was read raw is dropped, to be read again too."""
        try:
            with self._health.handling(deliveries):
                yield
        except BaseException:
            self._served.clear()
            self._resume = None
            raise

    async def get_msg(self, consumer: Any) -> Any:
        self._health.watch(self._subscriber, consumer)
        if self._served:
            # Records read raw for a partition a rebalance has since taken away are its new owner's to handle.
            assigned = consumer.assignment()
            kept = [r for r in self._served if TopicPartition(r.topic, r.partition) in assigned]
            if len(kept) != len(self._served):
                self._served.clear()
                self._served.extend(kept)
                if self._resume is not None and self._resume[0] not in assigned:
                    self._resume = None
        if self._served:
            return self._serve()
        if self._resume is not None:
            await self._move_past(consumer)
        try:
            fetched = await (self._fetch_batch(consumer) if self._batch else self._fetch(consumer))
        except (ConsumerStoppedError, asyncio.CancelledError):
            raise
        except Exception as exc:
            return await self._failed(consumer, exc)
        self._health.fetched()
        return fetched

    async def _fetch_batch(self, consumer: Any) -> tuple[ConsumerRecord[bytes, bytes], ...]:
        """What FastStream's batch fetch does, without its pause: `getmany` returns as soon as any record
        is there (it never waits for a batch to fill), and when none came within `batch_timeout_ms`
        FastStream then slept as long again, so a record arriving in that pause waited up to 20 ms more
        at each batch consumer on its way (docs/performance.md). Here an idle consumer just waits again."""
        fetched = await consumer.getmany(timeout_ms=self._kit.batch_timeout_ms, max_records=self._max_records)
        return tuple(chain.from_iterable(fetched.values()))

    def _serve(self) -> Any:
        if not self._batch:
            return self._served.popleft()
        count = min(len(self._served), self._max_records or len(self._served))
        return tuple(self._served.popleft() for _ in range(count))

    def _nothing(self) -> Any:
        return () if self._batch else None

    async def _move_past(self, consumer: Any) -> None:
        """The records read raw have settled: on to where the partition goes next (past a dead-lettered
        batch, or to a blocked one), everything before it settled."""
        assert self._resume is not None
        tp, next_offset = self._resume
        self._resume = None
        if tp in consumer.assignment():
            consumer.seek(tp, next_offset)
            self._health.advanced(tp, next_offset)
            if self._advance is not None:
                await self._advance(consumer, tp, next_offset)

    async def _failed(self, consumer: Any, exc: Exception) -> Any:
        error_type = type(exc).__name__
        self._health.fetch_failed(error_type, self._kit.topic)
        try:
            await self._rewind(consumer)
            found = await self._find_undecodable(consumer)
        except (ConsumerStoppedError, asyncio.CancelledError):
            raise
        except Exception as probe:  # the broker away, say: reported below, tried again after the pause
            log.warning("fetch_probe_failed", consumer=self._kit.name, topic=self._kit.topic,
                        error_type=type(probe).__name__)
            found = None
        if found is None:
            log.error("consumer_fetch_failed", consumer=self._kit.name, group=self._kit.group_id,
                      topic=self._kit.topic, error_type=error_type, attempts=self._health.fetch_failures,
                      waiting=self._waiting)
            await asyncio.sleep(min(MAX_PAUSE_SECONDS, 2.0 ** (self._health.fetch_failures - 1)))
            return self._nothing()
        if await self._dead_lettered(consumer, found):
            self._health.fetched()
            self._hand_on(found.before, found.tp, found.batch.next_offset)
        else:  # the records ahead of the one that failed still go on; the partition then waits there
            self._hand_on(found.before, found.tp, found.batch.unread_from)
        return self._serve() if self._served else self._nothing()

    async def _dead_lettered(self, consumer: Any, found: _Undecodable) -> bool:
        """The batch to the dead-letter topic, unless the fault is this process's (a codec missing) or the
        dead letter cannot be written (the database away): then the partition is blocked at it."""
        batch, error_type = found.batch, type(found.batch.error).__name__
        if isinstance(batch.error, UnsupportedCodecError):
            self._blocked(consumer, found, error_type)
            return False
        try:
            await self._kit._dead_letter_batch(found.tp, batch.base_offset, batch.last_offset, batch.unread_from,
                                               batch.data, error_type)
        except (ConsumerStoppedError, asyncio.CancelledError):
            raise
        except Exception as failure:
            self._blocked(consumer, found, f"{error_type}; dead letter not written: {type(failure).__name__}")
            return False
        return True

    def _hand_on(self, records: list[ConsumerRecord[bytes, bytes]], tp: TopicPartition, then: int) -> None:
        """Records read raw go to the handler first; once they have settled, the partition goes on at `then`."""
        self._served.extend(records)
        self._resume = (tp, then)

    def _blocked(self, consumer: Any, found: _Undecodable, error_type: str) -> None:
        """Reported (logged once per offset); the partition paused, so that the others flow meanwhile, and
        tried again after 1, 2, 4... up to 30 seconds."""
        tp, batch = found.tp, found.batch
        offset = batch.unread_from
        previous_offset, times = self._blocks.get(tp, (None, 0))
        times = times + 1 if previous_offset == offset else 1
        self._blocks[tp] = (offset, times)
        self._health.blocked(tp, offset, error_type)
        if times == 1:
            log.error("consumer_blocked", consumer=self._kit.name, group=self._kit.group_id, topic=tp.topic,
                      partition=tp.partition, offset=offset, last_offset=batch.last_offset,
                      error_type=error_type, missing_codec=isinstance(batch.error, UnsupportedCodecError))
        consumer.pause(tp)
        asyncio.get_running_loop().call_later(min(MAX_PAUSE_SECONDS, 2.0 ** (times - 1)), _unpause, consumer, tp)

    async def _rewind(self, consumer: Any) -> None:
        """Every partition back to where its settled records end: a failed `getmany` may have moved some
        past records it never handed out. (At worst a settled record is read again: an inbox duplicate.)"""
        for tp in consumer.assignment():
            settled = self._health.settled_offset(tp)
            if settled is None:
                settled = await consumer.committed(tp)
            if settled is None:  # the group has never committed here: it starts at the earliest
                await consumer.seek_to_beginning(tp)
            elif await consumer.position(tp) > settled:
                consumer.seek(tp, settled)

    async def _find_undecodable(self, consumer: Any) -> _Undecodable | None:
        """The first batch aiokafka cannot decode on a partition with records waiting, read raw."""
        self._waiting = []
        for tp in sorted(consumer.assignment()):
            position = await consumer.position(tp)
            highwater = consumer.highwater(tp)
            if highwater is not None and position >= highwater:
                continue
            self._waiting.append({"partition": tp.partition, "offset": position})
            raw = await read_raw(consumer._client, tp, position)  # the consumer's own connections and versions
            before: list[ConsumerRecord[bytes, bytes]] = []
            for batch in split_batches(tp, raw, position):
                before.extend(batch.records)  # a failing batch's records before the one that failed, too
                if batch.error is not None:
                    return _Undecodable(tp, batch, before)
        return None


def _unpause(consumer: Any, tp: TopicPartition) -> None:
    try:
        if tp in consumer.paused():
            consumer.resume(tp)
    except Exception:  # the partition was revoked meanwhile, or the consumer stopped: nothing to resume
        pass


# ---------------------------------------------------------------------------- the operator's last resort


async def skip_batch(kafka: "KafkaConnection", group_id: str, topic: str, partition: int, offset: int,
                     dlq_topic: str) -> RawBatch:
    """Move the batch holding `offset` to `dlq_topic` (its bytes as on the log) and commit the group past
    it. Only for a group with no member running: Kafka takes offsets only from a group's own members."""
    admin = AIOKafkaAdminClient(**kafka.aiokafka(), client_id="cme-ops")
    await admin.start()
    try:
        [response] = await admin.describe_consumer_groups([group_id])
    finally:
        await admin.close()
    state = response.groups[0][2]  # (error_code, group, state, protocol_type, protocol, members, ...)
    if state not in ("Empty", "Dead"):
        raise RuntimeError(f"group {group_id} is {state}: stop the service's consumers first")
    tp = TopicPartition(topic, partition)
    consumer = AIOKafkaConsumer(**kafka.aiokafka(), group_id=group_id, enable_auto_commit=False,
                                client_id="cme-ops")
    await consumer.start()
    try:
        consumer.assign([tp])
        await consumer.position(tp)  # the partition's leader known
        batch = next(iter(split_batches(tp, await read_raw(consumer._client, tp, offset), offset)), None)
        if batch is None or batch.next_offset <= offset:
            raise RuntimeError(f"no batch holds {topic}:{partition}:{offset}")
        producer = AIOKafkaProducer(**kafka.aiokafka(), acks="all", enable_idempotence=True,
                                    client_id="cme-ops")
        await producer.start()
        try:
            await producer.send_and_wait(dlq_topic, value=batch.data, headers=[
                ("x-dlq-kind", b"skipped_batch"),
                ("x-dlq-consumer", group_id.encode()),
                ("x-dlq-original-topic", topic.encode()),
                ("x-dlq-original-partition", str(partition).encode()),
                ("x-dlq-original-offset", str(batch.base_offset).encode()),
                ("x-dlq-original-last-offset", str(batch.last_offset).encode()),
                ("x-dlq-value-format", b"kafka-record-batch"),
            ])
        finally:
            await producer.stop()
        await consumer.commit({tp: batch.next_offset})
        return batch
    finally:
        await consumer.stop()
