"""Kafka in: partner referrals on `cme.referrals.v1`, and the rights service's requests and events.

Referrals: one outcome per record, rejects to the DLQ byte for byte (the kit's dead-letter path).
Rights topics carry several kinds of message; intake answers the kinds it has a part in and lets the
others pass (the kit's kind parser gives None; they are claimed in the inbox, nothing else).
"""

import uuid
from collections.abc import Callable

from cme_shared.contracts import topics
from cme_shared.contracts.referrals import Problem, Referral
from cme_shared.contracts.retention import LegalHoldChanged, RecordsDisposed, RecordType, from_owner
from cme_shared.contracts.rights import (
    DataCollectionRequest,
    FactualRectification,
    RestrictionLifted,
    SubjectLookup,
    SubjectRestricted,
)
from cme_shared.messaging.consumer import (
    Delivery,
    Unreadable,
    by_position,
    json_kind_parser,
    json_model_parser,
    signer_of,
)
from cme_shared.messaging.signing import SIGNATURE_HEADER, SIGNER_HEADER
from cme_shared.runtime import ServiceRuntime

from ..adapters.partner_bindings import BindingsFile
from ..adapters.unit_of_work import IntakeUnitOfWork
from ..domain import partners
from ..domain.referrals import org_id
from ..service_layer import reception, retention, subject_rights
from ..service_layer.subject_rights import rectified_value

# Records per transaction on the referrals topic. The batch holds the identity-index lock until it
# commits, so an HTTP referral may wait for one batch (100 records: about a second on the dev machine).
REFERRAL_BATCH = 100

_rights_event = json_kind_parser([FactualRectification, SubjectRestricted, RestrictionLifted])

RightsEvent = FactualRectification | SubjectRestricted | RestrictionLifted


def parse_rectifications(delivery: Delivery) -> RightsEvent | None:
    """Factual rectifications and Art 18 restrictions from the rights events topic (other kinds: None); a
    rectification's new value must fit its field: one that does not is dead-lettered rather than half applied."""
    correction = _rights_event(delivery)
    if isinstance(correction, FactualRectification):
        try:
            rectified_value(correction.field, correction.new_value)
        except ValueError:  # pydantic's ValidationError included
            raise Unreadable([Problem(loc=["new_value"], code="value_not_valid_for_field",
                                      message=f"new_value does not fit field {correction.field}")]) from None
    return correction


_records_disposed = json_model_parser(RecordsDisposed)


def _raw_header(delivery: Delivery, name: str) -> bytes | None:
    return next((value for header, value in delivery.headers if header == name), None)


def parse_records_disposed(delivery: Delivery) -> retention.ReceivedDisposal:
    """A disposal elsewhere: the service it names must be the one that signed it and the owner of its record
    type (contracts.retention.from_owner); referrals it names must come from casework's case, record without a
    case or EHE record, as intake ids (else dead-lettered: a disposal is not guessed at). The signed record is
    kept as received, for the disposal job to verify again (C1)."""
    event = _records_disposed(delivery)
    if signer_of(delivery) != event.service:
        raise Unreadable([Problem(loc=["service"], code="service_not_signer",
                                  message="the disposing service is not the record's signer")])
    if not from_owner(event):
        raise Unreadable([Problem(loc=["record_type"], code="not_record_owner",
                                  message="the disposing service does not hold records of this type")])
    named = event.related_record_ids.get(RecordType.REFERRAL, [])
    if named and (event.service != "casework" or event.record_type not in retention.FAN_OUT_FROM):
        raise Unreadable([Problem(loc=["related_record_ids", "referral"], code="not_from_casework",
                                  message="only casework's disposed cases and records may name intake referrals")])
    for n, value in enumerate(named):
        try:
            uuid.UUID(value)
        except ValueError:
            raise Unreadable([Problem(loc=["related_record_ids", "referral", n], code="not_an_intake_id",
                                      message="a referral is named by its intake id")]) from None
    signer, signature = _raw_header(delivery, SIGNER_HEADER), _raw_header(delivery, SIGNATURE_HEADER)
    return retention.ReceivedDisposal(event=event, payload=delivery.value, key=delivery.key,
                                      event_id_header=_raw_header(delivery, "event_id"),
                                      signer=(signer or b"").decode("utf-8", errors="replace"),
                                      signature=signature or b"")


_legal_hold_changed = json_model_parser(LegalHoldChanged)


def parse_legal_hold_changed(delivery: Delivery) -> LegalHoldChanged:
    """A hold placed or lifted in another service: the service it names must be the one that signed it."""
    event = _legal_hold_changed(delivery)
    if signer_of(delivery) != event.service:
        raise Unreadable([Problem(loc=["service"], code="service_not_signer",
                                  message="the holding service is not the record's signer")])
    return event


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


async def on_rights_request(uow: IntakeUnitOfWork, message: SubjectLookup | DataCollectionRequest | None) -> None:
    if isinstance(message, SubjectLookup):
        await subject_rights.on_subject_lookup(uow, message)
    elif isinstance(message, DataCollectionRequest):
        await subject_rights.on_data_collection(uow, message)


async def on_rights_event(uow: IntakeUnitOfWork, message: RightsEvent | None) -> None:
    if isinstance(message, FactualRectification):
        await subject_rights.on_factual_rectification(uow, message)
    elif isinstance(message, SubjectRestricted | RestrictionLifted):
        await retention.on_restriction(uow, message)


def subscribe(runtime: ServiceRuntime, bindings: BindingsFile) -> None:
    # A partner's record is known by its place in the log, never by headers the partner chose. Partners
    # send in bursts: up to REFERRAL_BATCH records share one unit of work (the kit's batch mode), which
    # takes the identity-index lock and makes the batch's lookups first (`prepare_referrals`).
    runtime.consume("referrals", topics.REFERRALS, referral_parser(bindings), on=reception.on_referral,
                    reject=reception.on_unreadable_referral, prepare=reception.prepare_referrals,
                    identify=by_position, batch_size=REFERRAL_BATCH)
    runtime.consume("data-collection", topics.DATA_COLLECTION_REQUESTS,
                    json_kind_parser([SubjectLookup, DataCollectionRequest]), on=on_rights_request)
    runtime.consume("rights-events", topics.RIGHTS_EVENTS, parse_rectifications, on=on_rights_event)
    # Disposals elsewhere (casework's cases): the referrals they drew on are noted for intake's disposal job.
    runtime.consume("retention", topics.RETENTION_DISPOSALS, parse_records_disposed,
                    on=retention.on_records_disposed)
    # Legal holds on a subject or a case placed or lifted in another service: intake keeps the same hold.
    runtime.consume("legal-holds", topics.LEGAL_HOLDS, parse_legal_hold_changed,
                    on=retention.on_legal_hold_changed)
