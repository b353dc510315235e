"""The unit of work: one database transaction, with what a handler or a route writes through it.

    async with runtime.unit_of_work() as uow:
        case = await uow.cases.get(case_id)       # a service's repositories (its subclass builds them)
        await uow.outbox.add(topics.CASE_CHANGED, event, aggregate_type="case", aggregate_id=str(case_id))
        await uow.commit()                        # commits, then wakes the outbox relay if anything was added

Leaving the block without `commit()` rolls everything back, refusals included (`Refusal` passes through to
the one HTTP error mapping). A unit of work carries:
- `session`: for the service's repositories and views only; handlers do not use it;
- `outbox`: the outbox in contract topic names, bound to this transaction (the namespace is added here);
- `clock`: the one time source (clock.py); nothing else reads the wall clock;
- `batch`: this transaction's own state, typed by the service (`new_batch`): caches a batch of records
  shares, notes of locks already held. It lives and dies with the transaction, so nothing leaks sideways;
- `delivery`: the Kafka record being handled (None on an HTTP request);
- `held`: rows a repository inserts with `uow.held.insert(statement, row)` are written at once, or on the
  kit's batch fast path together just before the commit (messaging/held_inserts.py); `held.holding` says
  which, for a repository whose batch caches must know.

Every Kafka handler has one signature, `async def on_<event>(uow, event) -> None`; the kit's consumer
opens the unit of work (one per record, or one per batch in batch mode), claims the record in the inbox
in it, and commits it.
"""

import uuid
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any, Generic, Self, TypeVar

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from .clock import Clock
from .contracts.topics import TopicNames
from .messaging.held_inserts import HeldInserts
from .messaging.outbox import AGGREGATE_KEY, HeaderList, Outbox

B = TypeVar("B")


class BoundOutbox:
    """The outbox of one unit of work: topics by contract name, written in its transaction (held, on the
    kit's batch fast path, until just before it commits: held_inserts.py)."""

    def __init__(self, outbox: Outbox, held: HeldInserts, topics: TopicNames) -> None:
        self._outbox, self._held, self._topics = outbox, held, topics
        self.added = 0

    async def add(self, topic: str, event: BaseModel, *, aggregate_type: str, aggregate_id: str,
                  headers: Mapping[str, str] | None = None, key: bytes | None | object = AGGREGATE_KEY) -> uuid.UUID:
        """`event` for `topic` (its contract name), keyed by `aggregate_id` unless `key` says otherwise."""
        self.added += 1
        row = self._outbox.event_row(topic=self._topics(topic), event=event, aggregate_type=aggregate_type,
                                     aggregate_id=aggregate_id, headers=headers, key=key)
        await self._held.insert(self._outbox.statement, row)
        return row["event_id"]  # type: ignore[no-any-return]

    async def add_raw(self, *, topic: str, key: bytes | None, payload: bytes, headers: HeaderList,
                      aggregate_type: str, aggregate_id: str, event_type: str,
                      event_id: uuid.UUID | None = None) -> None:
        """A message whose bytes are fixed already (a dead letter, a reply kept byte for byte), for `topic`
        as it is named on the broker (namespace included)."""
        self.added += 1
        await self._held.insert(self._outbox.statement, self._outbox.raw_row(
            topic=topic, key=key, payload=payload, headers=headers, aggregate_type=aggregate_type,
            aggregate_id=aggregate_id, event_type=event_type, event_id=event_id))


class UnitOfWork(Generic[B]):
    """The kit's unit of work; each service subclasses it to build its repositories in `open()` and to say
    what its per-transaction `batch` state is (`new_batch`)."""

    session: AsyncSession
    outbox: BoundOutbox
    held: HeldInserts
    batch: B

    def __init__(self, sessions: async_sessionmaker[AsyncSession], outbox: Outbox, topics: TopicNames,
                 clock: Clock, on_commit: Callable[[], None] = lambda: None) -> None:
        self._sessions, self._outbox, self.topics = sessions, outbox, topics
        self.clock = clock
        self._on_commit = on_commit
        self.delivery: Any = None
        self.committed = False

    def new_batch(self) -> B:
        """This transaction's own state; a service with batch caches returns its dataclass here."""
        return None  # type: ignore[return-value]

    def open(self) -> None:
        """Build the service's repositories and views on `self.session` (subclasses)."""

    async def __aenter__(self) -> Self:
        self.session = self._sessions()
        await self.session.begin()
        self.held = HeldInserts(self.session)
        self.outbox = BoundOutbox(self._outbox, self.held, self.topics)
        self.batch = self.new_batch()
        self.committed = False
        self.open()
        return self

    async def commit(self) -> None:
        if self.held.holding:
            await self.held.flush()
        await self.session.commit()
        self.committed = True
        if self.outbox.added:
            self._on_commit()

    async def rollback(self) -> None:
        await self.session.rollback()

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        self.held.discard()
        try:
            if not self.committed:
                await self.session.rollback()
        finally:
            await self.session.close()
