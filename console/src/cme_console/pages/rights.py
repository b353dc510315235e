"""Rights: the worklist (rights `GET /worklist`: due dates, pauses), one request with its clock history and
the extension form (`POST /requests/{id}/clock`), and the DPO's review of the draft pack
(`GET /requests/{id}/draft`) with its redactions, withheld records and their reasons, and approval (`POST /requests/{id}/approve`)."""

from typing import Any
from uuid import UUID

from fastapi import APIRouter, Request
from fastapi.responses import Response

from .. import forms
from ..services import ServiceProblem
from ..web import done, form_errors, posted, render, services

CLOCK_EVENTS = ("identity_requested", "identity_received", "fee_requested", "fee_received",
                "clarification_requested", "clarification_received", "extended")


def withheld_of(draft: dict[str, Any]) -> list[dict[str, Any]]:
    """The draft's records withheld whole, with the reason the pack gives the reader."""
    return [{"service": part["service"], "category": cat["category"], "record_type": rec.get("record_type"),
             "reason": rec["withheld"]}
            for part in draft.get("data", []) for cat in part.get("categories", []) for rec in cat.get("records", [])
            if "withheld" in rec]


def router() -> APIRouter:
    api = APIRouter()

    @api.get("/rights")
    async def worklist(request: Request) -> Response:
        _, svc = services(request, "officer", "dpo")
        entries = await svc.get("rights", "/worklist", purpose="rights worklist")
        return render(request, "rights.html", entries=entries)

    async def request_page(request: Request, request_id: UUID, status_code: int = 200,
                           errors: list | None = None) -> Response:
        who, svc = services(request, "officer", "dpo")
        rights_request = await svc.get("rights", f"/requests/{request_id}", purpose="rights request page")
        draft = None
        if who.has("dpo") and rights_request.get("status") in ("ready_for_review", "responded"):
            try:
                draft = await svc.get("rights", f"/requests/{request_id}/draft", purpose="DPO review of the draft")
            except ServiceProblem as problem:
                if problem.status not in (404, 409):
                    raise
        return render(request, "rights_request.html", status_code=status_code, rq=rights_request, draft=draft,
                      withheld=withheld_of(draft) if draft else [], clock_events=CLOCK_EVENTS,
                      errors=errors or [], may_approve=who.has("dpo") and rights_request.get("status") ==
                      "ready_for_review" and rights_request.get("created_by") != who.sub)

    @api.get("/rights/{request_id}")
    async def show(request: Request, request_id: UUID) -> Response:
        return await request_page(request, request_id)

    @api.post("/rights/{request_id}/clock")
    async def clock(request: Request, request_id: UUID) -> Response:
        _, svc = services(request, "officer", "dpo")
        form = await posted(request)
        (event, on), problems = forms.collect(lambda: forms.required(form, "event", "what happened"),
                                              lambda: forms.day(form, "on", "the date it happened"))
        if problems:
            return await request_page(request, request_id, 400, forms.errors_of(problems))
        try:
            await svc.post("rights", f"/requests/{request_id}/clock",
                           {"event": event, "on": on, "reason": forms.text(form, "reason")}, purpose="rights clock")
        except ServiceProblem as problem:
            if problem.status not in (400, 403, 409, 422):
                raise
            return await request_page(request, request_id, problem.status,
                                      form_errors(problem, {"event": "event", "on": "on-day", "reason": "reason"}))
        return done(request, f"/rights/{request_id}", "Clock updated")

    @api.post("/rights/{request_id}/approve")
    async def approve(request: Request, request_id: UUID) -> Response:
        _, svc = services(request, "dpo")
        await posted(request)
        try:
            await svc.post("rights", f"/requests/{request_id}/approve", {}, purpose="DPO approval")
        except ServiceProblem as problem:
            if problem.status not in (400, 403, 409, 422):
                raise
            return await request_page(request, request_id, problem.status, form_errors(problem))
        return done(request, f"/rights/{request_id}", "Response approved and released")

    return api
