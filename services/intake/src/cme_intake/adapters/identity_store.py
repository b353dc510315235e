"""The identity index in PostgreSQL: subjects, their observations and addresses, care links, possible
matches and what officers decided about them, merge pointers and their undoing (`uow.identity`).

Writes happen under one transaction-scoped advisory lock (`lock`), so two referrals about the same new
child (one over Kafka, one over HTTP) cannot both create a subject. A batch takes it once, first, and reads
the names its records will ask about in one query (`prefetch_names`); the matching itself is pure
(`domain.identity`). Statements used per record are built once: building one costs more Python than
running it.
"""

import uuid
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from uuid import UUID

from sqlalchemy import and_, bindparam, exists, insert, or_, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from cme_shared.access_log import access_items
from cme_shared.contracts.referrals import Address, Carer, Child
from cme_shared.contracts.rights import DataItem
from cme_shared.messaging.held_inserts import HeldInserts

from ..domain import identifiers
from ..domain.identity import (
    CarerFacts,
    ChildFacts,
    KnownCarer,
    KnownChild,
    MatchDecision,
    current_details,
    postcode_key,
)
from ..visibility import Scope
from .batch import IntakeBatch, NamesKnown
from .tables import (
    care_links,
    kit,
    merge_proposal_decisions,
    merge_proposals,
    possible_match_decisions,
    possible_matches,
    rectifications,
    referrals,
    subject_addresses,
    subject_merges,
    subject_observations,
    subject_unmerges,
    subjects,
)

# pg_advisory_xact_lock key for writes to the index ("cmeidx" as an integer).
INDEX_LOCK = 0x636D65696478
MAX_MERGE_CHAIN = 100
_LOCK = text("SELECT pg_advisory_xact_lock(:key)")

# A merge pointer is in force until a manager undoes it (`subject_unmerges`); every read that follows merges
# goes through this condition, so an undone merge leaves the two subjects as separate as before it.
IN_FORCE = ~exists().where(subject_unmerges.c.merge_id == subject_merges.c.merge_id)
_PENDING = and_(
    merge_proposals.c.match_id == possible_matches.c.match_id,
    ~exists().where(merge_proposal_decisions.c.proposal_id == merge_proposals.c.proposal_id),
)

_SUBJECTS_NAMED = (
    select(subject_observations.c.subject_id).distinct()
    .join(subjects, subjects.c.subject_id == subject_observations.c.subject_id)
    .where(subjects.c.subject_type == bindparam("subject_type"),
           subject_observations.c.name_keys.overlap(bindparam("keys", type_=subject_observations.c.name_keys.type)))
)
_OBSERVATIONS_NAMED = (
    select(subject_observations.c.subject_id, subjects.c.subject_type, subject_observations.c.name_keys)
    .join(subjects, subjects.c.subject_id == subject_observations.c.subject_id)
    .where(subject_observations.c.name_keys.overlap(bindparam("keys", type_=subject_observations.c.name_keys.type)))
)
# Columns not given take their defaults, as with `.values(...)`.
_INSERT_OBSERVATION = insert(subject_observations)
_INSERT_ADDRESS = insert(subject_addresses)
_INSERT_CARE_LINK = insert(care_links)
_INSERT_POSSIBLE_MATCH = insert(possible_matches)
# One statement per shape of a new subject's first observation (a child's, a carer's; with an address or
# not): built on first use, then reused.
_INSERT_NEW_SUBJECT_OBSERVATION: dict[tuple[frozenset[str], bool], Any] = {}


@dataclass(frozen=True)
class SubjectView:
    subject_id: UUID
    subject_type: str
    merged_subject_ids: list[UUID]
    details: dict[str, Any]  # per field, the latest rectification, else the latest report
    addresses: list[dict[str, Any]]


class IdentityStore:
    def __init__(self, session: AsyncSession, batch: IntakeBatch, held: HeldInserts) -> None:
        self._session, self._batch, self._held = session, batch, held

    # ---- the index lock

    async def lock(self) -> None:
        if self._batch.index_locked:
            return  # held until this transaction ends
        await self._session.execute(_LOCK, {"key": INDEX_LOCK})

    async def lock_for_batch(self) -> None:
        """Take the index lock once for a whole batch transaction: every record of the batch would take it
        anyway and keep it until the batch commits, so taking it first changes no order."""
        await self._session.execute(_LOCK, {"key": INDEX_LOCK})
        self._batch.index_locked = True

    # ---- merges

    async def canonical(self, subject_id: UUID) -> UUID:
        """Follow the merge pointers in force to the subject that now stands for this one."""
        current = subject_id
        for _ in range(MAX_MERGE_CHAIN):
            into = (await self._session.execute(
                select(subject_merges.c.merged_into).where(subject_merges.c.subject_id == current, IN_FORCE)
            )).scalar()
            if into is None:
                return current
            current = into
        raise RuntimeError("merge chain too long")

    async def cluster(self, subject_id: UUID) -> set[UUID]:
        """The canonical subject and every subject merged into it (by pointers in force), directly or not."""
        root = await self.canonical(subject_id)
        members, frontier = {root}, {root}
        while frontier:
            merged = set((await self._session.execute(
                select(subject_merges.c.subject_id).where(subject_merges.c.merged_into.in_(frontier), IN_FORCE)
            )).scalars())
            frontier = merged - members
            members |= frontier
        return members

    async def merge_in_force(self, match_id: UUID) -> Any | None:
        """The merge pointer a possible match's decision added, while it is in force (else None)."""
        return (await self._session.execute(
            select(subject_merges).where(subject_merges.c.match_id == match_id, IN_FORCE)
        )).first()

    async def merges_into(self, members: set[UUID]) -> list[UUID]:
        """The subjects whose pointers (in force or not) point at one of these."""
        return list((await self._session.execute(
            select(subject_merges.c.subject_id).where(subject_merges.c.merged_into.in_(members))
        )).scalars())

    async def record_boroughs(self, subject_id: UUID) -> frozenset[str | None]:
        """The boroughs of the referrals about this subject and those merged into it (None: on the triage
        list). What an officer may see of the subject, and who may merge it, follow from these."""
        members = await self.cluster(subject_id)
        subject_type = await self.subject_type(subject_id)
        named = (referrals.c.carer_subject_ids.overlap(sorted(members)) if subject_type == "carer"
                 else referrals.c.child_subject_id.in_(members))
        return frozenset((await self._session.execute(select(referrals.c.borough).distinct().where(named))).scalars())

    async def subject_type(self, subject_id: UUID) -> str | None:
        return (await self._session.execute(
            select(subjects.c.subject_type).where(subjects.c.subject_id == subject_id)
        )).scalar()

    async def _clusters(self, subject_ids: set[UUID]) -> dict[UUID, set[UUID]]:
        by_root: dict[UUID, set[UUID]] = {}
        for subject_id in subject_ids:
            root = await self.canonical(subject_id)
            if root not in by_root:
                by_root[root] = await self.cluster(root)
        return by_root

    # ---- what the index knows

    async def observations(self, members: set[UUID]) -> list[Any]:
        return list((await self._session.execute(
            select(subject_observations).where(subject_observations.c.subject_id.in_(members))
            .order_by(subject_observations.c.observation_id)
        )).all())

    async def _postcodes(self, members: set[UUID]) -> frozenset[str]:
        rows = await self._session.execute(
            select(subject_addresses.c.postcode_key).where(
                subject_addresses.c.subject_id.in_(members), subject_addresses.c.postcode_key.is_not(None)
            )
        )
        return frozenset(rows.scalars())

    async def known_children(self, subject_ids: set[UUID]) -> list[KnownChild]:
        known = []
        for root, members in (await self._clusters(subject_ids)).items():
            observations = await self.observations(members)
            known.append(KnownChild(
                subject_id=root,
                name_keys=frozenset(k for o in observations for k in o.name_keys),
                dates_of_birth=frozenset(o.date_of_birth for o in observations if o.date_of_birth),
                postcodes=await self._postcodes(members),
                upns=frozenset(o.upn for o in observations if o.upn_valid),
                nhs_numbers=frozenset(o.nhs_number for o in observations if o.nhs_valid),
            ))
        return known

    async def known_carers(self, subject_ids: set[UUID]) -> list[KnownCarer]:
        known = []
        for root, members in (await self._clusters(subject_ids)).items():
            observations = await self.observations(members)
            children = (await self._session.execute(
                select(care_links.c.child_subject_id).where(care_links.c.carer_subject_id.in_(members))
            )).scalars()
            known.append(KnownCarer(
                subject_id=root,
                name_keys=frozenset(k for o in observations for k in o.name_keys),
                child_subject_ids=frozenset([await self.canonical(c) for c in set(children)]),
                postcodes=await self._postcodes(members),
                phones=frozenset(p for o in observations for p in o.phones),
                emails=frozenset(o.email for o in observations if o.email),
            ))
        return known

    def _names_known(self) -> NamesKnown | None:
        # Only while the batch holds its rows back: then a failure anywhere rolls back the whole batch.
        return self._batch.names if self._held.holding else None

    async def subjects_named(self, keys: frozenset[str], subject_type: str) -> set[UUID]:
        if not keys:
            return set()
        known = self._names_known()
        if known is not None and keys <= known.asked:
            return {subject_id for subject_id, observed in known.observations[subject_type] if observed & keys}
        rows = await self._session.execute(_SUBJECTS_NAMED, {"subject_type": subject_type, "keys": sorted(keys)})
        return set(rows.scalars())

    async def prefetch_names(self, asked: frozenset[str]) -> None:
        """Read once, for a whole batch holding the index lock, what `subjects_named` would read for each of
        its children and carers (`asked`: all their name keys). The observations the batch records are added
        as it goes (`_observe`), and no other writer records any while the batch holds the lock."""
        observations: dict[str, list[tuple[UUID, frozenset[str]]]] = {"child": [], "carer": []}
        if asked:
            for row in await self._session.execute(_OBSERVATIONS_NAMED, {"keys": sorted(asked)}):
                observations.setdefault(row.subject_type, []).append((row.subject_id, frozenset(row.name_keys)))
        self._batch.names = NamesKnown(asked, observations)

    async def subjects_holding(self, upn: str | None, nhs_number: str | None) -> set[UUID]:
        conditions = []
        if upn:
            conditions.append(subject_observations.c.upn_valid & (subject_observations.c.upn == upn))
        if nhs_number:
            conditions.append(subject_observations.c.nhs_valid & (subject_observations.c.nhs_number == nhs_number))
        if not conditions:
            return set()
        rows = await self._session.execute(
            select(subject_observations.c.subject_id).distinct().where(or_(*conditions)))
        return set(rows.scalars())

    async def view(self, subject_id: UUID) -> SubjectView | None:
        """A subject as it stands: its current details (`domain.identity.current_details`) and its address
        history, over it and every subject merged into it."""
        members = await self.cluster(subject_id)
        root = await self.canonical(subject_id)
        subject_type = await self.subject_type(root)
        if subject_type is None:
            return None
        addresses = [dict(row._mapping) for row in (await self._session.execute(
            select(subject_addresses).where(subject_addresses.c.subject_id.in_(members))
            .order_by(subject_addresses.c.address_id)
        )).all()]
        details = current_details(await self.observations(members))
        return SubjectView(root, subject_type, sorted(members - {root}), details, addresses)

    # ---- recording what a referral says

    async def observe_child(self, subject_id: UUID, child: Child, facts: ChildFacts, *, new: bool,
                            intake_id: UUID, source: str) -> None:
        await self._observe(subject_id, new=new, subject_type="child", address=_address_row(
            subject_id, child.address, source=source, intake_id=intake_id), values=dict(
            subject_id=subject_id, kind="referral", intake_id=intake_id, source=source,
            first_name=child.first_name, last_name=child.last_name, middle_names=child.middle_names,
            preferred_name=child.preferred_name, aliases=list(child.aliases), name_keys=sorted(facts.name_keys),
            date_of_birth=child.date_of_birth, sex=child.sex.value,
            upn=identifiers.compact_upn(child.upn) if child.upn else None, upn_valid=facts.upn is not None,
            nhs_number=identifiers.compact_nhs_number(child.nhs_number) if child.nhs_number else None,
            nhs_valid=facts.nhs_number is not None,
        ))

    async def observe_carer(self, subject_id: UUID, carer: Carer, facts: CarerFacts, address: Address | None, *,
                            new: bool, intake_id: UUID, source: str) -> None:
        await self._observe(subject_id, new=new, subject_type="carer", address=_address_row(
            subject_id, address, source=source, intake_id=intake_id), values=dict(
            subject_id=subject_id, kind="referral", intake_id=intake_id, source=source,
            first_name=carer.first_name, last_name=carer.last_name, name_keys=sorted(facts.name_keys),
            relationship=carer.relationship.value, phones=sorted(facts.phones), email=facts.email,
        ))

    async def link_carer(self, *, child_subject_id: UUID, carer_subject_id: UUID, relationship: str,
                         intake_id: UUID) -> None:
        await self._session.execute(_INSERT_CARE_LINK, dict(
            child_subject_id=child_subject_id, carer_subject_id=carer_subject_id, relationship=relationship,
            intake_id=intake_id,
        ))

    async def add_possible_matches(self, subject_type: str, subject_id: UUID, decision: MatchDecision,
                                   intake_id: UUID | None, borough: str | None) -> tuple[UUID, ...]:
        match_ids = []
        for candidate in decision.possible:
            match_id = uuid.uuid4()
            await self._session.execute(_INSERT_POSSIBLE_MATCH, dict(
                match_id=match_id, subject_type=subject_type, subject_id=subject_id,
                candidate_subject_id=candidate.subject_id, matched_on=list(candidate.matched_on),
                conflicts=list(candidate.conflicts), intake_id=intake_id, borough=borough,
            ))
            match_ids.append(match_id)
        return tuple(match_ids)

    async def add_address(
        self, subject_id: UUID, address: Address | None, *, source: str, intake_id: UUID | None = None,
        rights_request_id: UUID | None = None, valid_from: date | None = None,
    ) -> bool:
        """A new row in the subject's address history (never an update of an earlier one)."""
        row = _address_row(subject_id, address, source=source, intake_id=intake_id,
                           rights_request_id=rights_request_id, valid_from=valid_from)
        if row is None:
            return False
        await self._session.execute(_INSERT_ADDRESS, row)
        return True

    async def _observe(self, subject_id: UUID, *, new: bool, subject_type: str, values: dict[str, Any],
                       address: dict[str, Any] | None = None) -> None:
        """A referral's observation of a subject, and the address it gives (an `_address_row`). A new subject
        is created in the same statement as both (one round trip, not three: the foreign keys are checked at
        the end of the statement, when the subject exists)."""
        known = self._names_known()
        if known is not None:
            known.observations.setdefault(subject_type, []).append((subject_id, frozenset(values["name_keys"])))
        if not new:
            await self._session.execute(_INSERT_OBSERVATION, values)
            if address is not None:
                await self._session.execute(_INSERT_ADDRESS, address)
            return
        shape = (frozenset(values), address is not None)
        statement = _INSERT_NEW_SUBJECT_OBSERVATION.get(shape)
        if statement is None:
            statement = _INSERT_NEW_SUBJECT_OBSERVATION[shape] = _new_subject_observation(values, address)
        parameters = {**values, "new_subject_type": subject_type}
        if address is not None:
            parameters.update({f"address_{name}": value for name, value in address.items()})
        await self._session.execute(statement, parameters)

    # ---- rectifications (UK GDPR Art 16): a new version, never an update

    async def add_version(self, values: dict[str, Any]) -> None:
        """An observation of kind `rectification` (the columns it corrects, with its source)."""
        await self._session.execute(insert(subject_observations).values(**values))

    async def note_rectification(self, *, rights_request_id: UUID, subject_id: UUID, field: str, decided_by: str,
                                 records_changed: int) -> None:
        await self._session.execute(insert(rectifications).values(
            rectification_id=uuid.uuid4(), rights_request_id=rights_request_id, subject_id=subject_id, field=field,
            decided_by=decided_by, records_changed=records_changed,
        ))

    # ---- possible matches and what officers decide

    async def visible_match(self, match_id: UUID, scope: Scope) -> Any | None:
        return (await self._session.execute(
            select(possible_matches).where(possible_matches.c.match_id == match_id,
                                           scope.where(possible_matches.c.borough))
        )).first()

    async def decided(self, match_id: UUID) -> bool:
        return (await self._session.execute(
            select(possible_match_decisions.c.match_id).where(possible_match_decisions.c.match_id == match_id)
        )).first() is not None

    async def pending_proposal(self, match_id: UUID) -> Any | None:
        return (await self._session.execute(
            select(merge_proposals).where(merge_proposals.c.match_id == match_id, ~exists().where(
                merge_proposal_decisions.c.proposal_id == merge_proposals.c.proposal_id))
        )).first()

    async def propose_merge(self, *, proposal_id: UUID, match_id: UUID, proposed_by: str, role: str, reason: str,
                            boroughs: list[str | None], proposed_at: datetime) -> None:
        await self._session.execute(insert(merge_proposals).values(
            proposal_id=proposal_id, match_id=match_id, proposed_by=proposed_by, role=role, reason=reason,
            boroughs=boroughs, proposed_at=proposed_at,
        ))

    async def answer_proposal(self, *, proposal_id: UUID, decision: str, reason: str, decided_by: str,
                              decided_at: datetime) -> None:
        await self._session.execute(insert(merge_proposal_decisions).values(
            proposal_id=proposal_id, decision=decision, reason=reason, decided_by=decided_by, decided_at=decided_at,
        ))

    async def decide_match(self, *, match_id: UUID, decision: str, reason: str, decided_by: str,
                           decided_at: datetime) -> None:
        await self._session.execute(insert(possible_match_decisions).values(
            match_id=match_id, decision=decision, reason=reason, decided_by=decided_by, decided_at=decided_at,
        ))

    async def merge(self, *, subject_id: UUID, merged_into: UUID, match_id: UUID, decided_by: str, reason: str,
                    decided_at: datetime) -> None:
        await self._session.execute(insert(subject_merges).values(
            subject_id=subject_id, merged_into=merged_into, match_id=match_id, decided_by=decided_by, reason=reason,
            decided_at=decided_at,
        ))

    async def unmerge(self, *, merge_id: int, match_id: UUID, reason: str, decided_by: str, role: str,
                      decided_at: datetime) -> None:
        await self._session.execute(insert(subject_unmerges).values(
            merge_id=merge_id, match_id=match_id, reason=reason, decided_by=decided_by, role=role,
            decided_at=decided_at,
        ))

    async def access_items(self, service: str, members: list[UUID]) -> list[DataItem]:
        """Who in the service looked at these subjects' records (the kit's access log)."""
        return await access_items(self._session, kit.access_log, service, members)

    async def decisions_about(self, members: set[UUID]) -> list[Any]:
        """Officers' decisions on the possible matches naming any of these subjects."""
        return list((await self._session.execute(
            select(possible_matches.c.match_id, possible_matches.c.created_at, possible_matches.c.matched_on,
                   possible_match_decisions.c.decision, possible_match_decisions.c.reason,
                   possible_match_decisions.c.decided_by, possible_match_decisions.c.decided_at)
            .join(possible_match_decisions, possible_match_decisions.c.match_id == possible_matches.c.match_id)
            .where(possible_matches.c.subject_id.in_(members) | possible_matches.c.candidate_subject_id.in_(members))
        )).all())


def pending_condition() -> Any:
    """A possible match has a proposed merge waiting for a manager (for the views' `status=pending`)."""
    return exists().where(_PENDING)


def _address_row(
    subject_id: UUID, address: Address | None, *, source: str, intake_id: UUID | None = None,
    rights_request_id: UUID | None = None, valid_from: date | None = None,
) -> dict[str, Any] | None:
    if address is None:
        return None
    return dict(
        subject_id=subject_id, line1=address.line1, line2=address.line2, town=address.town,
        postcode=(identifiers.normalise_postcode(address.postcode) or address.postcode) if address.postcode else None,
        postcode_key=postcode_key(address), uprn=address.uprn, valid_from=valid_from, source=source,
        intake_id=intake_id, rights_request_id=rights_request_id,
    )


def _new_subject_observation(values: dict[str, Any], address: dict[str, Any] | None) -> Any:
    new_subject = insert(subjects).values(
        subject_id=bindparam("subject_id"), subject_type=bindparam("new_subject_type"),
        created_by_intake_id=bindparam("intake_id"),
    ).cte("new_subject")
    statement = insert(subject_observations).values(
        {name: bindparam(name) for name in values}
    ).add_cte(new_subject)
    if address is not None:
        new_address = insert(subject_addresses).values(
            {name: bindparam(f"address_{name}") for name in address}
        ).cte("new_address")
        statement = statement.add_cte(new_address)
    return statement
