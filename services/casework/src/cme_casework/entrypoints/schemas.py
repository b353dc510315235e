"""The HTTP API's request and response bodies (OpenAPI is generated from these)."""

from dataclasses import asdict
from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from cme_shared.contracts.categories import DataCategory
from cme_shared.contracts.referrals import Borough

from ..domain.clocks import Due
from ..domain.closure import ClosureReason
from ..domain.enquiries import Agency, Fact, Outcome
from ..domain.history import Entry
from ..domain.lifecycle import CaseState
from ..domain.opening import CaseReason
from ..domain.restriction import RestrictionException

Short = Annotated[str, Field(min_length=1, max_length=200)]
Reason = Annotated[str, Field(min_length=1, max_length=2000)]
LongText = Annotated[str, Field(min_length=1, max_length=10_000)]


class CaseSummary(BaseModel):
    """CONTRACT section 4: at least case_id, child_subject_id, status, borough, opened_at, reason, next_due_date."""

    case_id: UUID
    child_subject_id: UUID
    status: str
    borough: str | None
    opened_at: datetime
    reason: str
    risk: str
    next_due_date: date | None
    next_due_kind: str | None
    closed_on: date | None = None
    closure_reason: str | None = None
    allocated_to: str | None = None  # the officer's token `sub`; null: no one yet

    @classmethod
    def from_row(cls, row: Any) -> "CaseSummary":
        return cls.model_validate(dict(row))

    @classmethod
    def from_state(cls, state: CaseState, due: Due | None) -> "CaseSummary":
        return cls(case_id=state.case_id, child_subject_id=state.child_subject_id, status=state.status.value,
                   borough=state.borough, opened_at=state.opened_at, reason=state.reason, risk=state.risk.value,
                   next_due_date=due.on if due else None, next_due_kind=due.kind.value if due else None,
                   closed_on=state.period.closed_on, closure_reason=state.period.closure_reason,
                   allocated_to=state.allocated_to)


class HistoryEntry(BaseModel):
    entry_id: int
    kind: str
    actor: str
    reason: str
    effective_on: date
    recorded_at: datetime
    category: str
    source: str
    supersedes: int | None
    detail: dict[str, Any]

    @classmethod
    def of(cls, entry: Entry) -> "HistoryEntry":
        detail = {k: v for k, v in entry.detail.items() if k != "event"}
        return cls(entry_id=entry.entry_id, kind=entry.kind.value, actor=entry.actor, reason=entry.reason,
                   effective_on=entry.effective_on, recorded_at=entry.recorded_at, category=entry.category.value,
                   source=entry.source, supersedes=entry.supersedes, detail=detail)


class CaseDetail(CaseSummary):
    restricted: bool
    child: dict[str, Any]
    missing_since: date | None
    enquiries: list[dict[str, Any]]
    escalations: list[dict[str, Any]]
    notes: list[dict[str, Any]]
    closure_proposal: dict[str, Any] | None
    facts: list[dict[str, Any]]
    shares: list[dict[str, Any]]  # made (approved by a manager)
    pending_shares: list[dict[str, Any]]  # proposed, awaiting a manager's decision
    refused_shares: list[dict[str, Any]]
    periods: list[dict[str, Any]]
    history: list[HistoryEntry]

    @classmethod
    def of(cls, state: CaseState, entries: list[Entry], due: Due | None, restricted: bool) -> "CaseDetail":
        summary = CaseSummary.from_state(state, due).model_dump()
        notes = [{"note_id": n.note_id, "kind": n.kind, "category": n.category, "text": n.versions[-1].text,
                  "version": n.versions[-1].version, "versions": [asdict(v) for v in n.versions], "addenda": n.addenda}
                 for n in state.notes.values()]
        return cls(
            **summary, restricted=restricted,
            child={"sex": state.sex, "date_of_birth": state.date_of_birth, "upn": state.upn},
            missing_since=state.missing_since, enquiries=[asdict(e) for e in state.enquiries.values()],
            escalations=[{**asdict(e), "pending": e.pending} for e in state.escalations.values()], notes=notes,
            closure_proposal=state.proposal, facts=state.facts, shares=state.shares,
            pending_shares=list(state.pending_shares.values()), refused_shares=state.refused_shares,
            periods=[asdict(p) for p in state.periods], history=[HistoryEntry.of(e) for e in entries],
        )


class CommandResult(BaseModel):
    case: CaseSummary
    entry_id: int
    record_id: str | None = None  # the enquiry, escalation, note, addendum or share created or acted on


class ActionBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # UK GDPR Art 18(2): needed to act while the child or a carer is restricted.
    restriction_exception: RestrictionException | None = None


class EnquiryIn(ActionBody):
    whom: Agency
    organisation: Short | None = None
    asked_on: date
    purpose: Reason
    answered_on: date | None = None
    outcome: Outcome | None = None
    facts: list[Fact] = Field(default=[], max_length=50)


class AnswerIn(ActionBody):
    answered_on: date
    outcome: Outcome
    facts: list[Fact] = Field(default=[], max_length=50)


class EscalationTarget(StrEnum):
    MASH = "mash"
    CHILDRENS_SOCIAL_CARE = "childrens_social_care"
    EARLY_HELP = "early_help"
    POLICE = "police"


class EscalationIn(ActionBody):
    to: EscalationTarget
    reason: Reason
    sent_on: date | None = None
    reference: Short | None = None


class EscalationSentIn(ActionBody):
    sent_on: date
    reference: Short | None = None


class EscalationOutcome(StrEnum):
    ACCEPTED_FOR_ASSESSMENT = "accepted_for_assessment"
    STRATEGY_DISCUSSION = "strategy_discussion"
    SECTION_47_ENQUIRY = "section_47_enquiry"
    ALREADY_ALLOCATED = "already_allocated"
    REFERRED_TO_EARLY_HELP = "referred_to_early_help"
    NO_FURTHER_ACTION = "no_further_action"


class EscalationOutcomeIn(ActionBody):
    outcome: EscalationOutcome
    outcome_on: date
    summary: LongText | None = None


class ReviewIn(ActionBody):
    reviewed_on: date | None = None
    summary: LongText
    next_steps: LongText | None = None


class NoteIn(ActionBody):
    kind: Literal["fact", "professional_opinion"]
    category: DataCategory
    text: LongText
    source: Short | None = None


class CorrectionIn(ActionBody):
    text: LongText
    reason: Reason


class AddendumIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: LongText
    rights_request_id: UUID | None = None


# A token's `sub`, as the identity provider issues it (opaque: a name, a GUID, "auth0|..."), never spaces.
Sub = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^\S+$")]


class AllocationIn(ActionBody):
    officer: Sub  # the officer's `sub`; an officer may name only themselves
    reason: Reason | None = None


class ClosureIn(ActionBody):
    reason: ClosureReason
    evidence: dict[str, Any]
    closed_on: date | None = None
    note: Reason | None = None


class ConfirmClosureIn(ActionBody):
    evidence: dict[str, Any] = {}
    closed_on: date | None = None


class RejectClosureIn(ActionBody):
    reason: Reason


class ReopenIn(ActionBody):
    reason: Reason
    case_reason: CaseReason | None = None


class ShareRecipient(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # Every recipient type the disclosure contract knows (CONTRACT section 4): casework itself makes only
    # the routine CME-tracking shares (`domain.sharing`) and answers the rest with the way to disclosure.
    type: Literal["police", "home_office", "dwp", "school", "other_local_authority", "internal"]
    org_id: Short | None = None
    org_name: Short


class ShareIn(ActionBody):
    recipient: ShareRecipient
    purpose: Literal["cme_tracking", "safeguarding", "prevent", "immigration", "crime", "fraud", "serious_harm",
                     "statutory_transfer"]
    legal_gateway: Short
    categories: list[DataCategory] = Field(min_length=1)
    fields_released: list[Short] = Field(min_length=1, max_length=100)
    reason: Reason


class ShareDecisionIn(ActionBody):
    """A manager's decision on a proposed share (the two-person rule): approving it makes the share."""

    decision: Literal["approve", "refuse"]
    reason: Reason


class PendingShare(BaseModel):
    """A share an officer proposed that no manager has decided yet."""

    share_id: UUID
    case_id: UUID
    child_subject_id: UUID
    borough: str | None
    recipient: dict[str, Any]
    purpose: str
    legal_gateway: str
    categories: list[str]
    fields_released: list[str]
    reason: str
    proposed_by: str
    proposed_at: datetime


class BoroughIn(ActionBody):
    borough: Borough
    reason: Reason


class HeldReferral(BaseModel):
    """A referral stored, not acted on, while its child or a carer is restricted (UK GDPR Art 18)."""

    entry_id: int
    child_subject_id: UUID
    case_id: UUID | None
    borough: str | None
    received_on: date
    held_at: datetime
    notification_kind: str | None
    source_type: str | None
    decision: str | None  # what it would do: a CaseReason that opens a case, or why it is only recorded


class RoutedReferral(BaseModel):
    """A referral recorded without a CME case and handed on (ids, codes and dates only)."""

    entry_id: int
    route: str  # elective_home_education | safeguarding | school_age
    child_subject_id: UUID
    case_id: UUID | None  # the child's last case, if any (the referral is kept with it)
    borough: str | None
    received_on: date
    recorded_at: datetime
    notification_kind: str | None
    deletion_ground: str | None
    decision: str | None  # why no case: education_otherwise, below_compulsory_school_age, not_cme_ground, ...
    follow_up_on: date | None  # school age: the day the child reaches compulsory school age
    to: str | None  # safeguarding: mash | childrens_social_care
    due_on: date | None  # safeguarding: when the referral to MASH / social care is due


class ReleaseResult(BaseModel):
    entry_id: int  # the release's own history entry, which carries the exception
    case_id: UUID | None  # the case the referral now belongs to; null when it is only recorded


class Lack(BaseModel):
    loc: list[str | int]  # e.g. ["evidence", "start_date"], as POST .../closure would answer it
    code: str
    message: str


class ReasonReadinessOut(BaseModel):
    reason: ClosureReason
    ready: bool  # would close today with only what the case already holds
    submit: Literal["closure", "closure_proposal_confirm"]
    evidence_on_file: list[str]  # field names only
    lacks: list[Lack]


class ClosureBlocker(BaseModel):
    code: str  # case_closed | escalation_outcome_required
    message: str
    escalation_id: str | None = None
    to: str | None = None
    due_on: date | None = None


class ClosureReadiness(BaseModel):
    """What a closure of the case still lacks, reason by reason (GET /cases/{id}/closure-readiness)."""

    case_id: UUID
    status: str
    risk: str
    as_of: date
    can_close: bool  # nothing about the case itself stops a closure today (evidence aside)
    blocked_by: list[ClosureBlocker]
    agencies_asked: list[str]  # this period's, for untraced_enquiries_exhausted
    min_agencies_for_untraced: int
    restricted: bool  # a closure then needs a `restriction_exception` (UK GDPR Art 18(2))
    reasons: list[ReasonReadinessOut]

    @classmethod
    def of(cls, state: CaseState, found: Any, min_agencies: int, restricted: bool) -> "ClosureReadiness":
        return cls(
            case_id=state.case_id, status=state.status.value, risk=state.risk.value, as_of=found.as_of,
            can_close=found.can_close, blocked_by=[ClosureBlocker(**asdict(b)) for b in found.blocked_by],
            agencies_asked=found.agencies_asked, min_agencies_for_untraced=min_agencies, restricted=restricted,
            reasons=[ReasonReadinessOut(reason=r.reason, ready=r.ready, submit=r.submit,
                                        evidence_on_file=r.evidence_on_file,
                                        lacks=[Lack(loc=list(p.loc), code=p.code, message=p.message) for p in r.lacks])
                     for r in found.reasons])
