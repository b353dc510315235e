"""Intake's part in data protection rights: who a requester is in the index, what intake holds about
them, and factual corrections applied as new versions (UK GDPR Arts 15, 16)."""

import uuid
from datetime import UTC, date, datetime
from typing import Any
from uuid import UUID

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from cme_shared.contracts import topics
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
    ThirdPartyReason,
    collection_replies,
)
from cme_shared.contracts.topics import TopicNames
from cme_shared.messaging.outbox import Outbox

from ..adapters.sealing import Seal
from ..adapters.tables import (
    possible_match_decisions,
    possible_matches,
    rectifications,
    referrals,
    subject_merges,
    subject_observations,
    third_party_details,
)
from ..domain import identifiers
from ..domain.identity import ChildFacts
from ..domain.names import name_keys
from ..domain.referrals import source_label
from ..domain.subject_access import SERVICE, StoredReferral, carer_items, child_items
from . import identity_index

class SubjectRights:
    def __init__(self, outbox: Outbox, topic_names: TopicNames, seal: Seal) -> None:
        self._outbox = outbox
        self._topics = topic_names
        self._seal = seal

    # ---- SubjectLookup

    async def answer_lookup(self, session: AsyncSession, lookup: SubjectLookup) -> None:
        matches = await find_subjects(session, lookup.person)
        await self._reply(session, SubjectLookupReply(
            event_id=uuid.uuid4(), occurred_at=datetime.now(UTC), collection_id=lookup.collection_id,
            service=SERVICE, matches=matches,
        ), str(lookup.collection_id))

    # ---- DataCollectionRequest

    async def answer_collection(self, session: AsyncSession, request: DataCollectionRequest) -> None:
        if request.services and SERVICE not in request.services:
            return  # a re-ask addressed to other services
        items: list[DataItem] = []
        for subject_id in dict.fromkeys(request.subject_ids):
            items += await self.items_about(session, subject_id)
        for reply in collection_replies(SERVICE, request.collection_id, items):
            await self._reply(session, reply, str(request.collection_id))

    async def items_about(self, session: AsyncSession, subject_id: UUID) -> list[DataItem]:
        view = await identity_index.view(session, subject_id)
        if view is None:
            return []
        members = {view.subject_id, *view.merged_subject_ids}
        items = _identity_items(subject_id, view)
        items += await _decision_items(session, subject_id, members)
        if view.subject_type == "child":
            rows = (await session.execute(
                select(referrals).where(referrals.c.child_subject_id.in_(members)).order_by(referrals.c.received_at)
            )).all()
            for row in rows:
                items += child_items(await self._stored(session, row), subject_id)
        else:
            rows = (await session.execute(
                select(referrals).where(referrals.c.carer_subject_ids.overlap(list(members)))
                .order_by(referrals.c.received_at)
            )).all()
            for row in rows:
                positions = [i for i, c in enumerate(row.carer_subject_ids) if c in members]
                items += carer_items(await self._stored(session, row, with_referrer=False), subject_id, positions)
        return items

    async def _stored(self, session: AsyncSession, row: Any, *, with_referrer: bool = True) -> StoredReferral:
        referrer, reason = None, None
        if with_referrer:
            sealed = (await session.execute(
                select(third_party_details.c.sealed, third_party_details.c.reason)
                .where(third_party_details.c.intake_id == row.intake_id)
            )).first()
            if sealed is not None:
                referrer, reason = self._seal.unseal(sealed.sealed)["contact"], ThirdPartyReason(sealed.reason)
        source = row.payload["source"]
        return StoredReferral(
            intake_id=row.intake_id, source_type=SourceType(row.source_type),
            source=source_label(row.source_type, row.source_org_id, source.get("org_name")),
            received_at=row.received_at, payload=row.payload, carer_subject_ids=row.carer_subject_ids,
            referrer=referrer, referrer_reason=reason,
        )

    # ---- FactualRectification

    async def rectify(self, session: AsyncSession, correction: FactualRectification) -> int:
        await identity_index.lock(session)
        view = await identity_index.view(session, correction.subject_id)
        changed = 0
        if view is not None:
            changed = await _apply(session, view, correction)
            await session.execute(insert(rectifications).values(
                rectification_id=uuid.uuid4(), rights_request_id=correction.rights_request_id,
                subject_id=correction.subject_id, field=correction.field, decided_by=correction.decided_by,
                records_changed=changed,
            ))
        await self._reply(session, RectificationApplied(
            event_id=uuid.uuid4(), occurred_at=datetime.now(UTC), rights_request_id=correction.rights_request_id,
            service=SERVICE, subject_id=correction.subject_id, records_changed=changed,
        ), str(correction.rights_request_id))
        return changed

    async def _reply(self, session: AsyncSession, event: Any, aggregate_id: str) -> None:
        await self._outbox.add(session, topic=self._topics(topics.replies_of("intake")), event=event,
                               aggregate_type="rights_reply", aggregate_id=aggregate_id)


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


async def _apply(session: AsyncSession, view: identity_index.SubjectView, correction: FactualRectification) -> int:
    value = rectified_value(correction.field, correction.new_value)
    source = f"rectification (rights request {correction.rights_request_id})"
    if correction.field == "address":
        await identity_index.add_address(session, view.subject_id, value, source=source,
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
        row.update(upn=upn, upn_valid=identifiers.upn_problem(upn, details.get("date_of_birth")) is None)
    elif correction.field == "sex":
        row["sex"] = value.value
    else:
        row[correction.field] = value
    await session.execute(insert(subject_observations).values(**row))
    return 1


async def find_subjects(session: AsyncSession, person: PersonHint) -> list[SubjectMatch]:
    """Subjects the index holds for what a requester told the council about the person."""
    upn = identifiers.compact_upn(person.upn) if person.upn else None
    facts = ChildFacts(
        name_keys=name_keys(person.first_name, person.last_name),
        date_of_birth=person.date_of_birth,
        postcode=identifiers.postcode_key(person.postcode) if person.postcode else None,
        upn=upn if upn and identifiers.upn_problem(upn) is None else None,
    )
    found: dict[UUID, SubjectMatch] = {}
    holders = await identity_index.subjects_holding(session, facts.upn, None)
    for known in await identity_index.known_children(session, holders):
        found[known.subject_id] = SubjectMatch(subject_id=known.subject_id, subject_type="child",
                                               match="exact_identifier")
    named = await identity_index.subjects_named(session, facts.name_keys, "child")
    for known in await identity_index.known_children(session, named):
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
    carers = await identity_index.subjects_named(session, facts.name_keys, "carer")
    for known in await identity_index.known_carers(session, carers):
        if facts.postcode is not None and facts.postcode in known.postcodes:
            found[known.subject_id] = SubjectMatch(subject_id=known.subject_id, subject_type="carer", match="possible")
    return list(found.values())


def _identity_items(subject_id: UUID, view: identity_index.SubjectView) -> list[DataItem]:
    now = datetime.now(UTC)
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


async def _decision_items(session: AsyncSession, subject_id: UUID, members: set[UUID]) -> list[DataItem]:
    """Officers' decisions about who this person is (possible matches, merges): personal data too."""
    rows = (await session.execute(
        select(possible_matches.c.match_id, possible_matches.c.created_at, possible_matches.c.matched_on,
               possible_match_decisions.c.decision, possible_match_decisions.c.reason,
               possible_match_decisions.c.decided_by, possible_match_decisions.c.decided_at)
        .join(possible_match_decisions, possible_match_decisions.c.match_id == possible_matches.c.match_id)
        .where(possible_matches.c.subject_id.in_(members) | possible_matches.c.candidate_subject_id.in_(members))
    )).all()
    merges = (await session.execute(
        select(subject_merges.c.subject_id).where(subject_merges.c.merged_into.in_(members))
    )).scalars().all()
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
