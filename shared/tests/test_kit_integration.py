"""The messaging kit on the real broker and database: the guarantees every service relies on."""

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import Any

import pytest
import pytest_asyncio
from aiokafka import AIOKafkaConsumer, TopicPartition
from faststream.kafka import KafkaBroker
from sqlalchemy import Column, Integer, MetaData, Table, Text, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from cme_shared.clock import SYSTEM_CLOCK
from cme_shared.contracts.events import Event
from cme_shared.contracts.topics import TopicNames, dlq
from cme_shared.db import create_engine, session_factory
from cme_shared.kafka_security import KafkaConnection
from cme_shared.messaging.consumer import Delivery, Problem, ReliableConsumer, is_transient, json_model_parser
from cme_shared.messaging.held_inserts import SavepointWhileHolding
from cme_shared.messaging.inbox import Inbox
from cme_shared.messaging.outbox import Outbox, OutboxRelay
from cme_shared.testing.outbox import pending_count
from cme_shared.messaging.tables import KitTables
from cme_shared.testing.infra import Infra
from cme_shared.testing.kafka import TopicReader, eventually, produce
from cme_shared.unit_of_work import UnitOfWork

pytestmark = pytest.mark.integration


def units_of_work(engine: AsyncEngine, on_commit: Callable[[], None] = lambda: None) -> Callable[[], UnitOfWork[None]]:
    """The kit's unit of work on the test's database, in topic names as they are (no namespace);
    `on_commit`: what its commit wakes (a relay's nudge) when its outbox was used."""
    return partial(UnitOfWork, session_factory(engine), Outbox(kit), TopicNames(""), SYSTEM_CLOCK, on_commit)


metadata = MetaData()
kit = KitTables(metadata)
# The "domain effect" of the test handler: one row per widget, a counter of how often it was applied.
widgets = Table("widgets", metadata, Column("widget_id", Text, primary_key=True), Column("applied", Integer))

TOPIC = "kit.widgets.v1"


class WidgetMade(Event):
    widget_id: str


def widget_event(widget_id: str) -> WidgetMade:
    return WidgetMade(event_id=uuid.uuid4(), occurred_at=datetime.now(UTC), widget_id=widget_id)


@pytest_asyncio.fixture
async def engine(databases) -> AsyncIterator[AsyncEngine]:
    url = await databases.create_empty("intake")
    eng = create_engine(url)
    async with eng.begin() as conn:
        await conn.run_sync(metadata.create_all)
    yield eng
    await eng.dispose()


@pytest_asyncio.fixture
async def topic(infra: Infra, namespace: TopicNames) -> str:
    from cme_shared.ops import ensure_topics

    name = namespace(TOPIC)
    await ensure_topics(infra.kafka, [name, dlq(name)], partitions=1)
    return name


async def apply_widget(uow: UnitOfWork[Any], event: WidgetMade) -> None:
    await add_widget(uow.session, event)


async def add_widget(session: AsyncSession, event: WidgetMade) -> None:
    await session.execute(
        insert(widgets).values(widget_id=event.widget_id, applied=1).on_conflict_do_update(
            index_elements=["widget_id"], set_={"applied": widgets.c.applied + 1}
        )
    )


async def applied(engine: AsyncEngine, widget_id: str) -> int | None:
    async with engine.connect() as conn:
        return (await conn.execute(select(widgets.c.applied).where(widgets.c.widget_id == widget_id))).scalar()


def make_consumer(engine: AsyncEngine, topic: str, on=apply_widget, group: str | None = None,
                  max_attempts: int = 3, batch_size: int | None = None) -> ReliableConsumer[WidgetMade]:
    return ReliableConsumer(
        name="widgets", topic=topic, group_id=group or f"{topic}.widgets", parse=json_model_parser(WidgetMade),
        on=on, unit_of_work=units_of_work(engine), inbox=Inbox(kit),
        max_attempts=max_attempts, backoff_seconds=0.05, batch_size=batch_size,
    )


@pytest.fixture(params=[None, 16], ids=["single", "batch"])
def batch_size(request: pytest.FixtureRequest) -> int | None:
    """The guarantees below hold record by record and batch by batch alike."""
    return request.param


@pytest_asyncio.fixture
async def relay(engine: AsyncEngine, infra: Infra) -> AsyncIterator[OutboxRelay]:
    r = OutboxRelay(engine, kit, kafka=infra.kafka, poll_seconds=0.05)
    await r.start()
    yield r
    await r.stop()


async def start_broker(infra: Infra, *consumers: ReliableConsumer) -> KafkaBroker:
    broker = KafkaBroker(infra.kafka.bootstrap, logger=None, **infra.kafka.faststream())
    for consumer in consumers:
        consumer.register(broker)
    await broker.start()
    return broker


async def test_an_event_committed_before_a_crash_is_published_after_restart(engine, infra, topic):
    # The process commits the domain change with its event, then dies before any relay publishes.
    async with session_factory(engine).begin() as session:
        await add_widget(session, widget_event("w-1"))
        event_id = await Outbox(kit).add(session, topic=topic, event=widget_event("w-1"),
                                         aggregate_type="widget", aggregate_id="w-1")
    assert await pending_count(engine, kit) == 1

    # A new process starts with a fresh engine: its relay publishes what the dead one left behind.
    fresh = create_engine(engine.url.render_as_string(hide_password=False))
    relay = OutboxRelay(fresh, kit, kafka=infra.kafka, poll_seconds=0.05)
    async with TopicReader(infra.kafka, topic) as reader:
        await relay.start()
        try:
            records = await reader.wait_for(lambda rs: len(rs) >= 1)
            await reader.settle(1.0)
        finally:
            await relay.stop()
            await fresh.dispose()
    assert len(reader.records) == 1
    record = records[0]
    assert dict(record.headers)["event_id"] == str(event_id).encode()
    assert record.key == b"w-1"  # keyed by aggregate id
    assert json.loads(record.value)["widget_id"] == "w-1"
    assert await pending_count(engine, kit) == 0


async def test_a_redelivered_event_changes_nothing(engine, infra, topic, batch_size):
    event = widget_event("w-2")
    for _ in range(3):  # the same event id three times, as a relay crash between send and mark would do
        await produce(infra.kafka, topic, event.model_dump_json().encode(), key=b"w-2",
                      headers=[("event_id", str(event.event_id).encode())])
    later = widget_event("w-3")
    await produce(infra.kafka, topic, later.model_dump_json().encode(), key=b"w-3",
                  headers=[("event_id", str(later.event_id).encode())])
    broker = await start_broker(infra, make_consumer(engine, topic, batch_size=batch_size))
    try:
        await eventually(lambda: applied(engine, "w-3"))
    finally:
        await broker.stop()
    assert await applied(engine, "w-2") == 1
    async with engine.connect() as conn:
        assert (await conn.execute(select(func.count()).select_from(kit.inbox))).scalar() == 2


async def test_a_malformed_record_is_dead_lettered_byte_exact_and_the_partition_flows_on(
    engine, infra, topic, relay, batch_size):
    malformed = b'{"widget_id": 42, "event_id": "not-a-uuid"\xff'
    await produce(infra.kafka, topic, malformed, key=b"k-bad", headers=[("trace", b"abc")], partition=0)
    good = widget_event("w-4")
    await produce(infra.kafka, topic, good.model_dump_json().encode(), key=b"w-4", partition=0)
    consumer = make_consumer(engine, topic, batch_size=batch_size)
    consumer.unit_of_work = units_of_work(engine, relay.nudge)
    async with TopicReader(infra.kafka, dlq(topic)) as dead_letters:
        broker = await start_broker(infra, consumer)
        try:
            await eventually(lambda: applied(engine, "w-4"))
            [letter] = await dead_letters.wait_for(lambda rs: len(rs) >= 1)
        finally:
            await broker.stop()
    assert letter.value == malformed
    assert letter.key == b"k-bad"
    headers = dict(letter.headers)
    assert headers["trace"] == b"abc"  # the original headers travel with it
    assert headers["x-dlq-kind"] == b"unreadable"
    assert [r["code"] for r in json.loads(headers["x-dlq-reasons"])] == ["not_utf8"]
    assert headers["x-dlq-original-topic"] == topic.encode()


async def test_an_invalid_record_names_each_field_and_rule(engine, infra, topic, relay, batch_size):
    await produce(infra.kafka, topic, b'{"event_id": "x", "occurred_at": "2026-01-01T00:00:00Z", "extra": 1}')
    consumer = make_consumer(engine, topic, batch_size=batch_size)
    consumer.unit_of_work = units_of_work(engine, relay.nudge)
    async with TopicReader(infra.kafka, dlq(topic)) as dead_letters:
        broker = await start_broker(infra, consumer)
        try:
            [letter] = await dead_letters.wait_for(lambda rs: len(rs) >= 1)
        finally:
            await broker.stop()
    reasons = {(tuple(r["loc"]), r["code"]) for r in json.loads(dict(letter.headers)["x-dlq-reasons"])}
    assert reasons == {(("event_id",), "uuid_parsing"), (("widget_id",), "missing"), (("extra",), "extra_forbidden")}


async def test_a_handler_that_keeps_failing_is_retried_then_dead_lettered(engine, infra, topic, relay, batch_size):
    attempts: list[str] = []

    async def flaky(uow: UnitOfWork[Any], event: WidgetMade) -> None:
        await apply_widget(uow, event)  # written, then rolled back with the failure
        if event.widget_id == "poison":
            attempts.append(event.widget_id)
            raise RuntimeError("downstream refused")

    poison, after = widget_event("poison"), widget_event("w-5")
    for event in (poison, after):
        await produce(infra.kafka, topic, event.model_dump_json().encode(), partition=0,
                      headers=[("event_id", str(event.event_id).encode())])
    consumer = make_consumer(engine, topic, on=flaky, max_attempts=3, batch_size=batch_size)
    consumer.unit_of_work = units_of_work(engine, relay.nudge)
    async with TopicReader(infra.kafka, dlq(topic)) as dead_letters:
        broker = await start_broker(infra, consumer)
        try:
            await eventually(lambda: applied(engine, "w-5"))
            [letter] = await dead_letters.wait_for(lambda rs: len(rs) >= 1)
        finally:
            await broker.stop()
    assert attempts == ["poison"] * 3
    assert await applied(engine, "poison") is None  # no partial effect survived
    assert dict(letter.headers)["x-dlq-kind"] == b"handler_failed"
    assert json.loads(letter.value)["widget_id"] == "poison"


async def committed_offset(kafka: KafkaConnection, group: str, topic: str) -> int | None:
    probe = AIOKafkaConsumer(**kafka.aiokafka(), group_id=group, enable_auto_commit=False)
    await probe.start()
    try:
        return await probe.committed(TopicPartition(topic, 0))
    finally:
        await probe.stop()


async def test_the_offset_is_committed_only_after_the_handler_transaction(engine, infra, topic, batch_size):
    inside, release = asyncio.Event(), asyncio.Event()

    async def slow(uow: UnitOfWork[Any], event: WidgetMade) -> None:
        await apply_widget(uow, event)
        inside.set()
        await release.wait()

    event = widget_event("w-6")
    await produce(infra.kafka, topic, event.model_dump_json().encode(), partition=0)
    group = f"{topic}.slow"
    broker = await start_broker(
        infra, make_consumer(engine, topic, on=slow, group=group, batch_size=batch_size))
    try:
        await asyncio.wait_for(inside.wait(), 30)
        await asyncio.sleep(1.0)  # long enough for any auto-commit to have happened
        assert await committed_offset(infra.kafka, group, topic) is None
        assert await applied(engine, "w-6") is None
        release.set()
        await eventually(lambda: applied(engine, "w-6"))
        assert await eventually(lambda: committed_offset(infra.kafka, group, topic)) == 1
    finally:
        release.set()
        await broker.stop()


async def test_a_consumer_killed_mid_handler_reprocesses_once_on_restart(engine, infra, topic, batch_size):
    inside = asyncio.Event()

    async def never_finishes(uow: UnitOfWork[Any], event: WidgetMade) -> None:
        await apply_widget(uow, event)
        inside.set()
        await asyncio.sleep(3600)

    event = widget_event("w-7")
    await produce(infra.kafka, topic, event.model_dump_json().encode(), partition=0,
                  headers=[("event_id", str(event.event_id).encode())])
    group = f"{topic}.restart"
    first = await start_broker(
        infra, make_consumer(engine, topic, on=never_finishes, group=group, batch_size=batch_size))
    await asyncio.wait_for(inside.wait(), 30)
    await first.stop()  # the process dies mid-transaction: nothing committed, offset included
    assert await applied(engine, "w-7") is None

    second = await start_broker(infra, make_consumer(engine, topic, group=group, batch_size=batch_size))
    try:
        assert await eventually(lambda: applied(engine, "w-7")) == 1
        await asyncio.sleep(1.0)
        assert await applied(engine, "w-7") == 1
    finally:
        await second.stop()


async def test_a_database_outage_is_waited_out_never_dead_lettered(engine, infra, topic, relay, batch_size):
    calls: list[int] = []

    async def database_away_for_a_while(uow: UnitOfWork[Any], event: WidgetMade) -> None:
        calls.append(1)
        if len(calls) <= 5:  # more failures than max_attempts: a poison message would be dead-lettered by now
            raise ConnectionError("database unreachable")
        await apply_widget(uow, event)

    event = widget_event("w-8")
    await produce(infra.kafka, topic, event.model_dump_json().encode(), partition=0,
                  headers=[("event_id", str(event.event_id).encode())])
    consumer = make_consumer(engine, topic, on=database_away_for_a_while, max_attempts=3, batch_size=batch_size)
    consumer.unit_of_work = units_of_work(engine, relay.nudge)
    async with TopicReader(infra.kafka, dlq(topic)) as dead_letters:
        broker = await start_broker(infra, consumer)
        try:
            assert await eventually(lambda: applied(engine, "w-8"), timeout=60) == 1
            await dead_letters.settle(1.0)
        finally:
            await broker.stop()
    assert dead_letters.records == []
    assert len(calls) == 6


# ---- batch mode: one unit of work per batch; if a record fails, the batch record by record


def record_of(event: WidgetMade, offset: int, key: bytes | None = None, topic: str = TOPIC) -> Delivery:
    return Delivery(topic=topic, partition=0, offset=offset, key=key, value=event.model_dump_json().encode(),
                    headers=[("event_id", str(event.event_id).encode())])


async def test_duplicate_event_ids_within_and_across_batches_apply_once(engine):
    first, second, third = widget_event("d-1"), widget_event("d-2"), widget_event("d-3")
    consumer = make_consumer(engine, TOPIC, batch_size=16)
    assert await consumer.process_batch(
        [record_of(first, 0), record_of(first, 1), record_of(second, 2), record_of(first, 3)]
    ) == ["handled", "duplicate", "handled", "duplicate"]
    assert await consumer.process_batch([record_of(second, 4), record_of(third, 5), record_of(third, 6)]) == [
        "duplicate", "handled", "duplicate"]
    assert [await applied(engine, w) for w in ("d-1", "d-2", "d-3")] == [1, 1, 1]


async def test_a_failing_record_rolls_back_only_itself_and_its_key_keeps_its_order(engine):
    order: list[str] = []
    failures: list[str] = []

    async def fails_once(uow: UnitOfWork[Any], event: WidgetMade) -> None:
        await apply_widget(uow, event)  # written, then rolled back with the batch attempt
        if event.widget_id == "a-1" and not failures:
            failures.append(event.widget_id)
            raise RuntimeError("downstream refused")
        order.append(event.widget_id)

    a1, b1, a2, b2, a3 = (widget_event(w) for w in ("a-1", "b-1", "a-2", "b-2", "a-3"))
    consumer = make_consumer(engine, TOPIC, on=fails_once, batch_size=16)
    outcomes = await consumer.process_batch([
        record_of(a1, 0, b"A"), record_of(b1, 1, b"B"), record_of(a2, 2, b"A"), record_of(b2, 3, b"B"),
        record_of(a3, 4, b"A"),
    ])
    assert outcomes == ["handled"] * 5
    # The batch was settled record by record, in offset order: each key's records in their order.
    assert order == ["a-1", "b-1", "a-2", "b-2", "a-3"]
    assert failures == ["a-1"]
    assert [await applied(engine, w) for w in ("a-1", "b-1", "a-2", "b-2", "a-3")] == [1] * 5


async def test_a_transient_failure_aborts_the_whole_batch_uncommitted(engine):
    calls: list[str] = []

    async def database_blips(uow: UnitOfWork[Any], event: WidgetMade) -> None:
        calls.append(event.widget_id)
        await apply_widget(uow, event)
        if event.widget_id == "t-2" and calls.count("t-2") == 1:
            raise ConnectionError("database unreachable")

    batch = [record_of(widget_event("t-1"), 0), record_of(widget_event("t-2"), 1), record_of(widget_event("t-3"), 2)]
    consumer = make_consumer(engine, TOPIC, on=database_blips, batch_size=16)
    with pytest.raises(ConnectionError):
        await consumer.process_batch(batch)
    assert await applied(engine, "t-1") is None  # handled in the batch, but the batch never committed
    async with engine.connect() as conn:
        assert (await conn.execute(select(func.count()).select_from(kit.inbox))).scalar() == 0
    assert await consumer.process_batch(batch) == ["handled"] * 3  # the batch read again
    assert [await applied(engine, w) for w in ("t-1", "t-2", "t-3")] == [1, 1, 1]


async def test_a_mixed_batch_applies_the_good_dead_letters_the_bad_and_flows_on(engine, infra, topic, relay):
    attempts: list[str] = []

    async def refuses_poison(uow: UnitOfWork[Any], event: WidgetMade) -> None:
        await apply_widget(uow, event)
        if event.widget_id == "poison":
            attempts.append(event.widget_id)
            raise RuntimeError("downstream refused")

    malformed = b'{"widget_id": "m", \xfe'
    good, poison, same_key_after, other_key_after = (
        widget_event(w) for w in ("g-1", "poison", "g-2", "g-3"))
    records = [(good, b"K1"), (malformed, b"K2"), (poison, b"K3"), (good, b"K1"), (same_key_after, b"K3"),
               (other_key_after, b"K4")]
    for value, key in records:
        payload = value if isinstance(value, bytes) else value.model_dump_json().encode()
        headers = [] if isinstance(value, bytes) else [("event_id", str(value.event_id).encode())]
        await produce(infra.kafka, topic, payload, key=key, headers=headers, partition=0)
    consumer = make_consumer(engine, topic, on=refuses_poison, max_attempts=3, batch_size=16)
    consumer.unit_of_work = units_of_work(engine, relay.nudge)
    batches: list[list[int]] = []
    process_batch = consumer.process_batch

    async def spy(deliveries):
        batches.append([d.offset for d in deliveries])
        return await process_batch(deliveries)

    consumer.process_batch = spy  # type: ignore[method-assign]
    async with TopicReader(infra.kafka, dlq(topic)) as dead_letters:
        broker = await start_broker(infra, consumer)
        try:
            await eventually(lambda: applied(engine, "g-2"))
            await dead_letters.wait_for(lambda rs: len(rs) >= 2)
            await dead_letters.settle(1.0)
        finally:
            await broker.stop()
    assert [offset for batch in batches for offset in batch] == [0, 1, 2, 3, 4, 5]  # each record read once
    assert [await applied(engine, w) for w in ("g-1", "g-2", "g-3", "poison")] == [1, 1, 1, None]
    assert attempts == ["poison"] * 3  # the batch attempt, then two on its own
    by_kind = {dict(letter.headers)["x-dlq-kind"]: letter for letter in dead_letters.records}
    assert len(dead_letters.records) == 2
    assert by_kind[b"unreadable"].value == malformed and by_kind[b"unreadable"].key == b"K2"
    assert json.loads(by_kind[b"handler_failed"].value)["widget_id"] == "poison"


async def test_offsets_are_committed_only_after_the_batch_transaction(engine, infra, topic):
    inside, release = asyncio.Event(), asyncio.Event()

    async def last_is_slow(uow: UnitOfWork[Any], event: WidgetMade) -> None:
        await apply_widget(uow, event)
        if event.widget_id == "o-3":
            inside.set()
            await release.wait()

    for widget_id in ("o-1", "o-2", "o-3"):
        event = widget_event(widget_id)
        await produce(infra.kafka, topic, event.model_dump_json().encode(), partition=0,
                      headers=[("event_id", str(event.event_id).encode())])
    group = f"{topic}.batch-slow"
    broker = await start_broker(infra, make_consumer(engine, topic, on=last_is_slow, group=group, batch_size=16))
    try:
        await asyncio.wait_for(inside.wait(), 30)
        await asyncio.sleep(1.0)  # long enough for any auto-commit to have happened
        assert await committed_offset(infra.kafka, group, topic) is None
        assert await applied(engine, "o-1") is None  # handled, but its batch has not committed
        release.set()
        assert await eventually(lambda: committed_offset(infra.kafka, group, topic)) == 3
        assert [await applied(engine, w) for w in ("o-1", "o-2", "o-3")] == [1, 1, 1]
    finally:
        release.set()
        await broker.stop()


async def test_a_consumer_killed_mid_batch_reprocesses_the_batch_once_on_restart(engine, infra, topic):
    inside = asyncio.Event()
    seen: list[str] = []

    async def dies_on_the_third(uow: UnitOfWork[Any], event: WidgetMade) -> None:
        await apply_widget(uow, event)
        seen.append(event.widget_id)
        if event.widget_id == "k-3":
            inside.set()
            await asyncio.sleep(3600)

    widget_ids = [f"k-{n}" for n in range(1, 6)]
    for widget_id in widget_ids:
        event = widget_event(widget_id)
        await produce(infra.kafka, topic, event.model_dump_json().encode(), partition=0,
                      headers=[("event_id", str(event.event_id).encode())])
    group = f"{topic}.batch-restart"
    first = await start_broker(infra, make_consumer(engine, topic, on=dies_on_the_third, group=group,
                                                    batch_size=16))
    await asyncio.wait_for(inside.wait(), 30)
    await first.stop()  # the process dies mid-batch: nothing committed, offsets included
    assert seen == ["k-1", "k-2", "k-3"]
    assert [await applied(engine, w) for w in widget_ids] == [None] * 5
    assert await committed_offset(infra.kafka, group, topic) is None

    second = await start_broker(infra, make_consumer(engine, topic, group=group, batch_size=16))
    try:
        await eventually(lambda: applied(engine, "k-5"))
        assert await eventually(lambda: committed_offset(infra.kafka, group, topic)) == 5
        await asyncio.sleep(1.0)
        assert [await applied(engine, w) for w in widget_ids] == [1] * 5
    finally:
        await second.stop()


async def test_the_prepare_hook_runs_first_in_the_batch_and_its_failure_is_contained(engine):
    seen: list[list[str]] = []

    async def prepare(uow: UnitOfWork[Any], batch: list[tuple[WidgetMade, Delivery]]) -> None:
        seen.append([event.widget_id for event, _ in batch])
        await apply_widget(uow, widget_event("prepared"))
        if seen[-1] == ["p-2"]:
            raise RuntimeError("could not lock")  # its writes roll back; the records go on

    consumer = make_consumer(engine, TOPIC, batch_size=16)
    consumer.prepare = prepare
    unreadable = Delivery(topic=TOPIC, partition=0, offset=1, key=None, value=b"not json")
    assert await consumer.process_batch([record_of(widget_event("p-1"), 0), unreadable]) == [
        "handled", "dead_lettered_unreadable"]
    assert await consumer.process_batch([record_of(widget_event("p-2"), 2)]) == ["handled"]
    # Readable records only, once per batch; the batch whose hook failed was settled record by record,
    # without the hook (its writes rolled back with the batch attempt).
    assert seen == [["p-1"], ["p-2"]]
    assert [await applied(engine, w) for w in ("prepared", "p-1", "p-2")] == [1, 1, 1]


def statements_of(engine: AsyncEngine) -> list[str]:
    """Every SQL statement the engine sends from now on (executemany counts once)."""
    from sqlalchemy import event

    sent: list[str] = []
    event.listen(engine.sync_engine, "before_cursor_execute", lambda *args: sent.append(args[2]))
    return sent


async def test_a_batch_claims_its_inbox_and_writes_its_outbox_in_one_statement_each(engine):
    async def two_events(uow: UnitOfWork[Any], event: WidgetMade) -> None:
        await apply_widget(uow, event)
        for suffix in ("made", "told"):
            await uow.outbox.add("kit.out.v1", widget_event(f"{event.widget_id}-{suffix}"),
                                 aggregate_type="widget", aggregate_id=event.widget_id)

    consumer = make_consumer(engine, TOPIC, on=two_events, batch_size=32)
    batch = [record_of(widget_event(f"s-{i}"), i) for i in range(20)]
    sent = statements_of(engine)
    assert await consumer.process_batch(batch) == ["handled"] * 20
    kit_statements = [s for s in sent if "inbox" in s or "outbox" in s]
    assert len(kit_statements) == 2  # not one claim per record and one insert per event
    assert not [s for s in sent if "SAVEPOINT" in s.upper()]
    async with engine.connect() as conn:
        payloads = (await conn.execute(select(kit.outbox.c.payload).order_by(kit.outbox.c.id))).scalars().all()
        claimed = (await conn.execute(select(func.count()).select_from(kit.inbox))).scalar()
    # The relay publishes in id order: the events keep the order the handlers added them in.
    assert [json.loads(p)["widget_id"] for p in payloads] == [f"s-{i}-{s}" for i in range(20) for s in ("made", "told")]
    assert claimed == 20


async def test_a_failure_in_the_fast_path_leaves_no_event_of_the_failed_attempt(engine):
    failures: list[str] = []

    async def tells_then_fails_once(uow: UnitOfWork[Any], event: WidgetMade) -> None:
        await apply_widget(uow, event)
        await uow.outbox.add("kit.out.v1", widget_event(event.widget_id),
                             aggregate_type="widget", aggregate_id=event.widget_id)
        if event.widget_id == "f-2" and not failures:
            failures.append(event.widget_id)
            raise RuntimeError("downstream refused")

    consumer = make_consumer(engine, TOPIC, on=tells_then_fails_once, batch_size=16)
    batch = [record_of(widget_event(f"f-{i}"), i, key=f"K{i}".encode()) for i in range(4)]
    assert await consumer.process_batch(batch) == ["handled"] * 4
    async with engine.connect() as conn:
        told = (await conn.execute(select(kit.outbox.c.payload).order_by(kit.outbox.c.id))).scalars().all()
    # One event per widget: nothing of the rolled-back first attempt survived; f-2 was retried after.
    assert sorted(json.loads(p)["widget_id"] for p in told) == ["f-0", "f-1", "f-2", "f-3"]
    assert failures == ["f-2"]
    assert [await applied(engine, f"f-{i}") for i in range(4)] == [1, 1, 1, 1]


async def test_an_event_added_in_a_handlers_own_savepoint_rolls_back_with_it(engine):
    async def second_thoughts(uow: UnitOfWork[Any], event: WidgetMade) -> None:
        await uow.outbox.add("kit.out.v1", widget_event(f"{event.widget_id}-kept"),
                             aggregate_type="widget", aggregate_id=event.widget_id)
        try:
            async with uow.session.begin_nested():
                await uow.outbox.add("kit.out.v1", widget_event(f"{event.widget_id}-undone"),
                                     aggregate_type="widget", aggregate_id=event.widget_id)
                raise LookupError("changed its mind")
        except LookupError:
            pass
        await apply_widget(uow, event)

    consumer = make_consumer(engine, TOPIC, on=second_thoughts, batch_size=16)
    assert await consumer.process_batch([record_of(widget_event("n-1"), 0), record_of(widget_event("n-2"), 1)]) == [
        "handled", "handled"]
    async with engine.connect() as conn:
        told = (await conn.execute(select(kit.outbox.c.payload).order_by(kit.outbox.c.id))).scalars().all()
    assert [json.loads(p)["widget_id"] for p in told] == ["n-1-kept", "n-2-kept"]


async def drop_connections(infra: Infra, engine: AsyncEngine) -> int:
    """What a database restart does to a service: every backend of its database is ended."""
    import asyncpg

    database = engine.url.database
    admin = await asyncpg.connect(infra.pg_admin_dsn)
    try:
        return await admin.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
            database)
    finally:
        await admin.close()


async def test_after_the_database_drops_its_connections_a_batch_is_read_again_and_then_handled(engine, infra):
    consumer = make_consumer(engine, TOPIC, batch_size=16)
    assert await consumer.process_batch([record_of(widget_event("r-1"), 0)]) == ["handled"]  # a pooled connection
    assert await drop_connections(infra, engine) >= 1
    batch = [record_of(widget_event("r-2"), 1)]
    with pytest.raises(Exception) as stale:  # the dropped connection: the batch is nacked, to be read again
        await consumer.process_batch(batch)
    assert is_transient(stale.value)
    assert await consumer.process_batch(batch) == ["handled"]
    assert [await applied(engine, w) for w in ("r-1", "r-2")] == [1, 1]


async def test_after_the_database_drops_its_connections_a_request_gets_503_then_succeeds(engine, infra):
    import httpx
    from fastapi import FastAPI

    from cme_shared.http.errors import install_error_handlers

    app = FastAPI()
    install_error_handlers(app)
    sessions = session_factory(engine)

    @app.get("/widgets")
    async def count_widgets() -> dict[str, int]:
        async with sessions() as session:
            return {"widgets": (await session.execute(select(func.count()).select_from(widgets))).scalar_one()}

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app, raise_app_exceptions=False),
                                 base_url="http://test") as client:
        assert (await client.get("/widgets")).status_code == 200
        assert await drop_connections(infra, engine) >= 1
        responses = [await client.get("/widgets") for _ in range(3)]
    # The first request meets the dropped connection: a 503 saying to retry, not a 500; the pool is
    # renewed, and the next requests succeed.
    assert [r.status_code for r in responses] == [503, 200, 200]
    assert responses[0].headers["retry-after"] == "1"
    assert responses[0].json()["errors"][0]["code"] == "temporarily_unavailable"


# ---- the unit of work: what a consumer hands its handlers (on=, prepare=, reject=)


@dataclass
class WidgetBatch:
    """A batch state as a service types it: what the prepare hook found, and the records seen."""

    prepared: list[str] = field(default_factory=list)
    handled: list[str] = field(default_factory=list)


class WidgetUnitOfWork(UnitOfWork[WidgetBatch]):
    def new_batch(self) -> WidgetBatch:
        return WidgetBatch()


def widget_units(engine: AsyncEngine, woken: list[int]) -> Callable[[], WidgetUnitOfWork]:
    return partial(WidgetUnitOfWork, session_factory(engine), Outbox(kit), TopicNames(""), SYSTEM_CLOCK,
                   on_commit=lambda: woken.append(1))


async def test_a_batch_is_one_unit_of_work_whose_typed_state_the_prepare_hook_fills(engine):
    batches: list[WidgetBatch] = []
    seen: list[tuple[str, int]] = []
    woken: list[int] = []

    async def prepare(uow: WidgetUnitOfWork, batch: list[tuple[WidgetMade, Delivery]]) -> None:
        uow.batch.prepared = [event.widget_id for event, _ in batch]
        batches.append(uow.batch)

    async def on_widget(uow: WidgetUnitOfWork, event: WidgetMade) -> None:
        assert event.widget_id in uow.batch.prepared and uow.held.holding
        uow.batch.handled.append(event.widget_id)
        seen.append((event.widget_id, uow.delivery.offset))
        await apply_widget(uow, event)
        await uow.outbox.add("kit.out.v1", widget_event(f"{event.widget_id}-told"), aggregate_type="widget",
                             aggregate_id=event.widget_id)

    consumer = ReliableConsumer(
        name="widgets", topic=TOPIC, group_id=f"{TOPIC}.uow", parse=json_model_parser(WidgetMade), on=on_widget,
        prepare=prepare, unit_of_work=widget_units(engine, woken), inbox=Inbox(kit), batch_size=16,
    )
    sent = statements_of(engine)
    assert await consumer.process_batch([record_of(widget_event(f"u-{i}"), i) for i in range(3)]) == ["handled"] * 3
    assert [batch.handled for batch in batches] == [["u-0", "u-1", "u-2"]]  # one state across the batch
    assert seen == [("u-0", 0), ("u-1", 1), ("u-2", 2)]  # uow.delivery: the record being handled
    assert woken == [1]  # one commit, and the relay woken by it
    assert len([s for s in sent if "outbox" in s]) == 1  # the outbox rows held to one statement
    async with engine.connect() as conn:
        told = (await conn.execute(select(kit.outbox.c.payload).order_by(kit.outbox.c.id))).scalars().all()
    assert [json.loads(p)["widget_id"] for p in told] == ["u-0-told", "u-1-told", "u-2-told"]


async def test_one_record_is_one_unit_of_work_and_a_dead_letter_tells_the_reject_hook_in_it(engine):
    woken: list[int] = []
    handled: list[tuple[str, bool]] = []
    rejected: list[tuple[int, list[str]]] = []

    async def on_widget(uow: WidgetUnitOfWork, event: WidgetMade) -> None:
        handled.append((event.widget_id, uow.held.holding))
        await apply_widget(uow, event)

    async def reject(uow: WidgetUnitOfWork, delivery: Delivery, problems: list[Problem]) -> None:
        rejected.append((delivery.offset, [p.code for p in problems]))
        await uow.outbox.add("kit.outcomes.v1", widget_event(f"rejected-{delivery.offset}"),
                             aggregate_type="widget", aggregate_id=str(delivery.offset))

    consumer = ReliableConsumer(
        name="widgets", topic=TOPIC, group_id=f"{TOPIC}.uow", parse=json_model_parser(WidgetMade), on=on_widget,
        reject=reject, unit_of_work=widget_units(engine, woken), inbox=Inbox(kit),
    )
    assert await consumer.process(record_of(widget_event("v-1"), 0)) == "handled"
    unreadable = Delivery(topic=TOPIC, partition=0, offset=1, key=None, value=b"not json")
    assert await consumer.process(unreadable) == "dead_lettered_unreadable"
    assert handled == [("v-1", False)]  # nothing held outside a batch's fast path
    assert rejected == [(1, ["json_invalid"])]
    assert woken == [1]  # the dead letter's commit woke the relay; the handler added nothing to the outbox
    async with engine.connect() as conn:
        topics_written = (await conn.execute(select(kit.outbox.c.topic).order_by(kit.outbox.c.id))).scalars().all()
    assert topics_written == [dlq(TOPIC), "kit.outcomes.v1"]


async def test_a_savepoint_while_rows_are_held_is_refused_at_once(engine):
    async with WidgetUnitOfWork(session_factory(engine), Outbox(kit), TopicNames(""), SYSTEM_CLOCK) as uow:
        async with uow.session.begin_nested():  # not holding: a savepoint is fine
            pass
        uow.held.start()
        with pytest.raises(SavepointWhileHolding):
            async with uow.session.begin_nested():
                pass


async def test_a_failed_prepare_hook_leaves_no_note_of_the_locks_its_rollback_released(engine):
    """When the hook fails, the batch attempt rolls back with the locks it took, and what it noted about
    them in the batch state goes too: each record, settled on its own, starts with a fresh state."""
    noted: list[list[str]] = []

    async def prepare(uow: WidgetUnitOfWork, batch: list[tuple[WidgetMade, Delivery]]) -> None:
        uow.batch.prepared = ["locked"]  # what intake's lock and casework's row cache note
        raise RuntimeError("could not lock")

    async def on_widget(uow: WidgetUnitOfWork, event: WidgetMade) -> None:
        noted.append(uow.batch.prepared)
        await apply_widget(uow, event)

    consumer = ReliableConsumer(
        name="widgets", topic=TOPIC, group_id=f"{TOPIC}.uow", parse=json_model_parser(WidgetMade), on=on_widget,
        prepare=prepare, unit_of_work=widget_units(engine, []), inbox=Inbox(kit), batch_size=16,
    )
    assert await consumer.process_batch([record_of(widget_event("l-1"), 0)]) == ["handled"]
    assert noted == [[]]
