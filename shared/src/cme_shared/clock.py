"""The one time source: every "now" and every "today" a service reads comes from the clock its unit of work
carries, never from the wall clock directly (tests freeze it; production reads the system's).

"Today" is the council's calendar day, in Europe/London: the statutory clocks (UK GDPR Art 12(3), DPA 2018
s164A, the DfE "Children missing education" timescales) count the days of the people they protect, and a UTC
day ends an hour early all summer.
"""

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

LONDON = ZoneInfo("Europe/London")


def london_date(moment: datetime) -> date:
    """The London calendar day `moment` (timezone-aware) falls on."""
    return moment.astimezone(LONDON).date()


class Clock(Protocol):
    def now(self) -> datetime:
        """This instant, timezone-aware, in UTC."""

    def today(self) -> date:
        """Today in London."""


class SystemClock:
    """The wall clock: the only place the platform reads it."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def today(self) -> date:
        return london_date(self.now())


@dataclass
class FixedClock:
    """A clock that stands still until told to move: for tests."""

    at: datetime = field(default_factory=lambda: datetime.now(UTC))

    def now(self) -> datetime:
        return self.at

    def today(self) -> date:
        return london_date(self.at)

    def advance(self, by: timedelta) -> None:
        self.at += by


SYSTEM_CLOCK = SystemClock()
