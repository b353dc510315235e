"""What a case's closure still lacks, for each closure reason (issue 15): the rules `commands.close` applies,
asked before the officer submits, so the case page can say what is missing instead of a 422 afterwards.

It answers what POST /cases/{id}/closure (or .../closure-proposal/confirm) would refuse today: a closed case,
escalations still awaiting their outcome (the high-risk rule: no evidence closes a case an escalation holds
open), and per reason the evidence still to give beyond what the case already holds (a pending proposal's
evidence, the case's date of birth). Field names and rule codes only: no value of the evidence is repeated.
"""

from dataclasses import dataclass
from datetime import date
from typing import Any

from . import closure
from .lifecycle import CaseState, Status


@dataclass(frozen=True)
class Blocker:
    code: str
    message: str
    escalation_id: str | None = None
    to: str | None = None
    due_on: date | None = None


@dataclass(frozen=True)
class ReasonReadiness:
    reason: str
    ready: bool  # a closure for this reason would be accepted today with only what the case holds
    submit: str  # "closure" (POST .../closure) or "closure_proposal_confirm" (POST .../closure-proposal/confirm)
    evidence_on_file: list[str]  # field names the case already holds for it
    lacks: list[closure.Problem]


@dataclass(frozen=True)
class Readiness:
    as_of: date
    can_close: bool  # nothing about the case itself stops a closure (evidence aside)
    blocked_by: list[Blocker]
    agencies_asked: list[str]
    reasons: list[ReasonReadiness]


def on_file(state: CaseState, reason: closure.ClosureReason) -> tuple[dict[str, Any], str]:
    """The evidence the case already holds for `reason`, and the route that would use it."""
    if state.proposal is not None and state.proposal["closure_reason"] == reason.value:
        return dict(state.proposal["evidence"]), "closure_proposal_confirm"
    if reason is closure.ClosureReason.OVER_COMPULSORY_SCHOOL_AGE and state.date_of_birth is not None:
        return {"date_of_birth": state.date_of_birth.isoformat()}, "closure"
    return {}, "closure"


def readiness(state: CaseState, today: date, min_agencies_for_untraced: int) -> Readiness:
    blocked: list[Blocker] = []
    if state.status is Status.CLOSED:
        blocked.append(Blocker("case_closed", "the case is closed; reopen it first"))
    blocked.extend(Blocker("escalation_outcome_required",
                           "a case cannot close until every escalation's outcome is recorded",
                           e.escalation_id, e.to, e.due_on) for e in state.pending_escalations)
    context = closure.ClosureContext(state.case_id, state.clock_anchor, state.agencies_asked(), today,
                                     state.date_of_birth, min_agencies_for_untraced)
    reasons = []
    for reason in closure.ClosureReason:
        evidence, submit = on_file(state, reason)
        lacking = closure.lacks(reason, evidence, today, context)
        reasons.append(ReasonReadiness(reason.value, not blocked and not lacking, submit,
                                       sorted(k for k, v in evidence.items() if v is not None), lacking))
    return Readiness(today, not blocked, blocked, sorted(state.agencies_asked()), reasons)
