"""Referral triage: referrals no borough could be decided for (intake `GET /triage`, casework
`GET /cases/triage`: managers and the DPO), and the identity index's possible matches with the officer's
decision (intake `GET /possible-matches`, `POST /possible-matches/{id}/resolve`)."""

from uuid import UUID

from fastapi import APIRouter, Request
from fastapi.responses import Response

from .. import forms
from ..services import ServiceProblem
from ..web import done, form_errors, posted, render, services


def router() -> APIRouter:
    api = APIRouter()

    async def page(request: Request, status_code: int = 200, errors: list | None = None) -> Response:
        who, svc = services(request, "officer", "manager", "dpo")
        referrals, cases = [], []
        if who.has("manager", "dpo"):
            referrals = await svc.get("intake", "/triage", params={"limit": 100}, purpose="triage list")
        if who.has("manager"):
            cases = await svc.get("casework", "/cases/triage", params={"limit": 100}, purpose="triage list")
        matches = []
        if who.has("officer", "manager", "dpo"):
            matches = await svc.get("intake", "/possible-matches", params={"status": "open", "limit": 100},
                                    purpose="possible matches")
        return render(request, "triage.html", status_code=status_code, referrals=referrals, cases=cases,
                      matches=matches, errors=errors or [], can_decide=who.has("officer", "manager"))

    @api.get("/triage")
    async def triage(request: Request) -> Response:
        return await page(request)

    @api.post("/possible-matches/{match_id}/resolve")
    async def resolve(request: Request, match_id: UUID) -> Response:
        _, svc = services(request, "officer", "manager")
        form = await posted(request)
        (decision, reason), problems = forms.collect(
            lambda: forms.required(form, "decision", "your decision"),
            lambda: forms.required(form, "reason", "why"))
        if problems:
            return await page(request, 400, forms.errors_of(problems))
        try:
            answer = await svc.post("intake", f"/possible-matches/{match_id}/resolve",
                                    {"decision": decision, "reason": reason}, purpose="possible match decision")
        except ServiceProblem as problem:
            if problem.status not in (400, 409, 422):
                raise
            return await page(request, problem.status, form_errors(problem))
        pending = (answer or {}).get("status") == "pending_approval"
        return done(request, "/triage", "Merge proposed: a manager who did not propose it must approve it"
                    if pending else "Decision recorded")

    return api
