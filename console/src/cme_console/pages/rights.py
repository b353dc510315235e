"""Rights: the worklist (rights `GET /worklist`: due dates, pauses), one request with its clock history and
the extension form (`POST /requests/{id}/clock`), and the DPO's review of the draft pack
(`GET /requests/{id}/draft`) with its redactions, withheld records and their reasons, and approval (`POST /requests/{id}/approve`).

The letter: `/rights/{id}/letter` (and `.pdf`) passes on the rights service's own rendering of the pack as the
requester reads it, `GET /requests/{id}/draft?format=html|pdf` before release (the DPO's preview, marked
draft) and `GET /requests/{id}/response?format=html|pdf` after it, with the person's own token."""

from typing import Any, Literal
from uuid import UUID

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from .. import forms
from ..services import ServiceProblem
from ..web import done, form_errors, posted, render, services

# The letter loads nothing and runs nothing (as the rights service serves it).
LETTER_HEADERS = {"content-security-policy": "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; "
                                             "form-action 'none'; frame-ancestors 'none'",
                  "cache-control": "no-store", "x-content-type-options": "nosniff"}
LETTER_STATUSES = ("ready_for_review", "responded")

CLOCK_EVENTS = ("identity_requested", "identity_received", "fee_requested", "fee_received",
                "clarification_requested", "clarification_received", "extended")


def withheld_of(draft: dict[str, Any]) -> list[dict[str, Any]]:
    """The draft's records withheld whole, with the reason the pack gives the reader."""
    return [{"service": part["service"], "category": cat["category"], "record_type": rec.get("record_type"),
             "reason": rec["withheld"]}
            for part in draft.get("data", []) for cat in part.get("categories", []) for rec in cat.get("records", [])
            if "withheld" in rec]


def recipients_of(draft: dict[str, Any]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The draft's recipients: shares outside the council one by one, and council staff's reads counted by
    who and where (one line per role and service, with the first and last day)."""
    outside, staff = [], {}
    for r in draft.get("recipients", []):
        if r.get("type") != "council_staff":
            outside.append(r)
            continue
        line = staff.setdefault(r.get("org_name"), {"who": r.get("org_name"), "reads": 0, "first": r.get("shared_at"),
                                                    "last": r.get("shared_at")})
        line["reads"] += 1
        line["first"] = min(filter(None, (line["first"], r.get("shared_at"))), default=None)
        line["last"] = max(filter(None, (line["last"], r.get("shared_at"))), default=None)
    return outside, sorted(staff.values(), key=lambda line: str(line["who"]))


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
        letter = None
        if rights_request.get("status") == "responded" or (draft and rights_request.get("status") == "ready_for_review"):
            letter = {"released": rights_request.get("status") == "responded",
                      "html": f"/rights/{request_id}/letter", "pdf": f"/rights/{request_id}/letter.pdf"}
        return render(request, "rights_request.html", status_code=status_code, rq=rights_request, draft=draft,
                      letter=letter, recipients=recipients_of(draft) if draft else ([], []),
                      withheld=withheld_of(draft) if draft else [], clock_events=CLOCK_EVENTS,
                      errors=errors or [], may_approve=who.has("dpo") and rights_request.get("status") ==
                      "ready_for_review" and rights_request.get("created_by") != who.sub)

    @api.get("/rights/{request_id}")
    async def show(request: Request, request_id: UUID) -> Response:
        return await request_page(request, request_id)

    async def letter(request: Request, request_id: UUID, format: Literal["html", "pdf"]) -> Response:
        """The pack as the requester reads it: the draft before release, the released letter after."""
        _, svc = services(request, "officer", "dpo")
        rights_request = await svc.get("rights", f"/requests/{request_id}", purpose="rights request letter")
        released = rights_request.get("status") == "responded"
        if not released and rights_request.get("status") not in LETTER_STATUSES:
            raise ServiceProblem("rights", 404, [{"loc": [], "code": "no_letter", "message": "no letter yet"}])
        path = f"/requests/{request_id}/{'response' if released else 'draft'}"
        answer = await svc.get_raw("rights", path, params={"format": format},
                                   purpose="the released letter" if released else "DPO preview of the draft letter")
        if format == "html":
            return HTMLResponse(answer.text, headers=LETTER_HEADERS)
        name = f"rights-{request_id}{'' if released else '-draft'}.pdf"
        return Response(answer.content, media_type="application/pdf",
                        headers={"content-disposition": f'attachment; filename="{name}"', "cache-control": "no-store"})

    @api.get("/rights/{request_id}/letter")
    async def letter_html(request: Request, request_id: UUID) -> Response:
        return await letter(request, request_id, "html")

    @api.get("/rights/{request_id}/letter.pdf")
    async def letter_pdf(request: Request, request_id: UUID) -> Response:
        return await letter(request, request_id, "pdf")

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
