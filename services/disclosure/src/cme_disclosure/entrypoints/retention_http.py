"""HTTP API of retention (issue 14, item 1): legal holds and the records officer's dry-run report.

The records officer and the DPO place and lift legal holds (by subject, case or disclosure record) and
read what the next disposal run would do; the disposal itself is the `dispose` job's, never a route's.
"""

from datetime import date
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Query

from cme_shared.auth import Principal, Role, require_roles
from cme_shared.retention import DisposalReport, Hold
from cme_shared.runtime import ServiceRuntime

from ..domain.retention import HoldLift, HoldRequest
from ..service_layer import retention


def retention_router(runtime: ServiceRuntime) -> APIRouter:
    api = APIRouter(tags=["retention"])
    officers = require_roles(Role.RECORDS_OFFICER, Role.DPO)

    @api.post("/legal-holds", status_code=201, response_model=Hold)
    async def place_hold(body: HoldRequest, principal: Annotated[Principal, Depends(officers)]) -> Hold:
        """Keep the disclosures about a subject, of a case, or one record (`disclosure:<id>` or its id)
        past their retention until the hold is lifted. Placed by the token's `sub`."""
        async with runtime.unit_of_work() as uow:
            hold = await retention.place_hold(uow, body, principal.sub)  # type: ignore[arg-type]
            await uow.commit()
        return hold

    @api.post("/legal-holds/{hold_id}/lift", response_model=Hold)
    async def lift_hold(hold_id: UUID, body: HoldLift, principal: Annotated[Principal, Depends(officers)]) -> Hold:
        """Lift a hold in force (404 none of that id, 409 lifted already); the row stays, with who lifted
        it, when and why."""
        async with runtime.unit_of_work() as uow:
            hold = await retention.lift_hold(uow, hold_id, body, principal.sub)  # type: ignore[arg-type]
            await uow.commit()
        return hold

    @api.get("/legal-holds", response_model=list[Hold])
    async def holds(_principal: Annotated[Principal, Depends(officers)],
                    lifted: Annotated[bool, Query(description="include holds lifted already")] = False) -> list[Hold]:
        async with runtime.unit_of_work() as uow:
            return await uow.holds.listed(in_force_only=not lifted)  # type: ignore[attr-defined, no-any-return]

    @api.get("/retention/report", response_model=DisposalReport)
    async def disposal_report(_principal: Annotated[Principal, Depends(officers)],
                              as_of: Annotated[date | None, Query(description="default: today in London")] = None,
                              ) -> DisposalReport:
        """The dry run: the disclosure records a disposal run on `as_of` would dispose of, under which rule,
        and those a legal hold keeps (ids and codes only). Changes nothing."""
        async with runtime.unit_of_work() as uow:
            return await retention.report(uow, as_of or uow.clock.today(),  # type: ignore[arg-type]
                                          runtime.trusted_signers)

    return api
