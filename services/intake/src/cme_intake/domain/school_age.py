"""Compulsory school age (Education Act 1996 s8; SI 1998/1607 art 2; SI 1997/1970) is the kit's rule, written
once for intake and casework: `cme_shared.law.school_age`. Intake's tests read it here under intake's older
names: `starts` (the first day of compulsory school age) and `ends` (the school leaving date)."""

from cme_shared.law.school_age import SchoolAge, last_friday_of_june, school_age_on
from cme_shared.law.school_age import compulsory_school_age_starts as starts
from cme_shared.law.school_age import school_leaving_date as ends

__all__ = ["SchoolAge", "ends", "last_friday_of_june", "school_age_on", "starts"]
