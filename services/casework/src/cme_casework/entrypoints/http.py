"""Officers' HTTP API (CONTRACT section 4): cases on the clock, scoped to the token's borough.

Reads: GET /cases, /cases/overdue, /cases/{id}, /returns/cme-census. Writes: one POST per thing an
officer does to a case (see `commands`). Another borough's case answers 404, as a missing one does.
"""

import csv
import io
from datetime import date
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query
from fastapi.responses import Response
from sqlalchemy import select

from cme_shared.contracts.referrals import Borough

from ..adapters.repository import CaseRecords
from ..adapters.tables import cases
from ..domain import census
from ..domain.clocks import next_due
from ..domain.errors import RecordNotFound
from ..domain.lifecycle import Status, fold
from ..service_layer.cases import check_visible, subjects_of, visible_boroughs
from ..service_layer.casework import Casework, today
from ..service_layer.returns import cme_census, in_boroughs
from .commands import command_routes
from .roles import Officers, Readers
from .schemas import CaseDetail, CaseSummary


def router(casework: Casework) -> APIRouter:
    api = APIRouter(tags=["cases"])
    sessions = casework.runtime.sessions

    @api.get("/cases", response_model=list[CaseSummary])
    async def list_cases(
        principal: Officers,
        upn: Annotated[str | None, Query(max_length=16)] = None,
        child_subject_id: UUID | None = None,
        status: Status | None = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 100,
    ) -> list[CaseSummary]:
        query = (select(cases).where(in_boroughs(visible_boroughs(principal)))
                 .order_by(cases.c.opened_at.desc()).limit(limit))
        if upn is not None:
            query = query.where(cases.c.child_upn == upn)
        if child_subject_id is not None:
            query = query.where(cases.c.child_subject_id == child_subject_id)
        if status is not None:
            query = query.where(cases.c.status == status.value)
        async with sessions() as session:
            rows = (await session.execute(query)).mappings().all()
        return [CaseSummary.from_row(row) for row in rows]

    @api.get("/cases/overdue", response_model=list[CaseSummary])
    async def overdue_cases(
        principal: Officers,
        as_of: Annotated[date | None, Query(description="the day to judge by; default today (London)")] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 500,
    ) -> list[CaseSummary]:
        """Open cases whose next deadline (escalation, first enquiries, review) has passed, most overdue first."""
        query = (select(cases).where(in_boroughs(visible_boroughs(principal)), cases.c.status != Status.CLOSED.value,
                                     cases.c.next_due_date < (as_of or today()))
                 .order_by(cases.c.next_due_date, cases.c.opened_at).limit(limit))
        async with sessions() as session:
            rows = (await session.execute(query)).mappings().all()
        return [CaseSummary.from_row(row) for row in rows]

    @api.get("/cases/{case_id}", response_model=CaseDetail)
    async def get_case(case_id: UUID, principal: Readers) -> CaseDetail:
        """The case as its history adds up to today, with every entry (old versions included)."""
        async with sessions() as session:
            records = CaseRecords(session)
            await check_visible(records, principal, case_id, lock=False)
            entries = await records.entries(case_id)
            state = fold(entries)
            restricted = await records.restricted(subjects_of(state))
        return CaseDetail.of(state, entries, next_due(state, casework.policy), restricted)

    @api.get("/returns/cme-census", response_class=Response, tags=["returns"],
             responses={200: {"content": {"text/csv": {}}, "description": "one row per combination with its count"}})
    async def cme_census_return(
        principal: Officers,
        census_date: date,
        borough: Borough | None = None,
    ) -> Response:
        """DfE CME return: open cases on the census date by reason, sex, year group and time missing."""
        boroughs = visible_boroughs(principal)
        if borough is not None:
            if borough.value not in boroughs:
                raise RecordNotFound("borough_not_visible", "that borough is not one of yours", ["query", "borough"])
            boroughs = {borough.value}
        async with sessions() as session:
            rows = await cme_census(session, census_date, boroughs)
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(census.COLUMNS)
        for key, count in rows:
            writer.writerow([census_date.isoformat(), key.borough, key.reason, key.sex, key.year_group,
                             key.time_missing, count])
        filename = f"cme-census-{census_date.isoformat()}.csv"
        return Response(out.getvalue(), media_type="text/csv",
                        headers={"content-disposition": f'attachment; filename="{filename}"'})

    api.include_router(command_routes(casework))
    return api
