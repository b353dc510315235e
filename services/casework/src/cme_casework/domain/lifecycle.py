"""A case's lifecycle: an explicit state machine whose current state is derived from the history.

States and the entries that move between them:

    (none) --case_opened--> open --enquiry_made--> enquiries
    open | enquiries | closure_proposed --escalation_required--> escalated
    escalated --escalation_outcome_recorded (none left pending)--> closure_proposed | enquiries | open
    open | enquiries | escalated --closure_proposed--> closure_proposed (stays escalated while one pends)
    closure_proposed --closure_rejected--> escalated | enquiries | open
    open | enquiries | closure_proposed --case_closed--> closed  (never while an escalation awaits its outcome)
    closed --case_reopened--> open

`ALLOWED_IN` says in which states each entry may be written; where the case then stands follows from
what the history holds (`_status`): a closure, escalations awaiting outcomes, a pending proposal,
enquiries this period. `transition` checks a new entry; `fold` replays recorded ones without checking,
because what was recorded happened.
"""

import copy
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Any
from uuid import UUID

from .errors import NotPermitted, RecordNotFound, TransitionRefused
from .history import Entry, Kind
from .opening import Risk


class Status(StrEnum):
    OPEN = "open"
    ENQUIRIES = "enquiries"
    ESCALATED = "escalated"
    CLOSURE_PROPOSED = "closure_proposed"
    CLOSED = "closed"


ACTIVE = frozenset({Status.OPEN, Status.ENQUIRIES, Status.ESCALATED, Status.CLOSURE_PROPOSED})
ANY = ACTIVE | {Status.CLOSED}

ALLOWED_IN: dict[Kind, frozenset[Status | None]] = {
    Kind.CASE_OPENED: frozenset({None}),
    Kind.CASE_REOPENED: frozenset({Status.CLOSED}),
    Kind.REFERRAL_JOINED: ACTIVE,
    Kind.RISK_RAISED: ACTIVE,
    Kind.ENQUIRY_MADE: ACTIVE,
    Kind.ESCALATION_REQUIRED: ACTIVE,
    Kind.ESCALATION_SENT: ACTIVE,
    Kind.ESCALATION_OUTCOME_RECORDED: ACTIVE,
    Kind.CASE_REVIEWED: ACTIVE,
    Kind.CLOSURE_PROPOSED: frozenset({Status.OPEN, Status.ENQUIRIES, Status.ESCALATED}),
    Kind.CLOSURE_REJECTED: frozenset({Status.CLOSURE_PROPOSED, Status.ESCALATED}),
    Kind.CASE_CLOSED: frozenset({Status.OPEN, Status.ENQUIRIES, Status.CLOSURE_PROPOSED}),
    Kind.CASE_ALLOCATED: ACTIVE,  # a closed case is given to no one: it is reopened first
}
# Every other kind (notes, addenda, answers, shares, rectifications, restrictions, borough) may be
# recorded on any existing case, closed ones included: a record stays open to correction.


@dataclass
class Escalation:
    escalation_id: str
    to: str
    due_on: date
    reason: str
    sent_on: date | None = None
    reference: str | None = None
    outcome: str | None = None
    outcome_on: date | None = None

    @property
    def pending(self) -> bool:
        return self.outcome is None


@dataclass
class Enquiry:
    enquiry_id: str
    whom: str
    organisation: str | None
    asked_on: date
    purpose: str
    period: int
    answered_on: date | None = None
    outcome: str | None = None
    facts: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class NoteVersion:
    entry_id: int | None
    version: int
    text: str
    actor: str
    reason: str
    recorded_at: datetime | None


@dataclass
class Note:
    note_id: str
    kind: str  # fact | professional_opinion
    category: str
    versions: list[NoteVersion] = field(default_factory=list)
    addenda: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Period:
    opened_on: date
    reason: str
    missing_since: date | None = None  # when the child was last known to be in education
    closed_on: date | None = None
    closure_reason: str | None = None
    check_start_on: date | None = None  # a named school's start date to check ("destination known")

    def open_on(self, day: date) -> bool:
        """Open on `day` when opened by then and not closed by then (a case closed on the day is closed)."""
        return self.opened_on <= day and (self.closed_on is None or day < self.closed_on)


@dataclass
class CaseState:
    case_id: UUID | None = None
    child_subject_id: UUID | None = None
    status: Status | None = None
    reason: str = ""
    risk: Risk = Risk.STANDARD
    borough: str | None = None
    allocated_to: str | None = None  # the officer (token `sub`) the case is allocated to
    sex: str = "unknown"
    date_of_birth: date | None = None
    upn: str | None = None
    carer_subject_ids: list[str] = field(default_factory=list)
    opened_at: datetime | None = None
    periods: list[Period] = field(default_factory=list)
    enquiries: dict[str, Enquiry] = field(default_factory=dict)
    last_review_on: date | None = None
    escalations: dict[str, Escalation] = field(default_factory=dict)
    proposal: dict[str, Any] | None = None
    closure: dict[str, Any] | None = None
    notes: dict[str, Note] = field(default_factory=dict)
    facts: list[dict[str, Any]] = field(default_factory=list)
    shares: list[dict[str, Any]] = field(default_factory=list)  # shares made
    pending_shares: dict[str, dict[str, Any]] = field(default_factory=dict)  # proposed, awaiting a decision
    refused_shares: list[dict[str, Any]] = field(default_factory=list)
    last_entry_id: int | None = None

    @property
    def period(self) -> Period:
        return self.periods[-1]

    @property
    def missing_since(self) -> date | None:
        return self.periods[-1].missing_since if self.periods else None

    @property
    def clock_anchor(self) -> date:
        """The day the current period began: the referral that opened or reopened the case."""
        return self.period.opened_on

    @property
    def pending_escalations(self) -> list[Escalation]:
        return [e for e in self.escalations.values() if e.pending]

    def enquiries_this_period(self) -> list[Enquiry]:
        return [e for e in self.enquiries.values() if e.period == len(self.periods)]

    def agencies_asked(self) -> frozenset[str]:
        return frozenset(e.whom for e in self.enquiries_this_period())

    def escalation(self, escalation_id: str) -> Escalation:
        try:
            return self.escalations[escalation_id]
        except KeyError:
            raise RecordNotFound("escalation_not_found", "no such escalation on this case") from None

    def enquiry(self, enquiry_id: str) -> Enquiry:
        try:
            return self.enquiries[enquiry_id]
        except KeyError:
            raise RecordNotFound("enquiry_not_found", "no such enquiry on this case") from None

    def pending_share(self, share_id: str) -> dict[str, Any]:
        """A proposed share still awaiting its decision."""
        if share_id in self.pending_shares:
            return self.pending_shares[share_id]
        if any(s["share_id"] == share_id for s in [*self.shares, *self.refused_shares]):
            raise TransitionRefused("share_already_decided", "this share has already been approved or refused")
        raise RecordNotFound("share_not_found", "no such share proposed on this case")

    def note(self, note_id: str) -> Note:
        try:
            return self.notes[note_id]
        except KeyError:
            raise RecordNotFound("note_not_found", "no such note on this case") from None


def _status(state: CaseState) -> Status:
    if state.closure is not None:
        return Status.CLOSED
    if state.pending_escalations:
        return Status.ESCALATED
    if state.proposal is not None:
        return Status.CLOSURE_PROPOSED
    if state.enquiries_this_period():
        return Status.ENQUIRIES
    return Status.OPEN


def _guard(state: CaseState, entry: Entry) -> None:
    if state.status is None and entry.kind is not Kind.CASE_OPENED:
        raise TransitionRefused("no_case", "there is no case to record this on")
    detail = entry.detail
    match entry.kind:
        case Kind.CASE_CLOSED if state.pending_escalations:
            raise TransitionRefused("escalation_outcome_required",
                                    "a case cannot close until every escalation's outcome is recorded")
        case Kind.CLOSURE_REJECTED if state.proposal is None:
            raise TransitionRefused("no_closure_proposed", "there is no closure proposal to reject")
        case Kind.ESCALATION_SENT if state.escalation(detail["escalation_id"]).sent_on is not None:
            raise TransitionRefused("escalation_already_sent", "this escalation is already recorded as sent")
        case Kind.ESCALATION_OUTCOME_RECORDED if not state.escalation(detail["escalation_id"]).pending:
            raise TransitionRefused("escalation_outcome_already_recorded", "this escalation already has its outcome")
        case Kind.ENQUIRY_ANSWERED if state.enquiry(detail["enquiry_id"]).answered_on is not None:
            raise TransitionRefused("enquiry_already_answered", "this enquiry's answer is already recorded")
        case Kind.NOTE_CORRECTED:
            state.note(detail["note_id"])
        case Kind.SHARE_MADE | Kind.SHARE_REFUSED:
            # SEC-17: a share is made only on a proposal, decided once, by someone other than who proposed it.
            if state.pending_share(detail["share_id"])["proposer_sub"] == detail["decider_sub"]:
                raise NotPermitted("two_person_rule", "the person who proposed a share cannot decide it")
        case Kind.ADDENDUM_ATTACHED if state.note(detail["note_id"]).kind != "professional_opinion":
            # DOMAIN section 3: facts are rectified; only an opinion takes an addendum.
            raise TransitionRefused("addendum_needs_opinion", "an addendum attaches only to a professional opinion")
    allowed = ALLOWED_IN.get(entry.kind)
    if allowed is not None and state.status not in allowed:
        raise TransitionRefused("transition_refused",
                                f"{entry.kind.value} is not allowed when a case is {state.status}")


def transition(state: CaseState, entry: Entry) -> CaseState:
    """The state after a new entry, or TransitionRefused/RecordNotFound; `state` is left as it was."""
    _guard(state, entry)
    after = copy.deepcopy(state)
    _apply(after, entry)
    return after


def fold(entries: Iterable[Entry]) -> CaseState:
    """The current state of a case: what its recorded history adds up to."""
    state = CaseState()
    for entry in entries:
        _apply(state, entry)
    return state


def _parse_date(value: Any) -> date | None:
    return date.fromisoformat(value) if isinstance(value, str) else value


def _fill_child_facts(state: CaseState, child: dict[str, Any]) -> None:
    """A later referral fills gaps in what we know; only a rectification overwrites a known fact."""
    if state.sex == "unknown" and child.get("sex"):
        state.sex = child["sex"]
    if state.date_of_birth is None and child.get("date_of_birth"):
        state.date_of_birth = _parse_date(child["date_of_birth"])
    if state.upn is None and child.get("upn"):
        state.upn = child["upn"]


def _apply(state: CaseState, entry: Entry) -> None:
    d = entry.detail
    match entry.kind:
        case Kind.CASE_OPENED:
            state.case_id = UUID(str(d["case_id"]))
            state.child_subject_id = UUID(str(d["child_subject_id"]))
            state.borough = d.get("borough")
            state.opened_at = entry.recorded_at
            _start_period(state, entry)
        case Kind.CASE_REOPENED:
            state.closure = None
            _start_period(state, entry)
        case Kind.REFERRAL_JOINED:
            _fill_child_facts(state, d.get("child", {}))
            _link_carers(state, d)
        case Kind.RISK_RAISED:
            state.risk = Risk(d["risk"])
        case Kind.BOROUGH_ASSIGNED:
            state.borough = d["borough"]
        case Kind.CASE_ALLOCATED:
            state.allocated_to = d["allocated_to"]
        case Kind.ENQUIRY_MADE:
            state.enquiries[d["enquiry_id"]] = Enquiry(
                d["enquiry_id"], d["whom"], d.get("organisation"), _parse_date(d["asked_on"]),
                d.get("purpose", ""), len(state.periods), _parse_date(d.get("answered_on")), d.get("outcome"),
                list(d.get("facts", [])))
            _learn(state, entry, d.get("facts", []))
        case Kind.ENQUIRY_ANSWERED:
            enquiry = state.enquiries[d["enquiry_id"]]
            enquiry.answered_on, enquiry.outcome = _parse_date(d["answered_on"]), d["outcome"]
            enquiry.facts.extend(d.get("facts", []))
            _learn(state, entry, d.get("facts", []))
        case Kind.ESCALATION_REQUIRED:
            state.escalations[d["escalation_id"]] = Escalation(
                d["escalation_id"], d["to"], _parse_date(d["due_on"]), entry.reason,
                sent_on=_parse_date(d.get("sent_on")), reference=d.get("reference"))
        case Kind.ESCALATION_SENT:
            escalation = state.escalations[d["escalation_id"]]
            escalation.sent_on, escalation.reference = _parse_date(d["sent_on"]), d.get("reference")
        case Kind.ESCALATION_OUTCOME_RECORDED:
            escalation = state.escalations[d["escalation_id"]]
            escalation.outcome, escalation.outcome_on = d["outcome"], _parse_date(d["outcome_on"])
            escalation.sent_on = escalation.sent_on or escalation.outcome_on  # an outcome implies it was made
        case Kind.CASE_REVIEWED:
            state.last_review_on = entry.effective_on
        case Kind.CLOSURE_PROPOSED:
            state.proposal = {"closure_reason": d["closure_reason"], "evidence": d.get("evidence", {}),
                              "proposed_by": entry.actor, "entry_id": entry.entry_id}
        case Kind.CLOSURE_REJECTED:
            state.proposal = None
        case Kind.CASE_CLOSED:
            state.proposal = None
            state.closure = {"closure_reason": d["closure_reason"], "evidence": d["evidence"],
                             "closed_on": entry.effective_on, "closed_by": entry.actor}
            state.period.closed_on, state.period.closure_reason = entry.effective_on, d["closure_reason"]
            _fill_child_facts(state, d.get("child", {}))
        case Kind.NOTE_ADDED:
            note = Note(d["note_id"], d["note_kind"], entry.category.value)
            state.notes[note.note_id] = note
            note.versions.append(_version(entry))
        case Kind.NOTE_CORRECTED:
            state.notes[d["note_id"]].versions.append(_version(entry))
        case Kind.ADDENDUM_ATTACHED:
            state.notes[d["note_id"]].addenda.append(
                {"addendum_id": d["addendum_id"], "text": d["text"], "rights_request_id": d.get("rights_request_id"),
                 "actor": entry.actor, "recorded_at": entry.recorded_at, "entry_id": entry.entry_id})
        case Kind.SHARE_PROPOSED:
            state.pending_shares[d["share_id"]] = {**d, "entry_id": entry.entry_id, "proposed_by": entry.actor,
                                                   "proposed_on": entry.effective_on, "reason": entry.reason}
        case Kind.SHARE_MADE:
            # Before the two-person rule a share was made in one step, with no proposal: it still folds.
            state.pending_shares.pop(d["share_id"], None)
            state.shares.append({**d, "entry_id": entry.entry_id, "shared_on": entry.effective_on})
        case Kind.SHARE_REFUSED:
            state.pending_shares.pop(d["share_id"], None)
            state.refused_shares.append({**d, "entry_id": entry.entry_id, "refused_on": entry.effective_on,
                                         "refused_by": entry.actor})
        case Kind.FACT_RECTIFIED:
            _rectify(state, entry)
    state.last_entry_id = entry.entry_id or state.last_entry_id
    if state.case_id is not None:
        state.status = _status(state)


def _start_period(state: CaseState, entry: Entry) -> None:
    d = entry.detail
    state.reason = d["reason"]
    state.risk = Risk(d.get("risk", Risk.STANDARD))
    state.periods.append(Period(entry.effective_on, d["reason"], _parse_date(d.get("missing_since")),
                                check_start_on=_parse_date(d.get("check_start_on"))))
    _fill_child_facts(state, d.get("child", {}))
    _link_carers(state, d)


def _link_carers(state: CaseState, detail: dict[str, Any]) -> None:
    for carer in detail.get("carer_subject_ids", []):
        if str(carer) not in state.carer_subject_ids:
            state.carer_subject_ids.append(str(carer))


def _learn(state: CaseState, entry: Entry, facts: list[dict[str, Any]]) -> None:
    for fact in facts:
        state.facts.append({**fact, "entry_id": entry.entry_id, "recorded_on": entry.effective_on})
        if fact["field"] == "last_in_education_on":
            state.period.missing_since = date.fromisoformat(fact["value"])


def _rectify(state: CaseState, entry: Entry) -> None:
    d = entry.detail
    value = d["new_value"]
    match d["field"]:
        case "sex":
            state.sex = value
        case "date_of_birth":
            state.date_of_birth = _parse_date(value)
        case "upn":
            state.upn = value
        case "address":
            state.facts.append({"field": "address", "value": value, "confirmed_by": "rectification",
                                "entry_id": entry.entry_id, "recorded_on": entry.effective_on})


def _version(entry: Entry) -> NoteVersion:
    return NoteVersion(entry.entry_id, entry.detail["version"], entry.detail["text"], entry.actor, entry.reason,
                       entry.recorded_at)
