"""Idempotent consumers: a message id is claimed in the handler's own transaction, once."""

from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from .tables import KitTables


class Inbox:
    def __init__(self, tables: KitTables) -> None:
        self._table = tables.inbox

    async def claim(self, session: AsyncSession, consumer: str, message_id: str) -> bool:
        """True the first time this consumer sees the message; False for a redelivery.

        The row commits or rolls back with the handler's writes, so a crash in between leaves the
        message unclaimed and it is handled again on redelivery.
        """
        result = await session.execute(
            insert(self._table)
            .values(consumer=consumer, message_id=message_id)
            .on_conflict_do_nothing()
            .returning(self._table.c.message_id)
        )
        return result.first() is not None
