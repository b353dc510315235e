"""The statutory clock of a rights request: when the council must answer.

Sources: UK GDPR Art 12(3) (respond within the applicable time period) and Art 12A, inserted by the
Data (Use and Access) Act 2025 s76 (in force 5 Feb 2026, SI 2026/82 reg 2(h)): one month beginning with
the relevant time, extendable by two further months; the relevant time is the latest of receipt of the
request, of identity evidence asked for and of a fee asked for; and, for a request under Art 15 only,
"the period beginning with the day on which the controller makes the request [for clarification] and
ending with the day on which the controller receives the information does not count" (the same words
as DPA 2018 s54(3C) for Part 3). ICO right of access guidance ("Time limits": day one is the day of
receipt; same date next month, the month's last day where there is none; next working day when the
deadline falls on a weekend or bank holiday). DPA 2018 s164A (complaint acknowledgement within 30 days,
counted as the ICO's complaints guidance does). Checked against the independent statutory review of
December 2026 (its sections 1.1-1.6 and findings D1 and D2).

Pure: dates in, dates out. The clock is rebuilt from the recorded events every time, so the history
is the only state and a due date can always be explained.
"""

import calendar
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from enum import StrEnum

from cme_shared.law.calendar import is_working_day as is_working_day  # re-exported for the clock's tests
from cme_shared.law.calendar import next_working_day
from cme_shared.refusal import Refusal

# DUAA 2025 s76 (Art 12A) commencement: before it, waiting for clarification did not stop the clock.
CLARIFICATION_PAUSE_FROM = date(2026, 2, 5)
COMPLAINT_ACKNOWLEDGEMENT_DAYS = 30  # DPA 2018 s164A(3)
EXTENSION_MONTHS = 2  # UK GDPR Art 12A (DUAA 2025 s76), formerly Art 12(3)


class ClockEventKind(StrEnum):
    IDENTITY_REQUESTED = "identity_requested"
    IDENTITY_RECEIVED = "identity_received"
    FEE_REQUESTED = "fee_requested"
    FEE_RECEIVED = "fee_received"
    CLARIFICATION_REQUESTED = "clarification_requested"
    CLARIFICATION_RECEIVED = "clarification_received"
    EXTENDED = "extended"


@dataclass(frozen=True)
class ClockEvent:
    kind: ClockEventKind
    on: date
    reason: str | None = None


# Refusals about the event as sent (422) rather than the clock's state (409).
UNPROCESSABLE = frozenset({"extension_needs_reasons", "before_receipt", "out_of_order"})


class ClockRefused(Refusal):
    """An event the law (or plain order) does not allow; `code` and `message` never hold personal data."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(422 if code in UNPROCESSABLE else 409, code, message)


def add_months(day: date, months: int) -> date:
    """The same date `months` later, or that month's last day when it has no such date."""
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def one_month_deadline(day_one: date) -> date:
    """ICO: day one is the day of receipt; due the corresponding date next month, then next working day."""
    return next_working_day(add_months(day_one, 1))


def complaint_acknowledgement_due(received_on: date) -> date:
    # DPA 2018 s164A(3): 30 days; the ICO's complaints guidance counts them from the day after receipt
    # and moves a deadline on a weekend or bank holiday to the next working day.
    return next_working_day(received_on + timedelta(days=COMPLAINT_ACKNOWLEDGEMENT_DAYS))


def _paused_days(since: date, until: date, *, after: date | None = None) -> int:
    """Days of a clarification wait that do not count towards the month (Art 12A; DPA 2018 s54(3C)).

    The period "beginning with" the day of asking and "ending with" the day of receipt includes both,
    so a wait asked and answered on one day is one day. Only days from Art 12A's commencement count,
    and a day already paused (`after` is the last one) is not paused twice.
    """
    start = max(since, CLARIFICATION_PAUSE_FROM)
    if after is not None:
        start = max(start, after + timedelta(days=1))
    return max((until - start).days + 1, 0)


@dataclass(frozen=True)
class ClockState:
    """Where the clock stands after replaying its events."""

    day_one: date
    awaiting: frozenset[str] = frozenset()  # "identity", "fee": the clock has not started
    clarification_since: date | None = None  # the clock is paused
    paused_days: int = 0
    paused_through: date | None = None  # the last day already paused, so that no day counts twice
    extended: bool = False
    identity_received: bool = False

    @property
    def on_hold(self) -> str | None:
        if self.awaiting:
            return "awaiting_" + "_and_".join(sorted(self.awaiting))
        if self.clarification_since is not None:
            return "awaiting_clarification"
        return None

    def due_as_of(self, day: date, *, extended: bool | None = None) -> date:
        """The deadline if a pending clarification were received on `day` (that day does not count either)."""
        paused = self.paused_days
        if self.clarification_since is not None:
            paused += _paused_days(self.clarification_since, day, after=self.paused_through)
        months = 1 + (EXTENSION_MONTHS if (self.extended if extended is None else extended) else 0)
        return next_working_day(add_months(self.day_one, months) + timedelta(days=paused))

    @property
    def due_date(self) -> date | None:
        """None while the clock is stopped (identity or fee asked for) or paused (clarification)."""
        if self.on_hold is not None:
            return None
        return self.due_as_of(self.day_one)


@dataclass(frozen=True)
class AccessRequestClock:
    """The one-month clock of a rights request (access and the other Arts 15-22D rights).

    A clarification pause is the law's for access requests only (Art 12A); `requests.check_clock_event`
    refuses one on any other right before it reaches the clock.
    """

    received_on: date
    events: tuple[ClockEvent, ...] = field(default=())

    def state(self) -> ClockState:
        state = ClockState(day_one=self.received_on)
        for event in self.events:
            state = _apply(state, event)
        return state

    @property
    def due_date(self) -> date | None:
        return self.state().due_date

    def record(self, event: ClockEvent) -> "AccessRequestClock":
        """The clock with `event` added, or ClockRefused saying why the event is not allowed."""
        if event.on < self.received_on:
            raise ClockRefused("before_receipt", "a clock event cannot precede the day the request was received")
        if self.events and event.on < self.events[-1].on:
            raise ClockRefused("out_of_order", "clock events are recorded in date order; this one is earlier "
                                               "than the last recorded event")
        _apply(self.state(), event)  # raises when the event is not allowed
        return replace(self, events=(*self.events, event))


def _apply(state: ClockState, event: ClockEvent) -> ClockState:
    kind, on = event.kind, event.on
    match kind:
        case ClockEventKind.IDENTITY_REQUESTED | ClockEventKind.FEE_REQUESTED:
            what = "identity" if kind is ClockEventKind.IDENTITY_REQUESTED else "fee"
            if what in state.awaiting:
                raise ClockRefused(f"{what}_already_requested", f"the {what} has already been asked for")
            return replace(state, awaiting=state.awaiting | {what})
        case ClockEventKind.IDENTITY_RECEIVED | ClockEventKind.FEE_RECEIVED:
            what = "identity" if kind is ClockEventKind.IDENTITY_RECEIVED else "fee"
            if what not in state.awaiting:
                if what == "fee":
                    raise ClockRefused("fee_not_requested", "no fee was asked for")
                # Identity confirmed without having been asked for: nothing to restart.
                return replace(state, identity_received=True)
            awaiting = state.awaiting - {what}
            state = replace(state, awaiting=awaiting, identity_received=state.identity_received or what == "identity")
            if awaiting:
                return state  # the month starts when the last thing asked for arrives
            # Art 12A (DUAA s76): the month starts again on the day of receipt; earlier pauses are moot,
            # and a clarification still awaited pauses the new month from its first day.
            since = on if state.clarification_since is not None else None
            return replace(state, day_one=on, paused_days=0, paused_through=None, clarification_since=since)
        case ClockEventKind.CLARIFICATION_REQUESTED:
            if state.clarification_since is not None:
                raise ClockRefused("clarification_already_requested", "clarification has already been asked for")
            return replace(state, clarification_since=max(on, state.day_one))
        case ClockEventKind.CLARIFICATION_RECEIVED:
            if state.clarification_since is None:
                raise ClockRefused("clarification_not_requested", "no clarification was asked for")
            # Art 12A (DUAA s76; DPA 2018 s54(3C) for Part 3): the period beginning with the day of asking
            # and ending with the day of receipt does not count, both days included (review D1).
            if state.awaiting:  # the month has not started: nothing to pause
                return replace(state, clarification_since=None)
            paused = state.paused_days + _paused_days(state.clarification_since, on, after=state.paused_through)
            return replace(state, clarification_since=None, paused_days=paused, paused_through=on)
        case ClockEventKind.EXTENDED:
            if not (event.reason or "").strip():
                raise ClockRefused("extension_needs_reasons",
                                   "an extension needs reasons, which the requester is told (Art 12A)")
            if state.extended:
                raise ClockRefused("already_extended", "the time may be extended only once, by two months")
            if state.awaiting:
                raise ClockRefused("clock_not_started", "the clock has not started: identity or fee awaited")
            if on > state.due_as_of(on, extended=False):
                raise ClockRefused("extension_too_late",
                                   "an extension must be told within the first month (Art 12A); it has passed")
            return replace(state, extended=True)
    raise ClockRefused("unknown_event", "unknown clock event")  # pragma: no cover - exhaustive match
