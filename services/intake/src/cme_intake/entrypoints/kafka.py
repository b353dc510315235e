"""Kafka in: partner referrals on `cme.referrals.v1`, and the rights service's requests and events.

Referrals: one outcome per record, rejects to the DLQ byte for byte (the kit's dead-letter path).
Rights topics carry several kinds of message; intake answers the kinds it has a part in and lets the
others pass (the kit's kind parser gives None; they are claimed in the inbox, nothing else).
"""

from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from cme_shared.contracts import topics
from cme_shared.contracts.referrals import Problem, Referral
from cme_shared.contracts.rights import DataCollectionRequest, FactualRectification, SubjectLookup
from cme_shared.messaging.consumer import (
    Delivery,
    ReliableConsumer,
    Unreadable,
    json_kind_parser,
    json_model_parser,
)
from cme_shared.runtime import ServiceRuntime

from ..service_layer.reception import ReferralReception
from ..service_layer.subject_rights import SubjectRights, rectified_value


@dataclass(frozen=True)
class PartnerDelivery(Delivery):
    """A partner's record is known by its place in the log, never by headers the partner chose: a
    partner's own `event_id` header must not make two referrals look like one redelivery."""

    @property
    def message_id(self) -> str:
        return self.position


class PartnerTopicConsumer(ReliableConsumer[Any]):
    """The kit's consumer, with two rules for a partner topic: records are known by their position, and a
    partner hears back even about a record the handler kept failing on (CONTRACT section 3: one
    outcome per message), so the reject hook runs for every dead letter."""

    async def process(self, delivery: Delivery) -> str:
        return await super().process(PartnerDelivery(
            topic=delivery.topic, partition=delivery.partition, offset=delivery.offset, key=delivery.key,
            value=delivery.value, headers=delivery.headers,
        ))

    async def _dead_letter(self, delivery: Delivery, kind: str, problems: list[Problem], *,
                           run_hook: bool = True) -> None:
        await super()._dead_letter(delivery, kind, problems, run_hook=True)


_rights_event = json_kind_parser({"factual_rectification": FactualRectification})


def parse_rectifications(delivery: Delivery) -> FactualRectification | None:
    """Factual rectifications from the rights events topic (other kinds: None), with a new value that
    fits its field; one that does not is dead-lettered rather than half applied."""
    correction = _rights_event(delivery)
    if correction is not None:
        try:
            rectified_value(correction.field, correction.new_value)
        except ValueError:  # pydantic's ValidationError included
            raise Unreadable([Problem(loc=["new_value"], code="value_not_valid_for_field",
                                      message=f"new_value does not fit field {correction.field}")]) from None
    return correction


def subscribe(runtime: ServiceRuntime, reception: ReferralReception, rights: SubjectRights) -> None:
    async def receive(session: AsyncSession, referral: Referral, delivery: Delivery) -> None:
        await reception.receive(session, referral, raw=delivery.value, key=delivery.key, channel="kafka")

    async def on_reject(session: AsyncSession, delivery: Delivery, problems: list[Problem]) -> None:
        await reception.reject(
            session, message_id=delivery.message_id, raw=delivery.value, key=delivery.key,
            channel="kafka", problems=problems,
        )

    settings = runtime.settings
    consumer = PartnerTopicConsumer(
        name="referrals", topic=runtime.topics(topics.REFERRALS), group_id=settings.group_id("referrals"),
        parse=json_model_parser(Referral), handle=receive, sessions=runtime.sessions, outbox=runtime.outbox,
        inbox=runtime.inbox, on_reject=on_reject, on_committed=runtime.relay.nudge,
        max_attempts=settings.handler_max_attempts, backoff_seconds=settings.handler_backoff_seconds,
    )
    consumer.register(runtime.broker)
    runtime.consumers.append(consumer)

    async def answer(session: AsyncSession, message: Any, _delivery: Delivery) -> None:
        if isinstance(message, SubjectLookup):
            await rights.answer_lookup(session, message)
        elif isinstance(message, DataCollectionRequest):
            await rights.answer_collection(session, message)

    runtime.consume(
        "data-collection", topics.DATA_COLLECTION_REQUESTS,
        json_kind_parser({"subject_lookup": SubjectLookup, "data_collection": DataCollectionRequest}), answer,
    )

    async def apply(session: AsyncSession, message: Any, _delivery: Delivery) -> None:
        if isinstance(message, FactualRectification):
            await rights.rectify(session, message)

    runtime.consume("rights-events", topics.RIGHTS_EVENTS, parse_rectifications, apply)
