"""A dead letter is the record exactly as it came, even at the edges, on the real broker and database: a
record just under Kafka's 1 MiB limit (its dead letter, with the reasons, is over it, so DLQ topics take
more), and headers with null or non-UTF-8 values or a NUL in their name (kept as they were)."""

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from typing import Any

import pytest
from cme_shared.clock import SYSTEM_CLOCK
from cme_shared.contracts.events import Event
from cme_shared.contracts.topics import TopicNames, dlq
from cme_shared.db import create_engine, session_factory
from cme_shared.messaging.consumer import ReliableConsumer, json_model_parser
from cme_shared.messaging.inbox import Inbox
from cme_shared.messaging.outbox import Outbox, OutboxRelay
from cme_shared.messaging.tables import KitTables
from cme_shared.ops import ensure_topics
from cme_shared.testing.infra import Infra
from cme_shared.testing.kafka import TopicReader, eventually
from cme_shared.unit_of_work import UnitOfWork
from aiokafka import AIOKafkaProducer
from faststream.kafka import KafkaBroker
from sqlalchemy import Column, MetaData, Table, Text, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncEngine

pytestmark = pytest.mark.integration


def units_of_work(engine: AsyncEngine) -> Callable[[], UnitOfWork[None]]:
    """The kit's unit of work on the test's database, in topic names as they are (no namespace)."""
    return partial(UnitOfWork, session_factory(engine), Outbox(kit), TopicNames(""), SYSTEM_CLOCK)


metadata = MetaData()
kit = KitTables(metadata)
seen = Table("seen", metadata, Column("item_id", Text, primary_key=True))


class ItemArrived(Event):
    item_id: str


async def remember(uow: UnitOfWork[Any], event: ItemArrived) -> None:
    await uow.session.execute(insert(seen).values(item_id=event.item_id).on_conflict_do_nothing())


@pytest.mark.parametrize("batch_size", [None, 16], ids=["single", "batch"])
async def test_records_at_the_limit_and_odd_headers_are_dead_lettered_byte_for_byte(
        infra: Infra, namespace: TopicNames, databases, batch_size):
    topic = namespace("kit.exact.v1")
    await ensure_topics(infra.kafka, [topic, dlq(topic)], partitions=1)
    engine = create_engine(await databases.create_empty("intake"))
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    consumer = ReliableConsumer(
        name="exact", topic=topic, group_id=f"{topic}.exact", parse=json_model_parser(ItemArrived), on=remember,
        unit_of_work=units_of_work(engine), inbox=Inbox(kit), backoff_seconds=0.05,
        batch_size=batch_size,
    )
    # Just under the broker's limit as it came (1,048,588 bytes a batch), over Kafka's 1 MiB once the x-dlq-*
    # headers are added.
    junk = (b"\x00not json " * 105_000)[:1_048_300]
    # A null value, bytes that are not text, and a name holding a NUL (which PostgreSQL's JSON refuses).
    odd_headers = [("trace", None), ("binary", b"\xff\xfe\x00"), ("a\x00b", b"")]
    sent = [(b"k-big", junk, odd_headers), (b"k-odd", b"[" * 5_000, odd_headers)]
    good = ItemArrived(event_id=uuid.uuid4(), occurred_at=datetime.now(UTC), item_id="after-the-edges")

    relay = OutboxRelay(engine, kit, kafka=infra.kafka, poll_seconds=0.05)
    broker = KafkaBroker(infra.kafka.bootstrap, logger=None, **infra.kafka.faststream())
    consumer.register(broker)
    producer = AIOKafkaProducer(**infra.kafka.aiokafka(), max_request_size=2 * 1024 * 1024)
    await relay.start()
    await broker.start()
    await producer.start()
    try:
        for key, value, headers in sent:
            await producer.send_and_wait(topic, value, key=key, headers=headers)
        await producer.send_and_wait(topic, good.model_dump_json().encode(), key=b"k-good")
        async with TopicReader(infra.kafka, dlq(topic)) as letters:
            records = await letters.wait_for(lambda rs: len(rs) >= 2, timeout=60)

        assert [(r.key, r.value) for r in records] == [(key, value) for key, value, _ in sent]
        for record in records:
            assert list(record.headers)[:3] == odd_headers  # the sender's headers first, exactly as sent
            assert dict(record.headers)["x-dlq-original-topic"] == topic.encode()

        async def arrived() -> bool:
            async with engine.connect() as conn:
                return bool((await conn.execute(select(func.count()).select_from(seen))).scalar_one())
        await eventually(arrived, timeout=30)
        async with engine.connect() as conn:
            quarantined = (await conn.execute(select(func.count()).select_from(kit.outbox)
                                              .where(kit.outbox.c.quarantined_at.is_not(None)))).scalar_one()
        assert quarantined == 0
    finally:
        await producer.stop()
        await broker.stop()
        await relay.stop()
        await engine.dispose()
