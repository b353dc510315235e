"""The kit prunes its own copies (SEC-18, issue 13 item 4), on the real database as each service's runtime
role: published outbox rows and processed inbox rows older than their ages go, in batches; rows waiting to
be sent, quarantined rows and younger rows stay; a row another transaction holds is skipped, not waited for."""

import asyncio
import importlib
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import MetaData, text

from cme_shared.db import create_engine
from cme_shared.messaging.pruning import MIN_INBOX_DAYS, Pruner
from cme_shared.messaging.tables import KitTables
from cme_shared.runtime import ServiceRuntime
from cme_shared.settings import ServiceSettings
from cme_shared.testing.kafka import eventually
from cme_shared.testing.signing import TEST_KEYS

pytestmark = pytest.mark.integration

kit = KitTables(MetaData())
SERVICES = ("intake", "casework", "disclosure", "rights")


def migrations_of(service: str) -> Path:
    return Path(importlib.import_module(f"cme_{service}").__file__).parent / "migrations"


def pruned(table: str) -> float:
    return REGISTRY.get_sample_value("cme_kit_pruned_rows_total", {"table": table}) or 0.0


async def add_outbox(conn, label: str, *, created_days: float, published_days: float | None = None,
                     quarantined: bool = False) -> None:
    await conn.execute(text(
        "INSERT INTO outbox (event_id, topic, key, payload, aggregate_type, aggregate_id, event_type, created_at,"
        " published_at, quarantined_at, quarantine_reason) VALUES (gen_random_uuid(), 'cme.widgets.v1', 'k',"
        " convert_to(:label, 'UTF8'), 'widget', :label, 'WidgetMade', now() - make_interval(days => :created),"
        " now() - make_interval(secs => CAST(:published AS float8) * 86400),"
        " CASE WHEN CAST(:quarantined AS boolean) THEN now() - make_interval(days => :created) END,"
        " CASE WHEN CAST(:quarantined AS boolean) THEN 'too_large' END)"),
        {"label": label, "created": int(created_days), "published": published_days, "quarantined": quarantined})


async def add_inbox(conn, message_id: str, processed_days: float) -> None:
    await conn.execute(text(
        "INSERT INTO inbox (consumer, message_id, processed_at) VALUES ('referrals', :id,"
        " now() - make_interval(secs => CAST(:days AS float8) * 86400))"), {"id": message_id, "days": processed_days})


async def labels(engine, table: str) -> set[str]:
    column = "aggregate_id" if table == "outbox" else "message_id"
    async with engine.connect() as conn:
        return set((await conn.execute(text(f"SELECT {column} FROM {table}"))).scalars())


@pytest.mark.parametrize("service", SERVICES)
async def test_old_copies_are_pruned_in_batches_and_nothing_else(databases, service):
    engine = create_engine(await databases.create(service, migrations_of(service)))  # the runtime role
    try:
        async with engine.begin() as conn:
            for n in range(5):
                await add_outbox(conn, f"sent-{n}", created_days=9, published_days=8 + n)
            await add_outbox(conn, "sent-last-week", created_days=7, published_days=6.9)
            await add_outbox(conn, "waiting-a-month", created_days=30)  # never sent: not a copy
            await add_outbox(conn, "quarantined", created_days=30, quarantined=True)
            for n in range(3):
                await add_inbox(conn, f"seen-{n}", 31 + n)
            await add_inbox(conn, "seen-last-month", 29.9)
        before = pruned("outbox"), pruned("inbox")

        pruner = Pruner(engine, kit, batch_size=2)  # 7 and 30 days, the defaults
        result = await pruner.prune_once()

        assert (result.outbox, result.inbox) == (5, 3)
        assert await labels(engine, "outbox") == {"sent-last-week", "waiting-a-month", "quarantined"}
        assert await labels(engine, "inbox") == {"seen-last-month"}
        assert (pruned("outbox") - before[0], pruned("inbox") - before[1]) == (5, 3)
        assert (await pruner.prune_once()).outbox == 0  # nothing more to do
    finally:
        await engine.dispose()


async def test_a_row_another_transaction_holds_is_skipped_not_waited_for(databases):
    engine = create_engine(await databases.create("intake", migrations_of("intake")))
    try:
        async with engine.begin() as conn:
            await add_outbox(conn, "held", created_days=10, published_days=9)
            await add_outbox(conn, "free", created_days=10, published_days=9)
        async with engine.connect() as holder:
            await holder.execute(text("BEGIN"))
            await holder.execute(text("SELECT id FROM outbox WHERE aggregate_id = 'held' FOR UPDATE"))
            removed = await asyncio.wait_for(Pruner(engine, kit).prune_outbox(), timeout=5)
            await holder.execute(text("ROLLBACK"))
        assert removed == 1 and await labels(engine, "outbox") == {"held"}
    finally:
        await engine.dispose()


async def test_the_runtime_prunes_on_its_schedule_with_the_settings_ages(databases, infra):
    url = await databases.create("casework", migrations_of("casework"))
    settings = ServiceSettings(env="test", service_name="casework", database_url=url, prune_interval_seconds=0.2,
                               prune_outbox_published_days=1, prune_inbox_processed_days=MIN_INBOX_DAYS,
                               **infra.kafka_settings(), **TEST_KEYS.settings_for("casework"))
    runtime = ServiceRuntime(settings, kit)
    assert (runtime.pruner.outbox_age, runtime.pruner.inbox_age) == (timedelta(days=1), timedelta(days=8))
    try:
        async with runtime.engine.begin() as conn:
            await add_outbox(conn, "sent-two-days-ago", created_days=2, published_days=2)
            await add_outbox(conn, "sent-today", created_days=0, published_days=0.1)
            await add_inbox(conn, str(uuid.uuid4()), 9)
            await add_inbox(conn, "seen-a-week-ago", 7)
        runtime.pruner.start()
        async def only_the_young_left() -> bool:
            return (await labels(runtime.engine, "outbox") == {"sent-today"}
                    and await labels(runtime.engine, "inbox") == {"seen-a-week-ago"})

        await eventually(only_the_young_left, timeout=10)
    finally:
        await runtime.pruner.stop()
        await runtime.engine.dispose()


def test_the_inbox_must_outlast_the_topics_retention():
    with pytest.raises(ValueError, match="CME_PRUNE_INBOX_PROCESSED_DAYS must be at least 8"):
        ServiceSettings(env="test", prune_inbox_processed_days=7)
