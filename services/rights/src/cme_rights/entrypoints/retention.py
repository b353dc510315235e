"""The records officer's routes (issue 14, item 1): legal holds, and the dry-run disposal report.

The running service never disposes of anything: the disposal job does (`python -m cme_rights dispose`, on its
own login). These routes place and lift the holds the job honours, and show what it would do.
"""

from datetime import date
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Query

from cme_shared.auth import Principal, require_roles
from cme_shared.runtime import ServiceRuntime

from ..domain.access import ROLES, Action
from ..service_layer import retention
from ..service_layer.commands import HoldLift, HoldPlacement


def router(runtime: ServiceRuntime) -> APIRouter:
    api = APIRouter(tags=["retention"])
    holder = Annotated[Principal, Depends(require_roles(*ROLES[Action.HOLD]))]
    reporter = Annotated[Principal, Depends(require_roles(*ROLES[Action.RETENTION_REPORT]))]

    @api.post("/legal-holds", status_code=201)
    async def place(body: HoldPlacement, principal: holder) -> dict[str, Any]:
        """A legal hold on a subject (every request about them) or on one request: kept past its retention
        while the hold is in force."""
        async with runtime.unit_of_work() as uow:
            answer = await retention.place_hold(uow, body, principal)
            await uow.commit()
        return answer

    @api.post("/legal-holds/{hold_id}/lift")
    async def lift(hold_id: UUID, body: HoldLift, principal: holder) -> dict[str, Any]:
        """Lift a hold in force, with the reason (the hold stays on record, lifted)."""
        async with runtime.unit_of_work() as uow:
            answer = await retention.lift_hold(uow, hold_id, body, principal)
            await uow.commit()
        return answer

    @api.get("/legal-holds")
    async def listed(principal: holder,
                     include_lifted: Annotated[bool, Query()] = False) -> list[dict[str, Any]]:
        """The holds in force (with `include_lifted`, every hold ever placed)."""
        async with runtime.unit_of_work() as uow:
            answer = await retention.holds(uow, in_force_only=not include_lifted)
            await uow.commit()
        return answer

    @api.get("/retention/report")
    async def report(principal: reporter, as_of: Annotated[date | None, Query()] = None) -> dict[str, Any]:
        """The dry-run report: which requests a disposal run on `as_of` (default today) would dispose of,
        under which rule, and which a legal hold keeps. Ids, codes and dates only; it changes nothing."""
        async with runtime.unit_of_work() as uow:
            answer = await retention.report(uow, as_of)
            await uow.commit()
        return answer.model_dump(mode="json")

    return api
