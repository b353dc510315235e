"""Every service's migrations bring its outbox to the kit's table, and a database migrated before the
quarantine keeps its waiting rows, which the relay then claims through its partial index."""

import asyncio
import importlib
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import MetaData, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import create_async_engine

from cme_shared.kafka_security import KafkaConnection
from cme_shared.messaging.outbox import OutboxRelay
from cme_shared.testing.outbox import pending_count
from cme_shared.messaging.tables import KitTables
from cme_shared.migrations import alembic_config

pytestmark = pytest.mark.integration

kit = KitTables(MetaData())
SERVICES = ("intake", "casework", "disclosure", "rights")


def migrations_of(service: str) -> Path:
    return Path(importlib.import_module(f"cme_{service}").__file__).parent / "migrations"


def kit_tables_only(name: str | None, type_: str, _parent: object) -> bool:
    return type_ != "table" or name in ("outbox", "inbox", "access_log")


@pytest.mark.parametrize("service", SERVICES)
async def test_an_outbox_from_before_the_quarantine_is_migrated_with_its_waiting_rows(databases, service):
    config = alembic_config(migrations_of(service), await databases.create_empty(service))
    url = config.attributes["database_url"]
    [quarantine] = [revision for revision in ScriptDirectory.from_config(config).walk_revisions()
                    if revision.doc.startswith("The outbox relay quarantines")]
    await asyncio.to_thread(command.upgrade, config, quarantine.down_revision)
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.execute(text(
                "INSERT INTO outbox (event_id, topic, key, payload, aggregate_type, aggregate_id, event_type) "
                "VALUES (gen_random_uuid(), 'cme.widgets.v1', 'k', '{}', 'widget', 'w-1', 'WidgetMade')"))
        await asyncio.to_thread(command.upgrade, config, "head")

        async with engine.connect() as conn:
            differences = await conn.run_sync(lambda sync: compare_metadata(
                MigrationContext.configure(sync, opts={"compare_type": True, "include_name": kit_tables_only}),
                kit.outbox.metadata))
            assert differences == []
            indexes = set((await conn.execute(text("SELECT indexname FROM pg_indexes WHERE tablename = 'outbox'")))
                          .scalars())
            assert {"outbox_unsent", "outbox_quarantined"} <= indexes and "outbox_unpublished" not in indexes
            # The relay's claim reads the partial index (on a table this small, only if told to skip a scan).
            claim = OutboxRelay(engine, kit, kafka=KafkaConnection("unused", security_protocol="PLAINTEXT"))._claim
            await conn.execute(text("SET enable_seqscan = off"))
            sql = str(claim.compile(dialect=postgresql.dialect(paramstyle="named")))
            plan = "\n".join((await conn.execute(text("EXPLAIN " + sql), {"limit": 500})).scalars())
            assert "outbox_unsent" in plan
        assert await pending_count(engine, kit) == 1  # still waiting to be sent, not quarantined

        await asyncio.to_thread(command.downgrade, config, quarantine.down_revision)  # and back, keeping the row
        async with engine.connect() as conn:
            assert (await conn.execute(text("SELECT count(*) FROM outbox WHERE published_at IS NULL"))).scalar() == 1
    finally:
        await engine.dispose()
