"""What a test asks of an outbox table: how many rows wait to be sent, how many are quarantined."""

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from ..messaging.tables import KitTables


async def pending_count(engine: AsyncEngine, tables: KitTables) -> int:
    """Rows waiting to be sent (quarantined rows are not waiting: they wait for an operator)."""
    t = tables.outbox
    async with engine.connect() as conn:
        result = await conn.execute(
            select(func.count()).select_from(t).where(t.c.published_at.is_(None), t.c.quarantined_at.is_(None))
        )
        return int(result.scalar_one())


async def quarantined_count(engine: AsyncEngine, tables: KitTables) -> int:
    t = tables.outbox
    async with engine.connect() as conn:
        return int((await conn.execute(
            select(func.count()).select_from(t).where(t.c.quarantined_at.is_not(None)))).scalar_one())
