"""Compulsory school age in England, exactly as the statutes define it (read by intake and casework).

Education Act 1996 s8(2): a child begins to be of compulsory school age on the prescribed day following
their fifth birthday (or on it, if the birthday is a prescribed day); the prescribed days are 31 March,
31 August and 31 December (Education (Start of Compulsory School Age) Order 1998, SI 1998/1607, art 2).
s8(3)-(4): they cease to be of compulsory school age at the end of the school leaving date of the
school year (1 September - 31 August) in which they turn 16; the school leaving date is the last Friday
in June (Education (School Leaving Date) Order 1997, SI 1997/1970). The statutory review of December
2026 (sections 1.7 and 1.8) checked these rules case by case; it takes the school year as September to
August, as DfE cohorts do (s579 defines it from the first term after July).
"""

from datetime import date, timedelta
from enum import StrEnum

PRESCRIBED_DAYS = ((3, 31), (8, 31), (12, 31))  # SI 1998/1607 art 2


class SchoolAge(StrEnum):
    BELOW = "below_compulsory_school_age"
    COMPULSORY = "compulsory_school_age"
    OVER = "over_compulsory_school_age"


def birthday(date_of_birth: date, age: int) -> date:
    """The day a person attains `age`; someone born on 29 February does so on 1 March in other years."""
    try:
        return date_of_birth.replace(year=date_of_birth.year + age)
    except ValueError:
        return date(date_of_birth.year + age, 3, 1)


def compulsory_school_age_starts(date_of_birth: date) -> date:
    """The first day of compulsory school age: the fifth birthday if a prescribed day, else the next one (s8(2))."""
    fifth = birthday(date_of_birth, 5)
    return min(day for year in (fifth.year, fifth.year + 1) for month, dom in PRESCRIBED_DAYS
               if (day := date(year, month, dom)) >= fifth)


def last_friday_of_june(year: int) -> date:
    """The school leaving date of the school year ending in `year` (SI 1997/1970)."""
    day = date(year, 6, 30)
    return day - timedelta(days=(day.weekday() - 4) % 7)


def school_leaving_date(date_of_birth: date) -> date:
    """The last Friday in June of the school year (September to August) in which the child turns 16.

    Education Act 1996 s8(3)-(4); SI 1997/1970. The child is of compulsory school age up to and including
    this day: one who turns 16 in July or August leaves on the June date before the birthday (s8(3)(a)).
    """
    sixteenth = birthday(date_of_birth, 16)
    school_year_ends = sixteenth.year + 1 if sixteenth.month >= 9 else sixteenth.year
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
