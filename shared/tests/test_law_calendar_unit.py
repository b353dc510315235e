"""Working days in England and Wales (cme_shared.law.calendar).

Sources: Banking and Financial Dealings Act 1971 Sch 1 and GOV.UK "Bank holidays" (England and Wales), with
their substitute days; the statutory review of December 2026, section 1.2, which checked 2026-2030 (2028-2030
follow the same rules but are not yet proclaimed); ICO right of access guidance ("Time limits": a deadline on
a weekend or bank holiday moves to the next working day).
"""

from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cme_shared.law.calendar import is_bank_holiday, is_working_day, next_working_day

pytestmark = pytest.mark.unit

# The bank holidays of England and Wales that fall on a weekday, 2026-2030, as GOV.UK lists them: a holiday
# on a weekend gives way to the substitute weekday after it (and those on a weekend are not listed).
WEEKDAY_BANK_HOLIDAYS = {
    2026: ["01-01", "04-03", "04-06", "05-04", "05-25", "08-31", "12-25", "12-28"],  # 28 Dec: Boxing Day (Sat)
    2027: ["01-01", "03-26", "03-29", "05-03", "05-31", "08-30", "12-27", "12-28"],  # Christmas Sat, Boxing Sun
    2028: ["01-03", "04-14", "04-17", "05-01", "05-29", "08-28", "12-25", "12-26"],  # 3 Jan: 1 Jan is a Saturday
    2029: ["01-01", "03-30", "04-02", "05-07", "05-28", "08-27", "12-25", "12-26"],
    2030: ["01-01", "04-19", "04-22", "05-06", "05-27", "08-26", "12-25", "12-26"],
}


@pytest.mark.parametrize("year", sorted(WEEKDAY_BANK_HOLIDAYS))
def test_the_weekdays_that_are_not_working_days_are_exactly_the_bank_holidays(year):
    expected = {date.fromisoformat(f"{year}-{month_day}") for month_day in WEEKDAY_BANK_HOLIDAYS[year]}
    day, found = date(year, 1, 1), set()
    while day.year == year:
        if day.weekday() < 5 and not is_working_day(day):
            found.add(day)
        day += timedelta(days=1)
    assert found == expected


def test_weekends_are_not_working_days_and_a_holiday_on_a_weekend_is_still_a_bank_holiday():
    assert not is_working_day(date(2026, 11, 28))  # a Saturday
    assert not is_working_day(date(2026, 11, 29))  # a Sunday
    assert is_bank_holiday(date(2026, 12, 26))  # Boxing Day on a Saturday; Mon 28 Dec is its substitute
    assert is_bank_holiday(date(2026, 12, 28))


def test_scotland_and_northern_ireland_holidays_are_working_days_in_england():
    assert is_working_day(date(2026, 8, 3))  # Scotland's summer bank holiday
    assert is_working_day(date(2027, 1, 4))  # 2 January's substitute, Scotland only
    assert is_working_day(date(2027, 3, 17))  # St Patrick's Day, Northern Ireland only
    assert is_working_day(date(2026, 7, 13))  # Battle of the Boyne (substitute), Northern Ireland only


@pytest.mark.parametrize(
    ("day", "working_day"),
    [
        (date(2026, 11, 30), date(2026, 11, 30)),  # a Monday: the day itself
        (date(2026, 11, 28), date(2026, 11, 30)),  # a Saturday: the Monday after
        (date(2026, 12, 25), date(2026, 12, 29)),  # Christmas, the weekend, the substitute Boxing Day
        (date(2027, 12, 24), date(2027, 12, 24)),  # Christmas Eve is a working day
        (date(2027, 12, 25), date(2027, 12, 29)),  # both substitute days, 27 and 28 Dec 2027
        (date(2028, 1, 1), date(2028, 1, 4)),  # New Year's Day on a Saturday, its substitute on Monday 3 Jan
        (date(2029, 3, 30), date(2029, 4, 3)),  # Good Friday to Easter Monday
    ],
)
def test_the_next_working_day_is_the_day_itself_or_the_first_working_day_after_it(day, working_day):
    assert next_working_day(day) == working_day


@given(st.dates(date(2026, 1, 1), date(2030, 12, 31)))
def test_no_working_day_is_skipped(day):
    result = next_working_day(day)
    assert is_working_day(result)
    assert all(not is_working_day(day + timedelta(days=n)) for n in range((result - day).days))
