"""Officers' and the DPO's HTTP API (CONTRACT section 4, rights): translate, call one handler, answer.

Every route is one unit of work: `async with runtime.unit_of_work() as uow`, the handler (service_layer/)
or the read (views.py), `await uow.commit()`. A refusal leaves the block uncommitted (rolled back) and
reaches the caller as the platform's error body.

Who may call each route is the authorisation rule's (domain/access.py), applied twice: its roles admit
the caller here, and the service layer checks the request's borough and the second person on the row.
Every route that returns personal data records the read in the access log, in the same transaction."""

from concurrent.futures.process import BrokenProcessPool
from datetime import date
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Body, Depends, Query, Request, Response
from fastapi.responses import HTMLResponse
from pydantic import BaseModel

from cme_shared.auth import Principal, require_roles
from cme_shared.contracts.referrals import Problem
from cme_shared.refusal import Refusal
from cme_shared.runtime import ServiceRuntime

from .. import views
from ..adapters import letter, pdf
from ..domain.access import ROLES, Action
from ..service_layer import decisions, records, requests
from ..service_layer.commands import (
    Approval,
    BoroughAssignment,
    ClockEventIn,
    ComplaintAcknowledgement,
    ComplaintOutcome,
    ComplaintProgress,
    ErasureDecision,
    Exemption,
    ObjectionDecision,
    ProposalDecision,
    RectificationDecision,
    RestrictionDecision,
    RestrictionLift,
    RightsRequest,
    TransferDecision,
)
from ..service_layer.commands import Refusal as Art12Refusal

# The letter page has no script, image or stylesheet to load: its own inline style only.
LETTER_HEADERS = {"content-security-policy": "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; "
                                             "form-action 'none'; frame-ancestors 'none'",
                  "cache-control": "no-store", "x-content-type-options": "nosniff"}


class RequestAccepted(BaseModel):
    request_id: UUID
    status: str
    due_date: date | None
    # What the request did not take as sent (an officer's identity_verified: the DPO's to record).
    warnings: list[Problem] = []


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
    borough: str | None
    overdue: bool
    days_left: int | None
    needs: str


def router(runtime: ServiceRuntime, printer: pdf.Printer) -> APIRouter:
    api = APIRouter(tags=["rights requests"])

    def may(action: Action) -> Any:
        """The principal, admitted by the roles the authorisation rule gives `action` (domain/access.py);
        the borough and the second-person checks follow on the request itself, in the service layer."""
        return Annotated[Principal, Depends(require_roles(*ROLES[action]))]

    @api.post("/requests", status_code=201, response_model=RequestAccepted)
    async def create(body: RightsRequest, principal: may(Action.CREATE)) -> dict[str, Any]:
        """Record a rights request on the day the council received it (day one of the clock). It belongs to
        the officer's borough until the identity index names the borough of the subject's records. Only the
        DPO's `identity_verified: true` counts: an officer's is recorded as not yet verified, with a warning."""
        async with runtime.unit_of_work() as uow:
            answer = await requests.receive(uow, body, principal)
            await uow.commit()
        return answer

    @api.get("/requests/{request_id}")
    async def get(request_id: UUID, request: Request, principal: may(Action.READ)) -> dict[str, Any]:
        """Status, due date, clock history, decisions, gathering progress and the audit trail."""
        async with runtime.unit_of_work() as uow:
            view = await views.request_detail(uow, request_id, principal)
            await uow.access_log.record(request, principal, records.people(view), action="rights_request.read",
                                        returned="rights request detail (requester, subject, history)",
                                        request_id=request_id)
            await uow.commit()
        return view

    @api.post("/requests/{request_id}/clock", response_model=ClockAnswer)
    async def clock(request_id: UUID, body: ClockEventIn, principal: may(Action.CLOCK)) -> dict[str, Any]:
        """Record identity, fee, clarification or extension events; answers the new due date. Only the DPO
        records `identity_received` (identity verified)."""
        async with runtime.unit_of_work() as uow:
            answer = await requests.record_clock_event(uow, request_id, body, principal)
            await uow.commit()
        return answer

    @api.post("/requests/{request_id}/approve")
    async def approve(request_id: UUID, principal: may(Action.APPROVE),
                      body: Annotated[Approval | None, Body()] = None) -> dict[str, Any]:
        """A DPO releases the response that is ready for review (never the person who recorded the request)."""
        async with runtime.unit_of_work() as uow:
            answer = await requests.approve(uow, request_id, body or Approval(), principal)
            await uow.commit()
        return answer

    async def printed(response: dict[str, Any], draft: bool) -> bytes:
        try:
            return await printer.print(response, draft=draft, today=runtime.clock.today())
        except (TimeoutError, BrokenProcessPool):
            raise Refusal(503, "pdf_unavailable", "the printable pack could not be made now; "
                          "the JSON response is available") from None

    def as_letter(response: dict[str, Any], draft: bool) -> HTMLResponse:
        """The letter as one HTML page (the web preview, which also prints): it loads nothing, runs nothing."""
        return HTMLResponse(letter.render_html(response, medium="screen", draft=draft, today=runtime.clock.today()),
                            headers=LETTER_HEADERS)

    def as_pdf(content: bytes, request_id: UUID, draft: bool) -> Response:
        name = f"rights-{request_id}{'-draft' if draft else ''}.pdf"
        return Response(content, media_type="application/pdf",
                        headers={"content-disposition": f'attachment; filename="{name}"', "cache-control": "no-store"})

    @api.get("/requests/{request_id}/response", response_model=None)
    async def response(request_id: UUID, request: Request, principal: may(Action.READ_RESPONSE),
                       format: Annotated[Literal["json", "html", "pdf"], Query()] = "json") -> Any:
        """The released response (409 before a DPO approved it): `json` (the machines' copy, whole), `html`
        (the letter a parent reads; it prints too) or `pdf` (the same letter, tagged PDF/UA, printed once and
        then served from the stored copy)."""
        async with runtime.unit_of_work() as uow:
            released, people, stored = await views.released_response(uow, request_id, principal)
            await uow.access_log.record(request, principal, people, action="rights_response.read",
                                        returned=f"released response pack ({format})", request_id=request_id)
            await uow.commit()
        if format == "json":
            return released
        if format == "html":
            return as_letter(released, draft=False)
        if stored is None:  # printed outside any transaction: it takes seconds
            stored = await printed(released, draft=False)
            async with runtime.unit_of_work() as uow:
                await requests.keep_printed(uow, request_id, stored)
                await uow.commit()
        return as_pdf(stored, request_id, draft=False)

    @api.get("/requests/{request_id}/draft", response_model=None)
    async def draft(request_id: UUID, request: Request, principal: may(Action.DRAFT),
                    format: Annotated[Literal["json", "html", "pdf"], Query()] = "json") -> Any:
        """The prepared response, for the DPO's review before approval: as JSON, or as the letter the requester
        will get (`html`, `pdf`), marked as a draft."""
        async with runtime.unit_of_work() as uow:
            prepared, people = await views.draft(uow, request_id, principal)
            await uow.access_log.record(request, principal, people, action="rights_draft.read",
                                        returned=f"prepared response pack (draft, {format})", request_id=request_id)
            await uow.commit()
        if format == "json":
            return prepared
        if format == "html":
            return as_letter(prepared, draft=True)
        return as_pdf(await printed(prepared, draft=True), request_id, draft=True)

    @api.post("/requests/{request_id}/collect")
    async def collect(request_id: UUID, principal: may(Action.COLLECT)) -> dict[str, Any]:
        """Gather again from every service (after one did not answer, or matches were confirmed)."""
        async with runtime.unit_of_work() as uow:
            answer = await requests.collect_again(uow, request_id, principal)
            await uow.commit()
        return answer

    @api.post("/requests/{request_id}/exemptions")
    async def exemption(request_id: UUID, body: Exemption, principal: may(Action.EXEMPT)) -> dict[str, Any]:
        """Withhold one record of an access pack under a DPA 2018 exemption, with the reason (before approval)."""
        async with runtime.unit_of_work() as uow:
            answer = await requests.exempt(uow, request_id, body, principal)
            await uow.commit()
        return answer

    @api.post("/requests/{request_id}/refusal")
    async def refuse(request_id: UUID, body: Art12Refusal, principal: may(Action.REFUSE)) -> dict[str, Any]:
        """Refuse a manifestly unfounded or excessive request, with written reasons (Art 12(5))."""
        async with runtime.unit_of_work() as uow:
            answer = await requests.refuse(uow, request_id, body, principal)
            await uow.commit()
        return answer

    @api.post("/requests/{request_id}/rectification-decision")
    async def rectification(request_id: UUID, body: RectificationDecision,
                            principal: may(Action.DECIDE)) -> dict[str, Any]:
        """A DPO's accepted corrections are sent at once; an officer's wait for a DPO (awaiting_approval)."""
        async with runtime.unit_of_work() as uow:
            answer = await decisions.rectify(uow, request_id, body, principal)
            await uow.commit()
        return answer

    @api.post("/requests/{request_id}/erasure-decision")
    async def erasure(request_id: UUID, body: ErasureDecision, principal: may(Action.DECIDE_DPO)) -> dict[str, Any]:
        async with runtime.unit_of_work() as uow:
            answer = await decisions.decide_erasure(uow, request_id, body, principal)
            await uow.commit()
        return answer

    @api.post("/requests/{request_id}/restriction-decision")
    async def restriction(request_id: UUID, body: RestrictionDecision,
                          principal: may(Action.DECIDE)) -> dict[str, Any]:
        """A DPO's restriction is sent at once; an officer's waits for a DPO (awaiting_approval)."""
        async with runtime.unit_of_work() as uow:
            answer = await decisions.decide_restriction(uow, request_id, body, principal)
            await uow.commit()
        return answer

    @api.post("/requests/{request_id}/restriction-lift")
    async def lift(request_id: UUID, body: RestrictionLift, principal: may(Action.DECIDE)) -> dict[str, Any]:
        """A DPO's lift is sent at once; an officer's is proposed until a DPO approves it."""
        async with runtime.unit_of_work() as uow:
            answer = await decisions.lift_restriction(uow, request_id, body, principal)
            await uow.commit()
        return answer

    @api.post("/requests/{request_id}/proposal-decision")
    async def proposal(request_id: UUID, body: ProposalDecision,
                       principal: may(Action.APPROVE_PROPOSAL)) -> dict[str, Any]:
        """The DPO approves an officer's proposed rectification, restriction or lift (it takes effect now) or
        rejects it with reasons; never the proposer, nor the person who recorded the request."""
        async with runtime.unit_of_work() as uow:
            answer = await decisions.decide_proposal(uow, request_id, body, principal)
            await uow.commit()
        return answer

    @api.post("/requests/{request_id}/objection-decision")
    async def objection(request_id: UUID, body: ObjectionDecision,
                        principal: may(Action.DECIDE_DPO)) -> dict[str, Any]:
        async with runtime.unit_of_work() as uow:
            answer = await decisions.decide_objection(uow, request_id, body, principal)
            await uow.commit()
        return answer

    @api.post("/requests/{request_id}/transfer-decision")
    async def transfer(request_id: UUID, body: TransferDecision, principal: may(Action.DECIDE)) -> dict[str, Any]:
        async with runtime.unit_of_work() as uow:
            answer = await decisions.prepare_transfer(uow, request_id, body, principal)
            await uow.commit()
        return answer

    @api.post("/requests/{request_id}/complaint-acknowledgement")
    async def acknowledge(request_id: UUID, body: ComplaintAcknowledgement,
                          principal: may(Action.ACKNOWLEDGE)) -> dict[str, Any]:
        async with runtime.unit_of_work() as uow:
            answer = await decisions.acknowledge_complaint(uow, request_id, body, principal)
            await uow.commit()
        return answer

    @api.post("/requests/{request_id}/complaint-outcome")
    async def outcome(request_id: UUID, body: ComplaintOutcome, principal: may(Action.DECIDE)) -> dict[str, Any]:
        async with runtime.unit_of_work() as uow:
            answer = await decisions.complaint_outcome(uow, request_id, body, principal)
            await uow.commit()
        return answer

    @api.post("/requests/{request_id}/progress")
    async def progress(request_id: UUID, body: ComplaintProgress, principal: may(Action.PROGRESS)) -> dict[str, Any]:
        """A dated progress update the complainant is sent (DPA 2018 s164A(2)(c)), kept in the history."""
        async with runtime.unit_of_work() as uow:
            answer = await decisions.complaint_progress(uow, request_id, body, principal)
            await uow.commit()
        return answer

    @api.post("/requests/{request_id}/borough")
    async def assign_borough(request_id: UUID, body: BoroughAssignment,
                             principal: may(Action.ASSIGN_BOROUGH)) -> dict[str, Any]:
        """The DPO gives a request with no borough (a complaint from the public form) its borough, so that the
        borough's officers can investigate it; 409 if it has one already."""
        async with runtime.unit_of_work() as uow:
            answer = await decisions.assign_borough(uow, request_id, body, principal)
            await uow.commit()
        return answer

    @api.get("/worklist", response_model=list[WorklistEntry])
    async def worklist(principal: may(Action.LIST)) -> list[dict[str, Any]]:
        """Open requests of the caller's boroughs by due date, overdue first; stopped or paused clocks last."""
        async with runtime.unit_of_work() as uow:
            listed = await views.worklist(uow, principal)
            await uow.commit()
        return listed

    return api
