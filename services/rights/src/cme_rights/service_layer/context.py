"""What the handlers need besides a session: the outbox, topic names, settings and the time."""

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from cme_shared.contracts.topics import TopicNames
from cme_shared.messaging.outbox import Outbox

from ..domain.collection import RetryPolicy
from ..settings import RightsSettings

LONDON = ZoneInfo("Europe/London")  # the statutory clock runs on the council's calendar days


class Refused(Exception):
    """A request the rules do not allow: HTTP status, code and message, never personal data."""

    def __init__(self, status: int, code: str, message: str, loc: list[str | int] | None = None) -> None:
        super().__init__(code)
        self.status, self.code, self.message, self.loc = status, code, message, loc or []


@dataclass
class RightsContext:
    outbox: Outbox
    topics: TopicNames
    settings: RightsSettings
    now: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))

    def today(self) -> date:
        return self.now().astimezone(LONDON).date()

    @property
    def retry_policy(self) -> RetryPolicy:
        return RetryPolicy(timeout=timedelta(seconds=self.settings.collection_timeout_seconds),
                           max_attempts=self.settings.collection_max_attempts)

    async def emit(self, session: AsyncSession, topic: str, event: BaseModel, aggregate_id: uuid.UUID) -> None:
        await self.outbox.add(session, topic=self.topics(topic), event=event, aggregate_type="rights_request",
                              aggregate_id=str(aggregate_id))

    def event_fields(self) -> dict[str, object]:
        return {"event_id": uuid.uuid4(), "occurred_at": self.now()}
