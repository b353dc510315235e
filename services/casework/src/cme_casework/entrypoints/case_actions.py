"""The HTTP writes: one POST per thing an officer does to a case, each a domain command run on the case in
the route's unit of work (`service_layer.cases.run_case_action`).

Each route names its action (`roles`): the rule decides who may take it on which borough's cases.
"""

from uuid import UUID

from fastapi import APIRouter

from cme_shared.runtime import ServiceRuntime

from ..adapters.unit_of_work import CaseworkUnitOfWork
from ..domain import commands
from ..domain.clocks import next_due
from ..domain.history import Entry, officer
from ..domain.lifecycle import CaseState
from ..service_layer.cases import run_case_action
from ..service_layer.shares import publish_share_made
from .roles import ActOnCase, AllocateCase, AssignBorough, AttachAddendum, DecideShare, ProposeShare
from .schemas import (
    AddendumIn,
    AllocationIn,
    AnswerIn,
    BoroughIn,
    CaseSummary,
    ClosureIn,
    CommandResult,
    ConfirmClosureIn,
    CorrectionIn,
    EnquiryIn,
    EscalationIn,
    EscalationOutcomeIn,
    EscalationSentIn,
    NoteIn,
    RejectClosureIn,
    ReopenIn,
    ReviewIn,
    ShareDecisionIn,
    ShareIn,
)

# The id of the record an action created or acted on, read from its entry (an addendum's before its note's).
RECORD_IDS = ("addendum_id", "enquiry_id", "escalation_id", "note_id", "share_id")


def case_action_routes(runtime: ServiceRuntime) -> APIRouter:
    api = APIRouter(tags=["case actions"])

    def unit_of_work() -> CaseworkUnitOfWork:
        return runtime.unit_of_work()  # type: ignore[return-value]  # app.py makes it casework's

    def result(uow: CaseworkUnitOfWork, state: CaseState, entry: Entry) -> CommandResult:
        record_id = next((str(entry.detail[k]) for k in RECORD_IDS if k in entry.detail), None)
        return CommandResult(case=CaseSummary.from_state(state, next_due(state, uow.policy)),
                             entry_id=entry.entry_id, record_id=record_id)

    @api.post("/cases/{case_id}/enquiries", status_code=201, response_model=CommandResult)
    async def make_enquiry(case_id: UUID, body: EnquiryIn, caller: ActOnCase) -> CommandResult:
        """Record an enquiry: whom was asked, when, why; with its answer and confirmed facts if already in."""
        async with unit_of_work() as uow:
            state, entry = await run_case_action(
                uow, caller.grant, case_id, lambda state, today: commands.make_enquiry(
                    state, whom=body.whom, organisation=body.organisation, asked_on=body.asked_on, purpose=body.purpose,
                    answered_on=body.answered_on, outcome=body.outcome, facts=body.facts, actor=officer(caller.sub),
                    today=today),
                exception=body.restriction_exception)
            await uow.commit()
        return result(uow, state, entry)

    @api.post("/cases/{case_id}/enquiries/{enquiry_id}/answer", response_model=CommandResult)
    async def answer_enquiry(case_id: UUID, enquiry_id: UUID, body: AnswerIn, caller: ActOnCase) -> CommandResult:
        """Record the answer to an enquiry and the facts it confirmed, each with its source."""
        async with unit_of_work() as uow:
            state, entry = await run_case_action(
                uow, caller.grant, case_id, lambda state, today: commands.answer_enquiry(
                    state, str(enquiry_id), answered_on=body.answered_on, outcome=body.outcome, facts=body.facts,
                    actor=officer(caller.sub), today=today),
                exception=body.restriction_exception)
            await uow.commit()
        return result(uow, state, entry)

    @api.post("/cases/{case_id}/escalations", status_code=201, response_model=CommandResult)
    async def raise_escalation(case_id: UUID, body: EscalationIn, caller: ActOnCase) -> CommandResult:
        """Escalate to MASH / social care (due the same working day); the case cannot close until its outcome."""
        async with unit_of_work() as uow:
            state, entry = await run_case_action(
                uow, caller.grant, case_id, lambda state, today: commands.raise_escalation(
                    state, to=body.to.value, reason=body.reason, sent_on=body.sent_on, reference=body.reference,
                    actor=officer(caller.sub), today=today, policy=uow.policy),
                exception=body.restriction_exception)
            await uow.commit()
        return result(uow, state, entry)

    @api.post("/cases/{case_id}/escalations/{escalation_id}/sent", response_model=CommandResult)
    async def escalation_sent(case_id: UUID, escalation_id: UUID, body: EscalationSentIn,
                              caller: ActOnCase) -> CommandResult:
        async with unit_of_work() as uow:
            state, entry = await run_case_action(
                uow, caller.grant, case_id, lambda state, today: commands.escalation_sent(
                    state, str(escalation_id), sent_on=body.sent_on, reference=body.reference, actor=officer(caller.sub),
                    today=today),
                exception=body.restriction_exception)
            await uow.commit()
        return result(uow, state, entry)

    @api.post("/cases/{case_id}/escalations/{escalation_id}/outcome", response_model=CommandResult)
    async def escalation_outcome(case_id: UUID, escalation_id: UUID, body: EscalationOutcomeIn,
                                 caller: ActOnCase) -> CommandResult:
        """Record what MASH / social care decided; this is what lets a high-risk case close."""
        async with unit_of_work() as uow:
            state, entry = await run_case_action(
                uow, caller.grant, case_id, lambda state, today: commands.escalation_outcome(
                    state, str(escalation_id), outcome=body.outcome.value, outcome_on=body.outcome_on, summary=body.summary,
                    actor=officer(caller.sub), today=today),
                exception=body.restriction_exception)
            await uow.commit()
        return result(uow, state, entry)

    @api.post("/cases/{case_id}/reviews", status_code=201, response_model=CommandResult)
    async def review(case_id: UUID, body: ReviewIn, caller: ActOnCase) -> CommandResult:
        """A case review: restarts the 20-school-day review clock."""
        async with unit_of_work() as uow:
            state, entry = await run_case_action(
                uow, caller.grant, case_id, lambda state, today: commands.review(
                    state, reviewed_on=body.reviewed_on or today, summary=body.summary, next_steps=body.next_steps,
                    actor=officer(caller.sub), today=today),
                exception=body.restriction_exception)
            await uow.commit()
        return result(uow, state, entry)

    @api.post("/cases/{case_id}/notes", status_code=201, response_model=CommandResult)
    async def add_note(case_id: UUID, body: NoteIn, caller: ActOnCase) -> CommandResult:
        """A note is a fact or a professional opinion, tagged with its data category; it is never edited."""
        async with unit_of_work() as uow:
            state, entry = await run_case_action(
                uow, caller.grant, case_id, lambda state, today: commands.add_note(
                    state, note_kind=body.kind, category=body.category, text=body.text, source=body.source,
                    actor=officer(caller.sub), today=today),
                exception=body.restriction_exception)
            await uow.commit()
        return result(uow, state, entry)

    @api.post("/cases/{case_id}/notes/{note_id}/corrections", status_code=201, response_model=CommandResult)
    async def correct_note(case_id: UUID, note_id: UUID, body: CorrectionIn, caller: ActOnCase) -> CommandResult:
        """A correction is a new version pointing at the old one; the old one stays readable."""
        async with unit_of_work() as uow:
            state, entry = await run_case_action(
                uow, caller.grant, case_id, lambda state, today: commands.correct_note(
                    state, str(note_id), text=body.text, reason=body.reason, actor=officer(caller.sub), today=today),
                exception=body.restriction_exception)
            await uow.commit()
        return result(uow, state, entry)

    @api.post("/cases/{case_id}/notes/{note_id}/addenda", status_code=201, response_model=CommandResult)
    async def attach_addendum(case_id: UUID, note_id: UUID, body: AddendumIn, caller: AttachAddendum) -> CommandResult:
        """For the rights service (DPO): a data subject's addendum to a disputed professional opinion.

        Made at the subject's own request, so a restriction does not stop it (UK GDPR Art 18(2), consent).
        """
        async with unit_of_work() as uow:
            state, entry = await run_case_action(
                uow, caller.grant, case_id, lambda state, today: commands.attach_addendum(
                    state, str(note_id), text=body.text,
                    rights_request_id=str(body.rights_request_id) if body.rights_request_id else None,
                    actor=f"dpo:{caller.sub}", today=today),
                restriction_applies=False)
            await uow.commit()
        return result(uow, state, entry)

    @api.post("/cases/{case_id}/closure", response_model=CommandResult)
    async def close(case_id: UUID, body: ClosureIn, caller: ActOnCase) -> CommandResult:
        """Close with a DOMAIN section 2 reason and the evidence it needs (422 says what is missing)."""
        async with unit_of_work() as uow:
            state, entry = await run_case_action(
                uow, caller.grant, case_id, lambda state, today: commands.close(
                    state, closure_reason=body.reason, evidence=body.evidence, closed_on=body.closed_on or today,
                    note=body.note, actor=officer(caller.sub), today=today, policy=uow.policy),
                exception=body.restriction_exception)
            await uow.commit()
        return result(uow, state, entry)

    @api.post("/cases/{case_id}/closure-proposal/confirm", response_model=CommandResult)
    async def confirm_closure(case_id: UUID, body: ConfirmClosureIn, caller: ActOnCase) -> CommandResult:
        """Confirm a proposed closure (e.g. from a new pupil return), completing its evidence if needed."""
        async with unit_of_work() as uow:
            state, entry = await run_case_action(
                uow, caller.grant, case_id, lambda state, today: commands.confirm_proposal(
                    state, evidence=body.evidence, closed_on=body.closed_on or today, actor=officer(caller.sub),
                    today=today, policy=uow.policy),
                exception=body.restriction_exception)
            await uow.commit()
        return result(uow, state, entry)

    @api.post("/cases/{case_id}/closure-proposal/reject", response_model=CommandResult)
    async def reject_closure(case_id: UUID, body: RejectClosureIn, caller: ActOnCase) -> CommandResult:
        async with unit_of_work() as uow:
            state, entry = await run_case_action(
                uow, caller.grant, case_id, lambda state, today: commands.reject_proposal(
                    state, reason=body.reason, actor=officer(caller.sub), today=today),
                exception=body.restriction_exception)
            await uow.commit()
        return result(uow, state, entry)

    @api.post("/cases/{case_id}/reopen", response_model=CommandResult)
    async def reopen(case_id: UUID, body: ReopenIn, caller: ActOnCase) -> CommandResult:
        """Reopen a closed case (a re-check finds the child missing again); the clocks start afresh."""
        async with unit_of_work() as uow:
            state, entry = await run_case_action(
                uow, caller.grant, case_id, lambda state, today: commands.reopen(
                    state, reason=body.reason, case_reason=body.case_reason, actor=officer(caller.sub), today=today),
                exception=body.restriction_exception)
            await uow.commit()
        return result(uow, state, entry)

    @api.post("/cases/{case_id}/shares", status_code=201, response_model=CommandResult)
    async def propose_share(case_id: UUID, body: ShareIn, caller: ProposeShare) -> CommandResult:
        """Propose telling a school of a child, or transferring the record to another council. Nothing is shared
        until a manager who did not propose it approves (`.../decision`); `record_id` is the share's id."""
        async with unit_of_work() as uow:
            state, entry = await run_case_action(
                uow, caller.grant, case_id, lambda state, today: commands.propose_share(
                    state, recipient=body.recipient.model_dump(), purpose=body.purpose, legal_gateway=body.legal_gateway,
                    categories=body.categories, fields_released=body.fields_released, reason=body.reason,
                    actor=officer(caller.sub), proposer_sub=caller.sub, today=today),
                exception=body.restriction_exception)
            await uow.commit()
        return result(uow, state, entry)

    @api.post("/cases/{case_id}/shares/{share_id}/decision", response_model=CommandResult)
    async def decide_share(case_id: UUID, share_id: UUID, body: ShareDecisionIn, caller: DecideShare) -> CommandResult:
        """A manager approves a proposed share (it is made, and logged by the disclosure service) or refuses it;
        the person who proposed it cannot decide it (403 `two_person_rule`)."""
        approve = body.decision == "approve"
        async with unit_of_work() as uow:
            state, entry = await run_case_action(
                uow, caller.grant, case_id, lambda state, today: commands.decide_share(
                    state, str(share_id), approve=approve, reason=body.reason, actor=f"manager:{caller.sub}",
                    decider_sub=caller.sub, today=today),
                exception=body.restriction_exception, after=publish_share_made, restriction_applies=approve)
            await uow.commit()
        return result(uow, state, entry)

    @api.post("/cases/{case_id}/borough", response_model=CommandResult)
    async def assign_borough(case_id: UUID, body: BoroughIn, caller: AssignBorough) -> CommandResult:
        """A manager assigns a triage case to a borough, or moves a case (cross-borough tracking); recorded in the
        history, and the borough's officers see the case from then on."""
        async with unit_of_work() as uow:
            state, entry = await run_case_action(
                uow, caller.grant, case_id, lambda state, today: commands.assign_borough(
                    state, borough=body.borough.value, reason=body.reason, actor=f"manager:{caller.sub}", today=today),
                exception=body.restriction_exception)
            await uow.commit()
        return result(uow, state, entry)

    @api.post("/cases/{case_id}/allocation", response_model=CommandResult)
    async def allocate(case_id: UUID, body: AllocationIn, caller: AllocateCase) -> CommandResult:
        """Allocate the case to an officer (`officer`: their `sub`). A manager allocates or reallocates any case
        of their boroughs; an officer takes an unallocated case of their own borough for themselves only (403
        `self_allocation_only`, `allocated_to_another`). A case needs its borough first (409 `borough_needed`);
        a closed case is reopened first. Recorded in the history: who allocated it, to whom, when."""
        role = caller.grant.role
        actor = f"{role.value}:{caller.sub}"  # officer:<sub> or manager:<sub>, as the other entries name them
        async with unit_of_work() as uow:
            state, entry = await run_case_action(
                uow, caller.grant, case_id, lambda state, today: commands.allocate(
                    state, officer_sub=body.officer, reason=body.reason, role=role, caller_sub=caller.sub, actor=actor,
                    today=today),
                exception=body.restriction_exception)
            await uow.commit()
        return result(uow, state, entry)

    return api
