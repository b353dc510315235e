"""Two instances of a service share one outbox: their relays keep one key's rows in order on the topic.

Each instance runs its own relay on the same table. Before the relay lock (outbox.py), both claimed rows
at once (SKIP LOCKED) and raced to the broker: rows of one key landed behind later ones in every run.
"""

import secrets
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from cme_shared.db import create_engine, session_factory
from cme_shared.messaging.outbox import Outbox, OutboxRelay
from cme_shared.testing.outbox import pending_count
from cme_shared.messaging.tables import KitTables
from cme_shared.testing.kafka import TopicReader
from sqlalchemy import MetaData
from sqlalchemy.ext.asyncio import AsyncEngine

pytestmark = pytest.mark.integration

metadata = MetaData()
kit = KitTables(metadata)
ROWS = 1500


@pytest_asyncio.fixture
async def engine(databases) -> AsyncIterator[AsyncEngine]:
    eng = create_engine(await databases.create_empty("intake"))
    async with eng.begin() as conn:
        await conn.run_sync(metadata.create_all)
    yield eng
    await eng.dispose()


@pytest_asyncio.fixture
async def topic(infra) -> AsyncIterator[str]:
    name = f"t{secrets.token_hex(4)}.outbox.order"
    admin = AIOKafkaAdminClient(**infra.kafka.aiokafka())
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, 1, 1)])
        yield name
        await admin.delete_topics([name])
    finally:
        await admin.close()


async def test_two_relays_on_one_outbox_publish_one_keys_rows_in_order_once_each(engine, infra, topic):
    relays = [OutboxRelay(engine, kit, kafka=infra.kafka, poll_seconds=0.05) for _ in range(2)]
    for relay in relays:
        await relay.start()
    async with TopicReader(infra.kafka, topic) as reader:
        try:
            # One transaction per row, as a handler commits; both relays woken (each instance nudges its own,
            # and the other polls).
            for n in range(ROWS):
                async with session_factory(engine).begin() as session:
                    await Outbox(kit).add_raw(session, topic=topic, key=b"case-1", payload=str(n).encode(),
                                              headers=[], aggregate_type="case", aggregate_id="case-1",
                                              event_type="WidgetMade")
                for relay in relays:
                    relay.nudge()
            await reader.wait_for(lambda rs: len(rs) >= ROWS, timeout=120)
            await reader.settle(0.5)
        finally:
            for relay in relays:
                await relay.stop()
    assert [int(r.value) for r in reader.records] == list(range(ROWS))
    assert await pending_count(engine, kit) == 0
