"""Officers' HTTP API: a referral, the triage list, and the identity index's possible matches with their
resolution, the managers' approval of merges across boroughs, and unmerging.

Who sees what is one rule (`visibility.Scope`, from the role that let the request in): an
officer their borough's records, a manager or the DPO both boroughs and the triage list. Every answer that
shows a child's or carer's data records the read in the access log, one row per subject shown, in the same
transaction as the read.
"""

from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from cme_shared.auth import Principal, Role, require_roles
from cme_shared.http.errors import ApiError
from cme_shared.http.limits import MAX_BIGINT
from cme_shared.runtime import ServiceRuntime

from .. import views
from ..service_layer import possible_matches
from ..visibility import Scope

# A token with several of these roles acts as the first it holds (`require_roles`), and sees what that role sees.
Readers = Annotated[Principal, Depends(require_roles(Role.OFFICER, Role.MANAGER, Role.DPO))]
Deciders = Annotated[Principal, Depends(require_roles(Role.OFFICER, Role.MANAGER))]
Managers = Annotated[Principal, Depends(require_roles(Role.MANAGER))]
# Referrals no borough has been decided for are for those who see both boroughs, as casework's triage cases.
TriageReaders = Annotated[Principal, Depends(require_roles(Role.MANAGER, Role.DPO))]

SHOWN = "possible match: identity details"
WITHHELD = "possible match: existence and boroughs only, identity details redacted"

Reason = Annotated[str, Field(min_length=1, max_length=2000, description="why: recorded with the decision")]


class Resolution(BaseModel):
    model_config = ConfigDict(extra="forbid")

    decision: possible_matches.Decision
    reason: Reason


class MergeApproval(BaseModel):
    model_config = ConfigDict(extra="forbid")

    decision: possible_matches.Approval
    reason: Reason


class Unmerge(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Reason


def actor(principal: Principal) -> possible_matches.Actor:
    role = principal.acting_role
    return possible_matches.Actor(sub=principal.sub, role=role.value if role else "", scope=Scope.of(principal))


def router(runtime: ServiceRuntime) -> APIRouter:
    api = APIRouter(tags=["officers"])

    @api.get("/referrals/{intake_id}", summary="One referral as received, with warnings and identity links")
    async def get_referral(intake_id: UUID, request: Request, principal: Readers) -> dict[str, Any]:
        async with runtime.unit_of_work() as uow:
            read = await views.referral_detail(uow, intake_id, Scope.of(principal))
            if read is None:  # not there, or not yours to see: the same answer, so nothing leaks
                raise ApiError(404, "not_found", "no such referral", ["intake_id"])
            await uow.record_access(request, principal, read.subject_ids, action="referral.read",
                                    returned="referral as received, with warnings and identity links",
                                    record_type="referral", record_id=str(intake_id))
            await uow.commit()
        return read.detail

    @api.get("/triage", summary="Referrals no borough could be decided for, oldest first (managers, the DPO)")
    async def get_triage(
        request: Request,
        principal: TriageReaders,
        limit: Annotated[int, Query(ge=1, le=200)] = 50,
        offset: Annotated[int, Query(ge=0, le=MAX_BIGINT)] = 0,
    ) -> list[dict[str, Any]]:
        async with runtime.unit_of_work() as uow:
            items = await views.triage_list(uow, Scope.of(principal), limit=limit, offset=offset)
            for item in items:
                await uow.record_access(request, principal, [UUID(item["child_subject_id"])],
                                        action="triage.list",
                                        returned="triage list entry: postcode district, warnings, safeguarding flag",
                                        record_type="referral", record_id=item["intake_id"])
            await uow.commit()
        return items

    @api.get("/possible-matches", summary="Possible matches in the identity index, for an officer to resolve")
    async def get_possible_matches(
        request: Request,
        principal: Readers,
        status: Literal["open", "pending", "decided", "all"] = "open",
        limit: Annotated[int, Query(ge=1, le=200)] = 50,
        offset: Annotated[int, Query(ge=0, le=MAX_BIGINT)] = 0,
    ) -> list[dict[str, Any]]:
        async with runtime.unit_of_work() as uow:
            matches = await views.list_matches(uow, Scope.of(principal), status=status, limit=limit, offset=offset)
            for match in matches:
                sides = [s for s in (match["subject"], match["candidate"]) if s is not None]
                shown = [UUID(s["subject_id"]) for s in sides if s["redacted"] is None]
                withheld = [UUID(s["subject_id"]) for s in sides if s["redacted"] is not None]
                for subject_ids, returned in ((shown, SHOWN), (withheld, WITHHELD)):
                    await uow.record_access(request, principal, subject_ids,
                                            action="possible_match.read", returned=returned,
                                            record_type="possible_match", record_id=match["match_id"])
            await uow.commit()
        return matches

    @api.post(
        "/possible-matches/{match_id}/resolve",
        summary="Merge the two subjects, or keep them apart; who, when and why are recorded",
        description="A merge of two subjects whose records are in two boroughs (or in one you do not see) is "
                    "proposed (202): a manager who did not propose it approves it "
                    "(POST /possible-matches/{match_id}/approval) before anything is merged.",
        responses={202: {"description": "merge proposed: it waits for a manager's approval"},
                   404: {"description": "no such match in your boroughs"},
                   409: {"description": "already decided, or a proposed merge waits for a manager"}},
    )
    async def resolve(match_id: UUID, body: Resolution, principal: Deciders, response: Response) -> dict[str, Any]:
        async with runtime.unit_of_work() as uow:
            answer = await possible_matches.resolve(uow, match_id, decision=body.decision, reason=body.reason,
                                                    actor=actor(principal))
            await uow.commit()
        if answer["status"] == "pending_approval":
            response.status_code = 202
        return answer

    @api.post(
        "/possible-matches/{match_id}/approval",
        summary="A manager approves (the merge is applied) or refuses a proposed merge; never its proposer",
        responses={403: {"description": "you proposed this merge (two-person rule), or you are not a manager"},
                   404: {"description": "no such possible match"},
                   409: {"description": "no proposed merge waits for a decision"}},
    )
    async def approve(match_id: UUID, body: MergeApproval, principal: Managers) -> dict[str, Any]:
        async with runtime.unit_of_work() as uow:
            answer = await possible_matches.decide_proposal(uow, match_id, approval=body.decision,
                                                            reason=body.reason, actor=actor(principal))
            await uow.commit()
        return answer

    @api.post(
        "/possible-matches/{match_id}/unmerge",
        summary="A manager undoes the merge a match's decision made, with a reason; recorded, nothing deleted",
        responses={404: {"description": "no such possible match"},
                   409: {"description": "this match's decision made no merge that is still in force"}},
    )
    async def unmerge(match_id: UUID, body: Unmerge, principal: Managers) -> dict[str, Any]:
        async with runtime.unit_of_work() as uow:
            answer = await possible_matches.unmerge(uow, match_id, reason=body.reason, actor=actor(principal))
            await uow.commit()
        return answer

    return api
