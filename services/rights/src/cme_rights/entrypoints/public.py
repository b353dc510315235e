"""`POST /public/complaints`: a member of the public's complaint, with no token (DPA 2018 s164A(2)(a)).

Throttled before the complaint is read by the kit's public-form limits (cme_shared.http.throttle, as intake's
public referral form): a bucket per client (an IPv4 address or an IPv6 /64), one per network (/24, /48), and
a ceiling for everyone; the client behind a trusted proxy (CME_TRUSTED_PROXIES) by X-Forwarded-For. Over a
rate: 429 `rate_limited` (or `public_form_busy`) with `Retry-After`, the one error shape. The body is bounded
by the kit's body limit, must be `application/json` (the kit refuses anything else on a route without a token)
and takes no field it does not know. The answer is the reference and the acknowledgement's due day only.
"""

from datetime import date
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel

from cme_shared.http.throttle import PublicFormLimits, refusal_counter
from cme_shared.refusal import Refusal
from cme_shared.runtime import ServiceRuntime

from ..service_layer import requests
from ..service_layer.commands import PublicComplaint
from ..settings import RightsSettings

PUBLIC_REFUSALS = refusal_counter("cme_public_complaints_refused_total", "complaint")


class ComplaintReceived(BaseModel):
    reference: UUID
    acknowledgement_due: date


def router(runtime: ServiceRuntime, settings: RightsSettings) -> APIRouter:
    api = APIRouter(tags=["public complaints"])
    limits = PublicFormLimits(
        per_minute=settings.public_complaint_per_minute, burst=settings.public_complaint_burst,
        max_clients=settings.public_complaint_max_clients,
        global_per_minute=settings.public_complaint_global_per_minute, proxies=settings.trusted_proxies,
        counter=PUBLIC_REFUSALS, noun="complaints",
    )

    def within_rate(request: Request) -> None:
        client = limits.client_of(request.client.host if request.client else None,
                                  request.headers.getlist("x-forwarded-for"))
        if (throttled := limits.check(client)) is not None:
            raise Refusal(429, throttled.code, throttled.message, headers={"Retry-After": str(throttled.retry_after)})

    @api.post("/public/complaints", status_code=202, response_model=ComplaintReceived,
              responses={429: {"description": "`rate_limited`: too many complaints from this address or network; "
                                    "`public_form_busy`: too many from everyone (with `Retry-After`)"}},
              summary="A complaint from a member of the public (no token; rate limited per client network)")
    async def complain(body: PublicComplaint, _: Annotated[None, Depends(within_rate)]) -> dict[str, object]:
        """Recorded as a `complaint` request received today; answered with its reference and the day by
        which the council acknowledges it (30 days, DPA 2018 s164A(3))."""
        async with runtime.unit_of_work() as uow:
            answer = await requests.receive_public_complaint(uow, body)
            await uow.commit()
        return answer

    return api
