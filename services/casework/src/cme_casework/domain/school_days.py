"""Working days and school days: the calendars casework's clocks run on (DOMAIN section 2).

A working day is a weekday that is not an England and Wales bank holiday: the kit's rule, written once for
casework and rights (`cme_shared.law.calendar`, the `holidays` package). A school day
is a working day inside one of the borough's terms, outside its half terms, and not a training (INSET)
or other closure day. Each borough's terms are configuration (`adapters/calendars.py`); outside the
dates a calendar covers, a school day falls back to a working day, which only ever brings a deadline
earlier, never later.
"""

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta

from cme_shared.law.calendar import is_working_day


@dataclass(frozen=True)
class Term:
    name: str
    first_day: date
    last_day: date
    half_term: tuple[date, date] | None = None

    def __post_init__(self) -> None:
        if self.last_day < self.first_day:
            raise ValueError(f"term {self.name!r} ends before it starts")
        if self.half_term and not (self.first_day <= self.half_term[0] <= self.half_term[1] <= self.last_day):
            raise ValueError(f"term {self.name!r}: half term must lie inside the term")

    def teaches_on(self, day: date) -> bool:
        if not self.first_day <= day <= self.last_day:
            return False
        return not (self.half_term and self.half_term[0] <= day <= self.half_term[1])


@dataclass(frozen=True)
class TermCalendar:
    """One borough's school year(s): terms with their half terms, and days schools are closed to pupils."""

    terms: tuple[Term, ...] = ()
    training_days: frozenset[date] = field(default_factory=frozenset)
    other_closures: frozenset[date] = field(default_factory=frozenset)
    _added: dict[tuple[date, int], date] = field(default_factory=dict, init=False, repr=False, compare=False,
                                                 hash=False)

    @classmethod
    def of(cls, terms: Iterable[Term], training_days: Iterable[date] = (),
           other_closures: Iterable[date] = ()) -> "TermCalendar":
        return cls(tuple(sorted(terms, key=lambda t: t.first_day)), frozenset(training_days),
                   frozenset(other_closures))

    def covers(self, day: date) -> bool:
        return bool(self.terms) and self.terms[0].first_day <= day <= self.terms[-1].last_day

    def is_school_day(self, day: date) -> bool:
        if not is_working_day(day):
            return False
        if not self.covers(day):
            return True  # no term dates configured for this day: count it as a working day
        if day in self.training_days or day in self.other_closures:
            return False
        return any(term.teaches_on(day) for term in self.terms)

    def add_school_days(self, start: date, days: int) -> date:
        """The day on which `days` school days after `start` have passed (`start` itself is day 0)."""
        # The calendar is immutable, so the answer for (start, days) never changes: every referral of a
        # day asks the same question, and walking the days costs more than the rest of the clock.
        known = self._added.get((start, days))
        if known is None:
            known = self._added[(start, days)] = self._walk(start, days)
        return known

    def _walk(self, start: date, days: int) -> date:
        current, remaining = start, days
        while remaining > 0:
            current += timedelta(days=1)
            if self.is_school_day(current):
                remaining -= 1
        return current


# Used where a case has no borough yet: working days only, the earliest any borough's deadline can be.
WORKING_DAYS_ONLY = TermCalendar()


def school_days_between(calendar: TermCalendar, first: date, last: date, *, stop_after: int) -> int:
    """How many school days fall strictly after `first` and strictly before `last` (the days missed),
    counted no further than `stop_after` + 1 (a start date years away is not walked day by day)."""
    count, day = 0, first + timedelta(days=1)
    while day < last and count <= stop_after:
        count += calendar.is_school_day(day)
        day += timedelta(days=1)
    return count
