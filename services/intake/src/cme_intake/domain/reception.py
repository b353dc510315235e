"""What intake decides when a referral arrives, in one place: its key for the duplicate check, then, for a
new one, its warnings, borough, source, what of the referrer is sealed, whether it waits for an officer,
and the outcome and event it causes (CONTRACT section 3: one outcome per referral; casework hears of each
accepted one). Who its child and carers are in the identity index is asked in between (`domain.identity`).

    arrived = arrival(referral)                  # cleaned of U+0000, keyed
    ...duplicate? -> duplicate_outcome(arrived, stored, now)
    reception = decide(arrived, districts, channel)
    ...the index names the child and carers...
    reception.outcome(intake_id, child, now), reception.accepted_event(...)
"""

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from pydantic_core import from_json

from cme_shared.contracts.categories import field_categories
from cme_shared.contracts.events import ReferralAccepted
from cme_shared.contracts.referrals import Borough, Child, Problem, Referral, ReferralOutcome, SourceType, Status
from cme_shared.contracts.rights import ThirdPartyReason

from . import referrals as rules
from .identifiers import compact_upn
from .validation import assess, problem

CHILD_CATEGORIES = {f"child.{k}": v for k, v in field_categories(Child).items()}


@dataclass(frozen=True)
class Arrival:
    """A referral as received, before anything is asked of the index: without U+0000 (and where it was
    replaced), with the key the duplicate check looks for."""

    referral: Referral
    replaced: list[list[str | int]]
    idempotency_key: str
    org_id: str | None


def arrival(referral: Referral) -> Arrival:
    cleaned, replaced = rules.without_nul_characters(referral)
    return Arrival(cleaned, replaced, rules.idempotency_key(cleaned), rules.org_id(cleaned))


def duplicate_outcome(arrived: Arrival, intake_id: UUID, child_subject_id: UUID, now: datetime) -> ReferralOutcome:
    """The same referral again: it changes nothing, and is answered with the first one's ids."""
    return ReferralOutcome(
        referral_id=arrived.referral.referral_id, source_org_id=arrived.org_id, status=Status.DUPLICATE,
        intake_id=intake_id, child_subject_id=child_subject_id, processed_at=now,
    )


@dataclass(frozen=True)
class Reception:
    """A new referral, decided: everything but who its people are in the index."""

    arrival: Arrival
    warnings: list[Problem]
    missing_return_fields: list[str]  # SI 2024/208 reg 13 gaps
    borough: Borough | None  # None: the triage list
    source: str  # where the data came from, as a subject access reply names it (UK GDPR Art 15(1)(g))
    stored_payload: dict[str, Any]
    keeps_raw: bool  # the received bytes kept in clear (else only inside the seal)
    sealed_contact: dict[str, Any] | None  # a private referrer's contact, to seal (DPA 2018 Sch 2 Part 3 para 16)
    sealed_reason: ThirdPartyReason | None
    waits_for_officer: bool  # the public form's: held until an officer accepts it (SEC-11)
    new_address_borough: Borough | None

    @property
    def referral(self) -> Referral:
        return self.arrival.referral

    def outcome(self, intake_id: UUID, child_subject_id: UUID, now: datetime) -> ReferralOutcome:
        return ReferralOutcome(
            referral_id=self.referral.referral_id, source_org_id=self.arrival.org_id, status=Status.ACCEPTED,
            intake_id=intake_id, child_subject_id=child_subject_id, warnings=self.warnings, processed_at=now,
        )

    def accepted_event(self, *, intake_id: UUID, child_subject_id: UUID, carer_subject_ids: Sequence[UUID],
                       possible_match_subject_ids: Sequence[UUID], now: datetime) -> ReferralAccepted:
        referral, notification = self.referral, self.referral.notification
        return ReferralAccepted(
            event_id=uuid.uuid4(), occurred_at=now, intake_id=intake_id,
            referral_id=referral.referral_id, source_type=referral.source.type,
            source_org_id=self.arrival.org_id,
            # A member of the public or a parent is a third party: their details stay in intake.
            source_org_name=None if rules.has_private_referrer(referral) else referral.source.org_name,
            received_at=now, borough=self.borough, notification_kind=notification.kind,
            deletion_ground=notification.deletion_ground, deletion_date=notification.deletion_date,
            destination_school_urn=notification.destination_school_urn,
            destination_start_date=notification.destination_start_date,
            child_subject_id=child_subject_id, carer_subject_ids=list(carer_subject_ids),
            child_sex=referral.child.sex.value, child_date_of_birth=referral.child.date_of_birth,
            # As received (compacted): a UPN with a warning still helps an officer find the case.
            child_upn=compact_upn(referral.child.upn) if referral.child.upn else None,
            flags=referral.child.flags,
            safeguarding_concern=bool(referral.safeguarding and referral.safeguarding.concern),
            warnings=[w.code for w in self.warnings],
            data_categories=CHILD_CATEGORIES,
            last_attended_on=notification.last_attended_on,
            incomplete_return=bool(self.missing_return_fields),
            missing_return_fields=self.missing_return_fields,
            possible_match_subject_ids=list(possible_match_subject_ids),
            new_address_from=notification.future_address_from if notification.future_address else None,
            new_address_borough=self.new_address_borough,
        )


def decide(arrived: Arrival, districts: Mapping[str, Borough], channel: str) -> Reception:
    referral = arrived.referral
    assessment = assess(referral)
    contact = rules.referrer_contact(referral)
    future = referral.notification.future_address
    return Reception(
        arrival=arrived,
        warnings=[problem(loc, "nul_character_replaced") for loc in arrived.replaced] + assessment.warnings,
        missing_return_fields=assessment.missing_return_fields,
        borough=rules.decide_borough(referral, districts),
        source=rules.source_label(referral.source.type, arrived.org_id, referral.source.org_name),
        stored_payload=rules.stored_payload(referral),
        keeps_raw=rules.keeps_raw_in_clear(referral),
        sealed_contact=contact,
        sealed_reason=None if contact is None else (
            ThirdPartyReason.PUBLIC_REFERRER if referral.source.type is SourceType.PUBLIC
            else ThirdPartyReason.OTHER_CARER),
        waits_for_officer=rules.waits_for_officer(channel),
        new_address_borough=rules.borough_of(future, districts) if future else None,
    )


def rejected_outcome(raw: bytes, problems: list[Problem], now: datetime) -> ReferralOutcome:
    """A message that could not be understood still gets its one outcome, naming it if it can."""
    referral_id, org_id = identifiers_if_any(raw)
    return ReferralOutcome(referral_id=referral_id, source_org_id=org_id, status=Status.REJECTED, errors=problems,
                           processed_at=now)


def identifiers_if_any(raw: bytes) -> tuple[str | None, str | None]:
    """Best effort, for a rejected message's outcome: its referral_id and source.org_id if readable."""
    try:  # jiter, depth-limited: Python's json module recursed until RecursionError on deep input
        document = from_json(raw)
    except ValueError:
        return None, None
    if not isinstance(document, dict):
        return None, None
    referral_id = document.get("referral_id")
    source = document.get("source")
    org_id = source.get("org_id") if isinstance(source, dict) else None
    return (
        referral_id if isinstance(referral_id, str) and len(referral_id) <= 64 else None,
        org_id if isinstance(org_id, str) and len(org_id) <= 64 else None,
    )


def outcome_aggregate(outcome: ReferralOutcome) -> str:
    """What an outcome is about, as its outbox row names it."""
    return rules.text_safe(f"{outcome.source_org_id}:{outcome.referral_id}")
