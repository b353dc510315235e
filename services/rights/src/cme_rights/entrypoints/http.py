"""Officers' and the DPO's HTTP API (CONTRACT section 4, rights): translate, call one handler, answer."""

import asyncio
from collections.abc import Awaitable, Callable
from datetime import date
from typing import Annotated, Any, Literal, TypeVar
from uuid import UUID

from fastapi import APIRouter, Body, Depends, Query, Response
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from cme_shared.auth import Principal, Role, require_roles
from cme_shared.http.errors import ApiError
from cme_shared.runtime import ServiceRuntime

from ..adapters import pdf
from ..service_layer import decisions, requests
from ..service_layer.commands import (
    Approval,
    ClockEventIn,
    ComplaintAcknowledgement,
    ComplaintOutcome,
    ErasureDecision,
    Exemption,
    ObjectionDecision,
    RectificationDecision,
    Refusal,
    RestrictionDecision,
    RestrictionLift,
    RightsRequest,
    TransferDecision,
)
from ..service_layer.context import Refused, RightsContext
from ..settings import RightsSettings

T = TypeVar("T")


class RequestAccepted(BaseModel):
    request_id: UUID
    status: str
    due_date: date | None


class ClockAnswer(BaseModel):
    request_id: UUID
    status: str
    due_date: date | None  # None while the clock is stopped (identity or fee) or paused (clarification)
    on_hold: str | None
    extended: bool


class WorklistEntry(BaseModel):
    request_id: UUID
    type: str
    status: str
    received_on: date
    due_date: date | None
    on_hold: str | None
    overdue: bool
    days_left: int | None
    needs: str


def router(runtime: ServiceRuntime, ctx: RightsContext) -> APIRouter:
    api = APIRouter(tags=["rights requests"])
    staff = require_roles(Role.OFFICER, Role.DPO)
    dpo = require_roles(Role.DPO)
    Staff = Annotated[Principal, Depends(staff)]
    Dpo = Annotated[Principal, Depends(dpo)]
    settings: RightsSettings = ctx.settings

    async def tx(work: Callable[[AsyncSession], Awaitable[T]]) -> T:
        """One transaction per call; the outbox relay is nudged once it has committed."""
        try:
            async with runtime.sessions.begin() as session:
                result = await work(session)
        except Refused as refusal:
            raise ApiError(refusal.status, refusal.code, refusal.message, refusal.loc) from None
        runtime.relay.nudge()
        return result

    def decider(principal: Principal) -> decisions.Decider:
        return decisions.Decider(principal.sub, Role.DPO.value if Role.DPO in principal.roles else Role.OFFICER.value)

    @api.post("/requests", status_code=201, response_model=RequestAccepted)
    async def create(body: RightsRequest, principal: Staff) -> dict[str, Any]:
        """Record a rights request on the day the council received it (day one of the clock)."""
        return await tx(lambda s: requests.receive(ctx, s, body, principal.sub))

    @api.get("/requests/{request_id}")
    async def get(request_id: UUID, principal: Staff) -> dict[str, Any]:
        """Status, due date, clock history, decisions, gathering progress and the audit trail."""
        return await tx(lambda s: requests.view(s, request_id))

    @api.post("/requests/{request_id}/clock", response_model=ClockAnswer)
    async def clock(request_id: UUID, body: ClockEventIn, principal: Staff) -> dict[str, Any]:
        """Record identity, fee, clarification or extension events; answers the new due date."""
        return await tx(lambda s: requests.record_clock_event(ctx, s, request_id, body, principal.sub))

    @api.post("/requests/{request_id}/approve")
    async def approve(request_id: UUID, principal: Dpo,
                      body: Annotated[Approval | None, Body()] = None) -> dict[str, Any]:
        """A DPO releases the response that is ready for review."""
        return await tx(lambda s: requests.approve(ctx, s, request_id, body or Approval(), principal.sub))

    @api.get("/requests/{request_id}/response", response_model=None)
    async def response(request_id: UUID, principal: Staff,
                       format: Annotated[Literal["json", "pdf"], Query()] = "json") -> Any:
        """The released response (409 before a DPO approved it); `?format=pdf` for the printable pack."""
        released = await tx(lambda s: requests.released_response(s, request_id))
        if format == "json":
            return released
        content = await asyncio.to_thread(pdf.render, released, settings.pdf_font_path)
        return Response(content, media_type="application/pdf",
                        headers={"content-disposition": f'attachment; filename="rights-{request_id}.pdf"'})

    @api.get("/requests/{request_id}/draft")
    async def draft(request_id: UUID, principal: Staff) -> dict[str, Any]:
        """The prepared response, for review before approval."""
        return await tx(lambda s: requests.draft(s, request_id))

    @api.post("/requests/{request_id}/collect")
    async def collect(request_id: UUID, principal: Staff) -> dict[str, Any]:
        """Gather again from every service (after one did not answer, or matches were confirmed)."""
        return await tx(lambda s: requests.regather(ctx, s, request_id, principal.sub))

    @api.post("/requests/{request_id}/exemptions")
    async def exemption(request_id: UUID, body: Exemption, principal: Dpo) -> dict[str, Any]:
        """Withhold one record of an access pack under a DPA 2018 exemption, with the reason (before approval)."""
        return await tx(lambda s: requests.exempt(ctx, s, request_id, body, principal.sub))

    @api.post("/requests/{request_id}/refusal")
    async def refuse(request_id: UUID, body: Refusal, principal: Dpo) -> dict[str, Any]:
        """Refuse a manifestly unfounded or excessive request, with written reasons (Art 12(5))."""
        return await tx(lambda s: requests.refuse(ctx, s, request_id, body, principal.sub))

    @api.post("/requests/{request_id}/rectification-decision")
    async def rectification(request_id: UUID, body: RectificationDecision, principal: Staff) -> dict[str, Any]:
        return await tx(lambda s: decisions.rectify(ctx, s, request_id, body, decider(principal)))

    @api.post("/requests/{request_id}/erasure-decision")
    async def erasure(request_id: UUID, body: ErasureDecision, principal: Dpo) -> dict[str, Any]:
        return await tx(lambda s: decisions.decide_erasure(ctx, s, request_id, body, decider(principal)))

    @api.post("/requests/{request_id}/restriction-decision")
    async def restriction(request_id: UUID, body: RestrictionDecision, principal: Staff) -> dict[str, Any]:
        return await tx(lambda s: decisions.decide_restriction(ctx, s, request_id, body, decider(principal)))

    @api.post("/requests/{request_id}/restriction-lift")
    async def lift(request_id: UUID, body: RestrictionLift, principal: Staff) -> dict[str, Any]:
        return await tx(lambda s: decisions.lift_restriction(ctx, s, request_id, body, decider(principal)))

    @api.post("/requests/{request_id}/objection-decision")
    async def objection(request_id: UUID, body: ObjectionDecision, principal: Dpo) -> dict[str, Any]:
        return await tx(lambda s: decisions.decide_objection(ctx, s, request_id, body, decider(principal)))

    @api.post("/requests/{request_id}/transfer-decision")
    async def transfer(request_id: UUID, body: TransferDecision, principal: Staff) -> dict[str, Any]:
        return await tx(lambda s: decisions.prepare_transfer(ctx, s, request_id, body, decider(principal)))

    @api.post("/requests/{request_id}/complaint-acknowledgement")
    async def acknowledge(request_id: UUID, body: ComplaintAcknowledgement, principal: Staff) -> dict[str, Any]:
        return await tx(lambda s: decisions.acknowledge_complaint(ctx, s, request_id, body, decider(principal)))

    @api.post("/requests/{request_id}/complaint-outcome")
    async def outcome(request_id: UUID, body: ComplaintOutcome, principal: Staff) -> dict[str, Any]:
        return await tx(lambda s: decisions.complaint_outcome(ctx, s, request_id, body, decider(principal)))

    @api.get("/worklist", response_model=list[WorklistEntry])
    async def worklist(principal: Staff) -> list[dict[str, Any]]:
        """Open requests by due date, overdue first; stopped or paused clocks last."""
        return await tx(lambda s: requests.worklist(ctx, s))

    return api
