"""Officers' HTTP API (CONTRACT section 4): cases on the clock, scoped by one rule (`domain.permissions`).

Reads: GET /cases, /cases/overdue, /cases/triage, /cases/{id}, /cases/{id}/closure-readiness, /returns/cme-census, /returns/cme-any-time,
/referrals/held, /referrals/routed, /shares/pending. Writes: one POST per thing an officer does to a case (see
`commands`), and the release of a held referral. Another borough's case answers 404, as a missing one does; cases not yet assigned to a
borough (triage) are seen by managers and the DPO only.

Every read that returns a child's data is recorded in the access log in the same transaction (issue 13):
one row per child listed, counted or shown, with who, as which role, why (`X-CME-Purpose`) and what.
"""

from dataclasses import replace
from datetime import date
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response
from sqlalchemy import case, select

from cme_shared.access_log import record_access
from cme_shared.contracts.referrals import Borough
from cme_shared.http.errors import ApiError
from cme_shared.http.limits import MAX_BIGINT

from ..adapters.repository import CaseRecords, in_reach
from ..adapters.tables import cases, kit
from ..domain import census
from ..domain.clocks import next_due
from ..domain.errors import RecordNotFound
from ..domain.history import officer
from ..domain.lifecycle import Status, fold
from ..domain.opening import Risk
from ..domain.readiness import readiness
from ..domain.restriction import RestrictionException, recorded
from ..service_layer.cases import check_reached, subjects_of
from ..service_layer.casework import Casework, today
from ..service_layer.referrals import RouteFilter, held_referrals, release_held, routed_referrals
from ..service_layer.returns import cme_any_time, cme_census
from ..service_layer.shares import pending_shares
from .commands import command_routes
from .roles import (
    Caller,
    ExportCensus,
    ListCases,
    ListHeld,
    ListPendingShares,
    ListRouted,
    ReadCase,
    ReleaseHeld,
    Triage,
)
from .schemas import CaseDetail, CaseSummary, ClosureReadiness, HeldReferral, PendingShare, ReleaseResult, RoutedReferral
from .spreadsheet import csv_text


def router(casework: Casework) -> APIRouter:
    api = APIRouter(tags=["cases"])
    sessions = casework.runtime.sessions

    async def listed(request: Request, caller: Caller, query: Any, what: str) -> list[CaseSummary]:
        """A list of cases, each child in it recorded as read (`cases.list`), in the read's transaction."""
        async with sessions.begin() as session:
            rows = (await session.execute(query)).mappings().all()
            await record_access(session, kit.access_log, request, caller.principal,
                                [row["child_subject_id"] for row in rows], action="cases.list", record_type="case",
                                returned=f"case summary in {what} ({len(rows)} cases)")
        return [CaseSummary.from_row(row) for row in rows]

    @api.get("/cases", response_model=list[CaseSummary])
    async def list_cases(
        request: Request,
        caller: ListCases,
        upn: Annotated[str | None, Query(max_length=16)] = None,
        child_subject_id: UUID | None = None,
        status: Status | None = None,
        allocated_to: Annotated[str | None, Query(min_length=1, max_length=200,
                                                  description="an officer's `sub`, or `me` for the caller's own")] = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 100,
    ) -> list[CaseSummary]:
        """Cases in your boroughs, newest first; `allocated_to` narrows them to one officer's caseload."""
        query = select(cases).where(in_reach(caller.grant)).order_by(cases.c.opened_at.desc()).limit(limit)
        if allocated_to is not None:
            query = query.where(cases.c.allocated_to == (caller.sub if allocated_to == "me" else allocated_to))
        if upn is not None:
            query = query.where(cases.c.child_upn == upn)
        if child_subject_id is not None:
            query = query.where(cases.c.child_subject_id == child_subject_id)
        if status is not None:
            query = query.where(cases.c.status == status.value)
        return await listed(request, caller, query, "a case search")

    @api.get("/cases/overdue", response_model=list[CaseSummary])
    async def overdue_cases(
        request: Request,
        caller: ListCases,
        as_of: Annotated[date | None, Query(description="the day to judge by; default today (London)")] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 500,
    ) -> list[CaseSummary]:
        """Open cases whose next deadline (escalation, first enquiries, review) has passed, most overdue first.

        Managers and the DPO also see cases not yet assigned to a borough (officers see only their own).
        """
        query = (select(cases).where(in_reach(caller.grant), cases.c.status != Status.CLOSED.value,
                                     cases.c.next_due_date < (as_of or today()))
                 .order_by(cases.c.next_due_date, cases.c.opened_at).limit(limit))
        return await listed(request, caller, query, "the overdue list")

    @api.get("/cases/triage", response_model=list[CaseSummary])
    async def triage_cases(
        request: Request,
        caller: Triage,
        limit: Annotated[int, Query(ge=1, le=1000)] = 500,
    ) -> list[CaseSummary]:
        """Open cases that belong to no borough yet, high risk first, then by what is due soonest.

        No borough's officers see them, so a manager assigns each one (POST /cases/{id}/borough).
        """
        high_first = case((cases.c.risk == Risk.HIGH.value, 0), else_=1)
        query = (select(cases).where(in_reach(caller.grant), cases.c.status != Status.CLOSED.value)
                 .order_by(high_first, cases.c.next_due_date.nulls_last(), cases.c.opened_at).limit(limit))
        return await listed(request, caller, query, "the triage list")

    @api.get("/cases/{case_id}", response_model=CaseDetail)
    async def get_case(request: Request, case_id: UUID, caller: ReadCase) -> CaseDetail:
        """The case as its history adds up to today, with every entry (old versions included).

        Recorded as a read (`case.read`) of the child and of every carer the case names."""
        async with sessions.begin() as session:
            records = CaseRecords(session)
            await check_reached(records, caller.grant, case_id, lock=False)
            entries = await records.entries(case_id)
            state = fold(entries)
            subjects = subjects_of(state)
            restricted = await records.restricted(subjects)
            await record_access(session, kit.access_log, request, caller.principal, subjects, action="case.read",
                                returned="case detail with its full history (enquiries, notes, shares)",
                                record_type="case", record_id=str(case_id))
        return CaseDetail.of(state, entries, next_due(state, casework.policy), restricted)

    @api.get("/cases/{case_id}/closure-readiness", response_model=ClosureReadiness)
    async def closure_readiness(request: Request, case_id: UUID, caller: ReadCase) -> ClosureReadiness:
        """What a closure of the case still lacks today, for each closure reason: escalations awaiting their
        outcome, the evidence still to give beyond what the case holds (a pending proposal's, its date of
        birth), the agencies asked. The same rules POST .../closure applies; field names and codes only.

        Recorded as a read of the child and the carers (`case.closure_readiness`), as the case page is."""
        async with sessions.begin() as session:
            records = CaseRecords(session)
            await check_reached(records, caller.grant, case_id, lock=False)
            state = await records.state(case_id)
            subjects = subjects_of(state)
            restricted = await records.restricted(subjects)
            await record_access(session, kit.access_log, request, caller.principal, subjects,
                                action="case.closure_readiness", record_type="case", record_id=str(case_id),
                                returned="what the case's closure still lacks (escalations, evidence, agencies)")
        minimum = casework.policy.untraced_min_agencies
        return ClosureReadiness.of(state, readiness(state, today(), minimum), minimum, restricted)

    @api.get("/returns/cme-census", response_class=Response, tags=["returns"],
             responses={200: {"content": {"text/csv": {}}, "description": "one row per combination with its count"}})
    async def cme_census_return(
        request: Request,
        caller: ExportCensus,
        census_date: date,
        borough: Borough | None = None,
    ) -> Response:
        """DfE CME return: open cases on the census date by reason, sex, year group and time missing.

        Every cell is made safe to open in a spreadsheet (SEC-26); each child counted is recorded as read
        (`census.export`)."""
        grant = caller.grant
        if borough is not None:
            if not grant.covers(borough.value):
                raise RecordNotFound("borough_not_visible", "that borough is not one of yours", ["query", "borough"])
            grant = replace(grant, boroughs=frozenset({borough.value}))
        async with sessions.begin() as session:
            rows, children = await cme_census(session, census_date, grant)
            await record_access(session, kit.access_log, request, caller.principal, children, action="census.export",
                                returned=f"counted in the CME census return for {census_date.isoformat()}",
                                record_type="census_return", record_id=census_date.isoformat())
        text = csv_text(census.COLUMNS, ([census_date.isoformat(), key.borough, key.reason, key.sex, key.year_group,
                                          key.time_missing, count] for key, count in rows))
        filename = f"cme-census-{census_date.isoformat()}.csv"
        return Response(text, media_type="text/csv",
                        headers={"content-disposition": f'attachment; filename="{filename}"'})

    @api.get("/returns/cme-any-time", response_class=Response, tags=["returns"],
             responses={200: {"content": {"text/csv": {}}, "description": "one row per borough with its count"}})
    async def cme_any_time_return(
        request: Request,
        caller: ExportCensus,
        academic_year: Annotated[int, Query(ge=2000, le=2100, description="the year it starts: 2026 is 2026/27")],
        borough: Borough | None = None,
    ) -> Response:
        """The DfE CME return's other figure: children CME at any time in the academic year (1 Sep-31 Aug,
        up to today for the year in progress), each counted once; of compulsory school age, EHE not counted."""
        grant = caller.grant
        if borough is not None:
            if not grant.covers(borough.value):
                raise RecordNotFound("borough_not_visible", "that borough is not one of yours", ["query", "borough"])
            grant = replace(grant, boroughs=frozenset({borough.value}))
        first, last = census.academic_year(academic_year)
        last = min(last, today())
        if last < first:
            raise ApiError(422, "academic_year_not_started", "that academic year has not started",
                           ["query", "academic_year"])
        async with sessions.begin() as session:
            rows, children = await cme_any_time(session, first, last, grant)
            await record_access(session, kit.access_log, request, caller.principal, children,
                                action="census.export", record_type="census_return",
                                returned=f"counted as CME at any time in {academic_year}/{academic_year + 1}",
                                record_id=f"any-time-{academic_year}")
        label = f"{academic_year}/{(academic_year + 1) % 100:02d}"
        text = csv_text(census.ANY_TIME_COLUMNS, ([label, first.isoformat(), last.isoformat(), b, n] for b, n in rows))
        return Response(text, media_type="text/csv", headers={
            "content-disposition": f'attachment; filename="cme-any-time-{academic_year}.csv"'})

    @api.get("/referrals/routed", response_model=list[RoutedReferral], tags=["referrals"])
    async def list_routed_referrals(
        request: Request,
        caller: ListRouted,
        route: RouteFilter | None = None,
        due_by: Annotated[date | None, Query(description="school-age follow-ups due by this day")] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 500,
    ) -> list[RoutedReferral]:
        """Referrals recorded without a CME case and handed on, oldest first, in your boroughs: notices of
        education otherwise for the EHE team (`elective_home_education`), flagged children who are not CME
        for MASH / social care (`safeguarding`), and children below compulsory school age to follow up on
        the day they reach it (`school_age`)."""
        async with sessions.begin() as session:
            found = await routed_referrals(session, caller.grant, route, due_by, limit)
            await record_access(session, kit.access_log, request, caller.principal,
                                [r["child_subject_id"] for r in found], action="routed_referrals.list",
                                returned=f"routed referral in a list of {len(found)}", record_type="routed_referral")
        return [RoutedReferral.model_validate(r) for r in found]

    @api.get("/referrals/held", response_model=list[HeldReferral], tags=["referrals"])
    async def list_held_referrals(
        request: Request,
        caller: ListHeld,
        limit: Annotated[int, Query(ge=1, le=1000)] = 500,
    ) -> list[HeldReferral]:
        """Referrals held while a subject is restricted (UK GDPR Art 18), oldest first, in your boroughs.

        A high-risk referral is never held: it is processed at once under the Art 18(2) exception.
        """
        async with sessions.begin() as session:
            held = await held_referrals(session, caller.grant, limit)
            await record_access(session, kit.access_log, request, caller.principal,
                                [h["child_subject_id"] for h in held], action="held_referrals.list",
                                returned=f"held referral in a list of {len(held)}", record_type="held_referral")
        return [HeldReferral.model_validate(h) for h in held]

    @api.post("/referrals/held/{entry_id}/release", response_model=ReleaseResult, tags=["referrals"])
    async def release_held_referral(entry_id: Annotated[int, Path(ge=1, le=MAX_BIGINT)], body: RestrictionException,
                                    caller: ReleaseHeld) -> ReleaseResult:
        """Act on a held referral under a UK GDPR Art 18(2) exception, as it would have been acted on."""
        async with sessions.begin() as session:
            case_id, release = await release_held(session, casework, entry_id, caller.grant,
                                                  recorded(body, officer(caller.sub)))
        casework.runtime.relay.nudge()
        return ReleaseResult(entry_id=release.entry_id, case_id=case_id)

    @api.get("/shares/pending", response_model=list[PendingShare], tags=["case actions"])
    async def list_pending_shares(
        request: Request,
        caller: ListPendingShares,
        limit: Annotated[int, Query(ge=1, le=1000)] = 500,
    ) -> list[PendingShare]:
        """Shares proposed on the cases you reach that no manager has decided yet, oldest first (a manager
        decides each with POST /cases/{id}/shares/{share_id}/decision, never one they proposed)."""
        async with sessions.begin() as session:
            pending = await pending_shares(session, caller.grant, limit)
            await record_access(session, kit.access_log, request, caller.principal,
                                [p["child_subject_id"] for p in pending], action="shares.pending",
                                returned=f"proposed share in a list of {len(pending)}", record_type="share")
        return [PendingShare.model_validate(p) for p in pending]

    api.include_router(command_routes(casework))
    return api
