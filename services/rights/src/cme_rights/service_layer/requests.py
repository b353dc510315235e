"""A rights request's life: received, on the clock, worked, reviewed, released by a DPO."""

import uuid
from datetime import date
from typing import Any

from sqlalchemy import insert, or_, select
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncSession

from cme_shared.contracts import topics
from cme_shared.contracts.categories import DataCategory
from cme_shared.auth import Principal
from cme_shared.contracts.shares import Recipient, ShareMade
from cme_shared.logging import get_logger

from ..adapters.tables import ask_targets, asks, audit_log, clock_events, decisions, rights_requests
from ..domain import access, exemptions
from ..domain import requests as rules
from ..domain.access import Action
from ..domain.clock import ClockEvent, ClockRefused, complaint_acknowledgement_due, one_month_deadline
from ..domain.requests import GATHERING, ActingAs, InvalidMove, RequestType, Status
from ..domain.responses import RecordNotInPack, apply_exemption, automated_decision_response, refusal_response
from . import collection, records
from .commands import Approval, ClockEventIn, Exemption, Refusal, RightsRequest
from .context import Refused, RightsContext

log = get_logger(__name__)

# Refusals that are about the input rather than the request's state.
_UNPROCESSABLE = frozenset({"extension_needs_reasons", "before_receipt", "out_of_order"})


def refused(error: InvalidMove | ClockRefused) -> Refused:
    return Refused(422 if error.code in _UNPROCESSABLE else 409, error.code, error.message)


async def receive(ctx: RightsContext, session: AsyncSession, command: RightsRequest,
                  principal: Principal) -> dict[str, Any]:
    # Only the DPO's word settles identity (issue 13). CONTRACT section 4 lets an officer send the flag, so an
    # officer's `identity_verified: true` is recorded as not yet verified, said in the answer, and the search
    # waits for the DPO (the `identity_received` clock event) rather than refusing the request.
    identity_verified = command.identity_verified and access.allowed_role(principal, access.Action.VERIFY_IDENTITY)
    identity_left_to_dpo = command.identity_verified and not identity_verified
    actor = principal.sub
    if command.received_on > ctx.today():
        raise Refused(422, "received_in_future", "received_on cannot be later than today", ["body", "received_on"])
    request_type = command.type
    due = (one_month_deadline(command.received_on) if rules.uses_month_clock(request_type)
           else complaint_acknowledgement_due(command.received_on))
    request_id = uuid.uuid4()
    values = {
        "request_id": request_id, "request_type": request_type.value, "status": Status.RECEIVED.value,
        "received_on": command.received_on, "channel": command.channel,
        "requester": command.requester.model_dump(mode="json", exclude={"acting_as"}),
        "subject": command.subject.model_dump(mode="json"),
        "acting_as": command.requester.acting_as.value,
        "authority": rules.authority_notes(command.requester.acting_as, command.subject.date_of_birth,
                                           command.received_on),
        "identity_verified": identity_verified, "details": command.details, "due_date": due,
        "created_by": actor, "borough": access.borough_of_new_request(principal),
    }
    await session.execute(insert(rights_requests).values(**values))
    await records.audit(session, request_id, "received", actor, to_status=Status.RECEIVED.value,
                        detail={"type": request_type.value, "channel": command.channel,
                                "acting_as": command.requester.acting_as.value,
                                "identity_verified": identity_verified,
                                **({"identity_left_to_dpo": True} if identity_left_to_dpo else {})})
    log.info("rights_request_received", request_id=str(request_id), request_type=request_type.value)
    row = await records.load(session, request_id, for_update=True)
    nxt = rules.status_before_work(request_type, awaiting=frozenset(), identity_verified=identity_verified)
    if nxt is not Status.RECEIVED:
        await begin_work(ctx, session, row, actor)
    row = await records.load(session, request_id)
    answer: dict[str, Any] = {"request_id": request_id, "status": row["status"], "due_date": row["due_date"]}
    if identity_left_to_dpo:
        answer["warnings"] = [{"loc": ["body", "identity_verified"], "code": "identity_needs_dpo",
                               "message": "only the DPO records a requester's identity as verified: the "
                                          "request waits for the DPO's identity_received"}]
    return answer


async def begin_work(ctx: RightsContext, session: AsyncSession, row: RowMapping, actor: str) -> None:
    request_type = records.type_of(row)
    if request_type in GATHERING:
        await collection.start_gathering(ctx, session, row, actor)
    elif request_type is RequestType.AUTOMATED_DECISION:
        await records.move(session, row, Status.READY_FOR_REVIEW, actor, "answered_from_register",
                           response=automated_decision_response(records.facts(row)))


async def record_clock_event(ctx: RightsContext, session: AsyncSession, request_id: uuid.UUID,
                             command: ClockEventIn, principal: Principal) -> dict[str, Any]:
    row = await records.load_for(session, request_id, principal, Action.CLOCK, for_update=True)
    if command.event.value == "identity_received":
        access.check_identity(principal)
    actor = principal.sub
    request_type, status = records.type_of(row), records.status_of(row)
    if command.on > ctx.today():
        raise Refused(422, "event_in_future", "a clock event cannot be later than today", ["body", "on"])
    try:
        rules.check_clock_event(request_type, status, command.event.value)
        clock = (await records.load_clock(session, row)).record(ClockEvent(command.event, command.on, command.reason))
    except (InvalidMove, ClockRefused) as error:
        raise refused(error) from None
    state = clock.state()
    await session.execute(insert(clock_events).values(
        request_id=request_id, event=command.event.value, on=command.on, reason=command.reason,
        due_date_after=state.due_date, on_hold_after=state.on_hold, recorded_by=actor))
    identity_verified = row["identity_verified"] or state.identity_received
    await records.update_row(session, request_id, due_date=state.due_date, on_hold=state.on_hold,
                             identity_verified=identity_verified)
    log.info("clock_event_recorded", request_id=str(request_id), clock_event=command.event.value)
    if status in rules.BEFORE_WORK:
        nxt = rules.status_before_work(request_type, awaiting=state.awaiting, identity_verified=identity_verified)
        if nxt in rules.BEFORE_WORK:
            if nxt is not status:
                await records.move(session, row, nxt, actor, f"clock_{command.event.value}")
        else:
            await begin_work(ctx, session, await records.load(session, request_id), actor)
    row = await records.load(session, request_id)
    return {"request_id": request_id, "status": row["status"], "due_date": state.due_date,
            "on_hold": state.on_hold, "extended": state.extended}


async def approve(ctx: RightsContext, session: AsyncSession, request_id: uuid.UUID, approval: Approval,
                  principal: Principal) -> dict[str, Any]:
    """A DPO releases the prepared response; a transfer is sent (and logged as a share) now."""
    row = await records.load_for(session, request_id, principal, Action.APPROVE, for_update=True)
    actor = principal.sub
    response = row["response"]
    if response is None:
        raise Refused(409, "not_ready_for_review", "there is no response ready for review")
    complete = response.get("completeness", {}).get("complete", True)
    try:
        rules.check_approval(records.status_of(row), complete=complete, accept_incomplete=approval.accept_incomplete)
    except InvalidMove as error:
        raise refused(error) from None
    now = ctx.now()
    release: dict[str, Any] = {"approved_by": actor, "approved_at": now.isoformat()}
    if not complete:
        if not (approval.note or "").strip():
            raise Refused(422, "incomplete_needs_note", "releasing an incomplete response needs a note saying why",
                          ["body", "note"])
        release["incomplete_accepted"] = {"services_missing": response["completeness"]["services_missing"],
                                          "note": approval.note}
        await records.record_decision(session, request_id, "incomplete_accepted", release["incomplete_accepted"],
                                      actor, "dpo")
    if records.type_of(row) is RequestType.TRANSFER:
        await _send_transfer(ctx, session, row, response, actor, now)
    await records.move(session, row, Status.RESPONDED, actor, "approved_and_released",
                       detail={"incomplete_accepted": not complete},
                       response={**response, "release": release}, approved_by=actor, approved_at=now)
    return {"request_id": request_id, "status": Status.RESPONDED.value, "approved_by": actor,
            "approved_at": now}


async def _send_transfer(ctx: RightsContext, session: AsyncSession, row: RowMapping, response: dict[str, Any],
                         actor: str, now: Any) -> None:
    """DOMAIN section 5: a transfer is a statutory share to the new council, so it lands in the disclosure log."""
    share = response["share"]
    event = ShareMade(
        **ctx.event_fields(), share_ref=f"rights:{row['request_id']}", service="rights",
        subject_ids=records.uuids(row["subject_ids"]),
        recipient=Recipient(type="other_local_authority", org_id=share["recipient"].get("org_id"),
                            org_name=share["recipient"]["org_name"]),
        purpose="statutory_transfer", legal_gateway=share["legal_gateway"],
        categories=[DataCategory(c) for c in share["categories"]], fields_released=share["fields_released"],
        reason=share["reason"], decided_by=actor, shared_at=now,
    )
    await ctx.emit(session, topics.SHARE_EVENTS, event, row["request_id"])


def _date_or_none(value: str | date | None) -> date | None:
    return date.fromisoformat(value) if isinstance(value, str) else value


async def exempt(ctx: RightsContext, session: AsyncSession, request_id: uuid.UUID, command: Exemption,
                 principal: Principal) -> dict[str, Any]:
    """The DPO withholds one record of a prepared access pack under an exemption, item by item."""
    row = await records.load_for(session, request_id, principal, Action.EXEMPT, for_update=True)
    actor = principal.sub
    if records.type_of(row) is not RequestType.ACCESS or row["response"] is None or records.status_of(row) not in (
            Status.READY_FOR_REVIEW, Status.COLLECTION_INCOMPLETE):
        raise Refused(409, "no_pack_under_review", "exemptions apply to an access pack under review")
    try:
        exemptions.check(exemptions.ExemptionClaim(
            exemption=command.exemption, acting_as=ActingAs(row["acting_as"]),
            subject_date_of_birth=_date_or_none((row["subject"] or {}).get("date_of_birth")), today=ctx.today(),
            health_professional_opinion_on=command.health_professional_opinion_on,
            health_professional=command.health_professional))
    except exemptions.ExemptionRefused as error:
        raise Refused(error.status, error.code, error.message,
                      ["body", error.field] if error.field else None) from None
    try:
        pack = apply_exemption(row["response"], command.service, command.record_id, command.exemption,
                               command.reason, actor)
    except RecordNotInPack:
        raise Refused(422, "record_not_in_pack", "the pack holds no such record", ["body", "record_id"]) from None
    await records.record_decision(session, request_id, "exemption", command.model_dump(mode="json"), actor, "dpo")
    await records.update_row(session, request_id, response=pack)
    await records.audit(session, request_id, "exemption_applied", actor, from_status=row["status"],
                        to_status=row["status"], detail={"exemption": command.exemption,
                                                         "record_id": command.record_id})
    return {"request_id": request_id, "status": row["status"], "exemptions": pack["exemptions"]}


async def refuse(ctx: RightsContext, session: AsyncSession, request_id: uuid.UUID, command: Refusal,
                 principal: Principal) -> dict[str, Any]:
    """UK GDPR Art 12(5)(b): a manifestly unfounded or excessive request refused, with written reasons."""
    row = await records.load_for(session, request_id, principal, Action.REFUSE, for_update=True)
    actor = principal.sub
    try:
        rules.check_refusal(records.type_of(row), records.status_of(row))
    except InvalidMove as error:
        raise refused(error) from None
    decision = {"outcome": "refused", "basis": command.basis, "reasons": command.reason}
    await records.record_decision(session, request_id, "refusal", decision, actor, "dpo")
    await collection.close_open_asks(session, request_id)
    basis = f"UK GDPR Art 12(5)(b): the request is {command.basis.replace('_', ' ')}"
    await records.move(session, row, Status.READY_FOR_REVIEW, actor, "refused",
                       detail={"basis": command.basis},
                       response=refusal_response(records.facts(row), command.reason, basis))
    return {"request_id": request_id, "status": Status.READY_FOR_REVIEW.value}


async def regather(ctx: RightsContext, session: AsyncSession, request_id: uuid.UUID,
                   principal: Principal) -> dict[str, Any]:
    """Ask every service again (after a service failed to answer, or matches were confirmed in intake)."""
    row = await records.load_for(session, request_id, principal, Action.COLLECT, for_update=True)
    actor = principal.sub
    try:
        rules.check_regather(records.type_of(row), records.status_of(row))
    except InvalidMove as error:
        raise refused(error) from None
    await collection.start_gathering(ctx, session, row, actor)
    return {"request_id": request_id, "status": Status.COLLECTING.value}


async def view(session: AsyncSession, request_id: uuid.UUID, principal: Principal) -> dict[str, Any]:
    row = await records.load_for(session, request_id, principal, Action.READ)
    clock = (await session.execute(select(clock_events).where(clock_events.c.request_id == request_id)
                                   .order_by(clock_events.c.id))).mappings().all()
    history = (await session.execute(select(audit_log).where(audit_log.c.request_id == request_id)
                                     .order_by(audit_log.c.id))).mappings().all()
    decided = (await session.execute(select(decisions).where(decisions.c.request_id == request_id)
                                     .order_by(decisions.c.id))).mappings().all()
    gathering = await _gathering_view(session, request_id)
    state = (await records.load_clock(session, row)).state() if rules.uses_month_clock(records.type_of(row)) else None
    return {
        "request_id": row["request_id"], "type": row["request_type"], "status": row["status"],
        "received_on": row["received_on"], "channel": row["channel"],
        "borough": row["borough"], "created_by": row["created_by"],
        "requester": {**row["requester"], "acting_as": row["acting_as"]}, "subject": row["subject"],
        "authority": row["authority"], "identity_verified": row["identity_verified"], "details": row["details"],
        "due_date": row["due_date"], "on_hold": row["on_hold"],
        "clock": {
            "kind": "one_month" if state is not None else "complaint_acknowledgement_30_days",
            "extended": state.extended if state else False,
            "paused_days": state.paused_days if state else 0,
            "day_one": state.day_one if state else row["received_on"],
            "history": [{"event": c["event"], "on": c["on"], "reason": c["reason"],
                         "due_date_after": c["due_date_after"], "on_hold_after": c["on_hold_after"],
                         "recorded_by": c["recorded_by"], "at": c["at"]} for c in clock],
        },
        "acknowledged_on": row["acknowledged_on"],
        "subject_ids": row["subject_ids"], "requester_subject_ids": row["requester_subject_ids"],
        "possible_matches": row["possible_matches"],
        "gathering": gathering,
        "decisions": [{"kind": d["kind"], "decision": d["decision"], "decided_by": d["decided_by"],
                       "decided_role": d["decided_role"], "at": d["at"]} for d in decided],
        "history": [{"action": h["action"], "from_status": h["from_status"], "to_status": h["to_status"],
                     "actor": h["actor"], "detail": h["detail"], "at": h["at"]} for h in history],
        "pending_proposal": row["pending_proposal"],
        "response_ready": row["response"] is not None,
        "approved_by": row["approved_by"], "approved_at": row["approved_at"],
    }


async def _gathering_view(session: AsyncSession, request_id: uuid.UUID) -> list[dict[str, Any]]:
    rows = (await session.execute(
        select(asks.c.ask_id, asks.c.purpose, asks.c.state, asks.c.created_at, ask_targets.c.service,
               ask_targets.c.state.label("target_state"), ask_targets.c.attempts, ask_targets.c.last_asked_at,
               ask_targets.c.last_error)
        .join(ask_targets, ask_targets.c.ask_id == asks.c.ask_id)
        .where(asks.c.request_id == request_id).order_by(asks.c.created_at, ask_targets.c.service))).mappings().all()
    out: dict[uuid.UUID, dict[str, Any]] = {}
    for r in rows:
        entry = out.setdefault(r["ask_id"], {"collection_id": r["ask_id"], "purpose": r["purpose"],
                                             "state": r["state"], "created_at": r["created_at"], "services": []})
        entry["services"].append({"service": r["service"], "state": r["target_state"], "attempts": r["attempts"],
                                  "last_asked_at": r["last_asked_at"], "last_error": r["last_error"]})
    return list(out.values())


async def draft(session: AsyncSession, request_id: uuid.UUID,
                principal: Principal) -> tuple[dict[str, Any], list[uuid.UUID]]:
    """The prepared response, for review before approval, and whose data it shows."""
    row = await records.load_for(session, request_id, principal, Action.DRAFT)
    if row["response"] is None:
        raise Refused(409, "not_ready_for_review", "there is no response prepared yet")
    return {**row["response"], "status": row["status"]}, records.people(row)


async def released_response(session: AsyncSession, request_id: uuid.UUID,
                            principal: Principal) -> tuple[dict[str, Any], list[uuid.UUID], bytes | None]:
    """The released response, whose data it shows, and its printed copy once one was made."""
    row = await records.load_for(session, request_id, principal, Action.READ_RESPONSE)
    if records.status_of(row) is not Status.RESPONDED:
        raise Refused(409, "not_approved", "the response is released only after a DPO's approval")
    return dict(row["response"]), records.people(row), row["response_pdf"]


async def keep_printed(session: AsyncSession, request_id: uuid.UUID, content: bytes) -> None:
    """The printed copy of a released response, made once (SEC-25): later downloads are served from it."""
    await session.execute(rights_requests.update().where(
        rights_requests.c.request_id == request_id, rights_requests.c.status == Status.RESPONDED.value,
        rights_requests.c.response_pdf.is_(None)).values(response_pdf=content))


async def worklist(ctx: RightsContext, session: AsyncSession, principal: Principal) -> list[dict[str, Any]]:
    """Open requests by due date, overdue first; those with the clock stopped or paused come last. A
    released request with a proposal awaiting the DPO (a restriction's lift) stays on the list. Only the
    requests of the principal's boroughs are listed."""
    boroughs, unassigned = access.scope(principal)
    in_scope = rights_requests.c.borough.in_(sorted(boroughs))
    if unassigned:
        in_scope = or_(in_scope, rights_requests.c.borough.is_(None))
    rows = (await session.execute(
        select(rights_requests.c.request_id, rights_requests.c.request_type, rights_requests.c.status,
               rights_requests.c.received_on, rights_requests.c.due_date, rights_requests.c.on_hold,
               rights_requests.c.borough, rights_requests.c.pending_proposal)
        .where(or_(rights_requests.c.status != Status.RESPONDED.value,
                   rights_requests.c.pending_proposal.is_not(None)), in_scope)
        .order_by(rights_requests.c.due_date.asc().nulls_last(), rights_requests.c.received_on,
                  rights_requests.c.request_id))).mappings().all()
    today = ctx.today()
    return [{
        "request_id": r["request_id"], "type": r["request_type"], "status": r["status"],
        "received_on": r["received_on"], "due_date": r["due_date"], "on_hold": r["on_hold"],
        "borough": r["borough"],
        "overdue": r["due_date"] is not None and r["due_date"] < today,
        "days_left": (r["due_date"] - today).days if r["due_date"] is not None else None,
        "needs": _needs(Status.AWAITING_APPROVAL if r["pending_proposal"] else Status(r["status"])),
    } for r in rows]


def _needs(status: Status) -> str:
    """What the request waits for, in the worklist's words."""
    return {
        Status.RECEIVED: "officer: verify identity or acknowledge",
        Status.AWAITING_IDENTITY: "requester: identity evidence",
        Status.AWAITING_FEE: "requester: fee",
        Status.COLLECTING: "services: data collection",
        Status.COLLECTION_INCOMPLETE: "officer: re-ask the services, or DPO: accept as incomplete",
        Status.AWAITING_DECISION: "officer or DPO: decision",
        Status.AWAITING_APPROVAL: "DPO: approve or reject the proposed decision",
        Status.INVESTIGATING: "officer: complaint outcome",
        Status.READY_FOR_REVIEW: "DPO: review and approve",
    }.get(status, "")
