"""Nothing unsendable blocks the outbox (issue 11, SEC-01), on the real broker and database.

A row too large for Kafka, or one the broker keeps refusing, is quarantined and the rows behind it are
published, each once; an operator lists it without its payload and releases it; a broker outage or a
missing topic is waited out, never a quarantine.
"""

import asyncio
import logging
import secrets
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
import structlog
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaConnectionError
from prometheus_client import REGISTRY
from sqlalchemy import MetaData, select
from sqlalchemy.ext.asyncio import AsyncEngine
from structlog.testing import capture_logs
from typer.testing import CliRunner

from cme_shared.db import create_engine, session_factory
from cme_shared.kafka_security import KafkaConnection
from cme_shared.messaging.outbox import Outbox, OutboxRelay
from cme_shared.testing.outbox import pending_count, quarantined_count
from cme_shared.messaging.tables import KitTables
from cme_shared.ops import app as ops_app
from cme_shared.testing.infra import Infra
from cme_shared.testing.kafka import TopicReader, eventually

pytestmark = pytest.mark.integration

metadata = MetaData()
kit = KitTables(metadata)

MiB = 1_048_576
# Synthetic content: a marker that must never reach an operator's listing or the log.
MARKER = b"SYNTHETIC-PAYLOAD-7f3a"


def payload(label: str, size: int = 0) -> bytes:
    body = b'{"label": "' + label.encode() + b'", "fill": "' + MARKER
    return body + b"x" * max(0, size - len(body) - 2) + b'"}'


@pytest.fixture(autouse=True)
def logging_to_this_test():
    """Log to this test's own output: an earlier test may have left logging on a stream closed since."""
    structlog.reset_defaults()
    handlers, logging.getLogger().handlers[:] = logging.getLogger().handlers[:], []
    yield
    logging.getLogger().handlers[:] = handlers


@pytest_asyncio.fixture
async def engine(databases) -> AsyncIterator[AsyncEngine]:
    url = await databases.create_empty("intake")
    eng = create_engine(url)
    async with eng.begin() as conn:
        await conn.run_sync(metadata.create_all)
    yield eng
    await eng.dispose()


class Topics:
    """Throw-away one-partition topics, some with their own record limit; deleted at the end."""

    def __init__(self, kafka: KafkaConnection) -> None:
        self._admin = AIOKafkaAdminClient(**kafka.aiokafka())
        self.prefix = f"t{secrets.token_hex(4)}.outbox."
        self._made: list[str] = []

    def name(self, label: str) -> str:
        return self.prefix + label

    async def create(self, label: str, max_message_bytes: int | None = None) -> str:
        configs = {} if max_message_bytes is None else {"max.message.bytes": str(max_message_bytes)}
        topic = self.name(label)
        await self._admin.create_topics([NewTopic(topic, 1, 1, topic_configs=configs)])
        self._made.append(topic)
        return topic


@pytest_asyncio.fixture
async def topics(infra: Infra) -> AsyncIterator[Topics]:
    made = Topics(infra.kafka)
    await made._admin.start()
    yield made
    try:
        if made._made:
            await made._admin.delete_topics(made._made)
    finally:
        await made._admin.close()


async def add(engine: AsyncEngine, topic: str, label: str, size: int = 0, key: bytes = b"case-1") -> None:
    async with session_factory(engine).begin() as session:
        await Outbox(kit).add_raw(session, topic=topic, key=key, payload=payload(label, size),
                                  headers=[("event_type", b"WidgetMade")], aggregate_type="case",
                                  aggregate_id=key.decode(), event_type="WidgetMade")


def labels(records) -> list[str]:
    return [r.value[len(b'{"label": "'):].split(b'"')[0].decode() for r in records]


async def quarantine_of(engine: AsyncEngine):
    t = kit.outbox
    async with engine.connect() as conn:
        return (await conn.execute(select(t.c.id, t.c.event_id, t.c.quarantine_reason, t.c.record_bytes, t.c.attempts)
                                   .where(t.c.quarantined_at.is_not(None)))).all()


def metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def relay_for(engine: AsyncEngine, infra: Infra, **options) -> OutboxRelay:
    return OutboxRelay(engine, kit, kafka=infra.kafka, poll_seconds=0.05, **options)


async def ops(engine: AsyncEngine, *args: str):
    """Run `python -m cme_shared.ops outbox ...` as an operator would, against the test's database."""
    env = {"CME_DATABASE_URL": engine.url.render_as_string(hide_password=False), "CME_ENV": "test"}
    # The command sets up logging on the runner's own stdout, closed afterwards: put this process's back.
    saved, handlers = structlog.get_config(), logging.getLogger().handlers[:]
    try:
        return await asyncio.to_thread(CliRunner().invoke, ops_app, ["outbox", *args], env=env)
    finally:
        structlog.configure(**saved)
        logging.getLogger().handlers[:] = handlers


async def test_an_oversized_row_is_quarantined_and_the_rows_around_it_are_published_once(engine, infra, topics):
    topic = await topics.create("sizes")
    before = metric("cme_outbox_quarantined_total", reason="too_large")
    await add(engine, topic, "first")
    await add(engine, topic, "big", size=1_200_000)  # over Kafka's 1 MiB, as SEC-01's dead letters were
    await add(engine, topic, "after")  # the same aggregate key: it is sent, not held behind the big one
    relay = relay_for(engine, infra)
    async with TopicReader(infra.kafka, topic) as reader:
        with capture_logs() as logs:
            await relay.start()
            try:
                await reader.wait_for(lambda rs: len(rs) >= 2)
                await reader.settle(1.5)  # several more passes: nothing is sent again
                await eventually(lambda: metric("cme_outbox_quarantined_rows") == 1)
                healthy = relay.healthy
            finally:
                await relay.stop()
    assert labels(reader.records) == ["first", "after"]
    [(_, event_id, reason, record_bytes, attempts)] = await quarantine_of(engine)
    assert (reason, attempts) == ("too_large", 0)  # never sent: the broker was not bothered with it
    assert record_bytes > 1_200_000
    assert await pending_count(engine, kit) == 0
    assert metric("cme_outbox_quarantined_total", reason="too_large") == before + 1
    assert healthy  # a quarantined row waits for an operator, not for the relay: /readyz stays 200
    [alert] = [entry for entry in logs if entry["event"] == "outbox_row_quarantined"]
    assert alert["log_level"] == "error"
    assert (alert["event_id"], alert["topic"], alert["size_bytes"]) == (str(event_id), topic, record_bytes)
    assert not any(MARKER.decode() in repr(entry) for entry in logs)


async def test_a_released_row_is_published_once_a_limit_was_raised(engine, infra, topics):
    topic = await topics.create("raised", max_message_bytes=2 * MiB)  # what an operator raises first
    await add(engine, topic, "big", size=1_200_000)
    await add(engine, topic, "next")
    async with TopicReader(infra.kafka, topic) as reader:
        relay = relay_for(engine, infra)
        await relay.start()
        try:
            await reader.wait_for(lambda rs: len(rs) >= 1)
            await eventually(lambda: quarantined_count(engine, kit))
        finally:
            await relay.stop()
        [(outbox_id, event_id, *_)] = await quarantine_of(engine)

        listing = await ops(engine, "quarantined")
        assert listing.exit_code == 0, listing.output
        assert str(event_id) in listing.stdout and "too_large" in listing.stdout and topic in listing.stdout
        shown = await ops(engine, "show", str(outbox_id))
        assert shown.exit_code == 0 and "payload:" in shown.stdout and "1200000 bytes" in shown.stdout
        raw = await ops(engine, "show", str(outbox_id), "--payload")  # only when asked, with a warning
        assert raw.stdout_bytes == payload("big", 1_200_000) and "personal data" in raw.stderr
        for output in (listing.output, shown.output):
            assert MARKER.decode() not in output

        raised = relay_for(engine, infra, max_record_bytes=2 * MiB)  # the service restarted with a higher limit
        await raised.start()
        try:
            released = await ops(engine, "release", str(outbox_id))
            assert released.exit_code == 0 and "1 row(s) released" in released.stdout
            await reader.wait_for(lambda rs: len(rs) >= 2)
            await reader.settle(1.0)
        finally:
            await raised.stop()
    assert labels(reader.records) == ["next", "big"]  # released after the queue flowed on: once each
    assert await quarantined_count(engine, kit) == 0 and await pending_count(engine, kit) == 0
    assert "no quarantined outbox rows" in (await ops(engine, "quarantined")).stdout


async def test_a_row_the_broker_keeps_refusing_is_quarantined_after_its_attempts(engine, infra, topics):
    # The relay's own limit says it fits; the topic's is lower. The broker refuses it, and the idempotent
    # producer then refuses the rest of that partition (out of sequence) until it is replaced.
    topic = await topics.create("refused", max_message_bytes=20_000)
    await add(engine, topic, "first")
    await add(engine, topic, "wide", size=50_000)
    await add(engine, topic, "after")
    relay = relay_for(engine, infra, send_attempts=3)
    async with TopicReader(infra.kafka, topic) as reader:
        await relay.start()
        try:
            await reader.wait_for(lambda rs: len(rs) >= 2)
            await reader.settle(1.5)
            healthy = relay.healthy
        finally:
            await relay.stop()
    assert labels(reader.records) == ["first", "after"]  # the first is never sent again for the failure after it
    [(_, _, reason, _, attempts)] = await quarantine_of(engine)
    assert (reason, attempts) == ("refused:MessageSizeTooLargeError", 3)
    assert healthy


class BrokerAway(AIOKafkaProducer):
    """A producer whose broker is unreachable while `away` is set: what aiokafka reports in an outage."""

    away = True

    async def send(self, *args, **kwargs):
        if BrokerAway.away:
            raise KafkaConnectionError("broker unreachable")
        return await super().send(*args, **kwargs)


class RelayDuringOutage(OutboxRelay):
    def _new_producer(self) -> AIOKafkaProducer:
        return BrokerAway(**self._kafka.aiokafka(), enable_idempotence=True, acks="all")


async def test_a_broker_outage_is_waited_out_never_quarantined(engine, infra, topics):
    topic = await topics.create("outage")
    for label in ("one", "two", "three"):
        await add(engine, topic, label)
    BrokerAway.away = True
    relay = RelayDuringOutage(engine, kit, kafka=infra.kafka, poll_seconds=0.05,
                              send_attempts=1, stuck_seconds=1.0)
    async with TopicReader(infra.kafka, topic) as reader:
        await relay.start()
        try:
            await eventually(lambda: not relay.healthy, timeout=15)  # stuck: /readyz says so
            assert await quarantined_count(engine, kit) == 0  # more failures than attempts, none quarantined
            assert await pending_count(engine, kit) == 3
            assert metric("cme_outbox_unpublished_rows") == 3
            assert metric("cme_outbox_oldest_unpublished_age_seconds") > 0
            BrokerAway.away = False
            await reader.wait_for(lambda rs: len(rs) >= 3)
            await reader.settle(1.0)
            await eventually(lambda: relay.healthy, timeout=15)
        finally:
            await relay.stop()
    assert labels(reader.records) == ["one", "two", "three"]
    assert await pending_count(engine, kit) == 0
    async with engine.connect() as conn:
        assert set((await conn.execute(select(kit.outbox.c.attempts))).scalars()) == {0}


class ShortTimeouts(OutboxRelay):
    def _new_producer(self) -> AIOKafkaProducer:
        return AIOKafkaProducer(**self._kafka.aiokafka(), enable_idempotence=True, acks="all",
                                request_timeout_ms=1500)


async def test_a_missing_topic_holds_only_its_own_rows_until_it_exists(engine, infra, topics):
    missing = topics.name("late")  # not created yet: the broker does not create topics on demand
    present = await topics.create("present")
    await add(engine, missing, "waits", key=b"case-2")
    await add(engine, present, "flows")
    relay = ShortTimeouts(engine, kit, kafka=infra.kafka, poll_seconds=0.05,
                          send_attempts=1, stuck_seconds=1.0)
    async with TopicReader(infra.kafka, present) as reader:
        await relay.start()
        try:
            await reader.wait_for(lambda rs: len(rs) >= 1)  # the other topic's row is not held behind it
            await eventually(lambda: not relay.healthy, timeout=15)
            assert await quarantined_count(engine, kit) == 0 and await pending_count(engine, kit) == 1
            await topics.create("late")
            await eventually(lambda: _published_none_waiting(engine), timeout=30)
            await eventually(lambda: relay.healthy, timeout=15)
        finally:
            await relay.stop()
    assert labels(reader.records) == ["flows"]
    async with TopicReader(infra.kafka, missing) as late:
        await late.wait_for(lambda rs: len(rs) >= 1)
        await late.settle(0.5)
    assert labels(late.records) == ["waits"]


async def _published_none_waiting(engine: AsyncEngine) -> bool:
    return await pending_count(engine, kit) == 0 and await quarantined_count(engine, kit) == 0
