"""Compulsory school age (Education Act 1996 s8; SI 1998/1607; SI 1997/1970)."""

from datetime import date

import pytest

from cme_intake.domain.school_age import SchoolAge, ends, last_friday_of_june, school_age_on, starts

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("born", "begins"),
    [
        (date(2021, 9, 30), date(2026, 12, 31)),  # 5 on 30 Sep 2026 -> next prescribed day 31 Dec
        (date(2021, 8, 31), date(2026, 8, 31)),  # 5 on a prescribed day: that day
        (date(2021, 1, 15), date(2026, 3, 31)),
        (date(2021, 4, 1), date(2026, 8, 31)),
        (date(2020, 2, 29), date(2025, 3, 31)),  # leap-day birthday: 5 on 1 March 2025
    ],
)
def test_it_begins_on_the_prescribed_day_after_the_fifth_birthday(born, begins):
    assert starts(born) == begins


def test_the_school_leaving_date_is_the_last_friday_in_june():
    assert last_friday_of_june(2026) == date(2026, 6, 26)
    assert last_friday_of_june(2028) == date(2028, 6, 30)


@pytest.mark.parametrize(
    ("born", "last_day"),
    [
        (date(2010, 8, 31), date(2026, 6, 26)),  # 16 on 31 Aug 2026: the June before (s8(3)(a))
        (date(2010, 9, 1), date(2027, 6, 25)),  # 16 in the next school year
        (date(2010, 3, 10), date(2026, 6, 26)),  # 16 before the leaving date: that June
        (date(2010, 6, 26), date(2026, 6, 26)),  # 16 on the leaving date itself (s8(3)(b))
    ],
)
def test_it_ends_on_the_leaving_date_of_the_school_year_of_the_sixteenth_birthday(born, last_day):
    assert ends(born) == last_day


def test_the_sample_referrals_children_on_the_referral_date():
    on = date(2026, 11, 2)
    assert school_age_on(date(2021, 9, 30), on) is SchoolAge.BELOW  # Noah: reception age, not yet compulsory
    for born in (date(2019, 5, 2), date(2014, 7, 1), date(2016, 3, 14), date(2011, 11, 11), date(2012, 1, 20)):
        assert school_age_on(born, on) is SchoolAge.COMPULSORY
    assert school_age_on(date(2009, 12, 1), on) is SchoolAge.OVER
