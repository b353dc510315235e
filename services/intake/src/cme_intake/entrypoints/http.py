"""HTTP in: `POST /referrals` for partners, with the same validation and outcomes as Kafka."""

import json
import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from cme_shared.auth import Principal, Role, require_roles
from cme_shared.contracts import topics
from cme_shared.contracts.referrals import Problem, Referral, ReferralOutcome
from cme_shared.http.errors import error_body
from cme_shared.messaging.consumer import Delivery, Unreadable, json_model_parser
from cme_shared.runtime import ServiceRuntime

from ..service_layer.reception import ReferralReception

parse_referral = json_model_parser(Referral)


def router(runtime: ServiceRuntime, reception: ReferralReception) -> APIRouter:
    api = APIRouter(tags=["referrals"])

    async def dead_letter(raw: bytes, problems: list[Problem], channel: str) -> None:
        message_id = f"http:{uuid.uuid4()}"
        delivery = Delivery(topic=runtime.topics(topics.REFERRALS), partition=-1, offset=-1, key=None, value=raw,
                            headers=[("x-received-via", channel.encode())])
        async with runtime.sessions.begin() as session:
            await runtime.outbox.add_raw(
                session, topic=runtime.topics(topics.dlq(topics.REFERRALS)), key=None, payload=raw,
                headers=[*delivery.headers, ("x-dlq-kind", b"unreadable"),
                         ("x-dlq-reasons", json.dumps([p.model_dump() for p in problems]).encode())],
                aggregate_type="dead_letter", aggregate_id=message_id, event_type="unreadable",
            )
            await reception.reject(session, message_id=message_id, raw=raw, key=None, channel=channel,
                                   problems=problems)
        runtime.relay.nudge()

    @api.post(
        "/referrals",
        status_code=202,
        response_model=ReferralOutcome,
        openapi_extra={"requestBody": {"required": True, "content": {"application/json": {
            "schema": {"$ref": "#/components/schemas/Referral"}}}}},
        responses={422: {"description": "the referral could not be understood; nothing was accepted"}},
    )
    async def post_referral(
        request: Request, principal: Annotated[Principal, Depends(require_roles(Role.PARTNER))]
    ) -> JSONResponse:
        raw = await request.body()
        try:
            referral = parse_referral(Delivery(topic="", partition=-1, offset=-1, key=None, value=raw))
        except Unreadable as unreadable:
            await dead_letter(raw, unreadable.problems, "http")
            return JSONResponse(
                error_body(*((p.loc, p.code, p.message) for p in unreadable.problems)), status_code=422
            )
        if principal.org_id is None or principal.org_id != referral.source.org_id:
            return JSONResponse(
                error_body((["source", "org_id"], "org_mismatch", "source.org_id must match the token's org_id")),
                status_code=403,
            )
        async with runtime.sessions.begin() as session:
            outcome = await reception.receive(session, referral, raw=raw, key=None, channel="http")
        runtime.relay.nudge()
        return JSONResponse(outcome.model_dump(mode="json"), status_code=202)

    return api
