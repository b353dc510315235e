"""The DfE CME census return (casework `GET /returns/cme-census`): counts only, shown as a table and
offered as the CSV casework makes (its cells already safe to open in a spreadsheet)."""

import csv
import io
from datetime import date

from fastapi import APIRouter, Request
from fastapi.responses import Response

from cme_shared.clock import SYSTEM_CLOCK

from ..web import render, services


def router() -> APIRouter:
    api = APIRouter()

    def census_date(request: Request) -> str | None:
        text = request.query_params.get("census_date", "")
        try:
            return date.fromisoformat(text).isoformat()
        except ValueError:
            return None

    @api.get("/census")
    async def census(request: Request) -> Response:
        _, svc = services(request, "officer", "manager")
        on = census_date(request)
        rows: list[dict[str, str]] = []
        if on:
            text = await svc.get_text("casework", "/returns/cme-census", params={"census_date": on},
                                      purpose="census return")
            rows = list(csv.DictReader(io.StringIO(text)))
        return render(request, "census.html", on=on, rows=rows,
                      asked="census_date" in request.query_params, total=sum(int(r.get("count") or 0) for r in rows))

    @api.get("/census.csv")
    async def census_csv(request: Request) -> Response:
        _, svc = services(request, "officer", "manager")
        on = census_date(request) or SYSTEM_CLOCK.today().isoformat()
        text = await svc.get_text("casework", "/returns/cme-census", params={"census_date": on},
                                  purpose="census return download")
        return Response(text, media_type="text/csv",
                        headers={"content-disposition": f'attachment; filename="cme-census-{on}.csv"'})

    return api
