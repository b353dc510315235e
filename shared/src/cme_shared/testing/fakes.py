"""In-memory stand-ins for handler tests: a unit of work with no database and no broker.

A service's fake subclasses `FakeUnitOfWork`, sets its fake repositories in `open()`, and a test runs the
real handler against it:

    uow = FakeCaseworkUnitOfWork(cases=FakeCases([...]))
    async with uow:
        await on_referral_accepted(uow, event)
    assert uow.committed and uow.outbox.topics() == [topics.CASE_CHANGED]
"""

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Generic, Self, TypeVar

from pydantic import BaseModel

from ..clock import FixedClock

B = TypeVar("B")


@dataclass
class Sent:
    topic: str
    event: Any
    aggregate_type: str
    aggregate_id: str
    headers: Mapping[str, str] | None = None


class FakeOutbox:
    """Keeps what a handler added, in order; `added` as the real one counts it."""

    def __init__(self) -> None:
        self.sent: list[Sent] = []

    @property
    def added(self) -> int:
        return len(self.sent)

    async def add(self, topic: str, event: BaseModel, *, aggregate_type: str, aggregate_id: str,
                  headers: Mapping[str, str] | None = None, key: Any = None) -> uuid.UUID:
        self.sent.append(Sent(topic, event, aggregate_type, aggregate_id, headers))
        return getattr(event, "event_id", None) or uuid.uuid4()

    async def add_raw(self, *, topic: str, payload: bytes, aggregate_type: str, aggregate_id: str,
                      **_: Any) -> None:
        self.sent.append(Sent(topic, payload, aggregate_type, aggregate_id))

    def topics(self) -> list[str]:
        return [sent.topic for sent in self.sent]

    def events(self, topic: str) -> list[Any]:
        return [sent.event for sent in self.sent if sent.topic == topic]


class FakeUnitOfWork(Generic[B]):
    """The kit's unit of work without a transaction: what was added, whether it was committed."""

    def __init__(self, clock: FixedClock | None = None) -> None:
        self.clock = clock or FixedClock()
        self.outbox = FakeOutbox()
        self.delivery: Any = None
        self.committed = False
        self.rolled_back = False
        self.batch: B = self.new_batch()

    def new_batch(self) -> B:
        return None  # type: ignore[return-value]

    def open(self) -> None:
        """Subclasses set their fake repositories here (or in their own __init__)."""

    async def __aenter__(self) -> Self:
        self.committed = False
        self.open()
        return self

    async def commit(self) -> None:
        self.committed = True

    async def rollback(self) -> None:
        self.rolled_back = True

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        if not self.committed:
            self.rolled_back = True
