"""The DfE termly "Children missing education" return: open cases on the census date (DOMAIN section 2).

Counted by reason, sex, year group and time missing (12 weeks or less, more than 12 weeks, unknown),
one set of rows per borough: each borough is its own local authority for the DfE.
"""

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import date, timedelta

from .history import Entry, Kind
from .lifecycle import CaseState, fold
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


# What a census row is made of: the periods (opened, reopened, closed, and when the child was last in
# education), the borough and the child's sex and date of birth. Escalations, notes and shares never change
# a row, and leaving them out means an entry about an earlier-dated one is never folded without it.
AS_AT_KINDS = frozenset({
    Kind.CASE_OPENED, Kind.CASE_REOPENED, Kind.REFERRAL_JOINED, Kind.BOROUGH_ASSIGNED, Kind.ENQUIRY_MADE,
    Kind.ENQUIRY_ANSWERED, Kind.CASE_CLOSED, Kind.FACT_RECTIFIED,
})


def as_at(entries: Iterable[Entry], census_date: date) -> CaseState:
    """The case as it stood on the census date: only what had happened by then (`effective_on`) counts.

    A later borough move, rectification or newly learned "last in education" date changes the next
    return, not this one: the DfE return is a count "as at" its census date.
    """
    return fold(_known_by(e, census_date) for e in entries if e.kind in AS_AT_KINDS and e.effective_on <= census_date)


def _known_by(entry: Entry, census_date: date) -> Entry:
    """An enquiry recorded with its answer is dated when it was asked; its facts were learned when answered."""
    answered_on = entry.detail.get("answered_on") if entry.kind is Kind.ENQUIRY_MADE else None
    if answered_on is not None and date.fromisoformat(answered_on) > census_date:
        return replace(entry, detail={**entry.detail, "facts": [], "answered_on": None, "outcome": None})
    return entry


def count(cases: Iterable[CaseState], census_date: date) -> list[tuple[CensusKey, int]]:
    tally = Counter(key for state in cases if (key := census_key(state, census_date)) is not None)
    return sorted(tally.items())
