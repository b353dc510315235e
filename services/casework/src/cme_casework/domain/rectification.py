"""Factual rectification (UK GDPR Art 16) of the facts casework holds, as new history entries.

Only facts are rectified; a disputed opinion takes an addendum instead (DOMAIN section 3). The entry
keeps the value it replaces, so the record still shows what was held before and when it changed.
"""

from datetime import date
from typing import Any

from cme_shared.contracts.categories import DataCategory
from cme_shared.contracts.referrals import Sex

from .history import SYSTEM_RIGHTS, Entry, Kind
from .lifecycle import CaseState

FIELD_CATEGORY = {
    "sex": DataCategory.DEMOGRAPHICS,
    "date_of_birth": DataCategory.DEMOGRAPHICS,
    "upn": DataCategory.EDUCATION,
    "address": DataCategory.CONTACT,
}


def _normalise(field: str, value: Any) -> Any:
    """The new value in the form the case holds it; ValueError when it is not a value of that field."""
    match field:
        case "sex":
            return Sex(value).value
        case "date_of_birth":
            if not isinstance(value, str):
                raise ValueError("date_of_birth must be an ISO date string")
            return date.fromisoformat(value).isoformat()
        case "upn":
            if not isinstance(value, str) or not 1 <= len(value) <= 16:
                raise ValueError("upn must be a string of at most 16 characters")
            return value
    return value


def rectify(state: CaseState, *, field: str, new_value: Any, rights_request_id: str, decided_by: str,
            today: date) -> Entry | None:
    """The entry that rectifies `field` on this case, or None when the case holds no such fact."""
    if field not in FIELD_CATEGORY:
        return None  # names are held by intake's identity index, not by casework
    value = _normalise(field, new_value)
    supersedes = None
    if field == "address":
        held = [f for f in state.facts if f["field"] == "address"]
        if not held:
            return None
        previous, supersedes = held[-1]["value"], held[-1]["entry_id"]
    else:
        previous = {"sex": state.sex, "date_of_birth": state.date_of_birth, "upn": state.upn}[field]
        previous = previous.isoformat() if isinstance(previous, date) else previous
    if previous == value:
        return None
    detail = {"field": field, "new_value": value, "previous_value": previous,
              "rights_request_id": rights_request_id, "decided_by": decided_by}
    return Entry(Kind.FACT_RECTIFIED, SYSTEM_RIGHTS, f"factual rectification of {field} (UK GDPR Art 16)", today,
                 FIELD_CATEGORY[field], f"rights request {rights_request_id}", detail, supersedes=supersedes)
