"""Kafka in: accepted referrals from intake; restriction, rectification and subject access from rights.

Topics several kinds share are parsed by `kind`; a kind casework does not handle is left alone.
"""

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from cme_shared.contracts import topics
from cme_shared.contracts.events import ReferralAccepted
from cme_shared.contracts.rights import (
    DataCollectionRequest,
    FactualRectification,
    RestrictionLifted,
    SubjectRestricted,
)
from cme_shared.messaging.consumer import Delivery, json_kind_parser, json_model_parser

from ..service_layer.casework import Casework
from ..service_layer.referrals import on_referral_accepted
from ..service_layer.rights import on_data_collection, on_rectification, on_restriction

RIGHTS_EVENTS = {"subject_restricted": SubjectRestricted, "restriction_lifted": RestrictionLifted,
                 "factual_rectification": FactualRectification}


def subscribe(casework: Casework) -> None:
    runtime = casework.runtime

    async def referral(session: AsyncSession, event: ReferralAccepted, _delivery: Delivery) -> None:
        await on_referral_accepted(session, casework, event)

    async def rights_event(session: AsyncSession, event: Any, _delivery: Delivery) -> None:
        if isinstance(event, FactualRectification):
            await on_rectification(session, casework, event)
        elif event is not None:
            await on_restriction(session, casework, event)

    async def data_collection(session: AsyncSession, request: DataCollectionRequest | None,
                              _delivery: Delivery) -> None:
        if request is not None:
            await on_data_collection(session, casework, request)

    runtime.consume("referral-accepted", topics.REFERRAL_ACCEPTED, json_model_parser(ReferralAccepted), referral)
    runtime.consume("rights-events", topics.RIGHTS_EVENTS, json_kind_parser(RIGHTS_EVENTS), rights_event)
    runtime.consume("data-collection", topics.DATA_COLLECTION_REQUESTS,
                    json_kind_parser({"data_collection": DataCollectionRequest}), data_collection)
