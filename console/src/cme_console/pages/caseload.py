"""The caseload: the open cases this person's token reaches, grouped by urgency, with filters.

`GET /cases` (casework) answers the cases of the officer's borough (a manager's: both, and cases not yet
assigned); the officer filter is casework's own (`GET /cases?allocated_to=<user id>`, or `=me` for the
signed-in person's cases), the others narrow that answer. Filters hold codes and staff user ids only
(borough, risk, reason, officer), never data about a child. Each summary says whom the case is allocated to
(`allocated_to`); the case page allocates it.
"""

from fastapi import APIRouter, Request
from fastapi.responses import Response

from cme_shared.clock import SYSTEM_CLOCK

from ..people import BOROUGH_NAMES
from ..urgency import days_late, grouped
from ..web import render, services

FILTERS = ("borough", "risk", "reason", "officer")


def router() -> APIRouter:
    api = APIRouter()

    @api.get("/caseload")
    async def caseload(request: Request) -> Response:
        who, api_ = services(request, "officer", "manager")
        chosen = {k: request.query_params.get(k, "")[:200] for k in FILTERS}
        params: dict[str, str | int] = {"limit": 500}
        if chosen["officer"]:
            params["allocated_to"] = "me" if chosen["officer"] in ("me", who.sub) else chosen["officer"]
        cases = await api_.get("casework", "/cases", params=params, purpose="caseload")
        open_cases = [c for c in cases if c.get("status") != "closed"]
        officers = {c["allocated_to"] for c in open_cases if c.get("allocated_to")} - {who.sub}
        if chosen["officer"] not in ("", "me", who.sub):
            officers.add(chosen["officer"])
        options = {
            "borough": sorted({c["borough"] for c in open_cases if c.get("borough")}),
            "risk": sorted({c["risk"] for c in open_cases if c.get("risk")}),
            "reason": sorted({c["reason"] for c in open_cases if c.get("reason")}),
            "officer": [("me", "My cases")] + [(o, o) for o in sorted(officers)],
        }
        shown = [c for c in open_cases if all(not chosen[k] or str(c.get(k)) == chosen[k]
                                              for k in FILTERS if k != "officer")]
        today = SYSTEM_CLOCK.today()
        words = dict(options["officer"])
        return render(request, "caseload.html", groups=grouped(shown, today), options=options, chosen=chosen,
                      selected=[(k, words.get(v, v) if k == "officer" else v) for k, v in chosen.items() if v],
                      total=len(open_cases), shown=len(shown), days_late=lambda c: days_late(c, today),
                      boroughs=BOROUGH_NAMES, me=who.sub)

    return api
