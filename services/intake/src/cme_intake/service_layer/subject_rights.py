"""Intake's part in data protection rights: who a requester is in the index (and the boroughs of the
referrals naming them, for rights to scope the request), what intake holds about them (with who in intake
looked at their record, from the access log), and factual corrections applied as new versions (UK GDPR
Arts 15, 16).

A sealed third party (a public or parent referrer) is never unsealed here: the reply names the reason
it is withheld, marked for redaction, and the contact stays inside intake's seal (SEC-05). Only the DPO
opens it, through intake's audited unseal action (`unseal_third_party` below)."""

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any
from uuid import UUID

from sqlalchemy import and_, insert, not_, select
from sqlalchemy.ext.asyncio import AsyncSession

from cme_shared.access_log import access_items
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
    held_referrals,
    kit,
    possible_match_decisions,
    possible_matches,
    rectifications,
    referral_acceptances,
    referrals,
    subject_merges,
    subject_observations,
    third_party_details,
    third_party_unseals,
)
from ..domain import identifiers
from ..domain.identity import ChildFacts
from ..domain.names import name_keys
from ..domain.referrals import source_label
from ..domain.subject_access import SERVICE, StoredReferral, carer_items, child_items
from . import identity_index


class SubjectRights:
    def __init__(self, outbox: Outbox, topic_names: TopicNames) -> None:
        self._outbox = outbox
        self._topics = topic_names

    # ---- SubjectLookup

    async def answer_lookup(self, session: AsyncSession, lookup: SubjectLookup) -> None:
        matches = [match.model_copy(update={"boroughs": await boroughs_naming(session, match)})
                   for match in await find_subjects(session, lookup.person)]
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
            items += await self.access_about(session, subject_id)
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

    async def access_about(self, session: AsyncSession, subject_id: UUID) -> list[DataItem]:
        """Who in intake looked at this subject's record (the kit's access log, all merged ids): the pack
        lists them as recipients within the council (Art 15(1)(c))."""
        members = await identity_index.cluster(session, subject_id)
        return [item.model_copy(update={"subject_id": subject_id})
                for item in await access_items(session, kit.access_log, SERVICE, sorted(members))]

    async def _stored(self, session: AsyncSession, row: Any, *, with_referrer: bool = True) -> StoredReferral:
        reason = None
        if with_referrer:
            # Only the reason is read: the sealed bytes are not opened for a reply.
            sealed = (await session.execute(
                select(third_party_details.c.reason).where(third_party_details.c.intake_id == row.intake_id)
            )).first()
            if sealed is not None:
                reason = ThirdPartyReason(sealed.reason)
        source = row.payload["source"]
        return StoredReferral(
            intake_id=row.intake_id, source_type=SourceType(row.source_type),
            source=source_label(row.source_type, row.source_org_id, source.get("org_name")),
            received_at=row.received_at, payload=row.payload, carer_subject_ids=row.carer_subject_ids,
            referrer_reason=reason,
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


# ---- sealed third parties: the DPO's audited look (SEC-05)


async def sealed_details(session: AsyncSession, intake_id: UUID) -> list[dict[str, Any]] | None:
    """A referral's sealed third-party details, without opening them: which, why, and who opened them
    when; None when there is no such referral."""
    if (await session.execute(select(referrals.c.intake_id).where(referrals.c.intake_id == intake_id))).first() is None:
        return None
    details = (await session.execute(
        select(third_party_details.c.detail_id, third_party_details.c.reason, third_party_details.c.recorded_at)
        .where(third_party_details.c.intake_id == intake_id).order_by(third_party_details.c.recorded_at)
    )).all()
    opened = (await session.execute(
        select(third_party_unseals).where(third_party_unseals.c.intake_id == intake_id)
        .order_by(third_party_unseals.c.unsealed_at)
    )).all()
    return [{
        "detail_id": str(d.detail_id), "reason": d.reason, "recorded_at": d.recorded_at.isoformat(),
        "unsealed": [{"unsealed_by": u.unsealed_by, "role": u.role, "reason": u.reason,
                      "unsealed_at": u.unsealed_at.isoformat()} for u in opened if u.detail_id == d.detail_id],
    } for d in details]


@dataclass(frozen=True)
class Unsealed:
    detail_id: UUID
    intake_id: UUID
    child_subject_id: UUID
    reason: str  # ThirdPartyReason of the detail
    contact: dict[str, Any]
    unsealed_at: datetime


async def unseal_third_party(session: AsyncSession, seal: Seal, intake_id: UUID, detail_id: UUID, *,
                             unsealed_by: str, role: str, why: str) -> Unsealed | None:
    """Open one sealed detail of a referral for the DPO, and keep who, as which role, when and why (in the
    same transaction: a look that is answered is a look that is recorded). None: no such detail."""
    row = (await session.execute(
        select(third_party_details.c.sealed, third_party_details.c.reason, referrals.c.child_subject_id)
        .join(referrals, referrals.c.intake_id == third_party_details.c.intake_id)
        .where(third_party_details.c.detail_id == detail_id, third_party_details.c.intake_id == intake_id)
    )).first()
    if row is None:
        return None
    unsealed_at = (await session.execute(
        insert(third_party_unseals).values(unseal_id=uuid.uuid4(), detail_id=detail_id, intake_id=intake_id,
                                           unsealed_by=unsealed_by, role=role, reason=why)
        .returning(third_party_unseals.c.unsealed_at)
    )).scalar_one()
    return Unsealed(detail_id=detail_id, intake_id=intake_id,
                    child_subject_id=await identity_index.canonical(session, row.child_subject_id),
                    reason=row.reason, contact=seal.unseal(row.sealed)["contact"], unsealed_at=unsealed_at)


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


async def boroughs_naming(session: AsyncSession, match: SubjectMatch) -> list[str]:
    """The distinct boroughs of the referrals naming the subject (any merged id). A public form referral
    no officer has accepted yet does not count: a stranger's claim does not place a child in a borough."""
    members = list(await identity_index.cluster(session, match.subject_id))
    names = (referrals.c.child_subject_id.in_(members) if match.subject_type == "child"
             else referrals.c.carer_subject_ids.overlap(members))
    unaccepted = (select(held_referrals.c.intake_id)
                  .outerjoin(referral_acceptances, referral_acceptances.c.intake_id == held_referrals.c.intake_id)
                  .where(referral_acceptances.c.intake_id.is_(None)))
    rows = await session.execute(
        select(referrals.c.borough).distinct()
        .where(and_(names, referrals.c.borough.is_not(None), not_(referrals.c.intake_id.in_(unaccepted))))
    )
    return sorted(rows.scalars())


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
