"""Deferred inserts: rows a batch transaction writes once, together, just before it commits.

A row whose insert returns nothing the transaction reads back (an outbox event, a stored referral) need
not cost a round trip of its own. In the kit's batch fast path (`ReliableConsumer`), `insert` holds such
rows and `flush` writes them with one statement per table before the commit; anywhere else (a
single-record handler, an HTTP request, the batch's careful path) `insert` writes the row at once.

- Rows are written statement by statement, in the order each statement was first used, and in the order
  they were added within a statement. A deferred row may reference a deferred row of a statement used
  before its own (a stored referral, then its sealed third-party details), never one used after it.
- A row added inside a SAVEPOINT that rolls back is dropped with it.
- Whoever defers a row must not read it back before the commit: a query does not see held rows. A caller
  that must (intake's duplicate check) keeps its own note of what it held (`active` says whether to).
"""

from collections.abc import Mapping
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, SessionTransaction

_HELD = "cme_deferred_inserts"  # session.info: [(statement, row)] in the order they were added
_MARKS = "cme_deferred_savepoint_marks"  # session.info: id(savepoint transaction) -> rows held when it began


def start(session: AsyncSession) -> None:
    """Hold this transaction's deferred rows from now until `flush`."""
    session.info[_HELD] = []


def active(session: AsyncSession) -> bool:
    """Whether `insert` holds rows in this transaction (rather than writing them at once)."""
    return _HELD in session.info


async def insert(session: AsyncSession, statement: Any, row: Mapping[str, Any]) -> None:
    """Insert `row` with `statement` (an INSERT built once, values as parameters): held if deferring."""
    held = session.info.get(_HELD)
    if held is None:
        await session.execute(statement, [row])
    else:
        held.append((statement, row))


async def flush(session: AsyncSession) -> int:
    """Write every held row (one executemany per statement) and stop deferring; returns how many."""
    held = session.info.pop(_HELD, None) or []
    session.info.pop(_MARKS, None)
    by_statement: dict[int, tuple[Any, list[Mapping[str, Any]]]] = {}
    for statement, row in held:
        by_statement.setdefault(id(statement), (statement, []))[1].append(row)
    for statement, rows in by_statement.values():
        await session.execute(statement, rows)
    return len(held)


# Listening on every Session once, here, costs a dictionary lookup per transaction; listening per
# deferring session cost more than the statement it saves.
@event.listens_for(Session, "after_transaction_create")
def _savepoint_begun(session: Session, transaction: SessionTransaction) -> None:
    held = session.info.get(_HELD)
    if held is not None and transaction.nested:
        session.info.setdefault(_MARKS, {})[id(transaction)] = len(held)


@event.listens_for(Session, "after_soft_rollback")
def _savepoint_rolled_back(session: Session, transaction: SessionTransaction) -> None:
    if not transaction.nested:
        return
    held = session.info.get(_HELD)
    mark = session.info.get(_MARKS, {}).pop(id(transaction), None)
    if held is not None and mark is not None:
        del held[mark:]
