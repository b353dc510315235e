"""casework -> `cme.casework.case-events.v1`: a case opened, changed state, or closed.

Ids and codes only, never personal data: a consumer that needs more asks casework. Keyed by case id,
so one case's events keep their order.
"""

from datetime import date
from uuid import UUID

from .events import Event
from .referrals import Borough


class CaseChanged(Event):
    case_id: UUID
    child_subject_id: UUID
    borough: Borough | None
    change: str  # the history entry that caused it: case_opened, case_closed, escalation_required, ...
    status: str  # open | enquiries | escalated | closure_proposed | closed
    reason: str  # why the case is open (the DfE return's reason)
    risk: str  # standard | high
    closure_reason: str | None = None
    effective_on: date
