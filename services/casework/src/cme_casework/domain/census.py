"""The DfE termly "Children missing education" return: open cases on the census date (DOMAIN section 2).

Counted by reason, sex, year group and time missing (12 weeks or less, more than 12 weeks, unknown),
one set of rows per borough: each borough is its own local authority for the DfE.
"""

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta

from .lifecycle import CaseState
from .school_age import year_group

TWELVE_WEEKS = timedelta(weeks=12)
COLUMNS = ("census_date", "borough", "reason", "sex", "year_group", "time_missing", "count")


def time_missing(missing_since: date | None, census_date: date) -> str:
    if missing_since is None:
        return "unknown"
    return "12_weeks_or_less" if census_date - missing_since <= TWELVE_WEEKS else "more_than_12_weeks"


@dataclass(frozen=True, order=True)
class CensusKey:
    borough: str
    reason: str
    sex: str
    year_group: str
    time_missing: str


def census_key(state: CaseState, census_date: date) -> CensusKey | None:
    """Where a case counts on the census date, or None if it was not open that day."""
    period = next((p for p in state.periods if p.open_on(census_date)), None)
    if period is None:
        return None
    return CensusKey(state.borough or "unassigned", period.reason, state.sex,
                     year_group(state.date_of_birth, census_date), time_missing(period.missing_since, census_date))


def count(cases: Iterable[CaseState], census_date: date) -> list[tuple[CensusKey, int]]:
    tally = Counter(key for state in cases if (key := census_key(state, census_date)) is not None)
    return sorted(tally.items())
