"""HTTP in: `POST /referrals` for partners and `POST /public/referrals` for members of the public, with
the same validation, outcomes and dead letters as Kafka."""

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from cme_shared.auth import Principal, Role, require_roles
from cme_shared.contracts import topics
from cme_shared.contracts.referrals import Problem, Referral, ReferralOutcome
from cme_shared.http.errors import error_body
from cme_shared.messaging.consumer import Delivery, Unreadable, dead_letter_headers, json_model_parser
from cme_shared.runtime import ServiceRuntime

from ..domain.referrals import PRIVATE_REFERRERS
from ..service_layer.reception import ReferralReception
from ..settings import IntakeSettings
from .throttle import TokenBuckets

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


def router(runtime: ServiceRuntime, reception: ReferralReception, settings: IntakeSettings) -> APIRouter:
    api = APIRouter(tags=["referrals"])
    buckets = TokenBuckets(per_minute=settings.public_rate_per_minute, burst=settings.public_burst,
                           max_clients=settings.public_rate_max_clients)

    async def dead_letter(raw: bytes, problems: list[Problem], channel: str) -> None:
        """An HTTP body that cannot be understood goes where a Kafka one would: the DLQ, byte for byte."""
        message_id = f"{channel}:{uuid.uuid4()}"
        async with runtime.sessions.begin() as session:
            await runtime.outbox.add_raw(
                session, topic=runtime.topics(topics.dlq(topics.REFERRALS)), key=None, payload=raw,
                headers=dead_letter_headers([("x-received-via", channel.encode())], "unreadable", problems, channel),
                aggregate_type="dead_letter", aggregate_id=message_id, event_type="unreadable",
            )
            await reception.reject(session, message_id=message_id, raw=raw, key=None, channel=channel,
                                   problems=problems)
        runtime.relay.nudge()

    async def understood(raw: bytes, channel: str) -> Referral | JSONResponse:
        try:
            return parse_referral(Delivery(topic="", partition=-1, offset=-1, key=None, value=raw))
        except Unreadable as unreadable:
            await dead_letter(raw, unreadable.problems, channel)
            return JSONResponse(error_body(*((p.loc, p.code, p.message) for p in unreadable.problems)),
                                status_code=422)

    async def accept(referral: Referral, raw: bytes, channel: str) -> ReferralOutcome:
        async with runtime.sessions.begin() as session:
            outcome = await reception.receive(session, referral, raw=raw, key=None, channel=channel)
        runtime.relay.nudge()
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
        responses={**ERROR_RESPONSES, 429: {"description": "too many referrals from this address; retry later"}},
        summary="A member of the public's or a parent's referral (no token; rate limited per client address)",
    )
    async def post_public_referral(request: Request) -> JSONResponse:
        client = _client_address(request, settings.trust_forwarded_for)
        if not buckets.take(client):
            return JSONResponse(
                error_body(([], "rate_limited", "too many referrals from this address; please try again later")),
                status_code=429, headers={"Retry-After": str(buckets.retry_after(client))},
            )
        raw = await request.body()
        referral = await understood(raw, "http-public")
        if isinstance(referral, JSONResponse):
            return referral
        if referral.source.type not in PRIVATE_REFERRERS:
            return JSONResponse(
                error_body((["source", "type"], "source_type_not_public",
                            "this form takes referrals from a member of the public or a parent only; "
                            "partners use POST /referrals or Kafka")),
                status_code=422,
            )
        outcome = await accept(referral, raw, "http-public")
        # The public learns that their referral arrived, not whom the council's index holds.
        return JSONResponse(outcome.model_copy(update={"child_subject_id": None}).model_dump(mode="json"),
                            status_code=202)

    return api


def _client_address(request: Request, trust_forwarded_for: bool) -> str:
    # The last entry is the one the trusted proxy itself appended; earlier ones are the client's to forge.
    if trust_forwarded_for and (forwarded := request.headers.get("x-forwarded-for")):
        return forwarded.split(",")[-1].strip()
    return request.client.host if request.client else "unknown"
