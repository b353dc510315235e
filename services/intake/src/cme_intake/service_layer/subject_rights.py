"""Intake's part in data protection rights: who a requester is in the index (and the boroughs of the
referrals naming them, for rights to scope the request), what intake holds about them (with who in intake
looked at their record, from the access log), and factual corrections applied as new versions (UK GDPR
Arts 15, 16).

A sealed third party (a public or parent referrer) is never unsealed here: the reply names the reason
it is withheld, marked for redaction, and the contact stays inside intake's seal (SEC-05). Only the DPO
opens it, through intake's audited unseal action (`unseal_third_party` below)."""

import uuid
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID

from cme_shared.contracts.categories import DataCategory
from cme_shared.contracts.referrals import Address, Sex, SourceType
from cme_shared.contracts.rights import (
    DataCollectionRequest,
    DataItem,
    FactualRectification,
    PersonHint,
    RectificationApplied,
    SubjectLookup,
    SubjectLookupReply,
    SubjectMatch,
)
from cme_shared.replies import addressed_to, reply_in_chunks, send_reply

from ..adapters.identity_store import SubjectView
from ..domain import identifiers
from ..domain.identity import ChildFacts
from ..domain.names import name_keys
from ..domain.referrals import source_label
from ..domain.subject_access import SERVICE, StoredReferral, carer_items, child_items
from . import retention

if TYPE_CHECKING:
    from ..adapters.unit_of_work import IntakeUnitOfWork


# ---- SubjectLookup


async def on_subject_lookup(uow: "IntakeUnitOfWork", lookup: SubjectLookup) -> None:
    matches = [match.model_copy(update={"boroughs": await boroughs_naming(uow, match)})
               for match in await find_subjects(uow, lookup.person)]
    await _reply(uow, SubjectLookupReply(
        event_id=uuid.uuid4(), occurred_at=uow.clock.now(), collection_id=lookup.collection_id,
        service=SERVICE, matches=matches,
    ), str(lookup.collection_id))


# ---- DataCollectionRequest


async def on_data_collection(uow: "IntakeUnitOfWork", request: DataCollectionRequest) -> None:
    if not addressed_to(request, SERVICE):
        return  # a re-ask addressed to other services
    items: list[DataItem] = []
    for subject_id in dict.fromkeys(request.subject_ids):
        items += await items_about(uow, subject_id)
        items += await access_about(uow, subject_id)
        items += await retention.tombstone_items(uow, subject_id)  # what was disposed of, when, why
    await reply_in_chunks(uow.outbox, request, SERVICE, items, occurred_at=uow.clock.now())


async def items_about(uow: "IntakeUnitOfWork", subject_id: UUID) -> list[DataItem]:
    view = await uow.identity.view(subject_id)
    if view is None:
        return []
    members = [view.subject_id, *view.merged_subject_ids]
    items = _identity_items(subject_id, view, uow.clock.now())
    items += _decision_items(subject_id, await uow.identity.decisions_about(set(members)),
                             await uow.identity.merges_into(set(members)))
    if view.subject_type == "child":
        for row in await uow.referrals.naming_child(members):
            items += child_items(await _stored(uow, row), subject_id)
    else:
        for row in await uow.referrals.naming_carer(members):
            positions = [i for i, c in enumerate(row.carer_subject_ids) if c in members]
            items += carer_items(await _stored(uow, row, with_referrer=False), subject_id, positions)
    return items


async def access_about(uow: "IntakeUnitOfWork", subject_id: UUID) -> list[DataItem]:
    """Who in intake looked at this subject's record (the kit's access log, all merged ids): the pack
    lists them as recipients within the council (Art 15(1)(c))."""
    members = await uow.identity.cluster(subject_id)
    return [item.model_copy(update={"subject_id": subject_id})
            for item in await uow.identity.access_items(SERVICE, sorted(members))]


async def _stored(uow: "IntakeUnitOfWork", row: Any, *, with_referrer: bool = True) -> StoredReferral:
    # Only the reason is read: the sealed bytes are not opened for a reply.
    reason = await uow.referrals.sealed_reason(row.intake_id) if with_referrer else None
    source = row.payload["source"]
    return StoredReferral(
        intake_id=row.intake_id, source_type=SourceType(row.source_type),
        source=source_label(row.source_type, row.source_org_id, source.get("org_name")),
        received_at=row.received_at, payload=row.payload, carer_subject_ids=row.carer_subject_ids,
        referrer_reason=reason,
    )


# ---- FactualRectification


async def on_factual_rectification(uow: "IntakeUnitOfWork", correction: FactualRectification) -> None:
    await rectify(uow, correction)


async def rectify(uow: "IntakeUnitOfWork", correction: FactualRectification) -> int:
    await uow.identity.lock()
    view = await uow.identity.view(correction.subject_id)
    changed = 0
    if view is not None:
        changed = await _apply(uow, view, correction)
        await uow.identity.note_rectification(
            rights_request_id=correction.rights_request_id, subject_id=correction.subject_id, field=correction.field,
            decided_by=correction.decided_by, records_changed=changed)
    await _reply(uow, RectificationApplied(
        event_id=uuid.uuid4(), occurred_at=uow.clock.now(), rights_request_id=correction.rights_request_id,
        service=SERVICE, subject_id=correction.subject_id, records_changed=changed,
    ), str(correction.rights_request_id))
    return changed


async def _reply(uow: "IntakeUnitOfWork", event: Any, aggregate_id: str) -> None:
    await send_reply(uow.outbox, SERVICE, event, aggregate_id=aggregate_id)


# ---- sealed third parties: the DPO's audited look (SEC-05)


@dataclass(frozen=True)
class Unsealed:
    detail_id: UUID
    intake_id: UUID
    child_subject_id: UUID
    reason: str  # ThirdPartyReason of the detail
    contact: dict[str, Any]
    unsealed_at: datetime


async def unseal_third_party(uow: "IntakeUnitOfWork", intake_id: UUID, detail_id: UUID, *, unsealed_by: str,
                             role: str, why: str) -> Unsealed | None:
    """Open one sealed detail of a referral for the DPO, and keep who, as which role, when and why (in the
    same transaction: a look that is answered is a look that is recorded). None: no such detail."""
    opened = await uow.referrals.unseal(intake_id, detail_id, unsealed_by=unsealed_by, role=role, why=why)
    if opened is None:
        return None
    row, contact, unsealed_at = opened
    return Unsealed(detail_id=detail_id, intake_id=intake_id,
                    child_subject_id=await uow.identity.canonical(row.child_subject_id),
                    reason=row.reason, contact=contact, unsealed_at=unsealed_at)


def rectified_value(field: str, value: Any) -> Any:
    """The new value in the type the field holds; ValueError when it does not fit (the event is then
    dead-lettered rather than half applied)."""
    if field in ("first_name", "last_name", "upn"):
        if not isinstance(value, str) or not value.strip() or len(value) > 100:
            raise ValueError("a non-empty string of at most 100 characters is required")
        return value.strip()
    if field == "date_of_birth":
        if not isinstance(value, str):
            raise ValueError("an ISO date is required")
        return date.fromisoformat(value)
    if field == "sex":
        return Sex(value)
    if field == "address":
        return Address.model_validate(value)
    raise ValueError("field cannot be rectified here")


async def _apply(uow: "IntakeUnitOfWork", view: SubjectView, correction: FactualRectification) -> int:
    value = rectified_value(correction.field, correction.new_value)
    source = f"rectification (rights request {correction.rights_request_id})"
    if correction.field == "address":
        await uow.identity.add_address(view.subject_id, value, source=source,
                                       rights_request_id=correction.rights_request_id)
        return 1
    details = {**view.details, correction.field: value}
    row: dict[str, Any] = {
        "subject_id": view.subject_id, "kind": "rectification", "rights_request_id": correction.rights_request_id,
        "source": source, "decided_by": correction.decided_by,
        "name_keys": sorted(name_keys(details.get("first_name"), details.get("last_name"))),
    }
    if correction.field == "upn":
        upn = identifiers.compact_upn(value)
        row |= {"upn": upn, "upn_valid": identifiers.upn_problem(upn, details.get("date_of_birth")) is None}
    elif correction.field == "sex":
        row["sex"] = value.value
    else:
        row[correction.field] = value
    await uow.identity.add_version(row)
    return 1


async def find_subjects(uow: "IntakeUnitOfWork", person: PersonHint) -> list[SubjectMatch]:
    """Subjects the index holds for what a requester told the council about the person."""
    upn = identifiers.compact_upn(person.upn) if person.upn else None
    facts = ChildFacts(
        name_keys=name_keys(person.first_name, person.last_name),
        date_of_birth=person.date_of_birth,
        postcode=identifiers.postcode_key(person.postcode) if person.postcode else None,
        upn=upn if upn and identifiers.upn_problem(upn) is None else None,
    )
    found: dict[UUID, SubjectMatch] = {}
    holders = await uow.identity.subjects_holding(facts.upn, None)
    for known in await uow.identity.known_children(holders):
        found[known.subject_id] = SubjectMatch(subject_id=known.subject_id, subject_type="child",
                                               match="exact_identifier")
    named = await uow.identity.subjects_named(facts.name_keys, "child")
    for known in await uow.identity.known_children(named):
        if known.subject_id in found:
            continue
        dob = facts.date_of_birth is not None and facts.date_of_birth in known.dates_of_birth
        postcode = facts.postcode is not None and facts.postcode in known.postcodes
        if dob and postcode:
            found[known.subject_id] = SubjectMatch(subject_id=known.subject_id, subject_type="child",
                                                   match="name_dob_postcode")
        elif dob or postcode:
            found[known.subject_id] = SubjectMatch(subject_id=known.subject_id, subject_type="child", match="possible")
    # A requester may be a carer: the index holds no date of birth for carers, so name and postcode is
    # only ever a possible match, for the rights officer to confirm.
    carers = await uow.identity.subjects_named(facts.name_keys, "carer")
    for known in await uow.identity.known_carers(carers):
        if facts.postcode is not None and facts.postcode in known.postcodes:
            found[known.subject_id] = SubjectMatch(subject_id=known.subject_id, subject_type="carer", match="possible")
    # Someone intake disposed of is still found, by the digests their tombstones keep (service_layer/retention.py):
    # by their old subject id, so that rights asks every service about them and the pack says what was disposed of.
    for match in await retention.tombstone_matches(uow, name_keys=facts.name_keys, date_of_birth=facts.date_of_birth,
                                                   postcode=facts.postcode, upn=facts.upn):
        found.setdefault(match.subject_id, match)
    return list(found.values())


async def boroughs_naming(uow: "IntakeUnitOfWork", match: SubjectMatch) -> list[str]:
    """The distinct boroughs of the referrals naming the subject (any merged id). A public form referral
    no officer has accepted yet does not count: a stranger's claim does not place a child in a borough."""
    members = list(await uow.identity.cluster(match.subject_id))
    return await uow.referrals.accepted_boroughs(members, match.subject_type)


def _identity_items(subject_id: UUID, view: SubjectView, now: datetime) -> list[DataItem]:
    details = view.details
    by_category: dict[DataCategory, dict[str, Any]] = {
        DataCategory.CONTACT: {
            **{k: details.get(k) for k in ("first_name", "last_name", "middle_names", "preferred_name", "email")
               if details.get(k)},
            "aliases": details.get("aliases") or None,
            "address_history": [
                {k: _jsonable(a[k]) for k in ("line1", "line2", "town", "postcode", "uprn", "valid_from", "source",
                                              "recorded_at")}
                for a in view.addresses
            ] or None,
        },
        DataCategory.DEMOGRAPHICS: {k: _jsonable(details.get(k)) for k in ("date_of_birth", "sex", "nhs_number",
                                                                          "relationship")},
        DataCategory.EDUCATION: {"upn": details.get("upn")},
    }
    return [
        DataItem(service=SERVICE, record_type="identity_record", record_id=str(view.subject_id), subject_id=subject_id,
                 category=category, source="intake identity index (from the referrals listed)", recorded_at=now,
                 data={k: v for k, v in data.items() if v is not None})
        for category, data in by_category.items() if any(v is not None for v in data.values())
    ]


def _decision_items(subject_id: UUID, rows: list[Any], merges: list[UUID]) -> list[DataItem]:
    """Officers' decisions about who this person is (possible matches, merges): personal data too."""
    return [
        DataItem(service=SERVICE, record_type="identity_decision", record_id=str(row.match_id), subject_id=subject_id,
                 category=DataCategory.DEMOGRAPHICS, source=f"CME officer {row.decided_by}",
                 recorded_at=row.decided_at, data={
                     "decision": row.decision, "reason": row.reason, "matched_on": row.matched_on,
                     "records_joined": len(merges) if row.decision == "merge" else 0,
                 })
        for row in rows
    ]


def _jsonable(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date | datetime) else value
