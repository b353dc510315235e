"""Officers' HTTP API (CONTRACT section 4): cases on the clock, scoped to the token's borough.

Reads: GET /cases, /cases/overdue, /cases/triage, /cases/{id}, /returns/cme-census, /referrals/held.
Writes: one POST per thing an officer does to a case (see `commands`), and the release of a held referral.
Another borough's case answers 404, as a missing one does; cases not yet assigned to a borough (triage) are
seen by managers and the DPO only.
"""

import csv
import io
from datetime import date
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Path, Query
from fastapi.responses import Response
from sqlalchemy import case, select

from cme_shared.contracts.referrals import Borough
from cme_shared.http.limits import MAX_BIGINT

from ..adapters.repository import CaseRecords
from ..adapters.tables import cases
from ..domain import census
from ..domain.clocks import next_due
from ..domain.errors import RecordNotFound
from ..domain.history import officer
from ..domain.lifecycle import Status, fold
from ..domain.opening import Risk
from ..domain.restriction import RestrictionException, recorded
from ..service_layer.cases import check_visible, subjects_of, visible_boroughs
from ..service_layer.casework import Casework, today
from ..service_layer.referrals import held_referrals, release_held
from ..service_layer.returns import cme_census, in_boroughs
from .commands import command_routes
from .roles import Officers, Readers, Triage
from .schemas import CaseDetail, CaseSummary, HeldReferral, ReleaseResult


def router(casework: Casework) -> APIRouter:
    api = APIRouter(tags=["cases"])
    sessions = casework.runtime.sessions

    @api.get("/cases", response_model=list[CaseSummary])
    async def list_cases(
        principal: Readers,
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
        principal: Readers,
        as_of: Annotated[date | None, Query(description="the day to judge by; default today (London)")] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 500,
    ) -> list[CaseSummary]:
        """Open cases whose next deadline (escalation, first enquiries, review) has passed, most overdue first.

        Managers and the DPO also see cases not yet assigned to a borough (officers see only their own).
        """
        query = (select(cases).where(in_boroughs(visible_boroughs(principal)), cases.c.status != Status.CLOSED.value,
                                     cases.c.next_due_date < (as_of or today()))
                 .order_by(cases.c.next_due_date, cases.c.opened_at).limit(limit))
        async with sessions() as session:
            rows = (await session.execute(query)).mappings().all()
        return [CaseSummary.from_row(row) for row in rows]

    @api.get("/cases/triage", response_model=list[CaseSummary])
    async def triage_cases(
        principal: Triage,
        limit: Annotated[int, Query(ge=1, le=1000)] = 500,
    ) -> list[CaseSummary]:
        """Open cases that belong to no borough yet, high risk first, then by what is due soonest.

        No borough's officers see them, so a manager assigns each one (POST /cases/{id}/borough).
        """
        high_first = case((cases.c.risk == Risk.HIGH.value, 0), else_=1)
        query = (select(cases).where(cases.c.borough.is_(None), cases.c.status != Status.CLOSED.value)
                 .order_by(high_first, cases.c.next_due_date.nulls_last(), cases.c.opened_at).limit(limit))
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

    @api.get("/referrals/held", response_model=list[HeldReferral], tags=["referrals"])
    async def list_held_referrals(
        principal: Officers,
        limit: Annotated[int, Query(ge=1, le=1000)] = 500,
    ) -> list[HeldReferral]:
        """Referrals held while a subject is restricted (UK GDPR Art 18), oldest first, in your boroughs.

        A high-risk referral is never held: it is processed at once under the Art 18(2) exception.
        """
        async with sessions() as session:
            held = await held_referrals(session, visible_boroughs(principal), limit)
        return [HeldReferral.model_validate(h) for h in held]

    @api.post("/referrals/held/{entry_id}/release", response_model=ReleaseResult, tags=["referrals"])
    async def release_held_referral(entry_id: Annotated[int, Path(ge=1, le=MAX_BIGINT)], body: RestrictionException,
                                    principal: Officers) -> ReleaseResult:
        """Act on a held referral under a UK GDPR Art 18(2) exception, as it would have been acted on."""
        async with sessions.begin() as session:
            case_id, release = await release_held(session, casework, entry_id, visible_boroughs(principal),
                                                  recorded(body, officer(principal.sub)))
        casework.runtime.relay.nudge()
        return ReleaseResult(entry_id=release.entry_id, case_id=case_id)

    api.include_router(command_routes(casework))
    return api
