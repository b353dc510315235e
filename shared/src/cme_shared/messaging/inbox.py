"""Idempotent consumers: a message id is claimed in the handler's own transaction, once."""

from collections.abc import Sequence

from sqlalchemy import Text, bindparam, func, select
from sqlalchemy.dialects.postgresql import ARRAY, insert
from sqlalchemy.ext.asyncio import AsyncSession

from .tables import KitTables


class Inbox:
    def __init__(self, tables: KitTables) -> None:
        self._table = tables.inbox
        table = tables.inbox
        self._claim = (
            insert(table)
            .values(consumer=bindparam("consumer", type_=Text), message_id=bindparam("message_id", type_=Text))
            .on_conflict_do_nothing()
            .returning(table.c.message_id)
        )
        self._claim_many = (
            insert(table)
            .from_select(
                ["consumer", "message_id"],
                select(bindparam("consumer", type_=Text),
                       func.unnest(bindparam("message_ids", type_=ARRAY(Text)))),
            )
            .on_conflict_do_nothing()
            .returning(table.c.message_id)
        )

    async def claim(self, session: AsyncSession, consumer: str, message_id: str) -> bool:
        """True the first time this consumer sees the message; False for a redelivery.

        The row commits or rolls back with the handler's writes, so a crash in between leaves the
        message unclaimed and it is handled again on redelivery.
        """
        result = await session.execute(self._claim, {"consumer": consumer, "message_id": message_id})
        return result.first() is not None

    async def claim_many(self, session: AsyncSession, consumer: str, message_ids: Sequence[str]) -> set[str]:
        """`claim` for many messages in one statement: the ids claimed now (the others were seen before).
        An id given twice is claimed once."""
        if not message_ids:
            return set()
        result = await session.execute(
            self._claim_many, {"consumer": consumer, "message_ids": list(dict.fromkeys(message_ids))}
        )
        return set(result.scalars())
