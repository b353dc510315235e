"""Kafka in: shares other services made, restrictions, data collection for access requests.

Two topics carry several message kinds (rights' events; rights' collection requests, which also
carry identity lookups for intake). Each parser reads `kind` first: the kinds disclosure acts on are
validated strictly (a malformed one is dead-lettered), any other kind is acknowledged and ignored.

A share is logged under the service that signed it (the kit has checked the signature): its `service`
must be the signer, and shares are deduplicated by (service, share_ref), so no service can squat
another's references and have the real share dropped as a duplicate (SEC-03 c).
"""

from collections.abc import Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from cme_shared.contracts import topics
from cme_shared.contracts.rights import DataCollectionRequest, RestrictionLifted, SubjectRestricted
from cme_shared.contracts.shares import ShareMade
from cme_shared.logging import get_logger
from cme_shared.messaging.consumer import Delivery, json_kind_parser, json_model_parser, signer_of, unreadable_because
from cme_shared.runtime import ServiceRuntime

from ..service_layer import collection, disclosures
from ..service_layer.disclosures import Deps

log = get_logger(__name__)


def shares_parser() -> Callable[[Delivery], ShareMade]:
    """ShareMade, bound to its signer: made by the service that signed it, under that service's references."""
    parse = json_model_parser(ShareMade)

    def parse_signed(delivery: Delivery) -> ShareMade:
        share: ShareMade = parse(delivery)
        signer = signer_of(delivery)
        if share.service != signer:
            raise unreadable_because("service_mismatch", "a share names another service than its signer")
        return share

    return parse_signed


def subscribe(runtime: ServiceRuntime, deps: Deps) -> None:
    async def on_share(session: AsyncSession, event: ShareMade, _delivery: Delivery) -> None:
        await disclosures.record_share_made(session, deps, event)

    async def on_rights_event(session: AsyncSession, event: Any, _delivery: Delivery) -> None:
        if isinstance(event, SubjectRestricted):
            await disclosures.restrict(session, event.subject_ids, event.rights_request_id, event.occurred_at)
        elif isinstance(event, RestrictionLifted):
            await disclosures.lift_restriction(session, event.subject_ids, event.rights_request_id, event.occurred_at)

    async def on_collection(session: AsyncSession, request: DataCollectionRequest | None, _d: Delivery) -> None:
        if request is not None:
            count = await collection.answer(session, runtime, request)
            if count is not None:
                log.info("data_collection_answered", collection_id=str(request.collection_id), count=count)

    runtime.consume("share-events", topics.SHARE_EVENTS, shares_parser(), on_share)
    runtime.consume("rights-events", topics.RIGHTS_EVENTS, json_kind_parser({
        "subject_restricted": SubjectRestricted, "restriction_lifted": RestrictionLifted,
    }), on_rights_event)
    runtime.consume("data-collection", topics.DATA_COLLECTION_REQUESTS,
                    json_kind_parser({"data_collection": DataCollectionRequest}), on_collection)
