"""A subject's data as intake answers a subject access request: items per data category, each with its
source and the parts that are about someone else marked (rights redacts them, DPA 2018 Sch 2 Part 3
para 16), sent in chunks (`collection_replies`). A sealed third party (a public or parent referrer) is
never unsealed into a reply: the reply carries the withheld marker in its place."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from cme_shared.contracts.categories import DataCategory
from cme_shared.contracts.referrals import SourceType
from cme_shared.contracts.rights import DataItem, ThirdPartyMarker, ThirdPartyReason

from .referrals import PRIVATE_REFERRERS

SERVICE = "intake"

# What the narrative of a referral is evidence of: involvement with the referring service (privacy
# notice categories); a referral from a school or the public is about education.
INVOLVEMENT = {
    SourceType.POLICE: DataCategory.POLICE_PROBATION,
    SourceType.YOUTH_JUSTICE: DataCategory.POLICE_PROBATION,
    SourceType.HOME_OFFICE: DataCategory.HOME_OFFICE,
    SourceType.CHILDRENS_SOCIAL_CARE: DataCategory.STATUTORY_SERVICES,
    SourceType.EARLY_HELP: DataCategory.STATUTORY_SERVICES,
    SourceType.HOUSING: DataCategory.STATUTORY_SERVICES,
}


@dataclass(frozen=True)
class StoredReferral:
    intake_id: UUID
    source_type: SourceType
    source: str
    received_at: datetime
    payload: dict[str, Any]
    carer_subject_ids: Sequence[UUID]
    # Why a public or parent referrer's sealed details are withheld (None: no sealed referrer). Their
    # contact itself is never unsealed for a reply (SEC-05): only the DPO opens it, inside intake.
    referrer_reason: ThirdPartyReason | None = None


# What a reply says in place of a sealed referrer: the words stand where the contact would, marked for
# redaction, so the pack shows that a third party referred and why it withholds who (DPA 2018 Sch 2 Part 3
# para 16). A disclosure the DPO judges reasonable is made from intake (POST .../third-party/{id}/unseal).
WITHHELD_REFERRER = {
    ThirdPartyReason.PUBLIC_REFERRER: "withheld (public referrer)",
    ThirdPartyReason.OTHER_CARER: "withheld (parent or carer referrer)",
}


def _pick(document: dict[str, Any] | None, *fields: str) -> dict[str, Any]:
    return {f: document.get(f) for f in fields} if document else {}


def child_items(referral: StoredReferral, subject_id: UUID) -> list[DataItem]:
    """The referral, as it is about the child, one item per data category."""
    payload = referral.payload
    child, notification = payload["child"], payload["notification"]
    sections: dict[DataCategory, dict[str, Any]] = {}
    markers: dict[DataCategory, list[ThirdPartyMarker]] = {}

    def add(category: DataCategory, data: dict[str, Any]) -> None:
        sections.setdefault(category, {}).update({k: v for k, v in data.items() if v not in (None, [], {})})

    add(DataCategory.CONTACT, {
        "child": {k: v for k, v in _pick(child, "first_name", "last_name", "middle_names", "preferred_name",
                                         "aliases", "address").items() if v not in (None, [])},
        "future_address": notification.get("future_address"),
        "future_address_from": notification.get("future_address_from"),
    })
    add(DataCategory.DEMOGRAPHICS, _pick(child, "date_of_birth", "sex", "nhs_number"))
    add(DataCategory.EDUCATION, {
        **_pick(child, "upn", "current_school_urn", "previous_school_urn", "send"),
        **_pick(notification, "destination_school_urn", "destination_start_date"),
    })
    add(INVOLVEMENT.get(referral.source_type, DataCategory.EDUCATION), {
        "notification": _pick(notification, "kind", "deletion_ground", "deletion_date", "last_attended_on",
                              "details"),
        # A professional acting in role is normally not redacted (ICO right of access guidance); a member of
        # the public or a parent is not an organisation: only the type of source (the rest is sealed).
        "referred_by": _pick(payload["source"], "type") if referral.source_type in PRIVATE_REFERRERS
        else _pick(payload["source"], "type", "org_id", "org_name", "contact"),
        "submitted_at": payload["submitted_at"],
    })
    add(DataCategory.STATUTORY_SERVICES, {"flags": child.get("flags"), "safeguarding": payload.get("safeguarding")})

    carers = payload.get("carers") or []
    if carers:
        sections.setdefault(DataCategory.CONTACT, {})["carers"] = [
            _pick(c, "title", "first_name", "last_name", "relationship", "address", "phones", "email") for c in carers
        ]
        markers.setdefault(DataCategory.CONTACT, []).extend(
            ThirdPartyMarker(path=f"carers.{i}", reason=ThirdPartyReason.OTHER_CARER,
                             subject_id=_at(referral.carer_subject_ids, i))
            for i in range(len(carers))
        )
    if referral.referrer_reason is not None:
        sections.setdefault(DataCategory.CONTACT, {})["referrer"] = WITHHELD_REFERRER.get(
            referral.referrer_reason, "withheld (third party)")
        markers.setdefault(DataCategory.CONTACT, []).append(
            ThirdPartyMarker(path="referrer", reason=referral.referrer_reason)
        )
    return [
        DataItem(service=SERVICE, record_type="referral", record_id=str(referral.intake_id), subject_id=subject_id,
                 category=category, source=referral.source, recorded_at=referral.received_at, data=data,
                 third_party=markers.get(category, []))
        for category, data in sections.items() if data
    ]


def carer_items(referral: StoredReferral, subject_id: UUID, positions: Sequence[int]) -> list[DataItem]:
    """The referral, as it is about one of its carers: their own details only (the child is someone else)."""
    carers = referral.payload.get("carers") or []
    context = {"referral_id": referral.payload["referral_id"], "notification_kind":
               referral.payload["notification"]["kind"], "submitted_at": referral.payload["submitted_at"]}
    items = []
    for i in positions:
        carer = carers[i]
        for category, fields in (
            (DataCategory.CONTACT, ("title", "first_name", "last_name", "address", "phones", "email")),
            (DataCategory.DEMOGRAPHICS, ("relationship", "parental_responsibility", "lives_with_child")),
        ):
            items.append(DataItem(
                service=SERVICE, record_type="referral", record_id=f"{referral.intake_id}:carers.{i}",
                subject_id=subject_id, category=category, source=referral.source, recorded_at=referral.received_at,
                data={"carer": _pick(carer, *fields), "referral": context},
            ))
    return items


def _at(values: Sequence[UUID], index: int) -> UUID | None:
    return values[index] if index < len(values) else None
