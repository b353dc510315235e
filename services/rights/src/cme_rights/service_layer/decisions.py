"""Recorded decisions on the rights other than access, and what each sets in motion.

rectification  facts -> FactualRectification per field (services apply them as new versions); disputed
               opinions -> an addendum decision, recorded (casework keeps addenda)
erasure        refused with Art 17(3)(b) reasons (retention wins over erasure), or exceptionally granted by a
               DPO (processing is then restricted); either way nothing is erased here: records go only by
               the disposal job (service_layer/retention.py), when the schedule says and no hold keeps them
restriction    SubjectRestricted (and later RestrictionLifted, after telling the requester)
objection      a DPO's decision on compelling legitimate grounds; upheld -> SubjectRestricted
transfer       the record prepared for the new council; sent as a statutory share on approval
complaint      acknowledged, investigated, outcome with the ICO route
Every decision is kept (append-only) with its reasons, decider and role; the response goes for review.

Segregation of duties (domain/access.py): the person who recorded a request never decides it, and an
officer's rectification (with an accepted correction), restriction or lift is only proposed: it is
recorded, sends nothing, and takes effect when a DPO other than the proposer approves it
(`decide_proposal`, in the audit trail as proposal_approved). A DPO's own decision takes effect at once.
"""

import uuid
from dataclasses import dataclass
from datetime import date
from typing import Any

from cme_shared.auth import Principal
from cme_shared.contracts import topics
from cme_shared.contracts.rights import FactualRectification, RestrictionLifted, SubjectRestricted
from cme_shared.refusal import Refusal

from ..adapters.unit_of_work import RightsUnitOfWork
from ..domain import access
from ..domain import requests as rules
from ..domain.access import Action
from ..domain.clock import complaint_acknowledgement_due
from ..domain.requests import RequestType, Status
from ..domain.responses import (
    complaint_response,
    erasure_response,
    fields_released,
    objection_response,
    rectification_response,
    restriction_response,
    transfer_record,
)
from . import collection, records
from .commands import (
    BoroughAssignment,
    ComplaintAcknowledgement,
    ComplaintOutcome,
    ComplaintProgress,
    ErasureDecision,
    ObjectionDecision,
    ProposalDecision,
    RectificationDecision,
    RestrictionDecision,
    RestrictionLift,
    TransferDecision,
)
from .records import Row


@dataclass(frozen=True)
class Decider:
    """Who decides, and in what role: recorded with every decision."""

    sub: str
    role: str

    @classmethod
    def of(cls, principal: Principal) -> "Decider":
        assert principal.acting_role is not None  # set by require_roles
        return cls(principal.sub, principal.acting_role.value)


# The decisions whose effects (events to every service) wait for the DPO when an officer makes them.
RECTIFICATION, RESTRICTION, LIFT = "rectification", "restriction", "restriction_lifted"


async def _decidable(uow: RightsUnitOfWork, request_id: uuid.UUID, expected: RequestType, principal: Principal,
                     action: Action = Action.DECIDE) -> Row:
    row = await records.load_for(uow, request_id, principal, action, for_update=True)
    rules.check_decision(records.type_of(row), expected, records.status_of(row))
    return row


async def _decided(uow: RightsUnitOfWork, row: Row, kind: str, decision: dict[str, Any], by: Decider,
                   response: dict[str, Any], recorded: dict[str, Any] | None = None) -> dict[str, Any]:
    """`recorded`: what the decisions table keeps besides the decision (who proposed and who approved it);
    the response to the requester names no member of staff."""
    await uow.requests.add_decision(row["request_id"], kind, decision | (recorded or {}), by.sub, by.role)
    await records.move(uow, row, Status.READY_FOR_REVIEW, by.sub, f"{kind}_decided",
                       detail={"outcome": decision.get("outcome")}, response=response)
    return {"request_id": row["request_id"], "status": Status.READY_FOR_REVIEW.value, "decision": decision}


async def _restrict(uow: RightsUnitOfWork, row: Row, reason: str) -> None:
    event = SubjectRestricted(**records.event_fields(uow), rights_request_id=row["request_id"],
                              subject_ids=records.uuids(row["subject_ids"]), reason=reason)
    await records.emit(uow, topics.RIGHTS_EVENTS, event, row["request_id"])


async def _propose(uow: RightsUnitOfWork, row: Row, kind: str, decision: dict[str, Any],
                   by: Decider) -> dict[str, Any]:
    """An officer's decision that would change something: recorded, and without effect until a DPO approves
    it (SEC-12). A rectification or restriction waits in awaiting_approval; a lift leaves the status alone."""
    request_id = row["request_id"]
    proposal = {"kind": kind, "decision": decision, "proposed_by": by.sub, "proposed_role": by.role,
                "proposed_at": uow.clock.now().isoformat(), "from_status": row["status"]}
    await uow.requests.add_decision(request_id, f"{kind}_proposed", decision, by.sub, by.role)
    if kind == LIFT:
        await uow.requests.change(request_id, pending_proposal=proposal)
        await uow.requests.audit(request_id, "restriction_lift_proposed", by.sub, from_status=row["status"],
                                 to_status=row["status"])
        status = row["status"]
    else:
        await records.move(uow, row, Status.AWAITING_APPROVAL, by.sub, f"{kind}_proposed",
                           detail={"outcome": decision.get("outcome")}, pending_proposal=proposal)
        status = Status.AWAITING_APPROVAL.value
    return {"request_id": request_id, "status": status, "decision": decision, "proposed": True}


async def _take_effect(uow: RightsUnitOfWork, row: Row, kind: str,
                       decision: dict[str, Any], by: Decider, recorded: dict[str, Any] | None = None) -> dict[str, Any]:
    """A rectification, restriction or lift the DPO decided or approved: its events go to every service."""
    request_id = row["request_id"]
    if kind == LIFT:
        await uow.requests.add_decision(request_id, LIFT, decision | (recorded or {}), by.sub, by.role)
        event = RestrictionLifted(**records.event_fields(uow), rights_request_id=request_id,
                                  subject_ids=records.uuids(row["subject_ids"]), reason=decision["reasons"])
        await records.emit(uow, topics.RIGHTS_EVENTS, event, request_id)
        await uow.requests.audit(request_id, "restriction_lifted", by.sub, from_status=row["status"],
                                 to_status=row["status"])
        return {"request_id": request_id, "status": row["status"], "decision": decision}
    got = await collection.collected(uow, request_id)
    if kind == RECTIFICATION:
        for correction in decision["corrections"]:
            if correction["accepted"]:
                event = FactualRectification(**records.event_fields(uow), rights_request_id=request_id,
                                             subject_id=uuid.UUID(correction["subject_id"]),
                                             field=correction["field"], new_value=correction["new_value"],
                                             decided_by=by.sub)
                await records.emit(uow, topics.RIGHTS_EVENTS, event, request_id)
        response = rectification_response(records.facts(row), decision, got.items, got.completeness)
    else:
        if decision["outcome"] == "restricted":
            await _restrict(uow, row, f"UK GDPR Art 18(1): {decision['ground']}")
        response = restriction_response(records.facts(row), decision, got.items, got.completeness)
    return await _decided(uow, row, kind, decision, by, response, recorded)


async def decide_proposal(uow: RightsUnitOfWork, request_id: uuid.UUID,
                          command: ProposalDecision, principal: Principal) -> dict[str, Any]:
    """The DPO approves an officer's proposed decision (its events are sent now) or rejects it (nothing is
    sent, and the request can be decided again). Never by the proposer, nor by the request's creator."""
    row = await records.load_for(uow, request_id, principal, Action.APPROVE_PROPOSAL, for_update=True)
    proposal = row["pending_proposal"]
    if proposal is None:
        raise Refusal(409, "no_proposal", "no proposed decision awaits approval")
    access.check_approver(principal, proposed_by=proposal["proposed_by"])
    by, kind = Decider.of(principal), proposal["kind"]
    who = {"proposed_by": proposal["proposed_by"], "approved_by": by.sub}
    await uow.requests.change(request_id, pending_proposal=None)
    if command.outcome == "rejected":
        await uow.requests.add_decision(request_id, f"{kind}_rejected",
                                        {"reasons": command.reason, "proposed_by": proposal["proposed_by"]},
                                        by.sub, by.role)
        back = Status(proposal["from_status"]) if kind != LIFT else records.status_of(row)
        await records.move(uow, row, back, by.sub, "proposal_rejected", detail={"kind": kind})
        return {"request_id": request_id, "status": back.value, "outcome": "rejected"}
    await uow.requests.audit(request_id, "proposal_approved", by.sub, from_status=row["status"],
                             to_status=row["status"], detail={"kind": kind, "proposed_by": proposal["proposed_by"]})
    result = await _take_effect(uow, row, kind, proposal["decision"], by,
                                who | {"approval_note": command.reason})
    return result | {"outcome": "approved"}


async def rectify(uow: RightsUnitOfWork, request_id: uuid.UUID, command: RectificationDecision,
                  principal: Principal) -> dict[str, Any]:
    row = await _decidable(uow, request_id, RequestType.RECTIFICATION, principal)
    subject_ids = set(row["subject_ids"])
    for index, correction in enumerate(command.corrections):
        if correction.accepted and str(correction.subject_id) not in subject_ids:
            raise Refusal(422, "not_the_subject", "a correction may change only the request's own subject's data",
                          ["body", "corrections", index, "subject_id"])
    decision = {
        "outcome": "decided", "reasons": command.reason,
        "corrections": [c.model_dump(mode="json") for c in command.corrections],
        # Opinions are not rectified (public task); an addendum is decided case by case (DOMAIN section 3).
        "opinion_disputes": [d.model_dump(mode="json") for d in command.opinion_disputes],
    }
    by = Decider.of(principal)
    if any(c.accepted for c in command.corrections) and not access.takes_effect(principal):
        return await _propose(uow, row, RECTIFICATION, decision, by)
    return await _take_effect(uow, row, RECTIFICATION, decision, by)


async def decide_erasure(uow: RightsUnitOfWork, request_id: uuid.UUID, command: ErasureDecision,
                         principal: Principal) -> dict[str, Any]:
    row = await _decidable(uow, request_id, RequestType.ERASURE, principal, Action.DECIDE_DPO)
    by = Decider.of(principal)
    decision = {"outcome": command.outcome, "reasons": command.reason,
                "basis": "UK GDPR Art 17(3)(b)" if command.outcome == "refused" else "exceptional grant by the DPO"}
    if command.outcome == "granted":
        # No service may go on processing what is to be erased. Its destruction is the disposal job's, the one
        # disposal path, which honours legal holds (no second erase path: anchors review 2.3).
        await _restrict(uow, row, "erasure granted by the DPO: stop processing pending disposal")
    got = await collection.collected(uow, request_id)
    return await _decided(uow, row, "erasure", decision, by,
                          erasure_response(records.facts(row), decision, got.items, got.completeness,
                                           records.retention_statement(uow)))


async def decide_restriction(uow: RightsUnitOfWork, request_id: uuid.UUID,
                             command: RestrictionDecision, principal: Principal) -> dict[str, Any]:
    row = await _decidable(uow, request_id, RequestType.RESTRICTION, principal)
    decision = {"outcome": command.outcome, "ground": command.ground, "reasons": command.reason}
    by = Decider.of(principal)
    if command.outcome == "restricted" and not access.takes_effect(principal):
        return await _propose(uow, row, RESTRICTION, decision, by)
    return await _take_effect(uow, row, RESTRICTION, decision, by)


async def lift_restriction(uow: RightsUnitOfWork, request_id: uuid.UUID,
                           command: RestrictionLift, principal: Principal) -> dict[str, Any]:
    row = await records.load_for(uow, request_id, principal, Action.DECIDE, for_update=True)
    latest = await uow.requests.latest_decision(request_id, RESTRICTION)
    lifted = await uow.requests.latest_decision(request_id, LIFT)
    if records.type_of(row) is not RequestType.RESTRICTION or not latest or latest["outcome"] != "restricted":
        raise Refusal(409, "not_restricted", "this request has not restricted any processing")
    if lifted is not None:
        raise Refusal(409, "already_lifted", "this restriction has already been lifted")
    if row["pending_proposal"] is not None:
        raise rules.proposal_pending()
    if command.requester_informed_on > uow.clock.today():
        raise Refusal(422, "informed_in_future", "the requester must have been told already (Art 18(3))",
                      ["body", "requester_informed_on"])
    decision = {"outcome": "lifted", "reasons": command.reason,
                "requester_informed_on": command.requester_informed_on.isoformat()}
    by = Decider.of(principal)
    if not access.takes_effect(principal):
        return await _propose(uow, row, LIFT, decision, by)
    return await _take_effect(uow, row, LIFT, decision, by)


async def decide_objection(uow: RightsUnitOfWork, request_id: uuid.UUID,
                           command: ObjectionDecision, principal: Principal) -> dict[str, Any]:
    row = await _decidable(uow, request_id, RequestType.OBJECTION, principal, Action.DECIDE_DPO)
    by = Decider.of(principal)
    outcome = "not_upheld" if command.compelling_grounds else "upheld"
    decision = {"outcome": outcome, "compelling_legitimate_grounds": command.compelling_grounds,
                "reasons": command.reason, "basis": "UK GDPR Art 21(1)"}
    if outcome == "upheld":
        await _restrict(uow, row, "objection upheld, UK GDPR Art 21(1): no compelling legitimate grounds")
    return await _decided(uow, row, "objection", decision, by, objection_response(records.facts(row), decision))


async def prepare_transfer(uow: RightsUnitOfWork, request_id: uuid.UUID,
                           command: TransferDecision, principal: Principal) -> dict[str, Any]:
    row = await _decidable(uow, request_id, RequestType.TRANSFER, principal)
    by = Decider.of(principal)
    got = await collection.collected(uow, request_id)
    recipient = command.recipient.model_dump(mode="json") | {"type": "other_local_authority"}
    record = transfer_record(records.facts(row), got.items, recipient, got.completeness, uow.clock.now())
    share = {
        "recipient": recipient, "purpose": "statutory_transfer", "legal_gateway": command.legal_gateway,
        "categories": sorted({item.category.value for item in got.items}),
        "fields_released": fields_released(record["records"]), "reason": command.reason, "prepared_by": by.sub,
    }
    decision = {"outcome": "prepared", "recipient": recipient, "legal_gateway": command.legal_gateway,
                "reasons": command.reason}
    return await _decided(uow, row, "transfer", decision, by, {**record, "share": share})


async def acknowledge_complaint(uow: RightsUnitOfWork, request_id: uuid.UUID,
                                command: ComplaintAcknowledgement, principal: Principal) -> dict[str, Any]:
    row = await records.load_for(uow, request_id, principal, Action.ACKNOWLEDGE, for_update=True)
    by = Decider.of(principal)
    if records.type_of(row) is not RequestType.COMPLAINT or records.status_of(row) is not Status.RECEIVED:
        raise Refusal(409, "not_awaiting_acknowledgement", "only a received complaint is acknowledged")
    _check_day(uow, command.on, row["received_on"], "on")
    due: date = complaint_acknowledgement_due(row["received_on"])
    decision = {"outcome": "acknowledged", "on": command.on.isoformat(), "due": due.isoformat(),
                "late": command.on > due}
    await uow.requests.add_decision(request_id, "complaint_acknowledged", decision, by.sub, by.role)
    # DPA 2018 s164A(4): then investigated and answered without undue delay (no fixed date).
    await records.move(uow, row, Status.INVESTIGATING, by.sub, "complaint_acknowledged",
                       detail={"late": command.on > due}, acknowledged_on=command.on, due_date=None)
    return {"request_id": request_id, "status": Status.INVESTIGATING.value, "decision": decision}


async def complaint_progress(uow: RightsUnitOfWork, request_id: uuid.UUID,
                             command: ComplaintProgress, principal: Principal) -> dict[str, Any]:
    """A dated progress update the complainant is sent (DPA 2018 s164A(2)(c)), kept in the request's history."""
    row = await records.load_for(uow, request_id, principal, Action.PROGRESS, for_update=True)
    by = Decider.of(principal)
    if records.type_of(row) is not RequestType.COMPLAINT or records.status_of(row) not in (
            Status.RECEIVED, Status.INVESTIGATING):
        raise Refusal(409, "not_under_investigation", "progress is recorded on an open complaint only")
    _check_day(uow, command.on, row["received_on"], "on")
    update = {"on": command.on.isoformat(), "text": command.text}
    await uow.requests.add_decision(request_id, "complaint_progress", update, by.sub, by.role)
    await uow.requests.audit(request_id, "complaint_progress", by.sub, detail={"on": command.on.isoformat()})
    return {"request_id": request_id, "status": row["status"], "progress": update}


async def complaint_outcome(uow: RightsUnitOfWork, request_id: uuid.UUID,
                            command: ComplaintOutcome, principal: Principal) -> dict[str, Any]:
    row = await records.load_for(uow, request_id, principal, Action.DECIDE, for_update=True)
    by = Decider.of(principal)
    if records.type_of(row) is not RequestType.COMPLAINT or records.status_of(row) not in (
            Status.RECEIVED, Status.INVESTIGATING):
        raise Refusal(409, "not_under_investigation", "only an open complaint can be given its outcome")
    decision = command.model_dump(mode="json")
    # ICO complaints guidance: an outcome within the 30 days needs no separate acknowledgement.
    response = complaint_response(records.facts(row), row["acknowledged_on"], decision)
    return await _decided(uow, row, "complaint_outcome", decision, by, response)


async def assign_borough(uow: RightsUnitOfWork, request_id: uuid.UUID, command: BoroughAssignment,
                         principal: Principal) -> dict[str, Any]:
    """The DPO gives a request with no borough (a complaint from the public form) the borough it concerns, so
    that borough's officers can investigate it; once set, a borough is not changed here."""
    row = await records.load_for(uow, request_id, principal, Action.ASSIGN_BOROUGH, for_update=True)
    if row["borough"] is not None:
        raise Refusal(409, "borough_already_set", "the request already belongs to a borough")
    by = Decider.of(principal)
    await uow.requests.change(request_id, borough=command.borough.value)
    await uow.requests.add_decision(request_id, "borough_assigned", command.model_dump(mode="json"), by.sub, by.role)
    await uow.requests.audit(request_id, "borough_assigned", by.sub, detail={"borough": command.borough.value})
    return {"request_id": request_id, "borough": command.borough.value}


def _check_day(uow: RightsUnitOfWork, day: date, received_on: date, field: str) -> None:
    if day > uow.clock.today() or day < received_on:
        raise Refusal(422, "day_out_of_range", "the day must lie between receipt and today", ["body", field])
