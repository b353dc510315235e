"""Kafka in: partner referrals on `cme.referrals.v1`, and the rights service's requests and events.

Referrals: one outcome per record, rejects to the DLQ byte for byte (the kit's dead-letter path).
Rights topics carry several kinds of message; intake answers the kinds it has a part in and lets the
others pass (the kit's kind parser gives None; they are claimed in the inbox, nothing else).
"""

from collections.abc import Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from cme_shared.contracts import topics
from cme_shared.contracts.referrals import Problem, Referral
from cme_shared.contracts.rights import DataCollectionRequest, FactualRectification, SubjectLookup
from cme_shared.messaging.consumer import (
    Delivery,
    Unreadable,
    by_position,
    json_kind_parser,
    json_model_parser,
)
from cme_shared.runtime import ServiceRuntime

from ..adapters.partner_bindings import BindingsFile
from ..domain import partners
from ..domain.referrals import org_id
from ..service_layer import identity_index
from ..service_layer.reception import ReferralReception
from ..service_layer.subject_rights import SubjectRights, rectified_value


# Records per transaction on the referrals topic. The batch holds the identity-index lock until it
# commits, so an HTTP referral may wait for one batch (100 records: about a second on the dev machine).
REFERRAL_BATCH = 100

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


def referral_parser(bindings: BindingsFile) -> Callable[[Delivery], Referral]:
    """A referral, held to its sender's org binding (domain/partners.py): a referral that breaks it is
    rejected like one that cannot be understood (an outcome, and the record kept in the DLQ)."""
    parse = json_model_parser(Referral)

    def parse_bound(delivery: Delivery) -> Referral:
        referral = parse(delivery)
        refused = partners.check(bindings.current(), delivery.headers, delivery.value, org_id(referral))
        if refused is not None:
            raise Unreadable([refused])
        return referral

    return parse_bound


def subscribe(runtime: ServiceRuntime, reception: ReferralReception, rights: SubjectRights,
              bindings: BindingsFile) -> None:
    async def receive(session: AsyncSession, referral: Referral, delivery: Delivery) -> None:
        await reception.receive(session, referral, raw=delivery.value, key=delivery.key, channel="kafka")

    async def on_reject(session: AsyncSession, delivery: Delivery, problems: list[Problem]) -> None:
        # Every dead letter, unreadable or failing, still gets its one outcome (CONTRACT section 3).
        await reception.reject(
            session, message_id=by_position(delivery), raw=delivery.value, key=delivery.key,
            channel="kafka", problems=problems,
        )

    async def lock_index(session: AsyncSession, batch: list[tuple[Referral, Delivery]]) -> None:
        # Every record of the batch takes the identity-index lock and keeps it until the batch commits:
        # taking it once, first, saves a round trip per record and changes no lock order. Then the
        # duplicate check and the name lookups for the whole batch, one query each.
        await identity_index.lock_for_batch(session)
        await reception.prepare_batch(session, [referral for referral, _ in batch])
        await identity_index.prefetch_names(session, [(referral.child, referral.carers) for referral, _ in batch])

    # A partner's record is known by its place in the log, never by headers the partner chose. Partners
    # send in bursts: up to REFERRAL_BATCH records share one transaction (the kit's batch mode).
    runtime.consume("referrals", topics.REFERRALS, referral_parser(bindings), receive, on_reject,
                    identify=by_position, batch_size=REFERRAL_BATCH, prepare_batch=lock_index)

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
