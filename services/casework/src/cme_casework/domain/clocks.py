"""The statutory clock on every open case: what is due next, and by when (DOMAIN section 2).

Configurable (typical LA practice): first enquiries within 10 school days of the referral; a review
every 20 school days; a high-risk child escalated to MASH / social care the same working day.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum

from .lifecycle import ACTIVE, CaseState
from .school_days import WORKING_DAYS_ONLY, TermCalendar, working_day_on_or_after


class DueKind(StrEnum):
    ESCALATION = "escalation"
    FIRST_ENQUIRIES = "first_enquiries"
    REVIEW = "review"


@dataclass(frozen=True)
class Due:
    on: date
    kind: DueKind


@dataclass(frozen=True)
class ClockPolicy:
    first_enquiries_school_days: int = 10
    review_school_days: int = 20
    calendars: Mapping[str, TermCalendar] = field(default_factory=dict)

    def calendar(self, borough: str | None) -> TermCalendar:
        return self.calendars.get(borough or "", WORKING_DAYS_ONLY)

    def first_enquiries_due(self, borough: str | None, referred_on: date) -> date:
        return self.calendar(borough).add_school_days(referred_on, self.first_enquiries_school_days)

    def review_due(self, borough: str | None, since: date) -> date:
        return self.calendar(borough).add_school_days(since, self.review_school_days)


def escalation_due(referred_on: date) -> date:
    """The same working day; a referral on a weekend or bank holiday is due the next working day."""
    return working_day_on_or_after(referred_on)


def next_due(state: CaseState, policy: ClockPolicy) -> Due | None:
    """The earliest thing due on an open case; a closed case has nothing due."""
    if state.status not in ACTIVE:
        return None
    dues = [Due(e.due_on, DueKind.ESCALATION) for e in state.pending_escalations if e.sent_on is None]
    if not state.enquiries_this_period():
        dues.append(Due(policy.first_enquiries_due(state.borough, state.clock_anchor), DueKind.FIRST_ENQUIRIES))
    review_from = max(state.clock_anchor, state.last_review_on or state.clock_anchor)
    dues.append(Due(policy.review_due(state.borough, review_from), DueKind.REVIEW))
    order = list(DueKind)
    return min(dues, key=lambda due: (due.on, order.index(due.kind)))
