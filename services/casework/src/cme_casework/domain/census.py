"""The DfE termly "Children missing education" return: open cases on the census date (DOMAIN section 2).

Counted by reason, sex, year group and time missing (12 weeks or less, more than 12 weeks, unknown),
one set of rows per borough: each borough is its own local authority for the DfE.

Only children who are CME are counted (Education Act 1996 s436A; statutory review 2026-12, D4, D5): a
child below or over compulsory school age on the census date (s8; SI 1998/1607; SI 1997/1970) is not,
whatever case they have, and nor is a case opened for a notice of education otherwise before such
notices were routed to elective home education (`opening.NOT_CME_REASONS`). A child whose date of birth
is unknown cannot be shown to be outside compulsory school age, and is counted (year group `unknown`).

`any_time` is the return's other figure: the children who were CME at any time in an academic year
(1 September to 31 August; s579 and DfE cohorts), each counted once, in the borough of their case at
the end of the period.
"""

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import date, timedelta

from cme_shared.law.school_age import SchoolAge, school_age_on

from .history import Entry, Kind
from .lifecycle import CaseState, fold
from .opening import NOT_CME_REASONS
from .school_age import of_compulsory_school_age_between, year_group

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
    if period is None or not counts_as_cme(state, period.reason, census_date, census_date):
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


def counts_as_cme(state: CaseState, reason: str, first: date, last: date) -> bool:
    """CME on some day from `first` to `last`: the case's reason is a CME one and the child is of
    compulsory school age on such a day (unknown date of birth: counted)."""
    if reason in NOT_CME_REASONS:
        return False
    if first == last and state.date_of_birth is not None:
        return school_age_on(state.date_of_birth, first) is SchoolAge.COMPULSORY
    return of_compulsory_school_age_between(state.date_of_birth, first, last)


def academic_year(start_year: int) -> tuple[date, date]:
    """1 September of `start_year` to 31 August of the next."""
    return date(start_year, 9, 1), date(start_year + 1, 8, 31)


def cme_at_any_time(state: CaseState, first: date, last: date) -> bool:
    """Whether the case shows the child CME on any day from `first` to `last`: a period open on one of
    those days, with a CME reason, while the child was of compulsory school age."""
    for period in state.periods:
        opened = max(period.opened_on, first)
        closes = min(period.closed_on - timedelta(days=1) if period.closed_on else last, last)
        if opened <= closes and counts_as_cme(state, period.reason, opened, closes):
            return True
    return False


def any_time(cases: Iterable[CaseState], first: date, last: date) -> list[tuple[str, int]]:
    """Per borough, the children CME at any time from `first` to `last`, each child counted once."""
    children: dict[str, set[object]] = {}
    for state in cases:
        if cme_at_any_time(state, first, last):
            children.setdefault(state.borough or "unassigned", set()).add(state.child_subject_id or state.case_id)
    return sorted((borough, len(ids)) for borough, ids in children.items())


ANY_TIME_COLUMNS = ("academic_year", "from", "to", "borough", "cme_at_any_time")


def count(cases: Iterable[CaseState], census_date: date) -> list[tuple[CensusKey, int]]:
    tally = Counter(key for state in cases if (key := census_key(state, census_date)) is not None)
    return sorted(tally.items())
