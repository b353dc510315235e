"""Transactional outbox: write events with the domain change, publish them afterwards, never lose one.

`Outbox.add` inserts a row inside the caller's transaction. `OutboxRelay` publishes committed rows in
id order with an idempotent producer (acks=all), keyed by aggregate id so that one aggregate's events
keep their order, and marks them published in the same database transaction that locked them. A crash
between publishing and marking republishes the batch on restart; consumers' inboxes absorb that.

Nothing unsendable blocks the queue (issue 11, SEC-01). The relay measures each row as Kafka will see
it before sending. A row that cannot fit, or that the broker refuses `send_attempts` times, is
quarantined: kept in the table with a reason code, counted, logged at ERROR and skipped, so the rows
behind it flow on, until an operator releases or drops it (`python -m cme_shared.ops outbox`). A
broker outage, a timeout or a missing topic is not the row's fault: its rows wait, and the relay
reports itself stuck (`healthy`). Rows that were sent in a pass are marked published even when others
in the same pass failed, so a failure never re-sends the rows ahead of it.

Several instances of a service share one outbox: one relay publishes at a time (a transaction-scoped
advisory lock, tried at the start of each pass; a relay that does not get it leaves the rows to the one
that has it, whose next pass takes them). Two relays sending at once would each claim rows and race to
the broker, so one key's later row could land ahead of its earlier one.

Order: the rows behind a quarantined one are sent, those with the same aggregate key too. A council
would rather the queue flows than have one oversized event hold back every later event about that child
or case; if the quarantined event is released, it arrives after them. Until a row is quarantined, its
key keeps its order: once the broker refuses a record, the idempotent producer refuses that partition's
later records too (out of sequence), so they are retried behind it on a fresh producer.
"""

import asyncio
import base64
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import (
    CorruptRecordException,
    InvalidTimestampError,
    KafkaError,
    MessageSizeTooLargeError,
    RecordListTooLargeError,
)
from aiokafka.record.default_records import DefaultRecordBatchBuilder
from pydantic import BaseModel
from sqlalchemy import Row, bindparam, extract, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from .. import correlation
from ..contracts.topics import DLQ_MAX_MESSAGE_BYTES, SIGNERS, is_dlq
from ..kafka_security import KafkaConnection
from ..logging import get_logger
from ..metrics import OUTBOX_OLDEST_AGE, OUTBOX_PUBLISHED, OUTBOX_QUARANTINED, OUTBOX_QUARANTINES, OUTBOX_UNPUBLISHED
from ..tracing import OFF, Tracing, trace_headers
from .held_inserts import held_for
from .signing import Signer, logical_topic
from .tables import KitTables

log = get_logger(__name__)

# A Kafka header value may be null: kept as None, so that a dead letter is the record exactly as it came.
HeaderList = Sequence[tuple[str, bytes | None]]
AGGREGATE_KEY = object()  # the default Kafka key: the aggregate id, for per-aggregate ordering
TOO_LARGE = "too_large"  # the quarantine reason of a row over the relay's record limit
# pg_try_advisory_xact_lock key of the one relay publishing a database's outbox ("cmeout" as an integer).
RELAY_LOCK = 0x636D656F7574
_RELAY_LOCK = text("SELECT pg_try_advisory_xact_lock(:key)")
# What the broker says about one record: sending it again gets the same answer.
ROW_FAULTS = (MessageSizeTooLargeError, RecordListTooLargeError, CorruptRecordException, InvalidTimestampError)
STATS_SECONDS = 2.0  # how often the relay refreshes its gauges and its view of the oldest waiting row


NAME_IN_BASE64 = "name_b64"  # a third element: the stored name is base64 (it held a NUL, which JSONB refuses)


def encode_headers(headers: HeaderList) -> list[list[str | None]]:
    encoded: list[list[str | None]] = []
    for name, value in headers:
        stored_value = None if value is None else base64.b64encode(value).decode()
        if "\x00" in name:
            encoded.append([base64.b64encode(name.encode()).decode(), stored_value, NAME_IN_BASE64])
        else:
            encoded.append([name, stored_value])
    return encoded


def decode_headers(stored: list[list[str | None]]) -> list[tuple[str, bytes | None]]:
    decoded: list[tuple[str, bytes | None]] = []
    for name, value, *form in stored:
        text = base64.b64decode(str(name)).decode() if form == [NAME_IN_BASE64] else str(name)
        decoded.append((text, None if value is None else base64.b64decode(value)))
    return decoded


def record_size(key: bytes | None, value: bytes, headers: HeaderList) -> int:
    """A record's size as the producer checks it against max_request_size: key, value, headers and the
    batch's overhead. aiokafka's own estimate, so that the relay and its producer never disagree."""
    return int(DefaultRecordBatchBuilder.estimate_size_in_bytes(key, value, list(headers)))


def is_row_fault(exc: BaseException) -> bool:
    """Did the send fail because of the row itself? The broker refused this record, or the producer
    could not even take it (a non-Kafka error raised for that row). Any other Kafka error (connection,
    timeout, leader election, authorisation, a missing topic, the sequence errors that follow a refusal)
    is the platform's: the row waits, it is never quarantined for it."""
    if isinstance(exc, ROW_FAULTS):
        return True
    return not isinstance(exc, (KafkaError, OSError, TimeoutError))


def refusal_code(exc: BaseException) -> str:
    """A quarantine reason from the error's type only: an error's message may quote the record."""
    return f"refused:{type(exc).__name__}"


class Outbox:
    """Writes outgoing messages into the service's outbox table, inside the caller's transaction.

`add` stores the current trace context (`traceparent`, `tracestate`: tracing.py) with the message, so
its consumer's span continues the trace that wrote it; `add_raw` keeps the headers it is given.

    With a `signer`, every message for an internal topic (`contracts.topics.SIGNERS`) is signed as it is
    written (messaging/signing.py), over its topic name without `namespace`, key, event id and payload;
    messages for partners and dead letters are not (a dead letter keeps the signature it came with).
    """

    def __init__(self, tables: KitTables, *, signer: Signer | None = None, namespace: str = "") -> None:
        self.statement = tables.outbox.insert()  # built once; rows come as parameters
        self._signer = signer
        self._namespace = namespace

    async def add(
        self,
        session: AsyncSession,
        *,
        topic: str,
        event: BaseModel,
        aggregate_type: str,
        aggregate_id: str,
        headers: Mapping[str, str] | None = None,
        key: bytes | None | object = AGGREGATE_KEY,
    ) -> uuid.UUID:
        """Add `event` for publishing to `topic`, keyed by its aggregate id unless `key` says otherwise."""
        row = self.event_row(topic=topic, event=event, aggregate_type=aggregate_type, aggregate_id=aggregate_id,
                             headers=headers, key=key)
        await self._write(session, row)
        return row["event_id"]  # type: ignore[no-any-return]

    async def add_raw(
        self,
        session: AsyncSession,
        *,
        topic: str,
        key: bytes | None,
        payload: bytes,
        headers: HeaderList,
        aggregate_type: str,
        aggregate_id: str,
        event_type: str,
        event_id: uuid.UUID | None = None,
    ) -> None:
        """A message whose bytes are already fixed: a dead letter, or a reply kept byte for byte."""
        await self._write(session, self.raw_row(
            topic=topic, key=key, payload=payload, headers=headers, aggregate_type=aggregate_type,
            aggregate_id=aggregate_id, event_type=event_type, event_id=event_id))

    async def _write(self, session: AsyncSession, row: dict[str, Any]) -> None:
        # Written at once. In a unit of work that holds its rows (a batch's), a row written here would
        # overtake the rows held before it: there, only `uow.outbox` may add to the outbox.
        if held_for(session) is not None:
            raise RuntimeError("the outbox of a unit of work holding its rows is uow.outbox, not Outbox.add")
        await session.execute(self.statement, [row])

    def event_row(self, *, topic: str, event: BaseModel, aggregate_type: str, aggregate_id: str,
                  headers: Mapping[str, str] | None = None, key: bytes | None | object = AGGREGATE_KEY,
                  ) -> dict[str, Any]:
        """The outbox row of `event` (what `add` writes with `statement`)."""
        event_id = getattr(event, "event_id", None) or uuid.uuid4()
        event_type = type(event).__name__
        header_list = [
            ("event_id", str(event_id).encode()),
            ("event_type", event_type.encode()),
            ("content-type", b"application/json"),
            (correlation.HEADER, (correlation.current() or str(uuid.uuid4())).encode()),
            *trace_headers(),
            *((name, value.encode()) for name, value in (headers or {}).items()),
        ]
        return self.raw_row(
            topic=topic,
            key=aggregate_id.encode() if key is AGGREGATE_KEY else key,  # type: ignore[arg-type]
            payload=event.model_dump_json().encode(),
            headers=header_list,
            aggregate_type=aggregate_type,
            aggregate_id=aggregate_id,
            event_type=event_type,
            event_id=event_id,
        )

    def raw_row(self, *, topic: str, key: bytes | None, payload: bytes, headers: HeaderList,
                aggregate_type: str, aggregate_id: str, event_type: str,
                event_id: uuid.UUID | None = None) -> dict[str, Any]:
        """The outbox row of a message whose bytes are fixed (signed here for an internal topic)."""
        logical = logical_topic(topic, self._namespace)
        if self._signer is not None and logical in SIGNERS:
            headers = [*headers, *self._signer.headers(logical, key, headers, payload)]
        return {
            "event_id": event_id or uuid.uuid4(),
            "topic": topic,
            "key": key,
            "payload": payload,
            "headers": encode_headers(headers),
            "aggregate_type": aggregate_type,
            "aggregate_id": aggregate_id,
            "event_type": event_type,
        }


@dataclass
class RelayPass:
    """What one pass of the relay did with the rows it claimed."""

    claimed: int = 0  # rows the pass took (fewer than the relay's batch size: it took every row there was)
    published: int = 0
    quarantined: int = 0
    refused: int = 0  # sends the broker refused because of the row: retried at once, on a fresh producer
    waiting: int = 0  # rows that failed for the platform's reasons: they wait, the relay backs off
    error_type: str | None = None  # the platform's error, when rows wait


@dataclass
class _Settled:
    row: Row[Any]
    size: int
    outcome: BaseException | str | None  # None: acknowledged; TOO_LARGE: never sent; else the send's error


class OutboxRelay:
    """Publishes committed outbox rows to Kafka, in order, at least once; quarantines what cannot be sent."""

    def __init__(
        self,
        engine: AsyncEngine,
        tables: KitTables,
        *,
        kafka: KafkaConnection,
        batch_size: int = 500,
        poll_seconds: float = 0.2,
        max_record_bytes: int = 1_048_576,
        max_dead_letter_bytes: int = DLQ_MAX_MESSAGE_BYTES,
        send_attempts: int = 3,
        stuck_seconds: float = 60.0,
        tracing: Tracing = OFF,
    ) -> None:
        self._engine = engine
        self._tracing = tracing  # a span per row sent, child of the context stored with it
        self._table = tables.outbox
        self._kafka = kafka
        self._batch_size = batch_size
        self._poll_seconds = poll_seconds
        self.max_record_bytes = max_record_bytes
        self.max_dead_letter_bytes = max_dead_letter_bytes
        self._send_attempts = send_attempts
        self._stuck_seconds = stuck_seconds
        self._producer: AIOKafkaProducer | None = None
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._failing_since: float | None = None  # monotonic time of the first failed pass in a row
        self._oldest_age: float | None = None  # seconds the oldest waiting row had waited, at _stats_at
        self._stats_at = 0.0
        t = self._table
        unsent = t.c.published_at.is_(None) & t.c.quarantined_at.is_(None)  # the outbox_unsent index
        oldest = (select(t.c.id).where(unsent).order_by(t.c.id)
                  .limit(bindparam("limit")).with_for_update(skip_locked=True))
        self._claim = (update(t).where(t.c.id.in_(oldest.scalar_subquery())).values(published_at=func.now())
                       .returning(t.c.id, t.c.event_id, t.c.topic, t.c.event_type, t.c.key, t.c.payload,
                                  t.c.headers, t.c.attempts))
        self._stats = select(
            select(func.count()).select_from(t).where(unsent).scalar_subquery(),
            select(extract("epoch", func.clock_timestamp() - t.c.created_at)).where(unsent)
            .order_by(t.c.id).limit(1).scalar_subquery(),
            select(func.count()).select_from(t).where(t.c.quarantined_at.is_not(None)).scalar_subquery(),
        )

    def limit_for(self, topic: str) -> int:
        """The largest record the relay sends to `topic`: DLQ topics are created to take a dead letter of a
        record that was itself at Kafka's limit (contracts.topics.DLQ_MAX_MESSAGE_BYTES)."""
        return self.max_dead_letter_bytes if is_dlq(topic) else self.max_record_bytes

    def _new_producer(self) -> AIOKafkaProducer:
        return AIOKafkaProducer(
            **self._kafka.aiokafka(),
            enable_idempotence=True,
            acks="all",
            # No linger: a pass queues all its rows before it awaits any (`_send`), so they leave in one
            # request anyway; a 2 ms linger made each pass wait 4-5 ms more for its acknowledgements
            # (docs/performance.md, latency under load).
            linger_ms=0,
            client_id="outbox-relay",
            max_request_size=max(self.max_record_bytes, self.max_dead_letter_bytes),
        )

    async def start(self) -> None:
        await self._started_producer()
        self._task = asyncio.create_task(self._run(), name="outbox-relay")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        await self._discard_producer()

    def nudge(self) -> None:
        """Wake the relay now, instead of at its next poll: called after a commit that added rows."""
        self._wake.set()

    @property
    def healthy(self) -> bool:
        """False when the relay is stuck: the oldest row waiting to be sent has waited longer than
        `stuck_seconds`, or passes have kept failing that long. Quarantined rows wait for an operator,
        not for the relay: they are in the metrics, and do not make it unhealthy."""
        if self._task is None:
            return True  # not started (or stopped): nothing to be stuck on
        if self._task.done():
            return False
        now = time.monotonic()
        if self._failing_since is not None and now - self._failing_since > self._stuck_seconds:
            return False
        return self._oldest_age is None or self._oldest_age + (now - self._stats_at) <= self._stuck_seconds

    async def publish_pending(self) -> RelayPass:
        """Publish one batch of unpublished rows.

        Only while this relay holds the relay lock (another instance's relay may have it: then nothing
        is done). One statement marks the oldest unsent rows published and returns them, locking them
        (an operator's release waits for them). Each is measured, then sent; once the broker has
        answered for all of them, the rows it did not acknowledge are unmarked in the same transaction
        (and quarantined when they are the cause), and the transaction commits. If the database fails,
        it all rolls back and the batch is sent again later.
        """
        producer = await self._started_producer()
        result = RelayPass()
        async with self._engine.begin() as conn:
            if not (await conn.execute(_RELAY_LOCK, {"key": RELAY_LOCK})).scalar():
                return result  # another instance's relay is publishing: these rows are its next pass's
            rows = sorted((await conn.execute(self._claim, {"limit": self._batch_size})).all(), key=lambda r: r.id)
            if not rows:
                return result
            result.claimed = len(rows)
            settled = [item async for item in self._send(producer, rows)]
            failures = await self._record_failures(conn, settled, result)
        result.published = sum(1 for item in settled if item.outcome is None)
        OUTBOX_PUBLISHED.inc(result.published)
        for item, reason, attempts in failures:  # told once the transaction has committed
            row = item.row
            if reason is None:
                log.warning("outbox_row_refused", outbox_id=row.id, event_id=str(row.event_id), topic=row.topic,
                            error_type=type(item.outcome).__name__, attempt=attempts,
                            max_attempts=self._send_attempts)
                continue
            OUTBOX_QUARANTINES.labels(reason).inc()
            log.error("outbox_row_quarantined", outbox_id=row.id, event_id=str(row.event_id), topic=row.topic,
                      event_type=row.event_type, size_bytes=item.size, max_bytes=self.limit_for(row.topic),
                      error_code=reason, attempt=attempts)
        if result.refused or result.waiting:
            await self._discard_producer()  # a refusal leaves the producer's sequence broken for its partition
        log.debug("outbox_published", count=result.published)
        return result

    async def _send(self, producer: AIOKafkaProducer, rows: Sequence[Row[Any]]) -> AsyncIterator[_Settled]:
        """Queue every row that fits, then yield each with the broker's answer, in id order."""
        queued: list[tuple[Row[Any], int, Any, Any]] = []
        unavailable: set[str] = set()  # topics the producer could not reach in this pass: wait, not block
        for row in rows:
            headers = decode_headers(row.headers)
            span = self._tracing.sending(row.topic, headers)
            size = record_size(row.key, row.payload, headers)
            if size > self.limit_for(row.topic):
                queued.append((row, size, TOO_LARGE, span))
                continue
            if row.topic in unavailable:
                queued.append((row, size, ConnectionError("topic unavailable in this pass"), span))
                continue
            try:
                sent: Any = await producer.send(row.topic, value=row.payload, key=row.key, headers=headers)
            except Exception as exc:  # refused before it was queued
                if not is_row_fault(exc):
                    unavailable.add(row.topic)
                sent = exc
            queued.append((row, size, sent, span))
        for row, size, sent, span in queued:
            if isinstance(sent, (BaseException, str)):
                self._tracing.sent(span, sent)
                yield _Settled(row, size, sent)
                continue
            try:
                self._tracing.sent(span, await sent)
                yield _Settled(row, size, None)
            except Exception as exc:
                self._tracing.sent(span, exc)
                yield _Settled(row, size, exc)

    async def _record_failures(
        self, conn: AsyncConnection, settled: list[_Settled], result: RelayPass
    ) -> list[tuple[_Settled, str | None, int]]:
        """Unmark the rows the broker did not acknowledge; quarantine those that are the cause.

        Returns the rows that were the cause, each with its quarantine reason (None: not yet
        quarantined, it is sent again) and its attempts so far.
        """
        t = self._table
        waiting: list[int] = []
        failures: list[tuple[_Settled, str | None, int]] = []
        for item in settled:
            outcome, row = item.outcome, item.row
            if outcome is None:
                continue
            if isinstance(outcome, BaseException) and not is_row_fault(outcome):
                waiting.append(row.id)
                result.error_type = type(outcome).__name__
                continue
            attempts, reason = row.attempts, TOO_LARGE
            if isinstance(outcome, BaseException):
                attempts, reason = attempts + 1, refusal_code(outcome)
                result.refused += 1
            values: dict[str, Any] = {"published_at": None, "attempts": attempts}
            if reason == TOO_LARGE or attempts >= self._send_attempts:
                values |= {"quarantined_at": func.now(), "quarantine_reason": reason, "record_bytes": item.size}
                result.quarantined += 1
                failures.append((item, reason, attempts))
            else:
                failures.append((item, None, attempts))
            await conn.execute(update(t).where(t.c.id == row.id).values(**values))
        if waiting:
            await conn.execute(update(t).where(t.c.id.in_(waiting)).values(published_at=None))
        result.waiting = len(waiting)
        return failures

    async def _started_producer(self) -> AIOKafkaProducer:
        if self._producer is None:
            producer = self._new_producer()
            try:
                await producer.start()
            except BaseException:
                with contextlib.suppress(Exception):
                    await producer.stop()
                raise
            self._producer = producer
        return self._producer

    async def _discard_producer(self) -> None:
        producer, self._producer = self._producer, None
        if producer is not None:
            try:
                await producer.stop()
            except Exception as exc:  # it is being replaced; a failure to close says nothing about the rows
                log.warning("outbox_producer_close_failed", error_type=type(exc).__name__)

    async def _refresh_stats(self) -> None:
        """One cheap query for the gauges and for `healthy`: rows waiting, the oldest one's age, quarantined."""
        async with self._engine.connect() as conn:
            unsent, age, quarantined = (await conn.execute(self._stats)).one()
        self._oldest_age = None if age is None else float(age)
        self._stats_at = time.monotonic()
        OUTBOX_UNPUBLISHED.set(unsent)
        OUTBOX_OLDEST_AGE.set(self._oldest_age or 0.0)
        OUTBOX_QUARANTINED.set(quarantined)

    async def _run(self) -> None:
        failures = 0
        while True:
            error: str | None = None
            result = RelayPass()
            # Cleared before the pass, never after it: a commit that nudges while a pass is under way
            # (after its claim, say, which then found nothing) must start the next pass at once. Cleared
            # after an empty pass, that nudge was lost and its rows waited for the poll (up to
            # `poll_seconds`): the tail of the referral-to-case latency (docs/performance.md).
            self._wake.clear()
            try:
                if time.monotonic() - self._stats_at >= STATS_SECONDS:
                    await self._refresh_stats()
                result = await self.publish_pending()
                if result.waiting and not result.refused:  # a refusal explains the sequence errors after it
                    error = result.error_type
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the broker or database is away: keep the rows, try again
                error = type(exc).__name__
            if error is not None:
                failures += 1
                self._failing_since = self._failing_since or time.monotonic()
                log.warning("outbox_publish_failed", error_type=error, count=result.waiting, attempt=failures)
                await asyncio.sleep(min(0.5 * 2**failures, 10))
                continue
            failures, self._failing_since = 0, None
            if result.quarantined:
                self._stats_at = 0.0  # show it in the gauges now
            if result.refused:
                continue  # send the refused row again at once, on a fresh producer
            # A pass that took fewer rows than it could took every row committed before it: the next
            # commit's nudge (or the poll, for rows written elsewhere) starts the next pass, rather than
            # an empty pass straight after every batch (four round trips for nothing).
            if result.claimed < self._batch_size:
                try:
                    await asyncio.wait_for(self._wake.wait(), timeout=self._poll_seconds)
                except TimeoutError:
                    pass
