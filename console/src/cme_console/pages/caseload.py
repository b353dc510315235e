"""The caseload: the open cases this person's token reaches, grouped by urgency, with filters.

`GET /cases` (casework) answers the cases of the officer's borough (a manager's: both, and cases not yet
assigned); the filters narrow that answer. Filters hold codes only (borough, risk, reason), never data
about a child. Allocation to officers needs an API casework does not have yet: the officer filter and the
allocation control appear once the case summaries carry `allocated_to`.
"""

from datetime import date

from fastapi import APIRouter, Request
from fastapi.responses import Response

from ..people import BOROUGH_NAMES
from ..urgency import days_late, grouped
from ..web import render, services

FILTERS = ("borough", "risk", "reason", "officer")


def router() -> APIRouter:
    api = APIRouter()

    @api.get("/caseload")
    async def caseload(request: Request) -> Response:
        who, api_ = services(request, "officer", "manager")
        cases = await api_.get("casework", "/cases", params={"limit": 500}, purpose="caseload")
        open_cases = [c for c in cases if c.get("status") != "closed"]
        allocation = any("allocated_to" in c for c in open_cases)  # casework's allocation API, once it exists
        chosen = {k: request.query_params.get(k, "") for k in FILTERS}
        options = {
            "borough": sorted({c["borough"] for c in open_cases if c.get("borough")}),
            "risk": sorted({c["risk"] for c in open_cases if c.get("risk")}),
            "reason": sorted({c["reason"] for c in open_cases if c.get("reason")}),
            "officer": sorted({c["allocated_to"] for c in open_cases if c.get("allocated_to")}) if allocation else [],
        }
        shown = [c for c in open_cases if all(not chosen[k] or str(c.get(
            "allocated_to" if k == "officer" else k)) == chosen[k] for k in FILTERS)]
        today = date.today()
        return render(request, "caseload.html", groups=grouped(shown, today), options=options, chosen=chosen,
                      selected=[(k, v) for k, v in chosen.items() if v], allocation=allocation, total=len(open_cases),
                      shown=len(shown), days_late=lambda c: days_late(c, today), boroughs=BOROUGH_NAMES)

    return api
