"""Transactional outbox: write events with the domain change, publish them afterwards, never lose one.

`Outbox.add` inserts a row inside the caller's transaction. `OutboxRelay` publishes committed rows in
id order with an idempotent producer (acks=all), keyed by aggregate id so that one aggregate's events
keep their order, and marks them published in the same database transaction that locked them. A crash
between publishing and marking republishes the batch on restart; consumers' inboxes absorb that.
"""

import asyncio
import base64
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from aiokafka import AIOKafkaProducer
from pydantic import BaseModel
from sqlalchemy import bindparam, func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from .. import correlation
from ..logging import get_logger
from . import deferred
from .tables import KitTables

log = get_logger(__name__)

HeaderList = Sequence[tuple[str, bytes]]
AGGREGATE_KEY = object()  # the default Kafka key: the aggregate id, for per-aggregate ordering


def encode_headers(headers: HeaderList) -> list[list[str]]:
    return [[name, base64.b64encode(value).decode()] for name, value in headers]


def decode_headers(stored: list[list[str]]) -> list[tuple[str, bytes]]:
    return [(name, base64.b64decode(value)) for name, value in stored]


class Outbox:
    """Writes outgoing messages into the service's outbox table, inside the caller's transaction."""

    def __init__(self, tables: KitTables) -> None:
        self._table = tables.outbox
        self._insert = tables.outbox.insert()  # built once; rows come as parameters

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
        event_id = getattr(event, "event_id", None) or uuid.uuid4()
        event_type = type(event).__name__
        header_list = [
            ("event_id", str(event_id).encode()),
            ("event_type", event_type.encode()),
            ("content-type", b"application/json"),
            (correlation.HEADER, (correlation.current() or str(uuid.uuid4())).encode()),
            *((name, value.encode()) for name, value in (headers or {}).items()),
        ]
        await self.add_raw(
            session,
            topic=topic,
            key=aggregate_id.encode() if key is AGGREGATE_KEY else key,  # type: ignore[arg-type]
            payload=event.model_dump_json().encode(),
            headers=header_list,
            aggregate_type=aggregate_type,
            aggregate_id=aggregate_id,
            event_type=event_type,
            event_id=event_id,
        )
        return event_id

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
        row = {
            "event_id": event_id or uuid.uuid4(),
            "topic": topic,
            "key": key,
            "payload": payload,
            "headers": encode_headers(headers),
            "aggregate_type": aggregate_type,
            "aggregate_id": aggregate_id,
            "event_type": event_type,
        }
        # One statement per batch in the kit's batch fast path; written at once anywhere else.
        await deferred.insert(session, self._insert, row)


class OutboxRelay:
    """Publishes committed outbox rows to Kafka, in order, at least once."""

    def __init__(
        self,
        engine: AsyncEngine,
        tables: KitTables,
        *,
        bootstrap_servers: str,
        batch_size: int = 500,
        poll_seconds: float = 0.2,
    ) -> None:
        self._engine = engine
        self._table = tables.outbox
        self._bootstrap = bootstrap_servers
        self._batch_size = batch_size
        self._poll_seconds = poll_seconds
        self._producer: AIOKafkaProducer | None = None
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self.healthy = True
        t = self._table
        oldest = (select(t.c.id).where(t.c.published_at.is_(None)).order_by(t.c.id)
                  .limit(bindparam("limit")).with_for_update(skip_locked=True))
        self._claim = (update(t).where(t.c.id.in_(oldest.scalar_subquery())).values(published_at=func.now())
                       .returning(t.c.id, t.c.topic, t.c.key, t.c.payload, t.c.headers))

    async def start(self) -> None:
        self._producer = AIOKafkaProducer(
            bootstrap_servers=self._bootstrap,
            enable_idempotence=True,
            acks="all",
            linger_ms=2,
            client_id="outbox-relay",
        )
        await self._producer.start()
        self._task = asyncio.create_task(self._run(), name="outbox-relay")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self._producer is not None:
            await self._producer.stop()

    def nudge(self) -> None:
        """Wake the relay now, instead of at its next poll: called after a commit that added rows."""
        self._wake.set()

    async def publish_pending(self) -> int:
        """Publish one batch of unpublished rows; return how many were published.

        One statement marks the oldest unpublished rows published and returns them, locking them (other
        relays skip them); they are sent, and the mark commits only once the broker has acknowledged all
        of them. If sending fails, the transaction rolls back and the rows stay unpublished.
        """
        assert self._producer is not None, "relay not started"
        async with self._engine.begin() as conn:
            rows = sorted((await conn.execute(self._claim, {"limit": self._batch_size})).all(), key=lambda r: r.id)
            if not rows:
                return 0
            sent = [
                await self._producer.send(
                    row.topic, value=row.payload, key=row.key, headers=decode_headers(row.headers)
                )
                for row in rows
            ]
            await asyncio.gather(*sent)
        log.debug("outbox_published", count=len(rows))
        return len(rows)

    async def _run(self) -> None:
        failures = 0
        while True:
            try:
                published = await self.publish_pending()
                self.healthy, failures = True, 0
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the broker or database is away: keep the rows, try again
                failures += 1
                self.healthy = False
                log.warning("outbox_publish_failed", error_type=type(exc).__name__, attempt=failures)
                await asyncio.sleep(min(0.5 * 2**failures, 10))
                continue
            if published == 0:
                self._wake.clear()
                try:
                    await asyncio.wait_for(self._wake.wait(), timeout=self._poll_seconds)
                except TimeoutError:
                    pass


async def pending_count(engine: AsyncEngine, tables: KitTables) -> int:
    async with engine.connect() as conn:
        result = await conn.execute(
            select(func.count()).select_from(tables.outbox).where(tables.outbox.c.published_at.is_(None))
        )
        return int(result.scalar_one())


def as_header_list(headers: Any) -> list[tuple[str, bytes]]:
    return [(name, value if isinstance(value, bytes) else str(value).encode()) for name, value in headers or ()]
