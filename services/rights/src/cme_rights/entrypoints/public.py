"""`POST /public/complaints`: a member of the public's complaint, with no token (DPA 2018 s164A(2)(a)).

Throttled per client network before the complaint is read: a token bucket per IPv4 address or IPv6 /64
(rotating addresses inside one /64 gets no fresh bucket), kept for at most `MAX_CLIENTS` clients, least
recently seen dropped first. Over the rate: 429 `rate_limited`, the one error shape. The body is bounded by
the kit's body limit, must be `application/json` (the kit refuses anything else on a route without a token)
and takes no field it does not know. The answer is the reference and the acknowledgement's due day only.
"""

import ipaddress
import time
from collections import OrderedDict
from collections.abc import Callable
from datetime import date
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel

from cme_shared.refusal import Refusal
from cme_shared.runtime import ServiceRuntime

from ..service_layer import requests
from ..service_layer.commands import PublicComplaint
from ..settings import RightsSettings

MAX_CLIENTS = 10_000
IPV6_CLIENT_PREFIX = 64


class ComplaintReceived(BaseModel):
    reference: UUID
    acknowledgement_due: date


def client_network(host: str | None) -> str:
    """An IPv4 address, or the /64 of an IPv6 one; an unreadable peer shares one bucket."""
    try:
        address = ipaddress.ip_address(host or "")
    except ValueError:
        return "unknown"
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, IPV6_CLIENT_PREFIX), strict=False))
    return str(address)


class Throttle:
    def __init__(self, *, per_minute: float, burst: int, clock: Callable[[], float] = time.monotonic) -> None:
        self._rate, self._burst, self._clock = per_minute / 60.0, float(burst), clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # client -> (tokens, at)

    def take(self, client: str) -> bool:
        now = self._clock()
        tokens, at = self._buckets.pop(client, (self._burst, now))
        tokens = min(self._burst, tokens + (now - at) * self._rate)
        allowed = tokens >= 1.0
        self._buckets[client] = (tokens - 1.0 if allowed else tokens, now)
        while len(self._buckets) > MAX_CLIENTS:
            self._buckets.popitem(last=False)
        return allowed


def router(runtime: ServiceRuntime, settings: RightsSettings) -> APIRouter:
    api = APIRouter(tags=["public complaints"])
    throttle = Throttle(per_minute=settings.public_complaint_per_minute, burst=settings.public_complaint_burst)

    def within_rate(request: Request) -> None:
        if not throttle.take(client_network(request.client.host if request.client else None)):
            raise Refusal(429, "rate_limited", "too many complaints from this network; please try again later")

    @api.post("/public/complaints", status_code=202, response_model=ComplaintReceived,
              responses={429: {"description": "`rate_limited`: too many complaints from this network"}},
              summary="A complaint from a member of the public (no token; rate limited per client network)")
    async def complain(body: PublicComplaint, _: Annotated[None, Depends(within_rate)]) -> dict[str, object]:
        """Recorded as a `complaint` request received today; answered with its reference and the day by
        which the council acknowledges it (30 days, DPA 2018 s164A(3))."""
        async with runtime.unit_of_work() as uow:
            answer = await requests.receive_public_complaint(uow, body)
            await uow.commit()
        return answer

    return api
