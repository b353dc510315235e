"""Compulsory school age (Education Act 1996 s8) and national curriculum year groups."""

from datetime import date

import pytest

from cme_casework.domain.school_age import last_friday_of_june, school_leaving_date, year_group

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(("year", "friday"), [(2026, date(2026, 6, 26)), (2027, date(2027, 6, 25)),
                                             (2029, date(2029, 6, 29)), (2028, date(2028, 6, 30))])
def test_last_friday_of_june(year, friday):
    assert last_friday_of_june(year) == friday


@pytest.mark.parametrize(
    ("born", "leaves"),
    [
        (date(2011, 1, 15), date(2027, 6, 25)),  # turns 16 in January 2027
        (date(2010, 9, 1), date(2027, 6, 25)),  # the oldest of the year group
        (date(2011, 8, 31), date(2027, 6, 25)),  # the youngest: leaves before turning 16
        (date(2011, 9, 1), date(2028, 6, 30)),
        (date(2012, 2, 29), date(2028, 6, 30)),  # 16th birthday taken as 1 March 2028
    ],
)
def test_school_leaving_date(born, leaves):
    assert school_leaving_date(born) == leaves


@pytest.mark.parametrize(
    ("born", "on", "group"),
    [
        (date(2016, 3, 10), date(2027, 1, 14), "6"),
        (date(2015, 9, 1), date(2027, 1, 14), "6"),
        (date(2015, 8, 31), date(2027, 1, 14), "7"),
        (date(2021, 8, 31), date(2026, 10, 1), "1"),  # the youngest of year 1
        (date(2021, 9, 1), date(2026, 10, 1), "R"),  # the oldest of reception
        (date(2022, 9, 1), date(2026, 10, 1), "below_reception"),
        (date(2011, 1, 1), date(2027, 1, 14), "11"),
        (date(2010, 1, 1), date(2027, 1, 14), "above_11"),
        (None, date(2027, 1, 14), "unknown"),
        (date(2016, 3, 10), date(2026, 8, 31), "5"),  # the last day of the school year
    ],
)
def test_year_group(born, on, group):
    assert year_group(born, on) == group
