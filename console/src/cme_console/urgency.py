"""The caseload grouped by how late each case is: Critically overdue, Overdue, Due soon, Not due yet.

The CPS task-list redesign's grouping (anchors-2026-12 section 5), on casework's own clock: each open
case's `next_due_date` and `next_due_kind` (escalation, first enquiries, review) as the API answers them.
Pure: no I/O.

- Critically overdue: past due by more than CRITICAL_DAYS, or a high-risk child's escalation past due at
  all (it is due the same working day: a missed one leaves a child at risk unseen by MASH).
- Overdue: past due (the due date is before today).
- Due soon: due today or within DUE_SOON_DAYS.
- Not due yet: later, or no deadline.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from enum import Enum
from typing import Any

CRITICAL_DAYS = 10  # two school weeks past the deadline
DUE_SOON_DAYS = 5


class Urgency(Enum):
    CRITICALLY_OVERDUE = "Critically overdue"
    OVERDUE = "Overdue"
    DUE_SOON = "Due soon"
    NOT_DUE = "Not due yet"

    @property
    def slug(self) -> str:
        return self.name.lower().replace("_", "-")


def urgency(case: Mapping[str, Any], today: date) -> Urgency:
    due_text = case.get("next_due_date")
    if not due_text:
        return Urgency.NOT_DUE
    due = date.fromisoformat(str(due_text))
    if due < today:
        late_escalation = case.get("next_due_kind") == "escalation" and case.get("risk") == "high"
        return Urgency.CRITICALLY_OVERDUE if late_escalation or (today - due).days > CRITICAL_DAYS else Urgency.OVERDUE
    if due <= today + timedelta(days=DUE_SOON_DAYS):
        return Urgency.DUE_SOON
    return Urgency.NOT_DUE


@dataclass(frozen=True)
class Group:
    urgency: Urgency
    cases: list[Mapping[str, Any]]


def grouped(cases: Iterable[Mapping[str, Any]], today: date) -> list[Group]:
    """Open cases in the four groups, most urgent first; within a group, earliest deadline first.

    Every group is listed, empty ones too, so an empty "Critically overdue" says so."""
    buckets: dict[Urgency, list[Mapping[str, Any]]] = {u: [] for u in Urgency}
    for case in cases:
        if case.get("status") != "closed":
            buckets[urgency(case, today)].append(case)
    return [Group(u, sorted(items, key=lambda c: (c.get("next_due_date") or "9999-12-31", str(c.get("opened_at")))))
            for u, items in buckets.items()]


def days_late(case: Mapping[str, Any], today: date) -> int | None:
    due_text = case.get("next_due_date")
    if not due_text:
        return None
    return (today - date.fromisoformat(str(due_text))).days
