"""Elective home education over HTTP (issue 14, item 2), and the children-not-in-school register (item 3,
only when CME_CASEWORK_CNIS_REGISTER is on: otherwise its routes do not exist and answer 404).

Scoped as cases are (`domain.permissions`): an officer their own borough, managers and the DPO both and the
records no borough has yet; another borough's record answers 404, as a missing one does. Every read of a
child's data is recorded in the access log, in the read's transaction.
"""

import json
from dataclasses import replace
from datetime import date
from enum import StrEnum
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Body, Query, Request
from fastapi.responses import Response

from cme_shared.contracts.referrals import Borough
from cme_shared.runtime import ServiceRuntime

from .. import views
from ..adapters.unit_of_work import CaseworkUnitOfWork
from ..domain import cnis_register, ehe
from ..domain.ehe import EheStatus
from ..domain.errors import RecordNotFound
from ..domain.history import officer
from ..domain.restriction import recorded
from ..service_layer import ehe as ehe_service
from .ehe_schemas import (
    EheDetail,
    EheStepResult,
    EheSummary,
    ParentNoticeIn,
    RegisterEntry,
    RegisterIn,
    Step,
    step_fields,
)
from .roles import EnterRegister, ExportEheCount, ExportRegister, ListEhe, ReadRegister, RecordEhe
from .spreadsheet import csv_text


def ehe_routes(runtime: ServiceRuntime) -> APIRouter:
    api = APIRouter(tags=["elective home education"])

    def unit_of_work() -> CaseworkUnitOfWork:
        return runtime.unit_of_work()  # type: ignore[return-value]  # app.py makes it casework's

    def result(uow: CaseworkUnitOfWork, state: ehe.EheState, entry_id: int | None) -> EheStepResult:
        assert entry_id is not None
        return EheStepResult(record=EheSummary.from_state(state, ehe.next_due(state, uow.ehe_rules)),
                             entry_id=entry_id, cme_case_id=state.cme_case_id)

    @api.get("/ehe-records", response_model=list[EheSummary])
    async def list_ehe_records(
        request: Request,
        caller: ListEhe,
        status: EheStatus | None = None,
        overdue: Annotated[bool, Query(description="only open records whose next deadline has passed")] = False,
        as_of: Annotated[date | None, Query(description="the day to judge overdue by; default today (London)")] = None,
        child_subject_id: UUID | None = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 200,
    ) -> list[EheSummary]:
        """EHE records in your boroughs (newest first; with `overdue`, most overdue first)."""
        async with unit_of_work() as uow:
            rows = await views.ehe_records_found(
                uow, caller.grant, status=status.value if status else None,
                overdue_on=(as_of or uow.clock.today()) if overdue else None, child_subject_id=child_subject_id,
                limit=limit)
            await uow.access_log.record(request, caller.principal, [r["child_subject_id"] for r in rows],
                                        action="ehe_records.list", record_type="ehe_record",
                                        returned=f"EHE record summary in a list of {len(rows)}")
            await uow.commit()
        return [EheSummary.from_row(r) for r in rows]

    @api.get("/ehe-records/{ehe_id}", response_model=EheDetail)
    async def get_ehe_record(request: Request, ehe_id: UUID, caller: ListEhe) -> EheDetail:
        """The EHE record as its history adds up to today, with every entry."""
        async with unit_of_work() as uow:
            await ehe_service.reached(uow, caller.grant, ehe_id)
            entries = await uow.ehe.entries(ehe_id)
            state = ehe.fold(entries, uow.ehe_rules)
            subjects = [state.child_subject_id, *(UUID(c) for c in state.carer_subject_ids)]
            restricted = await uow.cases.restricted(subjects)
            await uow.access_log.record(request, caller.principal, subjects, action="ehe_record.read",
                                        record_type="ehe_record", record_id=str(ehe_id),
                                        returned="EHE record with its full history")
            await uow.commit()
        return EheDetail.of(state, entries, ehe.next_due(state, uow.ehe_rules), restricted)

    @api.post("/ehe-records/notices", status_code=201, response_model=EheStepResult)
    async def record_parent_notice(body: ParentNoticeIn, caller: RecordEhe) -> EheStepResult:
        """A parent's written notice to the council of education otherwise: it starts the child's EHE record, or
        is added to the open one (never a CME case)."""
        exception = recorded(body.restriction_exception, officer(caller.sub)) if body.restriction_exception else None
        async with unit_of_work() as uow:
            state, entry = await ehe_service.record_parent_notice(
                uow, caller.grant, child_subject_id=body.child_subject_id, borough=body.borough.value,
                notice_on=body.notice_on, given_by=body.given_by.value, actor=officer(caller.sub), exception=exception)
            await uow.commit()
        return result(uow, state, entry.entry_id)

    @api.post("/ehe-records/{ehe_id}/steps", status_code=201, response_model=EheStepResult)
    async def record_ehe_step(ehe_id: UUID, body: Annotated[Step, Body()], caller: RecordEhe) -> EheStepResult:
        """One step of the record, by `kind`: an informal enquiry, the parent's response, an assessment
        (suitable | unsuitable | no_education_evident), the s437(1) notice and its answer, the s438 notice, the
        order (s437(3)), its revocation (s442), or the record's closure. An assessment unsuitable or with no
        education evident, or an s437 notice not satisfied, opens (or joins) the child's CME case."""
        exception = recorded(body.restriction_exception, officer(caller.sub)) if body.restriction_exception else None
        async with unit_of_work() as uow:
            state, entry = await ehe_service.record_step(uow, caller.grant, ehe_id, step_fields(body),
                                                         actor=officer(caller.sub), exception=exception)
            await uow.commit()
        return result(uow, state, entry.entry_id)

    @api.get("/returns/ehe-count", response_class=Response, tags=["returns"],
             responses={200: {"content": {"text/csv": {}}, "description": "one row per borough"}})
    async def ehe_count_return(request: Request, caller: ExportEheCount, census_date: date,
                               borough: Borough | None = None) -> Response:
        """Children with an open EHE record on the census date, by borough: counted apart, never as CME."""
        grant = caller.grant
        if borough is not None:
            if not grant.covers(borough.value):
                raise RecordNotFound("borough_not_visible", "that borough is not one of yours", ["query", "borough"])
            grant = replace(grant, boroughs=frozenset({borough.value}))
        async with unit_of_work() as uow:
            states = [s for s in await uow.ehe.states_as_at(census_date)
                      if grant.covers(s.borough) and s.open_on(census_date)]
            await uow.access_log.record(request, caller.principal, [s.child_subject_id for s in states],
                                        action="ehe_count.export", record_type="ehe_count",
                                        record_id=census_date.isoformat(),
                                        returned=f"counted in the EHE count for {census_date.isoformat()}")
            await uow.commit()
        rows = ehe.count_open(states, census_date)
        text = csv_text(ehe.EHE_COUNT_COLUMNS, ([census_date.isoformat(), b, n, u] for b, n, u in rows))
        return Response(text, media_type="text/csv", headers={
            "content-disposition": f'attachment; filename="ehe-count-{census_date.isoformat()}.csv"'})

    if getattr(runtime.settings, "casework_cnis_register", False):
        api.include_router(register_routes(unit_of_work))
    return api


class ExportFormat(StrEnum):
    CSV = "csv"
    JSON = "json"


def register_routes(unit_of_work: object) -> APIRouter:
    """The children-not-in-school register (Education Act 1996 ss436B-436G): only with the feature on."""
    api = APIRouter(tags=["children not in school register"])
    uow_of = unit_of_work  # a callable returning the route's unit of work

    @api.get("/cnis-register/export", response_class=Response,
             responses={200: {"content": {"text/csv": {}, "application/json": {}}}})
    async def export_register(request: Request, caller: ExportRegister,
                              format: ExportFormat = ExportFormat.CSV) -> Response:
        """Each child's current entry, only the fields s436C requires or allows (access-logged)."""
        async with uow_of() as uow:  # type: ignore[operator]
            rows = await views.register_export(uow, caller.grant)
            await uow.access_log.record(request, caller.principal, [r["child_subject_id"] for r in rows],
                                        action="cnis_register.export", record_type="cnis_register",
                                        returned=f"children-not-in-school register entry ({len(rows)} children)")
            await uow.commit()
        records = [{"child_subject_id": str(r["child_subject_id"]), "borough": r["borough"],
                    **cnis_register.minimised(r["content"])} for r in rows]
        if format is ExportFormat.JSON:
            body = {"fields": cnis_register.categories(), "entries": records}
            return Response(json.dumps(body, default=str), media_type="application/json")
        cells = ([record[c] if not isinstance(record[c], (list, dict)) else json.dumps(record[c])
                  for c in cnis_register.EXPORT_COLUMNS] for record in records)
        return Response(csv_text(cnis_register.EXPORT_COLUMNS, cells), media_type="text/csv",
                        headers={"content-disposition": 'attachment; filename="cnis-register.csv"'})

    @api.get("/cnis-register/{child_subject_id}", response_model=RegisterEntry)
    async def read_register_entry(request: Request, child_subject_id: UUID, caller: ReadRegister) -> RegisterEntry:
        async with uow_of() as uow:  # type: ignore[operator]
            row = await uow.ehe.register_latest(child_subject_id)
            if row is None or not caller.grant.covers(row["borough"]):
                raise RecordNotFound("register_entry_not_found", "no such child on the register in your boroughs")
            await uow.access_log.record(request, caller.principal, [child_subject_id], action="cnis_register.read",
                                        record_type="cnis_register", record_id=str(child_subject_id),
                                        returned="children-not-in-school register entry")
            await uow.commit()
        return RegisterEntry.from_row(row)

    @api.put("/cnis-register/{child_subject_id}", response_model=RegisterEntry)
    async def enter_register_details(child_subject_id: UUID, body: RegisterIn, caller: EnterRegister) -> RegisterEntry:
        """Enter (or change) the child's register details: a new version, only the s436C fields."""
        exception = recorded(body.restriction_exception, officer(caller.sub)) if body.restriction_exception else None
        async with uow_of() as uow:  # type: ignore[operator]
            row = await ehe_service.enter_register_details(uow, caller.grant, child_subject_id, body.content(),
                                                           actor=officer(caller.sub), reason=body.reason,
                                                           exception=exception)
            await uow.commit()
        return RegisterEntry.from_row(row)

    return api
