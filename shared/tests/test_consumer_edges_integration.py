"""The kit's consumers at the edge, on the real broker and database: records in every codec a partner's client
may use, batches aiokafka cannot decode, headers and bodies FastStream cannot read, and consumers that stop
saying so, with the topic, partition and offset where they stopped."""

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from functools import partial
from typing import Any

import aiokafka.codec
import pytest
import pytest_asyncio
from cme_shared.clock import SYSTEM_CLOCK
from cme_shared.contracts.events import Event
from cme_shared.contracts.topics import TopicNames, dlq
from cme_shared.db import create_engine, session_factory
from cme_shared.messaging.consumer import ReliableConsumer, json_model_parser
from cme_shared.messaging.fetching import skip_batch
from cme_shared.messaging.inbox import Inbox
from cme_shared.messaging.outbox import Outbox, OutboxRelay
from cme_shared.messaging.tables import KitTables
from cme_shared.ops import ensure_topics
from cme_shared.testing.infra import Infra
from cme_shared.testing.kafka import TopicReader, eventually, produce
from cme_shared.testing.raw_batches import (
    codecs_on_log,
    librdkafka_send,
    record_batch,
    send_batch,
)
from cme_shared.unit_of_work import UnitOfWork
from faststream.kafka import KafkaBroker
from prometheus_client import REGISTRY
from sqlalchemy import Column, Integer, MetaData, Table, Text, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncEngine
from structlog.testing import capture_logs

pytestmark = pytest.mark.integration


def units_of_work(engine: AsyncEngine) -> Callable[[], UnitOfWork[None]]:
    """The kit's unit of work on the test's database, in topic names as they are (no namespace)."""
    return partial(UnitOfWork, session_factory(engine), Outbox(kit), TopicNames(""), SYSTEM_CLOCK)


metadata = MetaData()
kit = KitTables(metadata)
widgets = Table("widgets", metadata, Column("widget_id", Text, primary_key=True), Column("applied", Integer))


class WidgetMade(Event):
    widget_id: str


def widget(widget_id: str) -> bytes:
    event = WidgetMade(event_id=uuid.uuid4(), occurred_at=datetime.now(UTC), widget_id=widget_id)
    return event.model_dump_json().encode()


def padded(widget_id: str) -> str:
    """An id long enough to compress: librdkafka sends a batch uncompressed when compressing saves nothing."""
    return f"{widget_id}-{'pad' * 100}"


async def apply_widget(uow: UnitOfWork[Any], event: WidgetMade) -> None:
    await uow.session.execute(insert(widgets).values(widget_id=event.widget_id, applied=1).on_conflict_do_update(
        index_elements=["widget_id"], set_={"applied": widgets.c.applied + 1}))


@pytest_asyncio.fixture
async def engine(databases) -> AsyncIterator[AsyncEngine]:
    eng = create_engine(await databases.create_empty("intake"))
    async with eng.begin() as conn:
        await conn.run_sync(metadata.create_all)
    yield eng
    await eng.dispose()


@pytest_asyncio.fixture
async def topic(infra: Infra, namespace: TopicNames) -> str:
    """Two partitions: a batch `getmany` spans both, as a service's three do."""
    name = namespace("kit.edges.v1")
    await ensure_topics(infra.kafka, [name, dlq(name)], partitions=2)
    return name


@pytest.fixture(params=[None, 16], ids=["single", "batch"])
def batch_size(request: pytest.FixtureRequest) -> int | None:
    return request.param


def make_consumer(engine: AsyncEngine, topic: str, batch_size: int | None, *,
                  on: Callable[..., Awaitable[None]] = apply_widget, stall_seconds: float = 60.0,
                  max_attempts: int = 3, backoff_seconds: float = 0.05) -> ReliableConsumer[WidgetMade]:
    return ReliableConsumer(
        name="edges", topic=topic, group_id=f"{topic}.edges", parse=json_model_parser(WidgetMade), on=on,
        unit_of_work=units_of_work(engine), inbox=Inbox(kit), max_attempts=max_attempts,
        backoff_seconds=backoff_seconds, batch_size=batch_size, stall_seconds=stall_seconds,
    )


@asynccontextmanager
async def consuming(engine: AsyncEngine, infra: Infra, consumer: ReliableConsumer) -> AsyncIterator[None]:
    """The consumer on a broker of its own, with the relay that publishes its dead letters."""
    relay = OutboxRelay(engine, kit, kafka=infra.kafka, poll_seconds=0.05)
    broker = KafkaBroker(infra.kafka.bootstrap, logger=None, **infra.kafka.faststream())
    consumer.register(broker)
    await relay.start()
    await broker.start()
    try:
        yield
    finally:
        await broker.stop()
        await relay.stop()


async def applied(engine: AsyncEngine) -> dict[str, int]:
    async with engine.connect() as conn:
        return dict((await conn.execute(select(widgets.c.widget_id, widgets.c.applied))).all())


def gauge(name: str, consumer: ReliableConsumer, topic: str, partition: int) -> float | None:
    return REGISTRY.get_sample_value(name, {"consumer": consumer.name, "group": consumer.group_id, "topic": topic,
                                            "partition": str(partition)})


async def test_records_in_every_codec_are_handled(engine, infra, topic, batch_size):
    expected = set()
    for codec in ("gzip", "snappy", "lz4", "zstd"):
        ids = [padded(f"{codec}-{i}") for i in range(4)]
        expected |= set(ids)
        await asyncio.to_thread(librdkafka_send, infra.kafka, topic,
                                [{"value": widget(i), "key": i.encode()} for i in ids], codec)
    consumer = make_consumer(engine, topic, batch_size)
    async with consuming(engine, infra, consumer):
        await eventually(lambda: _has(engine, expected))
        await produce(infra.kafka, topic, widget("plain-after"))
        await eventually(lambda: _has(engine, {"plain-after"}))
        assert consumer.health.problems() == []
    assert set((await applied(engine)).values()) == {1}  # each once
    assert await codecs_on_log(infra.kafka, topic, 2) == {"gzip", "snappy", "lz4", "zstd", "none"}


async def _has(engine: AsyncEngine, ids: set[str]) -> bool:
    return ids <= set(await applied(engine))


async def test_a_batch_aiokafka_cannot_decode_is_dead_lettered_whole_and_its_partition_moves_on(
        engine, infra, topic, batch_size):
    # Before it, on both partitions: records the same fetch brings (and a failed `getmany` would lose).
    for i in range(3):
        for partition in (0, 1):
            await produce(infra.kafka, topic, widget(f"before-{partition}-{i}"), partition=partition)
    # A header name that is not UTF-8: the broker appends the batch, aiokafka cannot read it.
    bad = record_batch([(b"k", widget("in-bad-0"), []), (b"k", widget("in-bad-1"), [(b"\xff\xfeh", b"v")])])
    first = await send_batch(infra.kafka, topic, 0, bad)
    for partition in (0, 1):
        await produce(infra.kafka, topic, widget(f"after-{partition}"), partition=partition)

    consumer = make_consumer(engine, topic, batch_size)
    # The records it reads before the one it cannot are handled, in either mode.
    good = {f"before-{p}-{i}" for p in (0, 1) for i in range(3)} | {"in-bad-0", "after-0", "after-1"}
    with capture_logs() as logs:
        async with TopicReader(infra.kafka, dlq(topic)) as letters, consuming(engine, infra, consumer):
            await eventually(lambda: _has(engine, good))
            [letter] = await letters.wait_for(lambda rs: len(rs) >= 1)
            await letters.settle(1.0)
            await eventually(lambda: gauge("cme_consumer_lag_records", consumer, topic, 0) == 0)
            assert consumer.health.problems() == []
    assert set(await applied(engine)) == good  # everything else once
    assert set((await applied(engine)).values()) == {1}
    assert len(letters.records) == 1
    # The batch as on the log: the broker wrote its base offset and leader epoch, the rest is as sent.
    assert int.from_bytes(letter.value[:8], "big") == first and letter.value[17:] == bad[17:]
    headers = dict(letter.headers)
    assert headers["x-dlq-kind"] == b"undecodable_batch"
    assert headers["x-dlq-value-format"] == b"kafka-record-batch"
    assert (headers["x-dlq-original-topic"], headers["x-dlq-original-partition"]) == (topic.encode(), b"0")
    assert (headers["x-dlq-original-offset"], headers["x-dlq-original-last-offset"]) == (
        str(first).encode(), str(first + 1).encode())
    assert headers["x-dlq-unread-from-offset"] == str(first + 1).encode()
    assert b"UnicodeDecodeError" in headers["x-dlq-reasons"]
    [event] = [e for e in logs if e["event"] == "undecodable_batch_dead_lettered"]
    assert (event["topic"], event["partition"], event["offset"], event["unread_from"]) == (topic, 0, first, first + 1)


async def test_headers_and_bodies_faststream_cannot_read_are_the_kits_to_judge(engine, infra, topic, batch_size):
    records = [
        {"value": widget("odd-header-value"), "headers": [("h", b"\xff\xfe")]},
        {"value": widget("null-header-value"), "headers": [("h", None)]},
        {"value": widget("json-content-type"), "headers": [("content-type", b"application/json")]},
        {"value": b"\xff not text", "headers": [("content-type", b"text/plain")]},
        {"value": b"{not json", "headers": [("content-type", b"application/json")]},
        {"value": widget("plain")},
    ]
    await asyncio.to_thread(librdkafka_send, infra.kafka, topic, [r | {"partition": 0} for r in records])
    consumer = make_consumer(engine, topic, batch_size)
    async with TopicReader(infra.kafka, dlq(topic)) as letters, consuming(engine, infra, consumer):
        await eventually(lambda: _has(engine, {"odd-header-value", "null-header-value", "json-content-type", "plain"}))
        await letters.wait_for(lambda rs: len(rs) >= 2)
        await letters.settle(1.0)
    assert sorted(r.value for r in letters.records) == sorted([b"\xff not text", b"{not json"])  # byte for byte
    assert {dict(r.headers)["x-dlq-kind"] for r in letters.records} == {b"unreadable"}


async def test_a_missing_codec_blocks_its_partition_says_where_and_heals_when_the_codec_is_back(
        engine, infra, topic, batch_size, monkeypatch):
    monkeypatch.setattr(aiokafka.codec, "cramjam", None)  # the deployment of issue 11: no cramjam installed
    [(_, plain)] = await asyncio.to_thread(librdkafka_send, infra.kafka, topic,
                                           [{"value": widget("plain-first"), "partition": 0}])
    [(_, compressed)] = await asyncio.to_thread(librdkafka_send, infra.kafka, topic,
                                                [{"value": widget(padded("lz4")), "partition": 0}], "lz4")
    consumer = make_consumer(engine, topic, batch_size)
    with capture_logs() as logs:
        async with TopicReader(infra.kafka, dlq(topic)) as letters, consuming(engine, infra, consumer):
            await eventually(lambda: _has(engine, {"plain-first"}))
            await eventually(lambda: any(p.get("reason") == "blocked" for p in consumer.health.problems()))
            blocked = [p for p in consumer.health.problems() if p.get("reason") == "blocked"]
            assert blocked == [{"consumer": "edges", "topic": topic, "partition": 0, "offset": compressed,
                                "reason": "blocked", "error_type": "UnsupportedCodecError"}]
            assert {"consumer": "edges", "reason": "codec_missing", "codecs": ["snappy", "lz4", "zstd"]} in \
                consumer.health.problems()
            await eventually(lambda: gauge("cme_consumer_stalled", consumer, topic, 0) == 1)
            await eventually(lambda: gauge("cme_consumer_lag_records", consumer, topic, 0) == 1)
            assert gauge("cme_consumer_position_offset", consumer, topic, 0) == compressed
            others = {f"other-{i}" for i in range(5)}  # the other partition flows meanwhile
            for widget_id in sorted(others):
                await produce(infra.kafka, topic, widget(widget_id), partition=1)
            await eventually(lambda: _has(engine, others))
            assert padded("lz4") not in await applied(engine)

            monkeypatch.undo()  # the codec installed: the same record is read, nothing was lost
            await eventually(lambda: _has(engine, {padded("lz4")}))
            await eventually(lambda: consumer.health.problems() == [])
            await eventually(lambda: gauge("cme_consumer_stalled", consumer, topic, 0) == 0)
            await letters.settle(0.5)
    assert letters.records == []  # the deployment's fault, not the partner's: never dead-lettered
    assert compressed == plain + 1
    [event, *_] = [e for e in logs if e["event"] == "consumer_blocked"]
    assert (event["topic"], event["partition"], event["offset"], event["error_type"], event["missing_codec"]) == (
        topic, 0, compressed, "UnsupportedCodecError", True)


async def test_a_handler_that_hangs_makes_the_consumer_unhealthy_with_the_record_it_holds(
        engine, infra, topic, batch_size):
    release = asyncio.Event()

    async def hang_on_first(uow: UnitOfWork[Any], event: WidgetMade) -> None:
        if event.widget_id == "hangs":
            await release.wait()
        await apply_widget(uow, event)

    offsets = [await produce(infra.kafka, topic, widget(w), partition=1) for w in ("hangs", "waits")]
    consumer = make_consumer(engine, topic, batch_size, on=hang_on_first, stall_seconds=1.0)
    with capture_logs() as logs:
        async with consuming(engine, infra, consumer):
            await eventually(lambda: any(p["reason"] == "handler_running" for p in consumer.health.problems()))
            [running] = [p for p in consumer.health.problems() if p["reason"] == "handler_running"]
            assert (running["topic"], running["partition"], running["offset"]) == (topic, 1, offsets[0].offset)
            await eventually(lambda: gauge("cme_consumer_stalled", consumer, topic, 1) == 1)
            assert gauge("cme_consumer_lag_records", consumer, topic, 1) >= 1
            release.set()
            await eventually(lambda: _has(engine, {"hangs", "waits"}))
            await eventually(lambda: consumer.health.problems() == [])
            await eventually(lambda: gauge("cme_consumer_lag_records", consumer, topic, 1) == 0)
    assert any(e["event"] == "consumer_stalled" and e["partition"] == 1 for e in logs)
    assert any(e["event"] == "consumer_progressing" and e["partition"] == 1 for e in logs)


async def test_a_consumer_retrying_within_its_attempts_or_idle_is_not_stalled(engine, infra, topic, batch_size):
    failures: dict[str, int] = {}

    async def fails_twice(uow: UnitOfWork[Any], event: WidgetMade) -> None:
        failures[event.widget_id] = failures.get(event.widget_id, 0) + 1
        if failures[event.widget_id] <= 2:
            raise ValueError("not yet")
        await apply_widget(uow, event)

    ids = {f"slow-{i}" for i in range(6)}
    for widget_id in sorted(ids):
        await produce(infra.kafka, topic, widget(widget_id), partition=0)
    # Each record takes 0.3 s of backoff (and a batch a 0.8 s pause first): 2 s and more in all.
    consumer = make_consumer(engine, topic, batch_size, on=fails_twice, stall_seconds=1.2,
                             max_attempts=3, backoff_seconds=0.1)
    seen: list[list[dict]] = []
    async with consuming(engine, infra, consumer):
        while not await _has(engine, ids):
            seen.append(consumer.health.problems())
            await asyncio.sleep(0.1)
        for _ in range(25):  # then idle, past the stall time
            seen.append(consumer.health.problems())
            await asyncio.sleep(0.1)
    assert len(seen) > 20 and all(problems == [] for problems in seen)


async def test_an_operator_moves_a_blocked_batch_to_the_dead_letter_topic_and_the_consumer_goes_on(
        engine, infra, topic, monkeypatch):
    monkeypatch.setattr(aiokafka.codec, "cramjam", None)
    [(_, blocked_at)] = await asyncio.to_thread(librdkafka_send, infra.kafka, topic,
                                                [{"value": widget(padded("stuck")), "partition": 0}], "snappy")
    await produce(infra.kafka, topic, widget("behind"), partition=0)
    consumer = make_consumer(engine, topic, None)
    async with consuming(engine, infra, consumer):
        await eventually(lambda: any(p.get("offset") == blocked_at for p in consumer.health.problems()))
        with pytest.raises(RuntimeError, match="stop the service"):  # Kafka takes offsets from members only
            await skip_batch(infra.kafka, consumer.group_id, topic, 0, blocked_at, dlq(topic))
    skipped = await skip_batch(infra.kafka, consumer.group_id, topic, 0, blocked_at, dlq(topic))
    assert (skipped.base_offset, skipped.next_offset) == (blocked_at, blocked_at + 1)

    restarted = make_consumer(engine, topic, None)
    async with TopicReader(infra.kafka, dlq(topic)) as letters, consuming(engine, infra, restarted):
        await eventually(lambda: _has(engine, {"behind"}))
        [letter] = await letters.wait_for(lambda rs: len(rs) >= 1)
        assert restarted.health.problems() == [
            {"consumer": "edges", "reason": "codec_missing", "codecs": ["snappy", "lz4", "zstd"]}]
    assert padded("stuck") not in await applied(engine)
    assert letter.value[17:] == skipped.data[17:] and dict(letter.headers)["x-dlq-kind"] == b"skipped_batch"
