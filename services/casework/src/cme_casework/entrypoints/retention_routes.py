"""The records officer's routes (issue 14, item 1): legal holds and the disposal report.

- `POST /legal-holds` {scope: subject|case, target_id, reason}: 201, the hold (who placed it, when, why).
- `POST /legal-holds/{hold_id}/lift` {reason}: 200, the hold with who lifted it, when and why.
- `GET /legal-holds?in_force=true`: the holds (in force only unless `in_force=false`), oldest first.
- `GET /retention/report?as_of=YYYY-MM-DD`: the dry-run DisposalReport as of London's today (or `as_of`):
  what a disposal run would dispose of, under which rule, and what a hold keeps. It changes nothing.

Who: the records officer and the DPO (`Role.RECORDS_OFFICER` first, then `Role.DPO`), across both boroughs:
a hold sets the retention schedule aside, and the schedule is the records officer's, so the decision to
keep a record longer stays with the roles answerable for it; a manager who knows of a claim or an inquiry
asks them. Nothing here shows a child's data: ids, codes, dates and the hold's own reasons.
"""

from datetime import date
from typing import Annotated, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field

from cme_shared.auth import Principal, Role, require_roles
from cme_shared.retention import DisposalReport, Hold
from cme_shared.runtime import ServiceRuntime

from ..adapters.unit_of_work import CaseworkUnitOfWork
from ..service_layer.retention import lift_hold, place_hold, report

RECORDS_ROLES = (Role.RECORDS_OFFICER, Role.DPO)
RecordsOfficer = Annotated[Principal, Depends(require_roles(*RECORDS_ROLES))]
HoldReason = Annotated[str, Field(min_length=1, max_length=1000)]


class HoldIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    scope: Literal["subject", "case"]  # a subject: the child or a carer; a case: one case
    target_id: UUID  # the subject's or the case's id
    reason: HoldReason  # why (a claim, an inquiry, a complaint to the ICO, ...)


class LiftIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: HoldReason


def actor(principal: Principal) -> str:
    role = principal.acting_role.value if principal.acting_role else "unknown"
    return f"{role}:{principal.sub}"


def router(runtime: ServiceRuntime) -> APIRouter:
    api = APIRouter(tags=["retention"])

    def unit_of_work() -> CaseworkUnitOfWork:
        return runtime.unit_of_work()  # type: ignore[return-value]  # app.py makes it casework's

    @api.post("/legal-holds", status_code=201, response_model=Hold)
    async def place(body: HoldIn, caller: RecordsOfficer) -> Hold:
        async with unit_of_work() as uow:
            hold = await place_hold(uow, body.scope, body.target_id, body.reason, actor(caller))
            await uow.commit()
        return hold

    @api.post("/legal-holds/{hold_id}/lift", response_model=Hold)
    async def lift(hold_id: UUID, body: LiftIn, caller: RecordsOfficer) -> Hold:
        async with unit_of_work() as uow:
            hold = await lift_hold(uow, hold_id, body.reason, actor(caller))
            await uow.commit()
        return hold

    @api.get("/legal-holds", response_model=list[Hold])
    async def listed(caller: RecordsOfficer, in_force: bool = True) -> list[Hold]:
        async with unit_of_work() as uow:
            return await uow.retention.holds.listed(in_force_only=in_force)

    @api.get("/retention/report", response_model=DisposalReport)
    async def disposal_report(
        caller: RecordsOfficer,
        as_of: Annotated[date | None, Query(description="the day to report as of; default London's today")] = None,
    ) -> DisposalReport:
        async with unit_of_work() as uow:
            return await report(uow, uow.schedule, as_of or uow.clock.today())

    return api
