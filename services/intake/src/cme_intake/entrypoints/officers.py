"""Officers' HTTP API (roles officer, manager; each sees the boroughs of their token): a referral, the
triage list, and the identity index's possible matches with their resolution."""

from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field

from cme_shared.auth import Principal, Role, require_roles
from cme_shared.http.errors import ApiError
from cme_shared.http.limits import MAX_BIGINT
from cme_shared.runtime import ServiceRuntime

from ..service_layer import possible_matches, referral_reads

OfficerOrManager = Annotated[Principal, Depends(require_roles(Role.OFFICER, Role.MANAGER))]


class Resolution(BaseModel):
    model_config = ConfigDict(extra="forbid")

    decision: possible_matches.Decision
    reason: str = Field(min_length=1, max_length=2000, description="why: recorded with the decision")


def router(runtime: ServiceRuntime) -> APIRouter:
    api = APIRouter(tags=["officers"])

    @api.get("/referrals/{intake_id}", summary="One referral as received, with warnings and identity links")
    async def get_referral(intake_id: UUID, principal: OfficerOrManager) -> dict[str, Any]:
        async with runtime.sessions() as session:
            detail = await referral_reads.referral_detail(session, intake_id, principal.boroughs())
        if detail is None:  # not there, or another borough's: the same answer, so nothing leaks
            raise ApiError(404, "not_found", "no such referral", ["intake_id"])
        return detail

    @api.get("/triage", summary="Referrals no borough could be decided for, oldest first")
    async def get_triage(
        principal: OfficerOrManager,
        limit: Annotated[int, Query(ge=1, le=200)] = 50,
        offset: Annotated[int, Query(ge=0, le=MAX_BIGINT)] = 0,
    ) -> list[dict[str, Any]]:
        async with runtime.sessions() as session:
            return await referral_reads.triage_list(session, limit=limit, offset=offset)

    @api.get("/possible-matches", summary="Possible matches in the identity index, for an officer to resolve")
    async def get_possible_matches(
        principal: OfficerOrManager,
        status: Literal["open", "decided", "all"] = "open",
        limit: Annotated[int, Query(ge=1, le=200)] = 50,
        offset: Annotated[int, Query(ge=0, le=MAX_BIGINT)] = 0,
    ) -> list[dict[str, Any]]:
        async with runtime.sessions() as session:
            return await possible_matches.list_matches(session, principal.boroughs(), status=status, limit=limit,
                                                       offset=offset)

    @api.post(
        "/possible-matches/{match_id}/resolve",
        summary="Merge the two subjects, or keep them apart; who, when and why are recorded",
        responses={404: {"description": "no such match in your boroughs"},
                   409: {"description": "already decided"}},
    )
    async def resolve(match_id: UUID, body: Resolution, principal: OfficerOrManager) -> dict[str, Any]:
        try:
            async with runtime.sessions.begin() as session:
                return await possible_matches.resolve(
                    session, match_id, decision=body.decision, reason=body.reason, decided_by=principal.sub,
                    boroughs=principal.boroughs(),
                )
        except possible_matches.MatchNotFound:
            raise ApiError(404, "not_found", "no such possible match", ["match_id"]) from None
        except possible_matches.AlreadyDecided:
            raise ApiError(409, "already_decided", "this possible match has already been decided",
                           ["match_id"]) from None

    return api
