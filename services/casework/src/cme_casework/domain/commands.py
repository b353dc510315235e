"""What officers (and the rights service) do to a case, as the history entries it writes.

Each function checks what only the domain knows (dates, evidence, who may receive a share) and returns
the entry; `lifecycle.transition` then decides whether the case's state allows it.
"""

import uuid
from collections.abc import Sequence
from datetime import date
from typing import Any

from cme_shared.auth import Role
from cme_shared.contracts.categories import DataCategory

from . import closure, permissions, sharing
from .clocks import ClockPolicy
from .enquiries import AGENCY_CATEGORY, Agency, Fact, Outcome
from .errors import EvidenceRefused, NotPermitted, TransitionRefused
from .history import Entry, Kind
from .lifecycle import CaseState
from .opening import CaseReason

OFFICER_SOURCE = "casework officer"


def _not_future(today: date, **dates: date | None) -> None:
    problems = [closure.Problem((name,), "in_future", f"{name} cannot be in the future")
                for name, value in dates.items() if value is not None and value > today]
    if problems:
        raise EvidenceRefused(problems)


def _facts(facts: Sequence[Fact]) -> list[dict[str, Any]]:
    return [fact.model_dump(mode="json") for fact in facts]


def make_enquiry(state: CaseState, *, whom: Agency, organisation: str | None, asked_on: date, purpose: str,
                 answered_on: date | None, outcome: Outcome | None, facts: Sequence[Fact], actor: str,
                 today: date) -> Entry:
    _not_future(today, asked_on=asked_on, answered_on=answered_on)
    if answered_on is not None and answered_on < asked_on:
        raise EvidenceRefused([closure.Problem(("answered_on",), "before_asked", "answered_on is before asked_on")])
    if (answered_on is None) != (outcome is None):
        raise EvidenceRefused([closure.Problem(("outcome",), "answer_incomplete",
                                               "an answer needs both answered_on and outcome")])
    detail = {"enquiry_id": str(uuid.uuid4()), "whom": whom.value, "organisation": organisation,
              "asked_on": asked_on.isoformat(), "purpose": purpose,
              "answered_on": answered_on.isoformat() if answered_on else None,
              "outcome": outcome.value if outcome else None, "facts": _facts(facts)}
    return Entry(Kind.ENQUIRY_MADE, actor, purpose, asked_on, AGENCY_CATEGORY[whom], _agency_source(whom, organisation),
                 detail)


def answer_enquiry(state: CaseState, enquiry_id: str, *, answered_on: date, outcome: Outcome,
                   facts: Sequence[Fact], actor: str, today: date) -> Entry:
    enquiry = state.enquiry(enquiry_id)
    _not_future(today, answered_on=answered_on)
    if answered_on < enquiry.asked_on:
        raise EvidenceRefused([closure.Problem(("answered_on",), "before_asked", "answered_on is before asked_on")])
    whom = Agency(enquiry.whom)
    detail = {"enquiry_id": enquiry_id, "answered_on": answered_on.isoformat(), "outcome": outcome.value,
              "facts": _facts(facts)}
    return Entry(Kind.ENQUIRY_ANSWERED, actor, f"answer from {whom.value}: {outcome.value}", answered_on,
                 AGENCY_CATEGORY[whom], _agency_source(whom, enquiry.organisation), detail)


def _agency_source(whom: Agency, organisation: str | None) -> str:
    return f"{whom.value}:{organisation}" if organisation else whom.value


DEFAULT_POLICY = ClockPolicy()


def raise_escalation(state: CaseState, *, to: str, reason: str, sent_on: date | None, reference: str | None,
                     actor: str, today: date, policy: ClockPolicy = DEFAULT_POLICY) -> Entry:
    _not_future(today, sent_on=sent_on)
    due_on = policy.escalation_due(state.borough, today)
    detail = {"escalation_id": str(uuid.uuid4()), "to": to, "due_on": due_on.isoformat(),
              "sent_on": sent_on.isoformat() if sent_on else None, "reference": reference}
    return Entry(Kind.ESCALATION_REQUIRED, actor, reason, today, DataCategory.STATUTORY_SERVICES, OFFICER_SOURCE,
                 detail)


def escalation_sent(state: CaseState, escalation_id: str, *, sent_on: date, reference: str | None, actor: str,
                    today: date) -> Entry:
    escalation = state.escalation(escalation_id)
    _not_future(today, sent_on=sent_on)
    detail = {"escalation_id": escalation_id, "sent_on": sent_on.isoformat(), "reference": reference}
    return Entry(Kind.ESCALATION_SENT, actor, f"escalated to {escalation.to}", sent_on, DataCategory.STATUTORY_SERVICES,
                 OFFICER_SOURCE, detail)


def escalation_outcome(state: CaseState, escalation_id: str, *, outcome: str, outcome_on: date, summary: str | None,
                       actor: str, today: date) -> Entry:
    escalation = state.escalation(escalation_id)
    _not_future(today, outcome_on=outcome_on)
    detail = {"escalation_id": escalation_id, "outcome": outcome, "outcome_on": outcome_on.isoformat(),
              "summary": summary}
    return Entry(Kind.ESCALATION_OUTCOME_RECORDED, actor, f"outcome from {escalation.to}: {outcome}", outcome_on,
                 DataCategory.STATUTORY_SERVICES, escalation.to, detail)


def review(state: CaseState, *, reviewed_on: date, summary: str, next_steps: str | None, actor: str,
           today: date) -> Entry:
    _not_future(today, reviewed_on=reviewed_on)
    return Entry(Kind.CASE_REVIEWED, actor, summary, reviewed_on, DataCategory.EDUCATION, OFFICER_SOURCE,
                 {"summary": summary, "next_steps": next_steps})


def close(state: CaseState, *, closure_reason: closure.ClosureReason, evidence: dict[str, Any], closed_on: date,
          note: str | None, actor: str, today: date, policy: ClockPolicy = DEFAULT_POLICY) -> Entry:
    if state.pending_escalations:
        # Checked before the evidence: no evidence can close a case an escalation still holds open.
        raise TransitionRefused("escalation_outcome_required",
                                "a case cannot close until every escalation's outcome is recorded")
    context = closure.ClosureContext(state.case_id, state.clock_anchor, state.agencies_asked(), today,
                                     state.date_of_birth, policy.untraced_min_agencies)
    proof, problems = closure.check(closure_reason, evidence, closed_on, context)
    if proof is None:
        raise EvidenceRefused(problems)
    detail: dict[str, Any] = {"closure_reason": closure_reason.value, "evidence": proof.model_dump(mode="json"),
                              "note": note}
    if isinstance(proof, closure.OverCompulsorySchoolAge) and state.date_of_birth is None:
        # The case held no date of birth: the one the closure rests on becomes the case's (lifecycle fills it).
        detail["child"] = {"date_of_birth": proof.date_of_birth.isoformat()}
    return Entry(Kind.CASE_CLOSED, actor, note or f"closed: {closure_reason.value}", closed_on, DataCategory.EDUCATION,
                 OFFICER_SOURCE, detail)


def confirm_proposal(state: CaseState, *, evidence: dict[str, Any], closed_on: date, actor: str,
                     today: date, policy: ClockPolicy = DEFAULT_POLICY) -> Entry:
    """Close on the proposal's reason, with its evidence completed or corrected by the officer."""
    if state.proposal is None:
        raise TransitionRefused("no_closure_proposed", "there is no closure proposal to confirm")
    merged = {**state.proposal["evidence"], **evidence}
    return close(state, closure_reason=closure.ClosureReason(state.proposal["closure_reason"]), evidence=merged,
                 closed_on=closed_on, note="closure proposal confirmed", actor=actor, today=today, policy=policy)


def reject_proposal(state: CaseState, *, reason: str, actor: str, today: date) -> Entry:
    return Entry(Kind.CLOSURE_REJECTED, actor, reason, today, DataCategory.EDUCATION, OFFICER_SOURCE,
                 {"rejected_entry_id": state.proposal["entry_id"] if state.proposal else None})


def reopen(state: CaseState, *, reason: str, case_reason: CaseReason | None, actor: str, today: date) -> Entry:
    detail = {"reason": (case_reason.value if case_reason else state.reason), "risk": state.risk.value}
    return Entry(Kind.CASE_REOPENED, actor, reason, today, DataCategory.EDUCATION, OFFICER_SOURCE, detail)


def add_note(state: CaseState, *, note_kind: str, category: DataCategory, text: str, source: str | None,
             actor: str, today: date) -> Entry:
    detail = {"note_id": str(uuid.uuid4()), "version": 1, "note_kind": note_kind, "text": text}
    return Entry(Kind.NOTE_ADDED, actor, f"{note_kind} recorded", today, category, source or OFFICER_SOURCE, detail)


def correct_note(state: CaseState, note_id: str, *, text: str, reason: str, actor: str, today: date) -> Entry:
    """A correction is a new version pointing at the one it corrects; the old stays readable."""
    note = state.note(note_id)
    latest = note.versions[-1]
    detail = {"note_id": note_id, "version": latest.version + 1, "text": text}
    return Entry(Kind.NOTE_CORRECTED, actor, reason, today, DataCategory(note.category), OFFICER_SOURCE, detail,
                 supersedes=latest.entry_id)


def attach_addendum(state: CaseState, note_id: str, *, text: str, rights_request_id: str | None, actor: str,
                    today: date) -> Entry:
    """DOMAIN section 3: where a person disputes an opinion the council may attach their addendum to it."""
    note = state.note(note_id)
    detail = {"note_id": note_id, "addendum_id": str(uuid.uuid4()), "text": text,
              "rights_request_id": rights_request_id}
    return Entry(Kind.ADDENDUM_ATTACHED, actor, "addendum to a disputed opinion", today, DataCategory(note.category),
                 "data subject", detail, supersedes=None)


def propose_share(state: CaseState, *, recipient: dict[str, Any], purpose: str, legal_gateway: str,
                  categories: Sequence[DataCategory], fields_released: Sequence[str], reason: str, actor: str,
                  proposer_sub: str, today: date) -> Entry:
    """An officer proposes a share casework makes itself: telling a school of a child, a statutory transfer
    to another council. Nothing is shared until a manager who did not propose it approves (`decide_share`).

    Anything else is a disclosure and goes through the disclosure service (`sharing.check_share`).
    """
    problems = sharing.check_share(recipient_type=recipient["type"], purpose=purpose, legal_gateway=legal_gateway,
                                   categories=categories, fields_released=fields_released)
    if problems:
        raise EvidenceRefused(problems)
    detail = {"share_id": str(uuid.uuid4()), "recipient": recipient, "purpose": purpose,
              "legal_gateway": legal_gateway, "categories": [c.value for c in categories],
              "fields_released": list(fields_released), "proposer_sub": proposer_sub}
    return Entry(Kind.SHARE_PROPOSED, actor, reason, today, DataCategory.EDUCATION, OFFICER_SOURCE, detail)


def decide_share(state: CaseState, share_id: str, *, approve: bool, reason: str, actor: str, decider_sub: str,
                 today: date) -> Entry:
    """SEC-17, the two-person rule disclosure applies: a manager approves (the share is made) or refuses a
    proposed share, and never one they proposed themselves (`lifecycle` refuses that as well)."""
    proposal = state.pending_share(share_id)
    if proposal["proposer_sub"] == decider_sub:
        raise NotPermitted("two_person_rule", "the person who proposed a share cannot decide it")
    decision = {"share_id": share_id, "proposal_entry_id": proposal["entry_id"], "proposed_by": proposal["proposed_by"],
                "proposer_sub": proposal["proposer_sub"], "decider_sub": decider_sub, "decision_reason": reason}
    if not approve:
        return Entry(Kind.SHARE_REFUSED, actor, reason, today, DataCategory.EDUCATION, OFFICER_SOURCE, decision)
    made = {k: proposal[k] for k in ("recipient", "purpose", "legal_gateway", "categories", "fields_released")}
    if proposal.get("restriction_exception"):
        # Proposed while a subject was restricted, on a recorded Art 18(2) ground: approved on that ground.
        made["restriction_exception"] = proposal["restriction_exception"]
    # The share's reason is the proposal's (why the child's data goes out); the decision's is kept beside it.
    return Entry(Kind.SHARE_MADE, actor, proposal["reason"], today, DataCategory.EDUCATION, OFFICER_SOURCE,
                 {**made, **decision})


def assign_borough(state: CaseState, *, borough: str, reason: str, actor: str, today: date) -> Entry:
    if state.borough == borough:
        raise TransitionRefused("borough_unchanged", "the case already belongs to that borough")
    return Entry(Kind.BOROUGH_ASSIGNED, actor, reason, today, DataCategory.CONTACT, OFFICER_SOURCE,
                 {"borough": borough, "previous": state.borough})


def allocate(state: CaseState, *, officer_sub: str, reason: str | None, role: Role, caller_sub: str, actor: str,
             today: date) -> Entry:
    """Give the case to an officer (`officer_sub`, their token's `sub`): a manager any case they reach, an officer
    an unallocated case of their own borough for themselves (`permissions.check_allocation`). The entry says who
    allocated it, to whom and the officer it was allocated to before; `lifecycle` keeps closed cases out."""
    permissions.check_allocation(role, caller_sub, officer_sub, state.allocated_to)
    if state.borough is None:
        # No borough's officer sees a triage case: it gets its borough first (POST /cases/{id}/borough).
        raise TransitionRefused("borough_needed", "assign the case a borough before allocating it")
    if state.allocated_to == officer_sub:
        raise TransitionRefused("allocation_unchanged", "the case is already allocated to that officer")
    taken = officer_sub == caller_sub
    why = reason or ("taken by the officer" if taken else "allocated by a manager")
    return Entry(Kind.CASE_ALLOCATED, actor, why, today, DataCategory.EDUCATION, OFFICER_SOURCE,
                 {"allocated_to": officer_sub, "previous": state.allocated_to, "allocated_by": caller_sub,
                  "as_role": role.value})
