"""HTTP in: `POST /referrals` for partners and `POST /public/referrals` for members of the public, with
the same validation, outcomes and dead letters as Kafka; and the officers' and the DPO's actions on what
the public form received (entrypoints/triage.py).

The public form differs in three ways (SEC-05, SEC-11): it is throttled per client and for everyone
(entrypoints/throttle.py); what it receives waits for an officer before casework hears of it; and its dead
letters are sealed (a member of the public's bytes name them): the DLQ value is the Fernet token of the
bytes under intake's seal key, with the header `x-cme-sealed`.
"""

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from cme_shared.auth import Principal, Role, require_roles
from cme_shared.contracts.referrals import Referral, ReferralOutcome
from cme_shared.http.errors import error_body
from cme_shared.messaging.consumer import Delivery, Unreadable, json_model_parser
from cme_shared.runtime import ServiceRuntime

from ..domain.referrals import PRIVATE_REFERRERS, PUBLIC_FORM_CHANNEL
from ..service_layer import reception
from ..settings import IntakeSettings
from . import triage
from .throttle import PublicFormLimits

parse_referral = json_model_parser(Referral)

# A referral may be larger than the platform's other bodies (a child, twenty carers, notes): its own limit,
# by path prefix, over CME_HTTP_MAX_BODY_BYTES (CME_HTTP_BODY_LIMITS overrides it).
REFERRAL_BODY_BYTES = 256 * 1024
BODY_LIMITS = {"/referrals": REFERRAL_BODY_BYTES, "/public/referrals": REFERRAL_BODY_BYTES}

REFERRAL_BODY = {"requestBody": {"required": True, "content": {"application/json": {
    "schema": {"$ref": "#/components/schemas/Referral"}}}}}
ERROR_RESPONSES = {
    403: {"description": "the token may not send this referral (source.org_id is not the token's org_id)"},
    413: {"description": "the body is larger than a referral may be (256 KiB unless configured); nothing was kept"},
    415: {"description": "the body was not sent as Content-Type: application/json; nothing was kept"},
    422: {"description": "the referral could not be understood; nothing was accepted (errors name each field and rule)"},
}


def router(runtime: ServiceRuntime, settings: IntakeSettings) -> APIRouter:
    api = APIRouter(tags=["referrals"])
    limits = PublicFormLimits(
        per_minute=settings.public_rate_per_minute, burst=settings.public_burst,
        max_clients=settings.public_rate_max_clients, global_per_minute=settings.public_global_per_minute,
        proxies=settings.trusted_proxies,
    )

    async def understood(raw: bytes, channel: str) -> Referral | JSONResponse:
        try:
            return parse_referral(Delivery(topic="", partition=-1, offset=-1, key=None, value=raw))
        except Unreadable as unreadable:
            async with runtime.unit_of_work() as uow:
                await reception.dead_letter(uow, raw, unreadable.problems, channel)
                await uow.commit()
            return JSONResponse(error_body(*((p.loc, p.code, p.message) for p in unreadable.problems)),
                                status_code=422)

    async def accept(referral: Referral, raw: bytes, channel: str) -> ReferralOutcome:
        async with runtime.unit_of_work() as uow:
            outcome = await reception.receive(uow, referral, raw=raw, key=None, channel=channel)
            await uow.commit()
        return outcome

    @api.post(
        "/referrals", status_code=202, response_model=ReferralOutcome, openapi_extra=REFERRAL_BODY,
        responses=ERROR_RESPONSES,
        summary="A partner's referral (role partner; source.org_id must be the token's org_id)",
    )
    async def post_referral(
        request: Request, principal: Annotated[Principal, Depends(require_roles(Role.PARTNER))]
    ) -> JSONResponse:
        raw = await request.body()
        referral = await understood(raw, "http")
        if isinstance(referral, JSONResponse):
            return referral
        if principal.org_id is None or principal.org_id != referral.source.org_id:
            return JSONResponse(
                error_body((["source", "org_id"], "org_mismatch", "source.org_id must match the token's org_id")),
                status_code=403,
            )
        outcome = await accept(referral, raw, "http")
        return JSONResponse(outcome.model_dump(mode="json"), status_code=202)

    @api.post(
        "/public/referrals", status_code=202, response_model=ReferralOutcome, openapi_extra=REFERRAL_BODY,
        responses={**ERROR_RESPONSES, 429: {"description": "`rate_limited`: too many referrals from this address "
                                                          "(an IPv6 /64 counts as one); `public_form_busy`: too "
                                                          "many from everyone together; retry later"}},
        summary="A member of the public's or a parent's referral (no token; rate limited per client address "
                "and for all clients together); kept, answered, and sent on to casework once an officer "
                "accepts it",
    )
    async def post_public_referral(request: Request) -> JSONResponse:
        client = limits.client_of(request.client.host if request.client else None,
                                  request.headers.getlist("x-forwarded-for"))
        refusal = limits.check(client)
        if refusal is not None:
            return JSONResponse(error_body(([], refusal.code, refusal.message)), status_code=429,
                                headers={"Retry-After": str(refusal.retry_after)})
        raw = await request.body()
        referral = await understood(raw, PUBLIC_FORM_CHANNEL)
        if isinstance(referral, JSONResponse):
            return referral
        if referral.source.type not in PRIVATE_REFERRERS:
            return JSONResponse(
                error_body((["source", "type"], "source_type_not_public",
                            "this form takes referrals from a member of the public or a parent only; "
                            "partners use POST /referrals or Kafka")),
                status_code=422,
            )
        if (referral.source.org_id or "").strip():
            # A referral's duplicate key is (source.org_id, referral_id): an org id on the open form would let
            # anyone take a school's referral ids, so that the school's own referral came back a duplicate.
            return JSONResponse(
                error_body((["source", "org_id"], "org_id_not_for_public_form",
                            "a member of the public or a parent refers without an org_id; "
                            "partners use POST /referrals or Kafka")),
                status_code=422,
            )
        outcome = await accept(referral, raw, PUBLIC_FORM_CHANNEL)
        # The public learns that their referral arrived, not whom the council's index holds.
        return JSONResponse(outcome.model_copy(update={"child_subject_id": None}).model_dump(mode="json"),
                            status_code=202)

    api.include_router(triage.router(runtime))
    return api
