"""Kafka in: accepted referrals from intake."""

from sqlalchemy.ext.asyncio import AsyncSession

from cme_shared.contracts import topics
from cme_shared.contracts.events import ReferralAccepted
from cme_shared.messaging.consumer import Delivery, json_model_parser
from cme_shared.runtime import ServiceRuntime

from ..service_layer.referrals import on_referral_accepted


def subscribe(runtime: ServiceRuntime) -> None:
    async def handle(session: AsyncSession, referral: ReferralAccepted, _delivery: Delivery) -> None:
        await on_referral_accepted(session, referral)

    runtime.consume("referral-accepted", topics.REFERRAL_ACCEPTED, json_model_parser(ReferralAccepted), handle)
