"""National curriculum year groups, and whether a child is of compulsory school age over a period.

Compulsory school age itself (Education Act 1996 s8; SI 1998/1607 art 2; SI 1997/1970) is the kit's rule,
written once for intake and casework: `cme_shared.law.school_age`. The names casework's tests read here
are re-exported from it.
"""

from datetime import date

from cme_shared.law.school_age import (SchoolAge, compulsory_school_age_starts, last_friday_of_june, school_age_on,
                                       school_leaving_date)

__all__ = ["SchoolAge", "academic_year_start", "compulsory_school_age_starts", "last_friday_of_june",
           "of_compulsory_school_age_between", "school_age_on", "school_leaving_date", "year_group"]


def of_compulsory_school_age_between(date_of_birth: date | None, first: date, last: date) -> bool:
    """Whether the child is of compulsory school age on any day from `first` to `last` (an unknown date of
    birth counts: the child cannot be shown to be outside it)."""
    if date_of_birth is None:
        return True
    return compulsory_school_age_starts(date_of_birth) <= last and first <= school_leaving_date(date_of_birth)


def academic_year_start(on: date) -> int:
    return on.year if on.month >= 9 else on.year - 1


def year_group(date_of_birth: date | None, on: date) -> str:
    """National curriculum year on `on`: "R" for reception, "1".."11"; children born 1 Sep-31 Aug share a year."""
    if date_of_birth is None:
        return "unknown"
    cohort = date_of_birth.year if date_of_birth.month >= 9 else date_of_birth.year - 1
    year = academic_year_start(on) - (cohort + 5)
    if year < 0:
        return "below_reception"
    if year == 0:
        return "R"
    if year > 11:
        return "above_11"
    return str(year)
