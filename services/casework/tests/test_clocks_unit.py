"""`next_due_date` on every open case: escalation, first enquiries, review (DOMAIN section 2)."""

import uuid
from dataclasses import replace
from datetime import UTC, date, datetime

import pytest

from cme_casework.adapters.calendars import load_calendars
from cme_casework.domain import commands, lifecycle, referral_entries
from cme_casework.domain.clocks import ClockPolicy, Due, DueKind, next_due
from cme_casework.domain.enquiries import Agency
from cme_casework.domain.opening import decide

pytestmark = pytest.mark.unit

POLICY = ClockPolicy(calendars=load_calendars())


def opened(referral, on: date) -> lifecycle.CaseState:
    state = lifecycle.CaseState()
    for number, entry in enumerate(referral_entries.open_case(referral, decide(referral), uuid.uuid4(), on), 1):
        state = lifecycle.transition(state, replace(entry, entry_id=number, recorded_at=datetime.now(UTC)))
    return state


def test_a_new_case_is_due_its_first_enquiries_in_ten_school_days(make_referral):
    state = opened(make_referral(received_on=date(2026, 10, 23)), date(2026, 10, 23))
    assert next_due(state, POLICY) == Due(date(2026, 11, 13), DueKind.FIRST_ENQUIRIES)


def test_the_borough_calendar_decides_the_date(make_referral):
    on = date(2026, 11, 16)
    assert next_due(opened(make_referral(borough="westminster"), on), POLICY).on == date(2026, 11, 30)
    assert next_due(opened(make_referral(borough="kensington_and_chelsea"), on), POLICY).on == date(2026, 12, 1)
    assert next_due(opened(make_referral(borough=None), on), POLICY).on == date(2026, 11, 30)


def test_a_high_risk_case_is_due_its_escalation_the_same_working_day(make_referral):
    state = opened(make_referral(received_on=date(2026, 11, 28), flags={"looked_after": True}), date(2026, 11, 28))
    assert next_due(state, POLICY) == Due(date(2026, 11, 30), DueKind.ESCALATION)


def test_after_first_enquiries_the_review_every_twenty_school_days_is_due(make_referral):
    state = opened(make_referral(), date(2026, 11, 16))
    enquiry = commands.make_enquiry(state, whom=Agency.SCHOOL, organisation=None, asked_on=date(2026, 11, 17),
                                    purpose="p", answered_on=None, outcome=None, facts=[], actor="o",
                                    today=date(2026, 11, 30))
    state = lifecycle.transition(state, replace(enquiry, entry_id=9))
    # 20 school days from 16 Nov 2026 in Westminster: 17 Nov ... 14 Dec.
    assert next_due(state, POLICY) == Due(date(2026, 12, 14), DueKind.REVIEW)
    reviewed = commands.review(state, reviewed_on=date(2026, 12, 14), summary="s", next_steps=None, actor="o",
                               today=date(2026, 12, 14))
    state = lifecycle.transition(state, replace(reviewed, entry_id=10))
    assert next_due(state, POLICY) == Due(date(2027, 1, 26), DueKind.REVIEW)


def test_the_days_are_configurable(make_referral):
    state = opened(make_referral(), date(2026, 11, 16))
    quicker = ClockPolicy(first_enquiries_school_days=5, review_school_days=15, calendars=POLICY.calendars)
    assert next_due(state, quicker) == Due(date(2026, 11, 23), DueKind.FIRST_ENQUIRIES)
