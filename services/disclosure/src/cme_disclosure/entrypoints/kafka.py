"""Kafka in: shares other services made, restrictions, data collection for access requests, disposals,
legal holds placed or lifted in other services.

Two topics carry several message kinds (rights' events; rights' collection requests, which also
carry identity lookups for intake). Each parser reads `kind` first: the kinds disclosure acts on are
validated strictly (a malformed one is dead-lettered), any other kind is acknowledged and ignored.

A share is logged under the service that signed it (the kit has checked the signature): its `service`
must be the signer, and shares are deduplicated by (service, share_ref), so no service can squat
another's references and have the real share dropped as a duplicate (SEC-03 c).
"""

from collections.abc import Callable

from cme_shared.contracts import topics
from cme_shared.contracts.retention import LegalHoldChanged, RecordsDisposed, from_owner
from cme_shared.contracts.rights import DataCollectionRequest, RestrictionLifted, SubjectRestricted
from cme_shared.contracts.shares import ShareMade
from cme_shared.messaging.consumer import Delivery, json_kind_parser, json_model_parser, signer_of, unreadable_because
from cme_shared.messaging.signing import SIGNATURE_HEADER
from cme_shared.runtime import ServiceRuntime

from ..adapters.unit_of_work import DisclosureUnitOfWork
from ..service_layer.collection import on_data_collection
from ..service_layer.disclosures import on_restriction_lifted, on_share_made, on_subject_restricted
from ..domain.retention import ReceivedDisposal, SignedRecord
from ..service_layer.retention import on_legal_hold_changed, on_records_disposed


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


def disposals_parser() -> Callable[[Delivery], ReceivedDisposal]:
    """RecordsDisposed, bound to its signer: a service speaks only of its own disposals (the kit has checked
    the signature against the topic's signers), and only of the record types it owns (`from_owner`, M2:
    no service can have another's records, or disclosure's, declared disposed of). The signed record is
    kept with it, for the disposal job to verify again (C1)."""
    parse = json_model_parser(RecordsDisposed)

    def parse_signed(delivery: Delivery) -> ReceivedDisposal:
        event: RecordsDisposed = parse(delivery)
        signer = signer_of(delivery)
        if event.service != signer:
            raise unreadable_because("service_mismatch", "a disposal names another service than its signer")
        if not from_owner(event):
            raise unreadable_because("not_owner", f"{signer} does not hold {event.record_type.value} records: "
                                     "only their owner announces their disposal")
        return ReceivedDisposal(event, SignedRecord(
            key=delivery.key, event_id=delivery.header("event_id") or "", signer=signer or "",
            signature=delivery.header(SIGNATURE_HEADER) or "", payload=delivery.value))

    return parse_signed


async def on_rights_event(uow: DisclosureUnitOfWork, event: SubjectRestricted | RestrictionLifted | None) -> None:
    if isinstance(event, SubjectRestricted):
        await on_subject_restricted(uow, event)
    elif isinstance(event, RestrictionLifted):
        await on_restriction_lifted(uow, event)


async def on_collection_request(uow: DisclosureUnitOfWork, request: DataCollectionRequest | None) -> None:
    if request is not None:
        await on_data_collection(uow, request)


def subscribe(runtime: ServiceRuntime) -> None:
    runtime.consume("share-events", topics.SHARE_EVENTS, shares_parser(), on=on_share_made)
    runtime.consume("rights-events", topics.RIGHTS_EVENTS, json_kind_parser([SubjectRestricted, RestrictionLifted]),
                    on=on_rights_event)
    runtime.consume("data-collection", topics.DATA_COLLECTION_REQUESTS, json_kind_parser([DataCollectionRequest]),
                    on=on_collection_request)
    runtime.consume("retention-disposals", topics.RETENTION_DISPOSALS, disposals_parser(), on=on_records_disposed)
    runtime.consume("legal-holds", topics.LEGAL_HOLDS, json_model_parser(LegalHoldChanged), on=on_legal_hold_changed)
