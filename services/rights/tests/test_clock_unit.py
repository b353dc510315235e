"""The statutory clock (DOMAIN section 5): month ends, leap years, bank holidays, restarts, pauses, extensions."""

from datetime import date, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cme_rights.domain.clock import (
    AccessRequestClock,
    ClockEvent,
    ClockEventKind,
    ClockRefused,
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


# --- clarification (Art 12A, DUAA s76): the wait does not count ---------------------------------------


def test_waiting_for_clarification_pauses_the_clock_for_the_days_between_asking_and_receiving():
    c = clock(date(2026, 11, 14), (K.CLARIFICATION_REQUESTED, date(2026, 11, 16)))
    assert c.due_date is None and c.state().on_hold == "awaiting_clarification"
    c = c.record(ClockEvent(K.CLARIFICATION_RECEIVED, date(2026, 12, 16)))
    # due 14 Dec 2026 without the pause; 30 days did not count -> Wed 13 Jan 2027
    assert c.state().paused_days == 30
    assert c.due_date == date(2027, 1, 13)


def test_a_pause_that_lands_on_a_bank_holiday_rolls_on():
    c = clock(date(2026, 11, 2), (K.CLARIFICATION_REQUESTED, date(2026, 11, 3)),
              (K.CLARIFICATION_RECEIVED, date(2026, 11, 26)))
    assert c.due_date == date(2026, 12, 29)  # 2 Dec + 23 days = Fri 25 Dec -> Tue 29 Dec


def test_clarification_asked_and_answered_on_one_day_costs_nothing():
    c = clock(date(2026, 6, 15), (K.CLARIFICATION_REQUESTED, date(2026, 6, 16)),
              (K.CLARIFICATION_RECEIVED, date(2026, 6, 16)))
    assert c.due_date == date(2026, 7, 15)


def test_before_5_february_2026_waiting_for_clarification_did_not_stop_the_clock():
    c = clock(date(2026, 1, 10), (K.CLARIFICATION_REQUESTED, date(2026, 1, 15)),
              (K.CLARIFICATION_RECEIVED, date(2026, 1, 25)))
    assert c.due_date == date(2026, 2, 10)


def test_a_wait_spanning_5_february_2026_counts_only_from_then():
    c = clock(date(2026, 1, 20), (K.CLARIFICATION_REQUESTED, date(2026, 2, 1)),
              (K.CLARIFICATION_RECEIVED, date(2026, 2, 10)))
    assert c.state().paused_days == 5  # 5 Feb to 10 Feb
    assert c.due_date == date(2026, 2, 25)  # 20 Feb + 5


def test_two_clarifications_add_up():
    c = clock(date(2026, 6, 1), (K.CLARIFICATION_REQUESTED, date(2026, 6, 2)),
              (K.CLARIFICATION_RECEIVED, date(2026, 6, 5)), (K.CLARIFICATION_REQUESTED, date(2026, 6, 8)),
              (K.CLARIFICATION_RECEIVED, date(2026, 6, 10)))
    assert c.state().paused_days == 5
    assert c.due_date == date(2026, 7, 6)


def test_clarification_awaited_when_identity_arrives_pauses_the_new_month_from_its_first_day():
    c = clock(date(2026, 6, 1), (K.IDENTITY_REQUESTED, date(2026, 6, 1)), (K.CLARIFICATION_REQUESTED, date(2026, 6, 2)),
              (K.IDENTITY_RECEIVED, date(2026, 6, 8)))
    assert c.due_date is None
    c = c.record(ClockEvent(K.CLARIFICATION_RECEIVED, date(2026, 6, 18)))
    assert c.due_date == date(2026, 7, 20)  # 8 Jul + 10 days = Sat 18 Jul -> Mon 20 Jul


# --- extension by two further months (Art 12(3)) -----------------------------------------------------


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
    assert c.due_date == date(2026, 6, 12)  # 2 Jun + 10 days


def test_an_extension_on_the_last_day_of_the_first_month_is_in_time():
    c = clock(date(2026, 3, 2), (K.EXTENDED, date(2026, 4, 2), "complex"))
    assert c.due_date == date(2026, 6, 2)


def test_an_extension_after_the_first_month_is_refused():
    with pytest.raises(ClockRefused) as refused:
        clock(date(2026, 3, 2), (K.EXTENDED, date(2026, 4, 3), "complex"))
    assert refused.value.code == "extension_too_late"


def test_the_first_month_for_an_extension_counts_a_pause_still_running():
    # due 2 Apr without the pause; clarification awaited since 10 Mar, so on 8 Apr the month is not over
    c = clock(date(2026, 3, 2), (K.CLARIFICATION_REQUESTED, date(2026, 3, 10)), (K.EXTENDED, date(2026, 4, 8), "x"))
    assert c.state().extended and c.due_date is None
    c = c.record(ClockEvent(K.CLARIFICATION_RECEIVED, date(2026, 4, 9)))
    assert c.due_date == date(2026, 7, 2)  # 2 Jun + 30 days


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
    assert built.due_date == date(2026, 6, 16)  # 9 Jun + 7 days
