"""A rights request's life: received, on the clock, worked, reviewed, released by a DPO.

Each handler takes the unit of work (adapters/unit_of_work.py) and what the caller asked; the route commits.
A rule that says no raises a `Refusal` (domain/access.py, domain/requests.py, domain/clock.py, here), which
leaves the transaction rolled back and reaches the caller as the platform's error body.
"""

import uuid
from datetime import date, datetime
from typing import Any

from cme_shared.auth import Principal
from cme_shared.contracts import topics
from cme_shared.contracts.categories import DataCategory
from cme_shared.contracts.shares import Recipient, ShareMade
from cme_shared.logging import get_logger
from cme_shared.refusal import Refusal

from ..adapters.unit_of_work import RightsUnitOfWork
from ..domain import access, exemptions
from ..domain import requests as rules
from ..domain.access import Action
from ..domain.clock import ClockEvent, complaint_acknowledgement_due, one_month_deadline
from ..domain.requests import GATHERING, ActingAs, RequestType, Status
from ..domain.responses import RecordNotInPack, apply_exemption, automated_decision_response, refusal_response
from . import collection, records
from .commands import Approval, ClockEventIn, Exemption, PublicComplaint, RightsRequest
from .commands import Refusal as Art12Refusal
from .records import Row

log = get_logger(__name__)


async def receive(uow: RightsUnitOfWork, command: RightsRequest, principal: Principal) -> dict[str, Any]:
    # Only the DPO's word settles identity (issue 13). CONTRACT section 4 lets an officer send the flag, so an
    # officer's `identity_verified: true` is recorded as not yet verified, said in the answer, and the search
    # waits for the DPO (the `identity_received` clock event) rather than refusing the request.
    identity_verified = command.identity_verified and access.allowed_role(principal, access.Action.VERIFY_IDENTITY)
    identity_left_to_dpo = command.identity_verified and not identity_verified
    actor = principal.sub
    records.not_after_today(uow, command.received_on, "received_in_future", "received_on cannot be later than today",
                            "received_on")
    request_type = command.type
    due = (one_month_deadline(command.received_on) if rules.uses_month_clock(request_type)
           else complaint_acknowledgement_due(command.received_on))
    request_id = uuid.uuid4()
    await uow.requests.add(
        request_id, request_type=request_type.value, status=Status.RECEIVED.value,
        received_on=command.received_on, channel=command.channel,
        requester=command.requester.model_dump(mode="json", exclude={"acting_as"}),
        subject=command.subject.model_dump(mode="json"),
        acting_as=command.requester.acting_as.value,
        authority=rules.authority_notes(command.requester.acting_as, command.subject.date_of_birth,
                                        command.received_on),
        identity_verified=identity_verified, details=command.details, due_date=due,
        created_by=actor, borough=access.borough_of_new_request(principal),
    )
    await uow.requests.audit(request_id, "received", actor, to_status=Status.RECEIVED.value,
                             detail={"type": request_type.value, "channel": command.channel,
                                     "acting_as": command.requester.acting_as.value,
                                     "identity_verified": identity_verified,
                                     **({"identity_left_to_dpo": True} if identity_left_to_dpo else {})})
    log.info("rights_request_received", request_id=str(request_id), request_type=request_type.value)
    row = await records.load(uow, request_id, for_update=True)
    nxt = rules.status_before_work(request_type, awaiting=frozenset(), identity_verified=identity_verified)
    if nxt is not Status.RECEIVED:
        await begin_work(uow, row, actor)
    row = await records.load(uow, request_id)
    answer: dict[str, Any] = {"request_id": request_id, "status": row["status"], "due_date": row["due_date"]}
    if identity_left_to_dpo:
        answer["warnings"] = [{"loc": ["body", "identity_verified"], "code": "identity_needs_dpo",
                               "message": "only the DPO records a requester's identity as verified: the "
                                          "request waits for the DPO's identity_received"}]
    return answer


# Who recorded a complaint sent through the public form: nobody with a token (never a staff member's sub).
PUBLIC_FORM = "public:complaint_form"


async def receive_public_complaint(uow: RightsUnitOfWork, command: PublicComplaint) -> dict[str, Any]:
    """A member of the public's complaint from the electronic form (DPA 2018 s164A(2)(a)): a `complaint`
    request, channel `web`, received today (London). It belongs to no borough, so it is the DPO's (the
    worklist shows it) until an officer's borough is given it. The complainant learns its reference and the
    day by which it is acknowledged (s164A(3)), nothing else."""
    received_on = uow.clock.today()
    due = complaint_acknowledgement_due(received_on)
    complainant = command.complainant.model_dump(mode="json", exclude_none=True)
    acting_as = ActingAs.SELF if command.child is None else ActingAs.PARENT
    subject = (command.child.model_dump(mode="json") if command.child is not None
               else {"first_name": complainant["first_name"], "last_name": complainant["last_name"],
                     "address": complainant.get("address")})
    request_id = uuid.uuid4()
    await uow.requests.add(
        request_id, request_type=RequestType.COMPLAINT.value, status=Status.RECEIVED.value,
        received_on=received_on, channel="web", requester=complainant, subject=subject,
        acting_as=acting_as.value,
        authority=rules.authority_notes(acting_as, command.child.date_of_birth if command.child else None,
                                        received_on),
        identity_verified=False, details=command.about,
        due_date=due, created_by=PUBLIC_FORM, borough=None,
    )
    await uow.requests.audit(request_id, "received", PUBLIC_FORM, to_status=Status.RECEIVED.value,
                             detail={"type": RequestType.COMPLAINT.value, "channel": "web",
                                     "acting_as": acting_as.value, "public_form": True})
    log.info("rights_request_received", request_id=str(request_id), request_type=RequestType.COMPLAINT.value,
             channel="web")
    return {"reference": request_id, "acknowledgement_due": due}


async def begin_work(uow: RightsUnitOfWork, row: Row, actor: str) -> None:
    request_type = records.type_of(row)
    if request_type in GATHERING:
        await collection.start_collection(uow, row, actor)
    elif request_type is RequestType.AUTOMATED_DECISION:
        await records.move(uow, row, Status.READY_FOR_REVIEW, actor, "answered_from_register",
                           response=automated_decision_response(records.facts(row)))


async def record_clock_event(uow: RightsUnitOfWork, request_id: uuid.UUID, command: ClockEventIn,
                             principal: Principal) -> dict[str, Any]:
    row = await records.load_for(uow, request_id, principal, Action.CLOCK, for_update=True)
    if command.event.value == "identity_received":
        access.check_identity(principal)
    actor = principal.sub
    request_type, status = records.type_of(row), records.status_of(row)
    records.not_after_today(uow, command.on, "event_in_future", "a clock event cannot be later than today", "on")
    rules.check_clock_event(request_type, status, command.event.value)
    event = ClockEvent(command.event, command.on, command.reason)
    state = (await records.load_clock(uow, row)).record(event).state()
    await uow.requests.add_clock_event(request_id, event, due_date_after=state.due_date, on_hold_after=state.on_hold,
                                       recorded_by=actor)
    identity_verified = row["identity_verified"] or state.identity_received
    await uow.requests.change(request_id, due_date=state.due_date, on_hold=state.on_hold,
                              identity_verified=identity_verified)
    log.info("clock_event_recorded", request_id=str(request_id), clock_event=command.event.value)
    if status in rules.BEFORE_WORK:
        nxt = rules.status_before_work(request_type, awaiting=state.awaiting, identity_verified=identity_verified)
        if nxt in rules.BEFORE_WORK:
            if nxt is not status:
                await records.move(uow, row, nxt, actor, f"clock_{command.event.value}")
        else:
            await begin_work(uow, await records.load(uow, request_id), actor)
    row = await records.load(uow, request_id)
    return {"request_id": request_id, "status": row["status"], "due_date": state.due_date,
            "on_hold": state.on_hold, "extended": state.extended}


async def approve(uow: RightsUnitOfWork, request_id: uuid.UUID, approval: Approval,
                  principal: Principal) -> dict[str, Any]:
    """A DPO releases the prepared response; a transfer is sent (and logged as a share) now."""
    row = await records.load_for(uow, request_id, principal, Action.APPROVE, for_update=True)
    actor = principal.sub
    response = row["response"]
    if response is None:
        raise Refusal(409, "not_ready_for_review", "there is no response ready for review")
    complete = response.get("completeness", {}).get("complete", True)
    rules.check_approval(records.status_of(row), complete=complete, accept_incomplete=approval.accept_incomplete)
    now = uow.clock.now()
    release: dict[str, Any] = {"approved_by": actor, "approved_at": now.isoformat()}
    if not complete:
        if not (approval.note or "").strip():
            raise Refusal(422, "incomplete_needs_note", "releasing an incomplete response needs a note saying why",
                          ["body", "note"])
        release["incomplete_accepted"] = {"services_missing": response["completeness"]["services_missing"],
                                          "note": approval.note}
        await uow.requests.add_decision(request_id, "incomplete_accepted", release["incomplete_accepted"], actor, "dpo")
    if records.type_of(row) is RequestType.TRANSFER:
        await _send_transfer(uow, row, response, actor, now)
    await records.move(uow, row, Status.RESPONDED, actor, "approved_and_released",
                       detail={"incomplete_accepted": not complete},
                       response={**response, "release": release}, approved_by=actor, approved_at=now)
    return {"request_id": request_id, "status": Status.RESPONDED.value, "approved_by": actor,
            "approved_at": now}


async def _send_transfer(uow: RightsUnitOfWork, row: Row, response: dict[str, Any], actor: str,
                         now: datetime) -> None:
    """DOMAIN section 5: a transfer is a statutory share to the new council, so it lands in the disclosure log."""
    share = response["share"]
    event = ShareMade(
        **records.event_fields(uow), share_ref=f"rights:{row['request_id']}", service="rights",
        subject_ids=records.uuids(row["subject_ids"]),
        recipient=Recipient(type="other_local_authority", org_id=share["recipient"].get("org_id"),
                            org_name=share["recipient"]["org_name"]),
        purpose="statutory_transfer", legal_gateway=share["legal_gateway"],
        categories=[DataCategory(c) for c in share["categories"]], fields_released=share["fields_released"],
        reason=share["reason"], decided_by=actor, shared_at=now,
    )
    await records.emit(uow, topics.SHARE_EVENTS, event, row["request_id"])


def _date_or_none(value: str | date | None) -> date | None:
    return date.fromisoformat(value) if isinstance(value, str) else value


async def exempt(uow: RightsUnitOfWork, request_id: uuid.UUID, command: Exemption,
                 principal: Principal) -> dict[str, Any]:
    """The DPO withholds one record of a prepared access pack under an exemption, item by item."""
    row = await records.load_for(uow, request_id, principal, Action.EXEMPT, for_update=True)
    actor = principal.sub
    if records.type_of(row) is not RequestType.ACCESS or row["response"] is None or records.status_of(row) not in (
            Status.READY_FOR_REVIEW, Status.COLLECTION_INCOMPLETE):
        raise Refusal(409, "no_pack_under_review", "exemptions apply to an access pack under review")
    exemptions.check(exemptions.ExemptionClaim(
        exemption=command.exemption, acting_as=ActingAs(row["acting_as"]),
        subject_date_of_birth=_date_or_none((row["subject"] or {}).get("date_of_birth")), today=uow.clock.today(),
        health_professional_opinion_on=command.health_professional_opinion_on,
        health_professional=command.health_professional))
    try:
        pack = apply_exemption(row["response"], command.service, command.record_id, command.exemption,
                               command.reason, actor)
    except RecordNotInPack:
        raise Refusal(422, "record_not_in_pack", "the pack holds no such record", ["body", "record_id"]) from None
    await uow.requests.add_decision(request_id, "exemption", command.model_dump(mode="json"), actor, "dpo")
    await uow.requests.change(request_id, response=pack)
    await uow.requests.audit(request_id, "exemption_applied", actor, from_status=row["status"],
                             to_status=row["status"], detail={"exemption": command.exemption,
                                                              "record_id": command.record_id})
    return {"request_id": request_id, "status": row["status"], "exemptions": pack["exemptions"]}


async def refuse(uow: RightsUnitOfWork, request_id: uuid.UUID, command: Art12Refusal,
                 principal: Principal) -> dict[str, Any]:
    """UK GDPR Art 12(5)(b): a manifestly unfounded or excessive request refused, with written reasons."""
    row = await records.load_for(uow, request_id, principal, Action.REFUSE, for_update=True)
    actor = principal.sub
    rules.check_refusal(records.type_of(row), records.status_of(row))
    decision = {"outcome": "refused", "basis": command.basis, "reasons": command.reason}
    await uow.requests.add_decision(request_id, "refusal", decision, actor, "dpo")
    await uow.asks.close_open(request_id)
    basis = f"UK GDPR Art 12(5)(b): the request is {command.basis.replace('_', ' ')}"
    await records.move(uow, row, Status.READY_FOR_REVIEW, actor, "refused",
                       detail={"basis": command.basis},
                       response=refusal_response(records.facts(row), command.reason, basis))
    return {"request_id": request_id, "status": Status.READY_FOR_REVIEW.value}


async def collect_again(uow: RightsUnitOfWork, request_id: uuid.UUID, principal: Principal) -> dict[str, Any]:
    """Ask every service again (after a service failed to answer, or matches were confirmed in intake)."""
    row = await records.load_for(uow, request_id, principal, Action.COLLECT, for_update=True)
    rules.check_regather(records.type_of(row), records.status_of(row))
    await collection.start_collection(uow, row, principal.sub)
    return {"request_id": request_id, "status": Status.COLLECTING.value}


async def keep_printed(uow: RightsUnitOfWork, request_id: uuid.UUID, content: bytes) -> None:
    """The printed copy of a released response, made once (SEC-25): later downloads are served from it."""
    await uow.requests.keep_printed(request_id, content)
