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

from ..adapters.repository import CaseRecords
from ..service_layer.casework import Casework
from ..service_layer.referrals import on_referral_accepted
from ..service_layer.rights import on_data_collection, on_rectification, on_restriction

# Records per transaction of accepted referrals; the batch holds the children's case rows it locked
# until it commits, so an officer's write to one of those cases may wait for one batch.
REFERRAL_BATCH = 100

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

    async def lock_batch_cases(session: AsyncSession, batch: list[tuple[ReferralAccepted, Delivery]]) -> None:
        # One batch handles many children: their cases are locked at once, in case_id order like every
        # multi-case lock (CaseRecords.lock_where), not child by child, so a batch never deadlocks with a
        # restriction locking several children's cases.
        # Then whether any of the batch's children and carers is restricted, asked once for the batch.
        records = CaseRecords(session)
        rows = await records.lock_children_cases({event.child_subject_id for event, _ in batch})
        await records.remember_restrictions({
            *(event.child_subject_id for event, _ in batch),
            *(carer for event, _ in batch for carer in event.carer_subject_ids),
            *(carer for row in rows for carer in row["carer_subject_ids"]),
        })

    # Intake publishes accepted referrals in bursts: up to REFERRAL_BATCH share one transaction (the kit's
    # batch mode; events are keyed by child, and one child's events keep their order even on a failure).
    runtime.consume("referral-accepted", topics.REFERRAL_ACCEPTED, json_model_parser(ReferralAccepted), referral,
                    batch_size=REFERRAL_BATCH, prepare_batch=lock_batch_cases)
    runtime.consume("rights-events", topics.RIGHTS_EVENTS, json_kind_parser(RIGHTS_EVENTS), rights_event)
    runtime.consume("data-collection", topics.DATA_COLLECTION_REQUESTS,
                    json_kind_parser({"data_collection": DataCollectionRequest}), data_collection)
