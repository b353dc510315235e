"""The records officer's routes in intake (issue 14, item 1): legal holds and the disposal report.

- `POST /legal-holds` {scope: subject|case|record, target_id, reason}: 201, the hold (who placed it, when,
  why). A subject or a case by its id; a record as `referral:<intake id>`, `dead_letter:<message id>` or
  `identity:<subject id>` (else 422 `bad_target`).
- `POST /legal-holds/{hold_id}/lift` {reason}: 200, the hold with who lifted it, when and why (404, 409).
- `GET /legal-holds?in_force=true`: the holds (in force only unless `in_force=false`), oldest first.
- `GET /retention/report?as_of=YYYY-MM-DD`: the dry-run DisposalReport as of London's today (or `as_of`):
  what intake's disposal job would dispose of, under which rule, and what a hold keeps. It changes nothing.

Who: the records officer and the DPO, as in casework, disclosure and rights. Nothing here shows a child's
data: ids, codes, dates and the holds' own reasons.
"""

from datetime import date
from typing import Annotated, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field

from cme_shared.auth import Principal, Role, require_roles
from cme_shared.retention import DisposalReport, Hold
from cme_shared.runtime import ServiceRuntime

from ..adapters.unit_of_work import IntakeUnitOfWork
from ..service_layer.retention import lift_hold, place_hold, report

RECORDS_ROLES = (Role.RECORDS_OFFICER, Role.DPO)
RecordsOfficer = Annotated[Principal, Depends(require_roles(*RECORDS_ROLES))]
HoldReason = Annotated[str, Field(min_length=1, max_length=1000)]


class HoldIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    scope: Literal["subject", "case", "record"]
    target_id: str = Field(min_length=1, max_length=300)
    reason: HoldReason  # why (a claim, an inquiry, a complaint to the ICO, ...)


class LiftIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: HoldReason


def actor(principal: Principal) -> str:
    role = principal.acting_role.value if principal.acting_role else "unknown"
    return f"{role}:{principal.sub}"


def router(runtime: ServiceRuntime) -> APIRouter:
    api = APIRouter(tags=["retention"])

    def unit_of_work() -> IntakeUnitOfWork:
        return runtime.unit_of_work()  # type: ignore[return-value]  # app.py makes it intake's

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
            return await uow.holds.listed(in_force_only=in_force)

    @api.get("/retention/report", response_model=DisposalReport)
    async def disposal_report(
        caller: RecordsOfficer,
        as_of: Annotated[date | None, Query(description="the day to report as of; default London's today")] = None,
    ) -> DisposalReport:
        async with unit_of_work() as uow:
            return await report(uow, as_of or uow.clock.today(), runtime.trusted_signers)

    return api
