"""Held inserts: rows a batch's unit of work writes together, one statement per table, just before it commits.

A row whose insert returns nothing the transaction reads back (an outbox event, a stored referral) need
not cost a round trip of its own. On the kit's batch fast path (`ReliableConsumer`) the unit of work's
`held` holds such rows and `flush` writes them before the commit; anywhere else (one record, an HTTP
request, a batch settled record by record) `insert` writes the row at once.

- Rows are written statement by statement, in the order each statement was first used, and within one
  statement in the order they were added: a held row may reference a held row of a statement used before
  its own, never one used after it.
- A query does not see held rows. A caller that must find one again before the commit (intake's duplicate
  check) keeps its own note in the unit of work's batch state, and only while `holding`.
- Rows are held only where any failure throws the whole transaction away, so no savepoint may begin while
  they are: its rollback could not take them back. One that does raises `SavepointWhileHolding`.
"""

from collections.abc import Mapping
from typing import Any
from weakref import WeakKeyDictionary

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, SessionTransaction


class SavepointWhileHolding(RuntimeError):
    """A savepoint began while a unit of work held rows: a programming error, said at once."""


# The sessions holding rows now, for the savepoint check below and `held_for`. Weak: a session that is
# gone is not kept for this.
_holding: "WeakKeyDictionary[Session, HeldInserts]" = WeakKeyDictionary()


class HeldInserts:
    """One unit of work's held rows: `insert` holds them between `start` and `flush`, else writes at once."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session
        self._rows: list[tuple[Any, Mapping[str, Any]]] | None = None

    @property
    def holding(self) -> bool:
        return self._rows is not None

    def start(self) -> None:
        """Hold rows from now until `flush`."""
        self._rows = []
        _holding[self._session.sync_session] = self

    async def insert(self, statement: Any, row: Mapping[str, Any]) -> None:
        """Insert `row` with `statement` (an INSERT built once, values as parameters): held if holding."""
        if self._rows is None:
            await self._session.execute(statement, [row])
        else:
            self._rows.append((statement, row))

    async def flush(self) -> int:
        """Write every held row (one executemany per statement) and stop holding; returns how many."""
        rows = self._rows or []
        self.discard()
        by_statement: dict[int, tuple[Any, list[Mapping[str, Any]]]] = {}
        for statement, row in rows:
            by_statement.setdefault(id(statement), (statement, []))[1].append(row)
        for statement, statement_rows in by_statement.values():
            await self._session.execute(statement, statement_rows)
        return len(rows)

    def discard(self) -> None:
        """Stop holding; rows still held are dropped (their transaction is rolled back)."""
        self._rows = None
        _holding.pop(self._session.sync_session, None)


def held_for(session: AsyncSession) -> HeldInserts | None:
    """The held inserts of the unit of work `session` belongs to, while it holds rows (else None)."""
    return _holding.get(session.sync_session)


@event.listens_for(Session, "after_transaction_create")
def _no_savepoint_while_holding(session: Session, transaction: SessionTransaction) -> None:
    if transaction.nested and session in _holding:
        raise SavepointWhileHolding("a savepoint began while the unit of work held rows (held_inserts.py): "
                                    "its rollback could not drop them")
