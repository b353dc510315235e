"""School-day clocks across bank holidays, half terms and training days, per borough (DOMAIN section 2)."""

import json
from datetime import date, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cme_casework.adapters.calendars import load_calendars
from cme_casework.domain.clocks import escalation_due
from cme_casework.domain.school_days import WORKING_DAYS_ONLY, Term, TermCalendar, is_working_day

pytestmark = pytest.mark.unit

DEFAULTS = load_calendars()
WESTMINSTER, RBKC = DEFAULTS["westminster"], DEFAULTS["kensington_and_chelsea"]


@pytest.mark.parametrize("day", [date(2026, 12, 25), date(2026, 12, 28), date(2027, 1, 1), date(2027, 3, 26),
                                 date(2027, 3, 29), date(2027, 5, 3), date(2027, 5, 31), date(2026, 8, 31)])
def test_england_bank_holidays_are_not_working_days(day):
    assert not is_working_day(day)


@pytest.mark.parametrize(
    ("calendar", "referred", "due"),
    [
        # Across the autumn half term (26-30 Oct 2026).
        (WESTMINSTER, date(2026, 10, 23), date(2026, 11, 13)),
        # RBKC's training day on Fri 27 Nov 2026 moves its deadline; Westminster's is unaffected.
        (WESTMINSTER, date(2026, 11, 16), date(2026, 11, 30)),
        (RBKC, date(2026, 11, 16), date(2026, 12, 1)),
        # Across Christmas, the substitute Boxing Day and a training day on 4 Jan 2027.
        (WESTMINSTER, date(2026, 12, 14), date(2027, 1, 12)),
        # Across Good Friday, the Easter holiday, Easter Monday and a training day on 12 Apr 2027.
        (WESTMINSTER, date(2027, 3, 22), date(2027, 4, 21)),
        # Across the early May bank holiday (3 May 2027).
        (WESTMINSTER, date(2027, 4, 29), date(2027, 5, 14)),
        # Across the spring bank holiday and half term (31 May-4 Jun 2027); RBKC adds a training day on 7 Jun.
        (WESTMINSTER, date(2027, 5, 24), date(2027, 6, 14)),
        (RBKC, date(2027, 5, 24), date(2027, 6, 15)),
        # A referral on a Saturday in half term counts from the first school day after it.
        (WESTMINSTER, date(2026, 10, 24), date(2026, 11, 13)),
        # Before the configured year: working days, and the late summer bank holiday is skipped.
        (WESTMINSTER, date(2026, 8, 3), date(2026, 8, 17)),
        # Into the calendar: 28 Aug (1), bank holiday 31 Aug, training days 1-2 Sep, then 3-15 Sep (9 more).
        (WESTMINSTER, date(2026, 8, 27), date(2026, 9, 15)),
        # No borough yet: working days only, the earliest any borough's deadline can fall.
        (WORKING_DAYS_ONLY, date(2026, 10, 23), date(2026, 11, 6)),
    ],
)
def test_ten_school_days_from_a_referral(calendar, referred, due):
    assert calendar.add_school_days(referred, 10) == due


def test_twenty_school_days_for_a_review_skip_the_christmas_holiday():
    # 4 school days to Fri 18 Dec, then 5 Jan onwards (4 Jan is a training day): 16 more.
    assert WESTMINSTER.add_school_days(date(2026, 12, 14), 20) == date(2027, 1, 26)


@pytest.mark.parametrize(
    ("referred", "due"),
    [
        (date(2026, 11, 30), date(2026, 11, 30)),  # a Monday: the same day
        (date(2026, 11, 28), date(2026, 11, 30)),  # a Saturday: the next working day
        (date(2026, 12, 25), date(2026, 12, 29)),  # Christmas Day, a weekend, then the substitute Boxing Day
        (date(2026, 10, 27), date(2026, 10, 27)),  # half term: MASH works in school holidays
    ],
)
def test_escalation_is_due_the_same_working_day(referred, due):
    assert escalation_due(referred) == due


def test_an_operators_term_dates_file_replaces_the_defaults(tmp_path):
    custom = tmp_path / "terms.json"
    custom.write_text(json.dumps({
        "_about": "a council with a two-week autumn half term",
        "westminster": {
            "terms": [{"name": "Autumn", "first_day": "2026-09-03", "last_day": "2026-12-18",
                       "half_term": ["2026-10-19", "2026-10-30"]}],
            "training_days": ["2026-11-02"],
        },
    }))
    calendars = load_calendars(custom)
    assert set(calendars) == {"westminster"}
    # 16 Oct + 10: half term 19-30 Oct, training day 2 Nov, then 3 Nov onwards.
    assert calendars["westminster"].add_school_days(date(2026, 10, 16), 10) == date(2026, 11, 16)
    assert DEFAULTS["westminster"].add_school_days(date(2026, 10, 16), 10) == date(2026, 11, 6)


def test_a_file_naming_an_unknown_borough_is_refused(tmp_path):
    bad = tmp_path / "terms.json"
    bad.write_text(json.dumps({"camden": {"terms": []}}))
    with pytest.raises(ValueError):
        load_calendars(bad)


def test_a_half_term_outside_its_term_is_refused():
    with pytest.raises(ValueError):
        Term("Autumn", date(2026, 9, 1), date(2026, 12, 18), (date(2026, 12, 21), date(2026, 12, 23)))


@settings(max_examples=60, deadline=None)
@given(start=st.dates(date(2026, 6, 1), date(2027, 9, 30)), days=st.integers(1, 40),
       borough=st.sampled_from(["westminster", "kensington_and_chelsea"]))
def test_a_deadline_is_a_school_day_with_exactly_that_many_school_days_before_it(start, days, borough):
    calendar: TermCalendar = DEFAULTS[borough]
    due = calendar.add_school_days(start, days)
    assert calendar.is_school_day(due)
    counted = sum(calendar.is_school_day(start + timedelta(days=i)) for i in range(1, (due - start).days + 1))
    assert counted == days
