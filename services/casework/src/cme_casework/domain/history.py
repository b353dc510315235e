"""The case history's vocabulary: every entry is something that happened, recorded once, never changed.

Records must show transactions as they happened (LGA 1972 s224; FOI Act s46 Code of Practice): a
correction is a new entry that points at the one it corrects (`supersedes`), and the current state of a
case is what the entries add up to (`lifecycle.fold`).
"""

from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Any
from uuid import UUID

from cme_shared.contracts.categories import DataCategory


class Kind(StrEnum):
    # Referrals from intake
    CASE_OPENED = "case_opened"
    CASE_REOPENED = "case_reopened"
    REFERRAL_JOINED = "referral_joined"
    REFERRAL_RECORDED = "referral_recorded"  # a referral that opens no case (kept with the child's record)
    ROUTED_TO_EHE = "routed_to_ehe"  # ground (e)/(f): not CME until assessed; for elective home education
    EHE_LINKED = "ehe_linked"  # the child's EHE record found the education unsuitable: this case is linked to it
    ROUTED_TO_SAFEGUARDING = "routed_to_safeguarding"  # a flagged child who is not CME: MASH, no CME case
    REFERRAL_HELD_RESTRICTED = "referral_held_restricted"  # stored, not processed (UK GDPR Art 18)
    REFERRAL_RELEASED = "referral_released"  # the restriction was lifted: the held referral is acted on
    RISK_RAISED = "risk_raised"
    BOROUGH_ASSIGNED = "borough_assigned"
    CASE_ALLOCATED = "case_allocated"  # a case given to an officer (by a manager, or an officer taking it)
    # Casework
    ENQUIRY_MADE = "enquiry_made"
    ENQUIRY_ANSWERED = "enquiry_answered"
    ESCALATION_REQUIRED = "escalation_required"
    ESCALATION_SENT = "escalation_sent"
    ESCALATION_OUTCOME_RECORDED = "escalation_outcome_recorded"
    CASE_REVIEWED = "case_reviewed"
    CLOSURE_PROPOSED = "closure_proposed"
    CLOSURE_REJECTED = "closure_rejected"
    CASE_CLOSED = "case_closed"
    NOTE_ADDED = "note_added"
    NOTE_CORRECTED = "note_corrected"
    ADDENDUM_ATTACHED = "addendum_attached"
    SHARE_PROPOSED = "share_proposed"  # an officer asks; nothing is shared yet (the two-person rule)
    SHARE_MADE = "share_made"  # a manager who did not propose it approved it: the share is made
    SHARE_REFUSED = "share_refused"
    # Rights
    FACT_RECTIFIED = "fact_rectified"
    RESTRICTION_APPLIED = "restriction_applied"
    RESTRICTION_LIFTED = "restriction_lifted"


SYSTEM_INTAKE = "system:intake"
SYSTEM_RIGHTS = "system:rights"
SYSTEM_CASEWORK = "system:casework"  # casework's own rules acting, e.g. the safeguarding exception


@dataclass(frozen=True)
class Entry:
    """One history entry: what happened (`kind`), who did it, when, why, and the facts it carries.

    `effective_on` is the day it happened in the world (a referral's day, a closure's date); the
    database adds `recorded_at`, the moment it was written, so both are kept.
    """

    kind: Kind
    actor: str
    reason: str
    effective_on: date
    category: DataCategory
    source: str
    detail: dict[str, Any] = field(default_factory=dict)
    supersedes: int | None = None
    entry_id: int | None = None
    recorded_at: datetime | None = None
    case_id: UUID | None = None


def officer(sub: str) -> str:
    return f"officer:{sub}"
