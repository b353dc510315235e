"""The statutory clock on every open case: what is due next, and by when (DOMAIN section 2).

Configurable (DOMAIN section 2 marks the whole enquiry-deadline rule so; typical LA practice is the
default): first enquiries within 10 school days of the referral; a review every 20 school days; a
high-risk child escalated to MASH / social care the same working day (0 further working days). Each
borough may set its own (`BoroughClock`): term dates are per borough, and so may the deadlines be.
A case whose referral named a destination and a later start date ("destination known: check the
start") is due a check on that start date instead of first enquiries.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from enum import StrEnum

from cme_shared.law.calendar import next_working_day

from .lifecycle import ACTIVE, CaseState
from .opening import OpeningRules
from .school_days import WORKING_DAYS_ONLY, TermCalendar


class DueKind(StrEnum):
    ESCALATION = "escalation"
    FIRST_ENQUIRIES = "first_enquiries"
    CHECK_START = "check_start"  # did the child start at the named school on the day it said?
    REVIEW = "review"


@dataclass(frozen=True)
class Due:
    on: date
    kind: DueKind


@dataclass(frozen=True)
class BoroughClock:
    """One borough's own deadlines; None keeps the service-wide setting."""

    first_enquiries_school_days: int | None = None
    review_school_days: int | None = None
    escalation_working_days: int | None = None


@dataclass(frozen=True)
class ClockPolicy:
    first_enquiries_school_days: int = 10
    review_school_days: int = 20
    calendars: Mapping[str, TermCalendar] = field(default_factory=dict)
    # 0: the same working day (DOMAIN section 2); n: n working days after it.
    escalation_working_days: int = 0
    boroughs: Mapping[str, BoroughClock] = field(default_factory=dict)
    # LOCAL RULE read from DOMAIN section 2's "normally": a ground (a) deletion naming the school and a
    # start date is recorded without a case when the child misses at most this many school days between
    # the deletion and the start; more, and the child is CME until they start (DfE CME guidance, 8 Sep
    # 2025, "Who are children missing education": a place offered for a future date, not yet started).
    ground_a_start_gap_school_days: int = 5
    # LOCAL RULE (not in DOMAIN or the DfE guidance, which lists the checks without a number): closing as
    # "untraced after enquiries exhausted" needs enquiries of at least this many different agencies.
    untraced_min_agencies: int = 3

    def calendar(self, borough: str | None) -> TermCalendar:
        return self.calendars.get(borough or "", WORKING_DAYS_ONLY)

    def _setting(self, borough: str | None, name: str) -> int:
        own = getattr(self.boroughs.get(borough or ""), name, None)
        return own if own is not None else getattr(self, name)

    def first_enquiries_due(self, borough: str | None, referred_on: date) -> date:
        days = self._setting(borough, "first_enquiries_school_days")
        return self.calendar(borough).add_school_days(referred_on, days)

    def review_due(self, borough: str | None, since: date) -> date:
        return self.calendar(borough).add_school_days(since, self._setting(borough, "review_school_days"))

    def opening_rules(self, borough: str | None) -> OpeningRules:
        """What deciding whether a referral opens a case needs: the borough's school days, the allowed gap.
        A referral with no borough counts working days, which can only open a case sooner (the safe side)."""
        return OpeningRules(self.calendar(borough), self.ground_a_start_gap_school_days)

    def escalation_due(self, borough: str | None, referred_on: date) -> date:
        return escalation_due(referred_on, self._setting(borough, "escalation_working_days"))


def escalation_due(referred_on: date, working_days: int = 0) -> date:
    """The same working day (a referral on a weekend or bank holiday: the next one), plus `working_days`."""
    due = next_working_day(referred_on)
    for _ in range(working_days):
        due = next_working_day(due + timedelta(days=1))
    return due


def next_due(state: CaseState, policy: ClockPolicy) -> Due | None:
    """The earliest thing due on an open case; a closed case has nothing due."""
    if state.status not in ACTIVE:
        return None
    dues = [Due(e.due_on, DueKind.ESCALATION) for e in state.pending_escalations if e.sent_on is None]
    if not state.enquiries_this_period():
        check_start_on = state.period.check_start_on
        dues.append(Due(check_start_on, DueKind.CHECK_START) if check_start_on is not None else
                    Due(policy.first_enquiries_due(state.borough, state.clock_anchor), DueKind.FIRST_ENQUIRIES))
    review_from = max(state.clock_anchor, state.last_review_on or state.clock_anchor)
    dues.append(Due(policy.review_due(state.borough, review_from), DueKind.REVIEW))
    order = list(DueKind)
    return min(dues, key=lambda due: (due.on, order.index(due.kind)))
