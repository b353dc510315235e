"""Compulsory school age and national curriculum year groups (Education Act 1996 s8).

s8(2): a child begins to be of compulsory school age on the prescribed day following the fifth birthday
(or on it, if the birthday is a prescribed day); the prescribed days are 31 March, 31 August and
31 December (Education (Start of Compulsory School Age) Order 1998, SI 1998/1607, art 2). s8(3)-(4):
the child ceases to be of compulsory school age at the end of the school leaving date (below). The same
rule is in intake (`cme_intake.domain.school_age`); `test_school_age.py` checks the two agree.
"""

from datetime import date, timedelta
from enum import StrEnum

PRESCRIBED_DAYS = ((3, 31), (8, 31), (12, 31))  # SI 1998/1607 art 2


class SchoolAge(StrEnum):
    BELOW = "below_compulsory_school_age"
    COMPULSORY = "compulsory_school_age"
    OVER = "over_compulsory_school_age"


def fifth_birthday(date_of_birth: date) -> date:
    try:
        return date_of_birth.replace(year=date_of_birth.year + 5)
    except ValueError:  # born 29 February: the birthday is taken as 1 March in other years
        return date(date_of_birth.year + 5, 3, 1)


def compulsory_school_age_starts(date_of_birth: date) -> date:
    """The first day of compulsory school age: the fifth birthday if a prescribed day, else the next one."""
    fifth = fifth_birthday(date_of_birth)
    return min(day for year in (fifth.year, fifth.year + 1) for month, dom in PRESCRIBED_DAYS
               if (day := date(year, month, dom)) >= fifth)


def sixteenth_birthday(date_of_birth: date) -> date:
    try:
        return date_of_birth.replace(year=date_of_birth.year + 16)
    except ValueError:  # born 29 February: the birthday is taken as 1 March in other years
        return date(date_of_birth.year + 16, 3, 1)


def last_friday_of_june(year: int) -> date:
    day = date(year, 6, 30)
    return day - timedelta(days=(day.weekday() - 4) % 7)


def school_leaving_date(date_of_birth: date) -> date:
    """The last Friday in June of the school year (September to August) in which the child turns 16.

    Education Act 1996 s8(3)-(4); Education (School Leaving Date) Order 1997 (SI 1997/1970). The child
    is of compulsory school age up to and including this day.
    """
    turns_16 = sixteenth_birthday(date_of_birth)
    school_year_ends = turns_16.year + 1 if turns_16.month >= 9 else turns_16.year
    return last_friday_of_june(school_year_ends)


def over_compulsory_school_age(date_of_birth: date, on: date) -> bool:
    return on > school_leaving_date(date_of_birth)


def school_age_on(date_of_birth: date, on: date) -> SchoolAge:
    """Below, of, or over compulsory school age on `on` (s8(2)-(4))."""
    if on < compulsory_school_age_starts(date_of_birth):
        return SchoolAge.BELOW
    if over_compulsory_school_age(date_of_birth, on):
        return SchoolAge.OVER
    return SchoolAge.COMPULSORY


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
