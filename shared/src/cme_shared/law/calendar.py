"""Working days in England: the days the statutory clocks of more than one service count in.

A working day is a Monday to Friday that is not a bank holiday in England and Wales. The bank holidays
are those of the Banking and Financial Dealings Act 1971 Sch 1 and the royal proclamations, with their
substitute days (a holiday on a weekend moves to the next weekday, e.g. Mon 28 Dec 2026 for a Saturday
Boxing Day), as GOV.UK "Bank holidays" lists them; they come from the `holidays` package (England's
list, which Wales shares). The statutory review of December 2026 (section 1.2) checked that list
against GOV.UK for 2025-2031. A one-off proclaimed holiday that the package does not yet know would
make a deadline one day early, never late.

Casework's school-day clocks (`cme_casework.domain.school_days`, escalation to MASH) and the rights
request clock (`cme_rights.domain.clock`: UK GDPR Art 12(3) and 12A, DPA 2018 s164A, "the next working
day" of the ICO's guidance) both read these. "Today" in London is the clock's (`cme_shared.clock`).
"""

from datetime import date, timedelta
from functools import lru_cache

import holidays


@lru_cache(maxsize=64)
def _bank_holidays(year: int) -> holidays.HolidayBase:
    return holidays.country_holidays("GB", subdiv="ENG", years=year)


def is_bank_holiday(day: date) -> bool:
    """A bank holiday in England and Wales, substitute days included."""
    return day in _bank_holidays(day.year)


def is_working_day(day: date) -> bool:
    return day.weekday() < 5 and not is_bank_holiday(day)


def next_working_day(day: date) -> date:
    """`day` itself when it is a working day, else the first working day after it.

    ICO right of access guidance: a deadline on a weekend or bank holiday moves to the next working day.
    For the first working day strictly after `day`, ask for `next_working_day(day + timedelta(days=1))`.
    """
    while not is_working_day(day):
        day += timedelta(days=1)
    return day
