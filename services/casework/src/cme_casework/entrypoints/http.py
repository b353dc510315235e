"""Officers' HTTP API (CONTRACT section 4): cases, scoped to the token's borough."""

from datetime import date, datetime
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel
from sqlalchemy import select

from cme_shared.auth import Principal, Role, require_roles
from cme_shared.runtime import ServiceRuntime

from ..adapters.tables import cases


class CaseSummary(BaseModel):
    case_id: UUID
    child_subject_id: UUID
    status: str
    borough: str | None
    opened_at: datetime
    reason: str
    risk: str
    next_due_date: date | None


def router(runtime: ServiceRuntime) -> APIRouter:
    api = APIRouter(tags=["cases"])
    officers = require_roles(Role.OFFICER, Role.MANAGER)

    @api.get("/cases", response_model=list[CaseSummary])
    async def list_cases(
        principal: Annotated[Principal, Depends(officers)],
        upn: Annotated[str | None, Query(max_length=16)] = None,
        child_subject_id: UUID | None = None,
        status: Annotated[str | None, Query(max_length=32)] = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 100,
    ) -> list[CaseSummary]:
        boroughs = [b.value for b in principal.boroughs()]
        query = select(cases).where(cases.c.borough.in_(boroughs)).order_by(cases.c.opened_at.desc()).limit(limit)
        if Role.MANAGER in principal.roles:
            # Managers also see cases whose borough is not yet decided (the triage list).
            query = select(cases).where(
                cases.c.borough.in_(boroughs) | cases.c.borough.is_(None)
            ).order_by(cases.c.opened_at.desc()).limit(limit)
        if upn is not None:
            query = query.where(cases.c.child_upn == upn)
        if child_subject_id is not None:
            query = query.where(cases.c.child_subject_id == child_subject_id)
        if status is not None:
            query = query.where(cases.c.status == status)
        async with runtime.sessions() as session:
            rows = (await session.execute(query)).mappings().all()
        return [CaseSummary.model_validate(dict(row)) for row in rows]

    return api
