"""Officers' HTTP API (CONTRACT section 4): cases on the clock, scoped by one rule (`domain.permissions`).

Reads: GET /cases, /cases/overdue, /cases/triage, /cases/{id}, /cases/{id}/closure-readiness, /returns/cme-census, /returns/cme-any-time,
/referrals/held, /referrals/routed, /shares/pending. Writes: one POST per thing an officer does to a case (see
`case_actions`), and the release of a held referral. Another borough's case answers 404, as a missing one does; cases not yet assigned to a
borough (triage) are seen by managers and the DPO only.

Every read that returns a child's data is recorded in the access log in the same transaction (issue 13):
one row per child listed, counted or shown, with who, as which role, why (`X-CME-Purpose`) and what.
"""

from dataclasses import replace
from datetime import date
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response
from sqlalchemy.engine import RowMapping

from cme_shared.contracts.referrals import Borough
from cme_shared.http.limits import MAX_BIGINT
from cme_shared.refusal import Refusal
from cme_shared.runtime import ServiceRuntime

from .. import views
from ..adapters.unit_of_work import CaseworkUnitOfWork
from ..domain import census
from ..domain.clocks import next_due
from ..domain.errors import RecordNotFound
from ..domain.history import officer
from ..domain.lifecycle import Status, fold
from ..domain.readiness import readiness
from ..domain.restriction import RestrictionException, recorded
from ..service_layer.cases import check_reached, subjects_of
from ..service_layer.referrals import release_held
from ..service_layer.returns import cme_any_time, cme_census
from ..views import RouteFilter
from .case_actions import case_action_routes
from .ehe_routes import ehe_routes
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


def router(runtime: ServiceRuntime) -> APIRouter:
    api = APIRouter(tags=["cases"])

    def unit_of_work() -> CaseworkUnitOfWork:
        return runtime.unit_of_work()  # type: ignore[return-value]  # app.py makes it casework's

    async def listed(uow: CaseworkUnitOfWork, request: Request, caller: Caller, rows: list[RowMapping],
                     what: str) -> list[CaseSummary]:
        """Each child in a list of cases recorded as read (`cases.list`), in the read's transaction."""
        await uow.access_log.record(request, caller.principal, [row["child_subject_id"] for row in rows],
                                    action="cases.list", record_type="case",
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
        async with unit_of_work() as uow:
            rows = await views.cases_found(
                uow, caller.grant, allocated_to=caller.sub if allocated_to == "me" else allocated_to, upn=upn,
                child_subject_id=child_subject_id, status=status, limit=limit)
            found = await listed(uow, request, caller, rows, "a case search")
            await uow.commit()
        return found

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
        async with unit_of_work() as uow:
            rows = await views.overdue_cases(uow, caller.grant, as_of or uow.clock.today(), limit)
            found = await listed(uow, request, caller, rows, "the overdue list")
            await uow.commit()
        return found

    @api.get("/cases/triage", response_model=list[CaseSummary])
    async def triage_cases(
        request: Request,
        caller: Triage,
        limit: Annotated[int, Query(ge=1, le=1000)] = 500,
    ) -> list[CaseSummary]:
        """Open cases that belong to no borough yet, high risk first, then by what is due soonest.

        No borough's officers see them, so a manager assigns each one (POST /cases/{id}/borough).
        """
        async with unit_of_work() as uow:
            rows = await views.triage_cases(uow, caller.grant, limit)
            found = await listed(uow, request, caller, rows, "the triage list")
            await uow.commit()
        return found

    @api.get("/cases/{case_id}", response_model=CaseDetail)
    async def get_case(request: Request, case_id: UUID, caller: ReadCase) -> CaseDetail:
        """The case as its history adds up to today, with every entry (old versions included).

        Recorded as a read (`case.read`) of the child and of every carer the case names."""
        async with unit_of_work() as uow:
            await check_reached(uow, caller.grant, case_id, lock=False)
            entries = await uow.cases.entries(case_id)
            state = fold(entries)
            subjects = subjects_of(state)
            restricted = await uow.cases.restricted(subjects)
            await uow.access_log.record(request, caller.principal, subjects, action="case.read",
                                        returned="case detail with its full history (enquiries, notes, shares)",
                                        record_type="case", record_id=str(case_id))
            await uow.commit()
        return CaseDetail.of(state, entries, next_due(state, uow.policy), restricted)

    @api.get("/cases/{case_id}/closure-readiness", response_model=ClosureReadiness)
    async def closure_readiness(request: Request, case_id: UUID, caller: ReadCase) -> ClosureReadiness:
        """What a closure of the case still lacks today, for each closure reason: escalations awaiting their
        outcome, the evidence still to give beyond what the case holds (a pending proposal's, its date of
        birth), the agencies asked. The same rules POST .../closure applies; field names and codes only.

        Recorded as a read of the child and the carers (`case.closure_readiness`), as the case page is."""
        async with unit_of_work() as uow:
            await check_reached(uow, caller.grant, case_id, lock=False)
            state = await uow.cases.state(case_id)
            subjects = subjects_of(state)
            restricted = await uow.cases.restricted(subjects)
            await uow.access_log.record(request, caller.principal, subjects,
                                        action="case.closure_readiness", record_type="case", record_id=str(case_id),
                                        returned="what the case's closure still lacks (escalations, evidence, agencies)")
            await uow.commit()
        minimum = uow.policy.untraced_min_agencies
        return ClosureReadiness.of(state, readiness(state, uow.clock.today(), minimum), minimum, restricted)

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
        async with unit_of_work() as uow:
            rows, children = await cme_census(uow, census_date, grant)
            await uow.access_log.record(request, caller.principal, children, action="census.export",
                                        returned=f"counted in the CME census return for {census_date.isoformat()}",
                                        record_type="census_return", record_id=census_date.isoformat())
            await uow.commit()
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
        last = min(last, runtime.clock.today())
        if last < first:
            raise Refusal(422, "academic_year_not_started", "that academic year has not started",
                          ["query", "academic_year"])
        async with unit_of_work() as uow:
            rows, children = await cme_any_time(uow, first, last, grant)
            await uow.access_log.record(request, caller.principal, children,
                                        action="census.export", record_type="census_return",
                                        returned=f"counted as CME at any time in {academic_year}/{academic_year + 1}",
                                        record_id=f"any-time-{academic_year}")
            await uow.commit()
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
        async with unit_of_work() as uow:
            found = await views.routed_referrals(uow, caller.grant, route, due_by, limit)
            await uow.access_log.record(request, caller.principal, [r["child_subject_id"] for r in found],
                                        action="routed_referrals.list", record_type="routed_referral",
                                        returned=f"routed referral in a list of {len(found)}")
            await uow.commit()
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
        async with unit_of_work() as uow:
            held = await views.held_referrals(uow, caller.grant, limit)
            await uow.access_log.record(request, caller.principal, [h["child_subject_id"] for h in held],
                                        action="held_referrals.list", record_type="held_referral",
                                        returned=f"held referral in a list of {len(held)}")
            await uow.commit()
        return [HeldReferral.model_validate(h) for h in held]

    @api.post("/referrals/held/{entry_id}/release", response_model=ReleaseResult, tags=["referrals"])
    async def release_held_referral(entry_id: Annotated[int, Path(ge=1, le=MAX_BIGINT)], body: RestrictionException,
                                    caller: ReleaseHeld) -> ReleaseResult:
        """Act on a held referral under a UK GDPR Art 18(2) exception, as it would have been acted on."""
        async with unit_of_work() as uow:
            case_id, release = await release_held(uow, entry_id, caller.grant, recorded(body, officer(caller.sub)))
            await uow.commit()
        return ReleaseResult(entry_id=release.entry_id, case_id=case_id)

    @api.get("/shares/pending", response_model=list[PendingShare], tags=["case actions"])
    async def list_pending_shares(
        request: Request,
        caller: ListPendingShares,
        limit: Annotated[int, Query(ge=1, le=1000)] = 500,
    ) -> list[PendingShare]:
        """Shares proposed on the cases you reach that no manager has decided yet, oldest first (a manager
        decides each with POST /cases/{id}/shares/{share_id}/decision, never one they proposed)."""
        async with unit_of_work() as uow:
            pending = await views.pending_shares(uow, caller.grant, limit)
            await uow.access_log.record(request, caller.principal, [p["child_subject_id"] for p in pending],
                                        action="shares.pending", record_type="share",
                                        returned=f"proposed share in a list of {len(pending)}")
            await uow.commit()
        return [PendingShare.model_validate(p) for p in pending]

    api.include_router(case_action_routes(runtime))
    api.include_router(ehe_routes(runtime))
    return api
