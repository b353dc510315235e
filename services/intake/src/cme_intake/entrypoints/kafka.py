"""Kafka in: `cme.referrals.v1`, one outcome per record, rejects to the DLQ byte for byte."""

from sqlalchemy.ext.asyncio import AsyncSession

from cme_shared.contracts import topics
from cme_shared.contracts.referrals import Problem, Referral
from cme_shared.messaging.consumer import Delivery, json_model_parser
from cme_shared.runtime import ServiceRuntime

from ..service_layer.reception import ReferralReception


def subscribe(runtime: ServiceRuntime, reception: ReferralReception) -> None:
    async def handle(session: AsyncSession, referral: Referral, delivery: Delivery) -> None:
        await reception.receive(session, referral, raw=delivery.value, key=delivery.key, channel="kafka")

    async def on_reject(session: AsyncSession, delivery: Delivery, problems: list[Problem]) -> None:
        await reception.reject(
            session, message_id=delivery.message_id, raw=delivery.value, key=delivery.key,
            channel="kafka", problems=problems,
        )

    runtime.consume("referrals", topics.REFERRALS, json_model_parser(Referral), handle, on_reject)
