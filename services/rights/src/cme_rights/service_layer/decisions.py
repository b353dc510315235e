"""Recorded decisions on the rights other than access, and what each sets in motion.

rectification  facts -> FactualRectification per field (services apply them as new versions); disputed
               opinions -> an addendum decision, recorded (casework keeps addenda)
erasure        refused with Art 17(3)(b) reasons, or exceptionally granted by a DPO (processing is then
               restricted until the record owners erase)
restriction    SubjectRestricted (and later RestrictionLifted, after telling the requester)
objection      a DPO's decision on compelling legitimate grounds; upheld -> SubjectRestricted
transfer       the record prepared for the new council; sent as a statutory share on approval
complaint      acknowledged, investigated, outcome with the ICO route
Every decision is kept (append-only) with its reasons, decider and role; the response goes for review.
"""

import uuid
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncSession

from cme_shared.contracts import topics
from cme_shared.contracts.rights import FactualRectification, RestrictionLifted, SubjectRestricted

from ..domain import requests as rules
from ..domain.clock import complaint_acknowledgement_due
from ..domain.requests import InvalidMove, RequestType, Status
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
    ComplaintAcknowledgement,
    ComplaintOutcome,
    ErasureDecision,
    ObjectionDecision,
    RectificationDecision,
    RestrictionDecision,
    RestrictionLift,
    TransferDecision,
)
from .context import Refused, RightsContext
from .requests import refused


@dataclass(frozen=True)
class Decider:
    """Who decides, and in what role: recorded with every decision."""

    sub: str
    role: str


async def _decidable(session: AsyncSession, request_id: uuid.UUID, expected: RequestType) -> RowMapping:
    row = await records.load(session, request_id, for_update=True)
    try:
        rules.check_decision(records.type_of(row), expected, records.status_of(row))
    except InvalidMove as error:
        raise refused(error) from None
    return row


async def _decided(session: AsyncSession, row: RowMapping, kind: str, decision: dict[str, Any], by: Decider,
                   response: dict[str, Any]) -> dict[str, Any]:
    await records.record_decision(session, row["request_id"], kind, decision, by.sub, by.role)
    await records.move(session, row, Status.READY_FOR_REVIEW, by.sub, f"{kind}_decided",
                       detail={"outcome": decision.get("outcome")}, response=response)
    return {"request_id": row["request_id"], "status": Status.READY_FOR_REVIEW.value, "decision": decision}


async def _restrict(ctx: RightsContext, session: AsyncSession, row: RowMapping, reason: str) -> None:
    event = SubjectRestricted(**ctx.event_fields(), rights_request_id=row["request_id"],
                              subject_ids=records.uuids(row["subject_ids"]), reason=reason)
    await ctx.emit(session, topics.RIGHTS_EVENTS, event, row["request_id"])


async def rectify(ctx: RightsContext, session: AsyncSession, request_id: uuid.UUID, command: RectificationDecision,
                  by: Decider) -> dict[str, Any]:
    row = await _decidable(session, request_id, RequestType.RECTIFICATION)
    subject_ids = set(row["subject_ids"])
    for index, correction in enumerate(command.corrections):
        if correction.accepted and str(correction.subject_id) not in subject_ids:
            raise Refused(422, "not_the_subject", "a correction may change only the request's own subject's data",
                          ["body", "corrections", index, "subject_id"])
    for correction in command.corrections:
        if correction.accepted:
            event = FactualRectification(**ctx.event_fields(), rights_request_id=request_id,
                                         subject_id=correction.subject_id, field=correction.field,
                                         new_value=correction.new_value, decided_by=by.sub)
            await ctx.emit(session, topics.RIGHTS_EVENTS, event, request_id)
    decision = {
        "outcome": "decided", "reasons": command.reason,
        "corrections": [c.model_dump(mode="json") for c in command.corrections],
        # Opinions are not rectified (public task); an addendum is decided case by case (DOMAIN section 3).
        "opinion_disputes": [d.model_dump(mode="json") for d in command.opinion_disputes],
    }
    got = await collection.gathered(session, request_id)
    return await _decided(session, row, "rectification", decision, by,
                          rectification_response(records.facts(row), decision, got.items, got.completeness))


async def decide_erasure(ctx: RightsContext, session: AsyncSession, request_id: uuid.UUID, command: ErasureDecision,
                         by: Decider) -> dict[str, Any]:
    row = await _decidable(session, request_id, RequestType.ERASURE)
    decision = {"outcome": command.outcome, "reasons": command.reason,
                "basis": "UK GDPR Art 17(3)(b)" if command.outcome == "refused" else "exceptional grant by the DPO"}
    if command.outcome == "granted":
        # No service may go on processing what is to be erased; the owners erase under their retention duty.
        await _restrict(ctx, session, row, "erasure granted by the DPO: stop processing pending erasure")
    got = await collection.gathered(session, request_id)
    return await _decided(session, row, "erasure", decision, by,
                          erasure_response(records.facts(row), decision, got.items, got.completeness))


async def decide_restriction(ctx: RightsContext, session: AsyncSession, request_id: uuid.UUID,
                             command: RestrictionDecision, by: Decider) -> dict[str, Any]:
    row = await _decidable(session, request_id, RequestType.RESTRICTION)
    decision = {"outcome": command.outcome, "ground": command.ground, "reasons": command.reason}
    if command.outcome == "restricted":
        await _restrict(ctx, session, row, f"UK GDPR Art 18(1): {command.ground}")
    got = await collection.gathered(session, request_id)
    return await _decided(session, row, "restriction", decision, by,
                          restriction_response(records.facts(row), decision, got.items, got.completeness))


async def lift_restriction(ctx: RightsContext, session: AsyncSession, request_id: uuid.UUID,
                           command: RestrictionLift, by: Decider) -> dict[str, Any]:
    row = await records.load(session, request_id, for_update=True)
    latest = await records.latest_decision(session, request_id, "restriction")
    lifted = await records.latest_decision(session, request_id, "restriction_lifted")
    if records.type_of(row) is not RequestType.RESTRICTION or not latest or latest["outcome"] != "restricted":
        raise Refused(409, "not_restricted", "this request has not restricted any processing")
    if lifted is not None:
        raise Refused(409, "already_lifted", "this restriction has already been lifted")
    if command.requester_informed_on > ctx.today():
        raise Refused(422, "informed_in_future", "the requester must have been told already (Art 18(3))",
                      ["body", "requester_informed_on"])
    decision = {"outcome": "lifted", "reasons": command.reason,
                "requester_informed_on": command.requester_informed_on.isoformat()}
    await records.record_decision(session, request_id, "restriction_lifted", decision, by.sub, by.role)
    event = RestrictionLifted(**ctx.event_fields(), rights_request_id=request_id,
                              subject_ids=records.uuids(row["subject_ids"]), reason=command.reason)
    await ctx.emit(session, topics.RIGHTS_EVENTS, event, request_id)
    await records.audit(session, request_id, "restriction_lifted", by.sub, from_status=row["status"],
                        to_status=row["status"])
    return {"request_id": request_id, "status": row["status"], "decision": decision}


async def decide_objection(ctx: RightsContext, session: AsyncSession, request_id: uuid.UUID,
                           command: ObjectionDecision, by: Decider) -> dict[str, Any]:
    row = await _decidable(session, request_id, RequestType.OBJECTION)
    outcome = "not_upheld" if command.compelling_grounds else "upheld"
    decision = {"outcome": outcome, "compelling_legitimate_grounds": command.compelling_grounds,
                "reasons": command.reason, "basis": "UK GDPR Art 21(1)"}
    if outcome == "upheld":
        await _restrict(ctx, session, row, "objection upheld, UK GDPR Art 21(1): no compelling legitimate grounds")
    return await _decided(session, row, "objection", decision, by, objection_response(records.facts(row), decision))


async def prepare_transfer(ctx: RightsContext, session: AsyncSession, request_id: uuid.UUID,
                           command: TransferDecision, by: Decider) -> dict[str, Any]:
    row = await _decidable(session, request_id, RequestType.TRANSFER)
    got = await collection.gathered(session, request_id)
    recipient = command.recipient.model_dump(mode="json") | {"type": "other_local_authority"}
    record = transfer_record(records.facts(row), got.items, recipient, got.completeness, ctx.now())
    share = {
        "recipient": recipient, "purpose": "statutory_transfer", "legal_gateway": command.legal_gateway,
        "categories": sorted({item.category.value for item in got.items}),
        "fields_released": fields_released(record["records"]), "reason": command.reason, "prepared_by": by.sub,
    }
    decision = {"outcome": "prepared", "recipient": recipient, "legal_gateway": command.legal_gateway,
                "reasons": command.reason}
    return await _decided(session, row, "transfer", decision, by, {**record, "share": share})


async def acknowledge_complaint(ctx: RightsContext, session: AsyncSession, request_id: uuid.UUID,
                                command: ComplaintAcknowledgement, by: Decider) -> dict[str, Any]:
    row = await records.load(session, request_id, for_update=True)
    if records.type_of(row) is not RequestType.COMPLAINT or records.status_of(row) is not Status.RECEIVED:
        raise Refused(409, "not_awaiting_acknowledgement", "only a received complaint is acknowledged")
    _check_day(ctx, command.on, row["received_on"], "on")
    due: date = complaint_acknowledgement_due(row["received_on"])
    decision = {"outcome": "acknowledged", "on": command.on.isoformat(), "due": due.isoformat(),
                "late": command.on > due}
    await records.record_decision(session, request_id, "complaint_acknowledged", decision, by.sub, by.role)
    # DPA 2018 s164A(4): then investigated and answered without undue delay (no fixed date).
    await records.move(session, row, Status.INVESTIGATING, by.sub, "complaint_acknowledged",
                       detail={"late": command.on > due}, acknowledged_on=command.on, due_date=None)
    return {"request_id": request_id, "status": Status.INVESTIGATING.value, "decision": decision}


async def complaint_outcome(ctx: RightsContext, session: AsyncSession, request_id: uuid.UUID,
                            command: ComplaintOutcome, by: Decider) -> dict[str, Any]:
    row = await records.load(session, request_id, for_update=True)
    if records.type_of(row) is not RequestType.COMPLAINT or records.status_of(row) not in (
            Status.RECEIVED, Status.INVESTIGATING):
        raise Refused(409, "not_under_investigation", "only an open complaint can be given its outcome")
    decision = command.model_dump(mode="json")
    # ICO complaints guidance: an outcome within the 30 days needs no separate acknowledgement.
    response = complaint_response(records.facts(row), row["acknowledged_on"], decision)
    return await _decided(session, row, "complaint_outcome", decision, by, response)


def _check_day(ctx: RightsContext, day: date, received_on: date, field: str) -> None:
    if day > ctx.today() or day < received_on:
        raise Refused(422, "day_out_of_range", "the day must lie between receipt and today", ["body", field])
