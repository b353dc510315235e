"""The DfE CME return's rules: time missing and which days a case counts as open."""

from datetime import date

import pytest

from cme_casework.domain.census import time_missing
from cme_casework.domain.lifecycle import Period

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("since", "group"),
    [(date(2026, 10, 22), "12_weeks_or_less"), (date(2026, 10, 21), "more_than_12_weeks"), (None, "unknown")],
)
def test_time_missing_is_twelve_weeks_or_less_more_or_unknown(since, group):
    assert time_missing(since, date(2027, 1, 14)) == group  # 22 Oct 2026 is exactly 12 weeks before


def test_a_case_closed_on_the_census_date_is_not_counted_open_that_day():
    period = Period(date(2026, 11, 2), "unknown_destination", closed_on=date(2027, 1, 14))
    assert period.open_on(date(2027, 1, 13)) and not period.open_on(date(2027, 1, 14))
    assert Period(date(2027, 1, 14), "x").open_on(date(2027, 1, 14))
