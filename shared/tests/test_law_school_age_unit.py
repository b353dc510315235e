"""Compulsory school age in England (cme_shared.law.school_age), as intake and casework both apply it.

Sources: Education Act 1996 s8(2)-(4); Education (Start of Compulsory School Age) Order 1998 (SI 1998/1607)
art 2, the prescribed days 31 March, 31 August and 31 December; Education (School Leaving Date) Order 1997
(SI 1997/1970), the last Friday in June; the statutory review of December 2026, sections 1.7 and 1.8 (its
cases are among these).
"""

from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cme_shared.law.school_age import (
    SchoolAge,
    birthday,
    compulsory_school_age_starts,
    last_friday_of_june,
    over_compulsory_school_age,
    school_age_on,
    school_leaving_date,
)

pytestmark = pytest.mark.unit


def test_a_leap_day_birthday_falls_on_1_march_in_other_years():
    assert birthday(date(2012, 2, 29), 5) == date(2017, 3, 1)
    assert birthday(date(2012, 2, 29), 16) == date(2028, 2, 29)  # 2028 is a leap year
    assert birthday(date(2021, 9, 30), 5) == date(2026, 9, 30)


@pytest.mark.parametrize(
    ("born", "starts"),
    [
        (date(2021, 9, 30), date(2026, 12, 31)),  # 5 on 30 Sep 2026: the next prescribed day, 31 Dec (s8(2))
        (date(2021, 8, 31), date(2026, 8, 31)),  # 5 on a prescribed day: that day
        (date(2021, 12, 31), date(2026, 12, 31)),
        (date(2022, 1, 1), date(2027, 3, 31)),  # the next prescribed day is in the following year
        (date(2021, 4, 1), date(2026, 8, 31)),
        (date(2020, 2, 29), date(2025, 3, 31)),  # 29 Feb: 5 on 1 Mar 2025, then 31 Mar
    ],
)
def test_compulsory_school_age_starts_on_the_prescribed_day_on_or_after_the_fifth_birthday(born, starts):
    assert compulsory_school_age_starts(born) == starts
    assert school_age_on(born, starts - timedelta(days=1)) is SchoolAge.BELOW
    assert school_age_on(born, starts) is SchoolAge.COMPULSORY


@pytest.mark.parametrize(("year", "friday"), [(2026, date(2026, 6, 26)), (2027, date(2027, 6, 25)),
                                             (2028, date(2028, 6, 30)), (2029, date(2029, 6, 29)),
                                             (2030, date(2030, 6, 28))])
def test_the_school_leaving_date_is_the_last_friday_in_june(year, friday):  # SI 1997/1970
    assert last_friday_of_june(year) == friday


@pytest.mark.parametrize(
    ("born", "leaves"),
    [
        (date(2010, 8, 31), date(2026, 6, 26)),  # 16 on 31 Aug 2026: the June before the birthday (s8(3)(a))
        (date(2010, 6, 27), date(2026, 6, 26)),  # 16 on Sat 27 Jun 2026, the day after the leaving date (s8(3)(a))
        (date(2010, 6, 26), date(2026, 6, 26)),  # 16 on the leaving date itself (s8(3)(b))
        (date(2010, 3, 10), date(2026, 6, 26)),  # 16 before the leaving date: that June
        (date(2010, 9, 1), date(2027, 6, 25)),  # 16 on 1 Sep 2026: the next school year's date
        (date(2011, 2, 28), date(2027, 6, 25)),
        (date(2011, 3, 1), date(2027, 6, 25)),
        (date(2011, 8, 31), date(2027, 6, 25)),  # the youngest of the year group
        (date(2012, 2, 29), date(2028, 6, 30)),  # born on a leap day
    ],
)
def test_compulsory_school_age_ends_on_the_leaving_date_of_the_school_year_of_the_sixteenth_birthday(born, leaves):
    assert school_leaving_date(born) == leaves
    assert school_age_on(born, leaves) is SchoolAge.COMPULSORY  # up to the end of that day
    assert not over_compulsory_school_age(born, leaves)
    assert school_age_on(born, leaves + timedelta(days=1)) is SchoolAge.OVER
    assert over_compulsory_school_age(born, leaves + timedelta(days=1))


@given(st.dates(date(2005, 1, 1), date(2024, 12, 31)))
def test_every_child_is_of_compulsory_school_age_for_one_unbroken_stretch(born):
    starts, ends = compulsory_school_age_starts(born), school_leaving_date(born)
    assert birthday(born, 5) <= starts < ends < birthday(born, 17)
    assert (starts.month, starts.day) in {(3, 31), (8, 31), (12, 31)}
    assert ends.weekday() == 4 and ends.month == 6 and ends.day > 23
