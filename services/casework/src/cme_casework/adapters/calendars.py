"""Each borough's term dates, from the bundled defaults or the operator's file (`CME_TERM_DATES_FILE`).

File shape (JSON): {"<borough>": {"terms": [{"name", "first_day", "last_day", "half_term": [from, to]}],
"training_days": [date], "other_closures": [date]}}; keys starting with "_" are comments.
"""

import json
from datetime import date
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from cme_shared.contracts.referrals import Borough

from ..domain.school_days import Term, TermCalendar

DEFAULT_TERM_DATES = Path(__file__).with_name("term_dates.json")


class TermDates(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, Field(min_length=1, max_length=100)]
    first_day: date
    last_day: date
    half_term: tuple[date, date] | None = None


class BoroughCalendar(BaseModel):
    model_config = ConfigDict(extra="forbid")

    terms: list[TermDates]
    training_days: list[date] = []
    other_closures: list[date] = []

    def calendar(self) -> TermCalendar:
        return TermCalendar.of((Term(t.name, t.first_day, t.last_day, t.half_term) for t in self.terms),
                               self.training_days, self.other_closures)


def load_calendars(path: Path | None = None) -> dict[str, TermCalendar]:
    """Every borough's calendar; a file that names an unknown borough or is malformed stops the service."""
    raw = json.loads((path or DEFAULT_TERM_DATES).read_text(encoding="utf-8"))
    calendars = {}
    for name, value in raw.items():
        if name.startswith("_"):
            continue
        calendars[Borough(name).value] = BoroughCalendar.model_validate(value).calendar()
    return calendars
