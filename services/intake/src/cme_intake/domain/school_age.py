"""Compulsory school age in England, exactly as the statutes define it.

Education Act 1996 s8(2): a child begins to be of compulsory school age on the prescribed day following
their fifth birthday (or on it, if the birthday is a prescribed day); the prescribed days are 31 March,
31 August and 31 December (Education (Start of Compulsory School Age) Order 1998, SI 1998/1607).
s8(3)-(4): they cease to be of compulsory school age at the end of the school leaving date of the
school year (1 September - 31 August) in which they turn 16; the school leaving date is the last Friday
in June (Education (School Leaving Date) Order 1997, SI 1997/1970).
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


def starts(date_of_birth: date) -> date:
    fifth = birthday(date_of_birth, 5)
    return min(
        day for year in (fifth.year, fifth.year + 1) for month, dom in PRESCRIBED_DAYS
        if (day := date(year, month, dom)) >= fifth
    )


def last_friday_of_june(year: int) -> date:
    day = date(year, 6, 30)
    return day - timedelta(days=(day.weekday() - 4) % 7)


def ends(date_of_birth: date) -> date:
    sixteenth = birthday(date_of_birth, 16)
    school_year_ends_in = sixteenth.year + 1 if sixteenth.month >= 9 else sixteenth.year
    return last_friday_of_june(school_year_ends_in)


def school_age_on(date_of_birth: date, on: date) -> SchoolAge:
    if on < starts(date_of_birth):
        return SchoolAge.BELOW
    if on > ends(date_of_birth):
        return SchoolAge.OVER
    return SchoolAge.COMPULSORY
