"""The session-based way to held inserts (held_inserts.py), for code not yet writing through its unit of
work (`uow.held`): `insert` holds the row when the session's unit of work holds rows, else writes it."""

from collections.abc import Mapping
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from .held_inserts import held_for


def active(session: AsyncSession) -> bool:
    """Whether `insert` holds rows in this transaction (rather than writing them at once)."""
    return held_for(session) is not None


async def insert(session: AsyncSession, statement: Any, row: Mapping[str, Any]) -> None:
    """Insert `row` with `statement` (an INSERT built once, values as parameters): held if holding."""
    held = held_for(session)
    if held is None:
        await session.execute(statement, [row])
    else:
        await held.insert(statement, row)
