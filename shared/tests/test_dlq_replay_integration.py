"""The dead-letter tool on the real broker and database, run as an operator would (`python -m cme_shared.dlq`):
a partner's referral dead-lettered by a handler fault is listed, shown (without its personal data), replayed
byte for byte once the fault is fixed and accepted; a second replay is refused without --again. An internal
event known by its event id is replayed too (its inbox claim released), and one replayed while the fault
was still there and dead-lettered again is not replayed again without --again."""

import asyncio
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from cme_shared.clock import SYSTEM_CLOCK
from cme_shared.contracts.events import Event
from cme_shared.contracts.referrals import Referral
from cme_shared.contracts.topics import TopicNames, dlq
from cme_shared.db import create_engine, session_factory
from cme_shared.messaging.consumer import ReliableConsumer, by_event_id, by_position, json_model_parser
from cme_shared.messaging.inbox import Inbox
from cme_shared.messaging.outbox import Outbox, OutboxRelay
from cme_shared.messaging.tables import KitTables
from cme_shared.testing.infra import Infra
from cme_shared.testing.kafka import TopicReader, eventually, produce
from cme_shared.unit_of_work import UnitOfWork
from faststream.kafka import KafkaBroker
from sqlalchemy import Column, MetaData, Table, Text, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncEngine

pytestmark = pytest.mark.integration


def units_of_work(engine: AsyncEngine) -> Callable[[], UnitOfWork[None]]:
    """The kit's unit of work on the test's database, in topic names as they are (no namespace)."""
    return partial(UnitOfWork, session_factory(engine), Outbox(kit), TopicNames(""), SYSTEM_CLOCK)


SAMPLE = Path(__file__).resolve().parents[2] / "samples" / "referrals" / "accepted-nhs-new-arrival.json"

metadata = MetaData()
kit = KitTables(metadata)
accepted = Table("accepted", metadata, Column("ref", Text, primary_key=True))


class Fault:
    """A handler that fails (a simulated bug) until the fix is deployed."""

    def __init__(self) -> None:
        self.fixed = False

    async def referral(self, uow: UnitOfWork[Any], referral: Referral) -> None:
        if not self.fixed:
            raise RuntimeError("simulated handler fault")
        await uow.session.execute(insert(accepted).values(ref=referral.referral_id).on_conflict_do_nothing())

    async def event(self, uow: UnitOfWork[Any], event: "ItemArrived") -> None:
        if not self.fixed:
            raise RuntimeError("simulated handler fault")
        await uow.session.execute(insert(accepted).values(ref=event.item_id).on_conflict_do_nothing())


class ItemArrived(Event):
    item_id: str


def dlq_tool(infra: Infra, journal: Path, *args: str, database_url: str | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, **infra.kafka_env(), "CME_DLQ_JOURNAL": str(journal), "CME_LOG_LEVEL": "WARNING"}
    env.pop("CME_DATABASE_URL", None)
    if database_url is not None:
        env["CME_DATABASE_URL"] = database_url
    return subprocess.run([sys.executable, "-m", "cme_shared.dlq", *args], check=False, env=env, capture_output=True, text=True,
                          timeout=120)


async def count_accepted(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return (await conn.execute(select(func.count()).select_from(accepted))).scalar_one()


async def run_tool(*args, **kwargs) -> subprocess.CompletedProcess:
    return await asyncio.to_thread(dlq_tool, *args, **kwargs)


async def started(infra: Infra, engine: AsyncEngine, consumer: ReliableConsumer) -> tuple[OutboxRelay, KafkaBroker]:
    relay = OutboxRelay(engine, kit, kafka=infra.kafka, poll_seconds=0.05)
    broker = KafkaBroker(infra.kafka.bootstrap, logger=None, **infra.kafka.faststream())
    consumer.register(broker)
    await relay.start()
    await broker.start()
    return relay, broker


async def test_a_dead_lettered_referral_is_listed_shown_replayed_once_fixed_and_not_twice(
        infra: Infra, namespace: TopicNames, databases, tmp_path: Path):
    topic = namespace("cme.referrals.v1")
    url = await databases.create_empty("intake")
    engine = create_engine(url)
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    fault = Fault()
    consumer = ReliableConsumer(
        name="referrals", topic=topic, group_id=f"{topic}.dlq-tool", parse=json_model_parser(Referral),
        on=fault.referral, unit_of_work=units_of_work(engine), inbox=Inbox(kit),
        identify=by_position, max_attempts=2, backoff_seconds=0.05,
    )
    journal = tmp_path / "replays.jsonl"
    value = SAMPLE.read_bytes()
    referral = json.loads(value)
    headers = [("x-cme-partner", b"school-a"), ("x-cme-partner-mac", b"ab" * 32), ("trace", None)]
    relay, broker = await started(infra, engine, consumer)
    try:
        await produce(infra.kafka, topic, value, key=b"NHS-RYJ-5521", headers=headers)
        async with TopicReader(infra.kafka, dlq(topic)) as letters:
            [letter] = await letters.wait_for(lambda rs: len(rs) >= 1, timeout=60)
        place = f"{letter.partition}:{letter.offset}"

        listed = await run_tool(infra, journal, "list", "--topic", topic, "--code", "handler_failed")
        assert listed.returncode == 0, listed.stderr
        assert place in listed.stdout and "handler_failed" in listed.stdout and "1 dead letter(s)" in listed.stdout
        other = await run_tool(infra, journal, "list", "--topic", topic, "--code", "json_invalid")
        assert "no dead letters" in other.stdout
        by_key = await run_tool(infra, journal, "list", "--topic", topic, "--key", "NHS-RYJ-5521",
                                "--since", "2020-01-01T00:00:00")
        assert place in by_key.stdout
        too_late = await run_tool(infra, journal, "list", "--topic", topic, "--since", "2999-01-01T00:00:00")
        assert "no dead letters" in too_late.stdout

        shown = await run_tool(infra, journal, "show", "--topic", topic, place)
        assert shown.returncode == 0, shown.stderr
        assert "kind:             handler_failed" in shown.stdout
        assert "consumer:         referrals" in shown.stdout
        assert "handler failed 2 times: RuntimeError" in shown.stdout
        assert f"came from:        {topic}:" in shown.stdout
        assert "x-cme-partner (8 bytes): value not shown" in shown.stdout
        # Nothing of the child, the family or the key without --payload.
        for personal in (referral["child"]["first_name"], referral["child"]["last_name"], "NHS-RYJ-5521", "school-a"):
            assert personal not in shown.stdout + listed.stdout + shown.stderr
        payload = await run_tool(infra, journal, "show", "--topic", topic, place, "--payload")
        assert payload.stdout.encode() == value and "personal data" in payload.stderr

        fault.fixed = True  # the fix is deployed
        replayed = await run_tool(infra, journal, "replay", "--topic", topic, place, "--reason", "INC-42", "--yes",
                                  "--by", "ops-alice")
        assert replayed.returncode == 0, replayed.stderr
        assert f"replayed {place} to {topic}:" in replayed.stdout
        await eventually(lambda: count_accepted(engine), timeout=30)
        assert await count_accepted(engine) == 1

        # Byte for byte on its source topic: the same key, value and headers, none of the x-dlq-* ones.
        async with TopicReader(infra.kafka, topic) as source:
            records = await source.wait_for(lambda rs: len(rs) >= 2, timeout=30)
            assert [(r.key, r.value, list(r.headers)) for r in records] == [(b"NHS-RYJ-5521", value, headers)] * 2

            again = await run_tool(infra, journal, "replay", "--topic", topic, place, "--reason", "INC-42", "--yes")
            assert again.returncode == 1
            assert f"refused {place} (already_replayed)" in again.stderr and "--again" in again.stderr
            assert "by ops-alice (INC-42)" in again.stderr
            resumed = await run_tool(infra, journal, "replay", "--topic", topic, "--matching", "--reason", "INC-42",
                                     "--yes")
            assert resumed.returncode == 0 and f"skipped {place}" in resumed.stdout
            assert len(await source.settle(2.0)) == 2  # neither sent it again

        lines = [json.loads(line) for line in journal.read_text().splitlines()]
        assert [e["status"] for e in lines] == ["started", "replayed"]
        assert lines[1] | {"at": None} == lines[1] | {
            "at": None, "by": "ops-alice", "why": "INC-42", "dlq_topic": dlq(topic), "dlq_partition": letter.partition,
            "dlq_offset": letter.offset, "kind": "handler_failed", "again": False, "target": topic}
        history = await run_tool(infra, journal, "journal", "--topic", topic)
        assert "ops-alice" in history.stdout and "INC-42" in history.stdout
        outbox = await run_tool(infra, journal, "outbox", "quarantined", database_url=url)
        assert outbox.returncode == 0 and "no quarantined outbox rows" in outbox.stdout, outbox.stderr
    finally:
        await broker.stop()
        await relay.stop()
        await engine.dispose()


async def test_an_event_replayed_before_its_fix_and_dead_lettered_again_needs_again(
        infra: Infra, namespace: TopicNames, databases, tmp_path: Path):
    topic = namespace("cme.intake.referral-accepted.v1")
    url = await databases.create_empty("casework")
    engine = create_engine(url)
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    fault = Fault()
    consumer = ReliableConsumer(
        name="accepted-referrals", topic=topic, group_id=f"{topic}.dlq-tool", parse=json_model_parser(ItemArrived),
        on=fault.event, unit_of_work=units_of_work(engine), inbox=Inbox(kit),
        identify=by_event_id, max_attempts=2, backoff_seconds=0.05,
    )
    journal = tmp_path / "replays.jsonl"
    event = ItemArrived(event_id=uuid.uuid4(), occurred_at=datetime.now(UTC), item_id="case-7")
    relay, broker = await started(infra, engine, consumer)
    try:
        await produce(infra.kafka, topic, event.model_dump_json().encode(), key=b"case-7",
                      headers=[("event_id", str(event.event_id).encode()), ("event_type", b"item.arrived")])
        async with TopicReader(infra.kafka, dlq(topic)) as letters:
            [first] = await letters.wait_for(lambda rs: len(rs) >= 1, timeout=60)
            place = f"{first.partition}:{first.offset}"

            # Its consumer claimed the event id when it gave up: without the database the claim stays.
            refused = await run_tool(infra, journal, "replay", "--topic", topic, place, "--reason", "INC-7", "--yes")
            assert refused.returncode == 1 and "CME_DATABASE_URL" in refused.stderr

            # Replayed too early (the fault is still there): dead-lettered again, as a new dead letter.
            early = await run_tool(infra, journal, "replay", "--topic", topic, place, "--reason", "INC-7", "--yes",
                                   database_url=url)
            assert early.returncode == 0, early.stderr
            [_, second] = await letters.wait_for(lambda rs: len(rs) >= 2, timeout=60)
        place2 = f"{second.partition}:{second.offset}"
        fault.fixed = True

        guarded = await run_tool(infra, journal, "replay", "--topic", topic, place2, "--reason", "INC-7", "--yes",
                                 database_url=url)
        assert guarded.returncode == 1
        assert f"refused {place2} (replayed_before)" in guarded.stderr and "dead-lettered again" in guarded.stderr
        matching = await run_tool(infra, journal, "replay", "--topic", topic, "--matching", "--reason", "INC-7",
                                  "--yes", database_url=url)
        assert matching.returncode == 1 and "replayed_before" in matching.stderr  # skipped is only the first
        assert await count_accepted(engine) == 0

        forced = await run_tool(infra, journal, "replay", "--topic", topic, place2, "--reason", "INC-7", "--again",
                                "--yes", database_url=url)
        assert forced.returncode == 0, forced.stderr
        assert "(again)" in forced.stdout
        await eventually(lambda: count_accepted(engine), timeout=30)
        replays = [json.loads(line) for line in journal.read_text().splitlines()]
        assert [(e["dlq_offset"], e["status"], e["again"], e["inbox_claim_released"] if "landed" in e else None)
                for e in replays] == [(first.offset, "started", False, None), (first.offset, "replayed", False, True),
                                      (second.offset, "started", True, None), (second.offset, "replayed", True, True)]
    finally:
        await broker.stop()
        await relay.stop()
        await engine.dispose()
