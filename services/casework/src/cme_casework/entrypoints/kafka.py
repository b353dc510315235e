"""Kafka in: accepted referrals from intake; restriction, rectification and subject access from rights;
legal holds placed or lifted in the other services.

Each subscription names its handler, `async def on_<event>(uow, event) -> None` (service_layer/), which the
kit runs in a unit of work it opens, claims the record in and commits. Topics several kinds share are
parsed by `kind` (read from the contract models); a kind casework does not handle is left alone (None).
"""

from cme_shared.contracts import topics
from cme_shared.contracts.events import ReferralAccepted
from cme_shared.contracts.retention import LegalHoldChanged
from cme_shared.contracts.rights import (
    DataCollectionRequest,
    FactualRectification,
    RestrictionLifted,
    SubjectRestricted,
)
from cme_shared.messaging.consumer import Delivery, json_kind_parser, json_model_parser
from cme_shared.runtime import ServiceRuntime

from ..adapters.unit_of_work import CaseworkUnitOfWork
from ..service_layer.referrals import on_referral_accepted
from ..service_layer.retention import on_legal_hold_changed
from ..service_layer.rights import on_data_collection, on_rights_event

# Records per transaction of accepted referrals; the batch holds the children's case rows it locked
# until it commits, so an officer's write to one of those cases may wait for one batch.
REFERRAL_BATCH = 100


async def lock_batch_cases(uow: CaseworkUnitOfWork, batch: list[tuple[ReferralAccepted, Delivery]]) -> None:
    """The referral batch's prepare hook. One batch handles many children: their cases are locked at once,
    in case_id order like every multi-case lock (CaseRecords.lock_where), not child by child, so a batch
    never deadlocks with a restriction locking several children's cases. Then whether any of the batch's
    children and carers is restricted, asked once for the batch (both kept in `uow.batch`)."""
    rows = await uow.cases.lock_children_cases({event.child_subject_id for event, _ in batch})
    await uow.cases.remember_restrictions({
        *(event.child_subject_id for event, _ in batch),
        *(carer for event, _ in batch for carer in event.carer_subject_ids),
        *(carer for row in rows for carer in row["carer_subject_ids"]),
    })


def subscribe(runtime: ServiceRuntime) -> None:
    # Intake publishes accepted referrals in bursts: up to REFERRAL_BATCH share one unit of work (the kit's
    # batch mode; events are keyed by child, and one child's events keep their order even on a failure).
    runtime.consume("referral-accepted", topics.REFERRAL_ACCEPTED, json_model_parser(ReferralAccepted),
                    on=on_referral_accepted, batch_size=REFERRAL_BATCH, prepare=lock_batch_cases)
    runtime.consume("rights-events", topics.RIGHTS_EVENTS,
                    json_kind_parser([SubjectRestricted, RestrictionLifted, FactualRectification]), on=on_rights_event)
    runtime.consume("data-collection", topics.DATA_COLLECTION_REQUESTS, json_kind_parser([DataCollectionRequest]),
                    on=on_data_collection)
    # Legal holds placed or lifted in another service (casework's own come back too: ignored).
    runtime.consume("legal-holds", topics.LEGAL_HOLDS, json_model_parser(LegalHoldChanged), on=on_legal_hold_changed)
