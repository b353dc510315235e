"""The statutory clock (DOMAIN section 5): month ends, leap years, bank holidays, restarts, pauses, extensions.

The clarification pause follows UK GDPR Art 12A (DUAA 2025 s76) and DPA 2018 s54(3C): "the period
beginning with the day on which the controller makes the request and ending with the day on which the
controller receives the information does not count", so both days are excluded (statutory review of
Dec 2026, section 1.4 and D1), and it is for access requests only (D2).
"""

from datetime import date, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cme_rights.domain import requests as rules
from cme_rights.domain.clock import (
    AccessRequestClock,
    ClockEvent,
    ClockEventKind,
    ClockRefused,
    _paused_days,
    add_months,
    complaint_acknowledgement_due,
    is_working_day,
    next_working_day,
    one_month_deadline,
)

pytestmark = pytest.mark.unit
K = ClockEventKind


def clock(received: date, *events: tuple[ClockEventKind, date] | tuple[ClockEventKind, date, str | None],
          ) -> AccessRequestClock:
    c = AccessRequestClock(received)
    for event in events:
        c = c.record(ClockEvent(*event))
    return c


# --- the one-month deadline -------------------------------------------------------------------------


@pytest.mark.parametrize(("received", "due"), [
    # DOMAIN section 5's own examples
    (date(2026, 1, 31), date(2026, 3, 2)),  # Sat 31 Jan -> 28 Feb (Sat) -> Mon 2 Mar
    (date(2028, 1, 31), date(2028, 2, 29)),  # leap year: Tue 29 Feb
    # corresponding date next month
    (date(2026, 6, 15), date(2026, 7, 15)),
    (date(2026, 3, 31), date(2026, 4, 30)),  # no 31 Apr: last day
    (date(2026, 5, 31), date(2026, 6, 30)),
    (date(2026, 8, 31), date(2026, 9, 30)),
    (date(2026, 1, 30), date(2026, 3, 2)),  # 28 Feb 2026 is a Saturday
    (date(2027, 1, 29), date(2027, 3, 1)),  # 28 Feb 2027 is a Sunday
    (date(2027, 1, 31), date(2027, 3, 1)),  # not a leap year
    (date(2028, 1, 29), date(2028, 2, 29)),
    (date(2028, 1, 30), date(2028, 2, 29)),
    (date(2028, 2, 29), date(2028, 3, 29)),  # from a leap day
    (date(2026, 12, 15), date(2027, 1, 15)),  # across the year
])
def test_the_deadline_is_the_same_date_next_month_or_its_last_day_then_a_working_day(received, due):
    assert one_month_deadline(received) == due
    assert clock(received).due_date == due


@pytest.mark.parametrize(("received", "due", "why"), [
    (date(2026, 3, 3), date(2026, 4, 7), "Fri 3 Apr Good Friday, weekend, Mon 6 Apr Easter Monday"),
    (date(2027, 2, 26), date(2027, 3, 30), "Fri 26 Mar 2027 Good Friday ... Mon 29 Mar Easter Monday"),
    (date(2028, 3, 17), date(2028, 4, 18), "Mon 17 Apr 2028 Easter Monday"),
    (date(2026, 11, 25), date(2026, 12, 29), "Fri 25 Dec, weekend, Mon 28 Dec Boxing Day substitute"),
    (date(2027, 11, 27), date(2027, 12, 29), "Mon 27 and Tue 28 Dec 2027: Christmas and Boxing Day substitutes"),
    (date(2027, 12, 1), date(2028, 1, 4), "Sat 1 Jan 2028, Sun, Mon 3 Jan New Year substitute"),
    (date(2026, 4, 4), date(2026, 5, 5), "Mon 4 May 2026 early May bank holiday"),
    (date(2026, 7, 31), date(2026, 9, 1), "Mon 31 Aug 2026 summer bank holiday"),
])
def test_a_deadline_on_a_bank_holiday_or_weekend_rolls_to_the_next_working_day(received, due, why):
    assert one_month_deadline(received) == due, why


def test_england_and_wales_bank_holidays_not_scotlands():
    assert not is_working_day(date(2026, 8, 31))  # England & Wales summer bank holiday
    assert is_working_day(date(2026, 8, 3))  # Scotland's summer bank holiday is a working day here
    assert is_working_day(date(2027, 1, 4))  # 2 January is a bank holiday only in Scotland (Mon 4 Jan 2027)


@settings(max_examples=300, deadline=None)
@given(st.dates(min_value=date(2024, 1, 1), max_value=date(2032, 12, 31)), st.integers(min_value=1, max_value=3))
def test_add_months_keeps_the_day_or_takes_the_months_last(day, months):
    result = add_months(day, months)
    assert (result.year * 12 + result.month) - (day.year * 12 + day.month) == months
    if result.day != day.day:
        assert result.day < day.day and (result + timedelta(days=1)).day == 1  # the month's last day


@settings(max_examples=300, deadline=None)
@given(st.dates(min_value=date(2024, 1, 1), max_value=date(2032, 12, 31)))
def test_next_working_day_is_the_first_working_day_on_or_after(day):
    result = next_working_day(day)
    assert is_working_day(result) and result >= day
    assert all(not is_working_day(day + timedelta(days=n)) for n in range((result - day).days))
    assert (result - day).days <= 4  # never more than a weekend and two bank holidays


# --- identity and fee: the month starts again -------------------------------------------------------


def test_asking_for_identity_stops_the_clock_and_its_receipt_starts_the_month_again():
    c = clock(date(2026, 3, 2), (K.IDENTITY_REQUESTED, date(2026, 3, 4)))
    assert c.due_date is None and c.state().on_hold == "awaiting_identity"
    c = c.record(ClockEvent(K.IDENTITY_RECEIVED, date(2026, 3, 20)))
    assert c.state().day_one == date(2026, 3, 20)
    assert c.due_date == date(2026, 4, 20)


def test_identity_confirmed_without_being_asked_for_restarts_nothing():
    c = clock(date(2026, 3, 2), (K.IDENTITY_RECEIVED, date(2026, 3, 10)))
    assert c.due_date == date(2026, 4, 2)
    assert c.state().identity_received


def test_a_fee_restarts_the_month_on_its_receipt():
    c = clock(date(2026, 6, 1), (K.FEE_REQUESTED, date(2026, 6, 2)))
    assert c.state().on_hold == "awaiting_fee"
    c = c.record(ClockEvent(K.FEE_RECEIVED, date(2026, 6, 30)))
    assert c.due_date == date(2026, 7, 30)


def test_with_identity_and_fee_asked_for_the_month_starts_when_the_last_arrives():
    c = clock(date(2026, 6, 1), (K.IDENTITY_REQUESTED, date(2026, 6, 2)), (K.FEE_REQUESTED, date(2026, 6, 2)),
              (K.IDENTITY_RECEIVED, date(2026, 6, 5)))
    assert c.due_date is None and c.state().on_hold == "awaiting_fee"
    c = c.record(ClockEvent(K.FEE_RECEIVED, date(2026, 6, 12)))
    assert c.due_date == date(2026, 7, 13)  # 12 Jul 2026 is a Sunday


def test_identity_restart_wipes_earlier_clarification_pauses():
    c = clock(date(2026, 3, 2), (K.CLARIFICATION_REQUESTED, date(2026, 3, 3)),
              (K.CLARIFICATION_RECEIVED, date(2026, 3, 13)), (K.IDENTITY_REQUESTED, date(2026, 3, 16)),
              (K.IDENTITY_RECEIVED, date(2026, 3, 18)))
    assert c.due_date == date(2026, 4, 20)  # 18 Apr 2026 is a Saturday; the 10 paused days are moot


@pytest.mark.parametrize(("events", "code"), [
    ([(K.FEE_RECEIVED, date(2026, 3, 3))], "fee_not_requested"),
    ([(K.IDENTITY_REQUESTED, date(2026, 3, 3)), (K.IDENTITY_REQUESTED, date(2026, 3, 4))],
     "identity_already_requested"),
    ([(K.FEE_REQUESTED, date(2026, 3, 3)), (K.FEE_REQUESTED, date(2026, 3, 4))], "fee_already_requested"),
    ([(K.CLARIFICATION_RECEIVED, date(2026, 3, 3))], "clarification_not_requested"),
    ([(K.CLARIFICATION_REQUESTED, date(2026, 3, 3)), (K.CLARIFICATION_REQUESTED, date(2026, 3, 4))],
     "clarification_already_requested"),
    ([(K.IDENTITY_REQUESTED, date(2026, 3, 1))], "before_receipt"),
    ([(K.IDENTITY_REQUESTED, date(2026, 3, 9)), (K.IDENTITY_RECEIVED, date(2026, 3, 5))], "out_of_order"),
])
def test_events_that_make_no_sense_are_refused_with_a_reason(events, code):
    with pytest.raises(ClockRefused) as refused:
        clock(date(2026, 3, 2), *events)
    assert refused.value.code == code


def test_a_refused_event_leaves_the_clock_as_it_was():
    c = clock(date(2026, 3, 2))
    with pytest.raises(ClockRefused):
        c.record(ClockEvent(K.FEE_RECEIVED, date(2026, 3, 3)))
    assert c.events == () and c.due_date == date(2026, 4, 2)


# --- clarification (Art 12A, DUAA s76; DPA 2018 s54(3C)): the wait does not count, both ends included ---


def test_waiting_for_clarification_pauses_the_clock_from_the_day_of_asking_to_the_day_of_receipt():
    c = clock(date(2026, 11, 14), (K.CLARIFICATION_REQUESTED, date(2026, 11, 16)))
    assert c.due_date is None and c.state().on_hold == "awaiting_clarification"
    c = c.record(ClockEvent(K.CLARIFICATION_RECEIVED, date(2026, 12, 16)))
    # due 14 Dec 2026 without the pause; 16 Nov to 16 Dec inclusive (31 days) do not count -> Thu 14 Jan 2027
    assert c.state().paused_days == 31
    assert c.due_date == date(2027, 1, 14)


@pytest.mark.parametrize(("received", "asked", "answered", "due", "case"), [
    # The statutory review's cases (Dec 2026, D1): Art 12A "beginning with" the day of asking and
    # "ending with" the day of receipt.
    (date(2026, 3, 2), date(2026, 3, 5), date(2026, 3, 12), date(2026, 4, 10), "sar_due-066: 2 Apr + 8 days"),
    (date(2026, 3, 2), date(2026, 3, 2), date(2026, 3, 2), date(2026, 4, 7),
     "asked and answered on the day of receipt: 2 Apr + 1 = Good Friday 3 Apr, Easter -> Tue 7 Apr"),
    (date(2026, 6, 15), date(2026, 6, 16), date(2026, 6, 16), date(2026, 7, 16), "one day asked and answered"),
])
def test_the_pause_excludes_both_the_day_of_asking_and_the_day_of_receipt(received, asked, answered, due, case):
    c = clock(received, (K.CLARIFICATION_REQUESTED, asked), (K.CLARIFICATION_RECEIVED, answered))
    assert c.state().paused_days == (answered - asked).days + 1, case
    assert c.due_date == due, case


def test_while_a_clarification_is_pending_the_projection_counts_the_day_it_would_arrive_as_paused():
    # Art 12A: the day of receipt does not count either, so the projection "if it arrived on 12 Mar"
    # is exactly the due date recorded when it does arrive on 12 Mar (review D1: due_as_of).
    pending = clock(date(2026, 3, 2), (K.CLARIFICATION_REQUESTED, date(2026, 3, 5)))
    assert pending.state().due_as_of(date(2026, 3, 12)) == date(2026, 4, 10)
    # answered the day it was asked: 2 Apr + 1 = Good Friday 3 Apr, Easter Monday 6 Apr -> Tue 7 Apr
    assert pending.state().due_as_of(date(2026, 3, 5)) == date(2026, 4, 7)
    answered = pending.record(ClockEvent(K.CLARIFICATION_RECEIVED, date(2026, 3, 12)))
    assert answered.due_date == pending.state().due_as_of(date(2026, 3, 12))


@settings(max_examples=200, deadline=None)
@given(st.dates(min_value=date(2026, 2, 5), max_value=date(2030, 12, 31)), st.integers(min_value=0, max_value=90))
def test_a_wait_after_commencement_pauses_every_day_from_asking_to_receipt(asked, length):
    answered = asked + timedelta(days=length)
    assert _paused_days(asked, answered) == length + 1


def test_a_day_is_never_paused_twice_when_a_second_clarification_is_asked_the_day_the_first_is_answered():
    c = clock(date(2026, 6, 1), (K.CLARIFICATION_REQUESTED, date(2026, 6, 2)),
              (K.CLARIFICATION_RECEIVED, date(2026, 6, 5)), (K.CLARIFICATION_REQUESTED, date(2026, 6, 5)),
              (K.CLARIFICATION_RECEIVED, date(2026, 6, 10)))
    assert c.state().paused_days == 9  # 2 to 10 Jun, 5 Jun once
    assert c.due_date == date(2026, 7, 10)  # 1 Jul + 9 days


def test_a_pause_that_lands_on_a_bank_holiday_rolls_on():
    c = clock(date(2026, 11, 2), (K.CLARIFICATION_REQUESTED, date(2026, 11, 3)),
              (K.CLARIFICATION_RECEIVED, date(2026, 11, 26)))
    # 2 Dec + 24 days = Sat 26 Dec, Sun, Mon 28 Dec Boxing Day substitute -> Tue 29 Dec
    assert c.due_date == date(2026, 12, 29)


def test_before_5_february_2026_waiting_for_clarification_did_not_stop_the_clock():
    c = clock(date(2026, 1, 10), (K.CLARIFICATION_REQUESTED, date(2026, 1, 15)),
              (K.CLARIFICATION_RECEIVED, date(2026, 1, 25)))
    assert c.due_date == date(2026, 2, 10)


def test_a_wait_spanning_5_february_2026_counts_only_from_then():
    c = clock(date(2026, 1, 20), (K.CLARIFICATION_REQUESTED, date(2026, 2, 1)),
              (K.CLARIFICATION_RECEIVED, date(2026, 2, 10)))
    assert c.state().paused_days == 6  # 5 Feb to 10 Feb, both included
    assert c.due_date == date(2026, 2, 26)  # 20 Feb + 6


def test_a_wait_answered_before_5_february_2026_pauses_nothing_and_one_answered_on_it_one_day():
    assert _paused_days(date(2026, 1, 28), date(2026, 2, 4)) == 0
    assert _paused_days(date(2026, 1, 28), date(2026, 2, 5)) == 1


def test_two_clarifications_add_up():
    c = clock(date(2026, 6, 1), (K.CLARIFICATION_REQUESTED, date(2026, 6, 2)),
              (K.CLARIFICATION_RECEIVED, date(2026, 6, 5)), (K.CLARIFICATION_REQUESTED, date(2026, 6, 8)),
              (K.CLARIFICATION_RECEIVED, date(2026, 6, 10)))
    assert c.state().paused_days == 7  # 2-5 Jun and 8-10 Jun, both ends included
    assert c.due_date == date(2026, 7, 8)


def test_clarification_awaited_when_identity_arrives_pauses_the_new_month_from_its_first_day():
    c = clock(date(2026, 6, 1), (K.IDENTITY_REQUESTED, date(2026, 6, 1)), (K.CLARIFICATION_REQUESTED, date(2026, 6, 2)),
              (K.IDENTITY_RECEIVED, date(2026, 6, 8)))
    assert c.due_date is None
    c = c.record(ClockEvent(K.CLARIFICATION_RECEIVED, date(2026, 6, 18)))
    assert c.due_date == date(2026, 7, 20)  # 8 Jul + 11 days (8-18 Jun) = Sun 19 Jul -> Mon 20 Jul


# --- extension by two further months (Art 12A, DUAA 2025 s76; formerly Art 12(3)) ----------------------


def test_an_extension_with_reasons_within_the_first_month_adds_two_months():
    c = clock(date(2026, 3, 2), (K.EXTENDED, date(2026, 3, 10), "complex: records in three services"))
    assert c.state().extended
    assert c.due_date == date(2026, 6, 2)


def test_an_extension_from_a_month_end_takes_the_last_day_then_a_working_day():
    c = clock(date(2026, 11, 30), (K.EXTENDED, date(2026, 12, 1), "numerous requests"))
    assert c.due_date == date(2027, 3, 1)  # 28 Feb 2027 is a Sunday


def test_an_extension_keeps_earlier_pauses():
    c = clock(date(2026, 3, 2), (K.CLARIFICATION_REQUESTED, date(2026, 3, 3)),
              (K.CLARIFICATION_RECEIVED, date(2026, 3, 13)), (K.EXTENDED, date(2026, 3, 20), "complex"))
    assert c.due_date == date(2026, 6, 15)  # 2 Jun + 11 days = Sat 13 Jun -> Mon 15 Jun


def test_an_extension_on_the_last_day_of_the_first_month_is_in_time():
    c = clock(date(2026, 3, 2), (K.EXTENDED, date(2026, 4, 2), "complex"))
    assert c.due_date == date(2026, 6, 2)


def test_an_extension_told_on_the_paused_first_months_last_day_is_in_time():
    # The statutory review's case (Dec 2026, D1, sar_due-081): 2 Mar request, clarification asked
    # 5 Mar and answered 12 Mar: the first month ends Fri 10 Apr, so an extension told then is in time.
    c = clock(date(2026, 3, 2), (K.CLARIFICATION_REQUESTED, date(2026, 3, 5)),
              (K.CLARIFICATION_RECEIVED, date(2026, 3, 12)), (K.EXTENDED, date(2026, 4, 10), "complex"))
    assert c.state().extended
    assert c.due_date == date(2026, 6, 10)  # 2 Jun + 8 days
    with pytest.raises(ClockRefused) as refused:
        clock(date(2026, 3, 2), (K.CLARIFICATION_REQUESTED, date(2026, 3, 5)),
              (K.CLARIFICATION_RECEIVED, date(2026, 3, 12)), (K.EXTENDED, date(2026, 4, 13), "complex"))
    assert refused.value.code == "extension_too_late"  # Mon 13 Apr: the month ended on Fri 10 Apr


def test_an_extension_after_the_first_month_is_refused():
    with pytest.raises(ClockRefused) as refused:
        clock(date(2026, 3, 2), (K.EXTENDED, date(2026, 4, 3), "complex"))
    assert refused.value.code == "extension_too_late"


def test_the_first_month_for_an_extension_counts_a_pause_still_running():
    # due 2 Apr without the pause; clarification awaited since 10 Mar, so on 8 Apr the month is not over
    c = clock(date(2026, 3, 2), (K.CLARIFICATION_REQUESTED, date(2026, 3, 10)), (K.EXTENDED, date(2026, 4, 8), "x"))
    assert c.state().extended and c.due_date is None
    c = c.record(ClockEvent(K.CLARIFICATION_RECEIVED, date(2026, 4, 9)))
    assert c.due_date == date(2026, 7, 3)  # 2 Jun + 31 days (10 Mar to 9 Apr)


def test_a_second_extension_is_refused():
    with pytest.raises(ClockRefused) as refused:
        clock(date(2026, 3, 2), (K.EXTENDED, date(2026, 3, 10), "complex"), (K.EXTENDED, date(2026, 3, 11), "more"))
    assert refused.value.code == "already_extended"


@pytest.mark.parametrize("reason", [None, "", "   "])
def test_an_extension_without_reasons_is_refused(reason):
    with pytest.raises(ClockRefused) as refused:
        clock(date(2026, 3, 2), (K.EXTENDED, date(2026, 3, 10), reason))
    assert refused.value.code == "extension_needs_reasons"


def test_a_clock_that_has_not_started_cannot_be_extended():
    with pytest.raises(ClockRefused) as refused:
        clock(date(2026, 3, 2), (K.IDENTITY_REQUESTED, date(2026, 3, 3)), (K.EXTENDED, date(2026, 3, 10), "complex"))
    assert refused.value.code == "clock_not_started"


# --- complaints: acknowledged within 30 days (DPA 2018 s164A) ----------------------------------------


@pytest.mark.parametrize(("received", "due"), [
    (date(2026, 6, 1), date(2026, 7, 1)),  # counted from the day after receipt
    (date(2026, 6, 19), date(2026, 7, 20)),  # Sun 19 Jul -> Mon 20 Jul
    (date(2026, 11, 25), date(2026, 12, 29)),  # Christmas, weekend, Boxing Day substitute
    (date(2028, 1, 30), date(2028, 2, 29)),
])
def test_a_complaint_is_acknowledged_within_30_days(received, due):
    assert complaint_acknowledgement_due(received) == due


# --- replaying the history -----------------------------------------------------------------------------


def test_the_due_date_is_rebuilt_from_the_history_alone():
    events = ((K.IDENTITY_REQUESTED, date(2026, 3, 3)), (K.IDENTITY_RECEIVED, date(2026, 3, 9)),
              (K.CLARIFICATION_REQUESTED, date(2026, 3, 10)), (K.CLARIFICATION_RECEIVED, date(2026, 3, 17)),
              (K.EXTENDED, date(2026, 3, 20), "complex"))
    built = clock(date(2026, 3, 2), *events)
    replayed = AccessRequestClock(date(2026, 3, 2), built.events)
    assert replayed.state() == built.state()
    assert built.due_date == date(2026, 6, 17)  # 9 Jun + 8 days (10 to 17 Mar)


# --- the pause is for subject access only (Art 12A; DPA 2018 s54(3C); review D2) ---------------------


@pytest.mark.parametrize("request_type", [t for t in rules.RequestType
                                          if t not in (rules.RequestType.ACCESS, rules.RequestType.COMPLAINT)])
def test_clarification_cannot_pause_the_clock_of_any_right_but_access(request_type):
    # Art 12A: "a request under Article 15"; s54(3C): "a request under section 45(1)" (review D2,
    # clarification_scope-002: a rectification request's month runs on).
    with pytest.raises(rules.InvalidMove) as refused:
        rules.check_clock_event(request_type, rules.Status.AWAITING_DECISION, "clarification_requested")
    assert refused.value.code == "clarification_access_only"
    rules.check_clock_event(request_type, rules.Status.AWAITING_DECISION, "extended")  # the rest of the clock stays


def test_an_access_request_may_pause_for_clarification_and_an_awaited_one_may_still_be_received():
    rules.check_clock_event(rules.RequestType.ACCESS, rules.Status.COLLECTING, "clarification_requested")
    # a pause recorded on another right before this rule is closed, never left open for ever
    rules.check_clock_event(rules.RequestType.RECTIFICATION, rules.Status.AWAITING_DECISION, "clarification_received")
