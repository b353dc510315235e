"""What the public form received, for officers and the DPO (SEC-05, SEC-11).

Officers (roles officer, manager): `GET /triage/awaiting-acceptance` lists the public form's referrals no
one has accepted yet, and `POST /referrals/{intake_id}/accept` sends one on to casework, once, recording
who accepted it and why. Both follow intake's one visibility rule (visibility.py): an officer
their borough's, a manager every borough's and those with no borough yet (the triage list).

The DPO (role dpo only): `GET /referrals/{intake_id}/third-party` lists a referral's sealed third-party
details without opening them, and `POST /referrals/{intake_id}/third-party/{detail_id}/unseal` opens one, with
a reason, recorded in intake's own history (`third_party_unseals`) and in the access log (action
`third_party.unseal`). Nobody else can open a sealed detail, and nothing sends one out of intake.
"""

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Body, Depends, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from cme_shared.auth import Principal, Role, require_roles
from cme_shared.http.errors import ApiError
from cme_shared.http.limits import MAX_BIGINT
from cme_shared.runtime import ServiceRuntime

from .. import views
from ..service_layer import reception
from ..service_layer.subject_rights import unseal_third_party
from ..visibility import Scope

OfficerOrManager = Annotated[Principal, Depends(require_roles(Role.OFFICER, Role.MANAGER))]
Dpo = Annotated[Principal, Depends(require_roles(Role.DPO))]
NO_STORE = {"Cache-Control": "no-store"}


class AcceptanceBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str | None = Field(default=None, min_length=1, max_length=2000,
                               description="why the referral is taken on (optional): kept with the acceptance")


class UnsealBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=2000,
                        description="why the third party's identity must be seen (e.g. disclosure judged "
                                    "reasonable, DPA 2018 Sch 2 Part 3 para 16(2)): kept with the unsealing")


def router(runtime: ServiceRuntime) -> APIRouter:
    api = APIRouter(tags=["public referrals"])

    @api.get("/triage/awaiting-acceptance",
             summary="Public form referrals waiting for an officer to accept them, oldest first")
    async def awaiting_acceptance(
        request: Request, principal: OfficerOrManager,
        limit: Annotated[int, Query(ge=1, le=200)] = 50,
        offset: Annotated[int, Query(ge=0, le=MAX_BIGINT)] = 0,
    ) -> list[dict[str, Any]]:
        async with runtime.unit_of_work() as uow:
            listed = await views.awaiting_acceptance(uow, Scope.of(principal), limit=limit, offset=offset)
            await uow.record_access(request, principal, [UUID(item["child_subject_id"]) for item in listed],
                                    action="awaiting_acceptance.list", returned="awaiting acceptance list entry",
                                    record_type="referral")
            await uow.commit()
        return listed

    @api.post(
        "/referrals/{intake_id}/accept",
        summary="Accept a public form referral: it goes on to casework (once); who, when and why are recorded",
        responses={404: {"description": "no such referral that you see (another borough's, or, for an "
                                        "officer, one on the triage list)"},
                   409: {"description": "`not_held`: not a public form referral; `already_accepted`"}},
    )
    async def accept(
        intake_id: UUID, principal: OfficerOrManager,
        body: Annotated[AcceptanceBody | None, Body()] = None,
    ) -> dict[str, Any]:
        async with runtime.unit_of_work() as uow:
            accepted = await reception.accept_held(
                uow, intake_id, accepted_by=principal.sub, role=str(principal.acting_role or ""),
                scope=Scope.of(principal), borough=principal.borough, reason=body.reason if body else None,
            )
            await uow.commit()
        return {"intake_id": str(accepted.intake_id), "status": "accepted", "accepted_by": accepted.accepted_by,
                "accepted_at": accepted.accepted_at.isoformat(), "borough": accepted.borough}

    @api.get(
        "/referrals/{intake_id}/third-party",
        summary="A referral's sealed third-party details, unopened: which, why, and who opened them (role dpo)",
        responses={404: {"description": "no such referral"}},
    )
    async def third_parties(intake_id: UUID, _principal: Dpo) -> dict[str, Any]:
        async with runtime.unit_of_work() as uow:
            details = await views.sealed_details(uow, intake_id)
        if details is None:
            raise ApiError(404, "not_found", "no such referral", ["intake_id"])
        return {"intake_id": str(intake_id), "details": details}

    @api.post(
        "/referrals/{intake_id}/third-party/{detail_id}/unseal",
        summary="Open one sealed third-party detail (role dpo, with a reason); recorded in the access log",
        responses={404: {"description": "no such sealed detail on this referral"}},
    )
    async def unseal(intake_id: UUID, detail_id: UUID, body: UnsealBody, request: Request,
                     principal: Dpo) -> JSONResponse:
        async with runtime.unit_of_work() as uow:
            opened = await unseal_third_party(uow, intake_id, detail_id, unsealed_by=principal.sub,
                                              role=str(principal.acting_role or ""), why=body.reason)
            if opened is None:
                raise ApiError(404, "not_found", "no such sealed detail", ["detail_id"])
            await uow.record_access(request, principal, [opened.child_subject_id], action="third_party.unseal",
                                    returned=f"sealed third-party contact ({opened.reason}) of a referral",
                                    record_type="third_party_detail", record_id=str(detail_id))
            await uow.commit()
        return JSONResponse({
            "intake_id": str(opened.intake_id), "detail_id": str(opened.detail_id), "reason": opened.reason,
            "contact": opened.contact, "unsealed_by": principal.sub, "unsealed_at": opened.unsealed_at.isoformat(),
        }, headers=NO_STORE)

    return api
