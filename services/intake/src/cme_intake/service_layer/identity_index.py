"""The identity index: one subject id per child and per carer, whichever partner refers them.

Writes happen under one transaction-scoped advisory lock, so two referrals about the same new child
(one over Kafka, one over HTTP) cannot both create a subject. The matching rules themselves are pure
(`domain.identity`); this module gathers what the index knows and records what was decided.
"""

import re
import uuid
from dataclasses import dataclass
from datetime import date
from typing import Any
from uuid import UUID

from sqlalchemy import bindparam, exists, insert, or_, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from cme_shared.contracts.referrals import Address, Carer, Child
from cme_shared.messaging import deferred

from ..adapters.tables import (
    care_links,
    possible_matches,
    referrals,
    subject_addresses,
    subject_merges,
    subject_observations,
    subject_unmerges,
    subjects,
)
from ..domain import identifiers
from ..domain.identity import (
    CarerFacts,
    ChildFacts,
    KnownCarer,
    KnownChild,
    MatchDecision,
    match_carer,
    match_child,
)
from ..domain.names import name_keys

# pg_advisory_xact_lock key for writes to the index ("cmeidx" as an integer).
INDEX_LOCK = 0x636D65696478
MAX_MERGE_CHAIN = 100


# session.info key: the index lock is held for the whole of this session's transaction (a batch took it
# first, at the top level of its transaction, so no savepoint rollback can release it).
LOCK_HELD = "cme_intake.index_lock_held"
_LOCK = text("SELECT pg_advisory_xact_lock(:key)")


async def lock(session: AsyncSession) -> None:
    if session.info.get(LOCK_HELD):
        return  # already held until this transaction ends; taking it again is a round trip for nothing
    await session.execute(_LOCK, {"key": INDEX_LOCK})


async def lock_for_batch(session: AsyncSession) -> None:
    """Take the index lock once for a whole batch transaction: every record of the batch would take it
    anyway (reception.receive) and keep it until the batch commits, so taking it first changes no order."""
    await session.execute(_LOCK, {"key": INDEX_LOCK})
    session.info[LOCK_HELD] = True


@dataclass(frozen=True)
class Resolution:
    subject_id: UUID
    decision: MatchDecision
    possible_match_ids: tuple[UUID, ...] = ()

    @property
    def possible_subject_ids(self) -> list[UUID]:
        return [c.subject_id for c in self.decision.possible]


# ---- merges

# A merge pointer is in force until a manager undoes it (`subject_unmerges`); every read that follows merges
# goes through this condition, so an undone merge leaves the two subjects as separate as before it.
IN_FORCE = ~exists().where(subject_unmerges.c.merge_id == subject_merges.c.merge_id)


async def canonical(session: AsyncSession, subject_id: UUID) -> UUID:
    """Follow the merge pointers in force to the subject that now stands for this one."""
    current = subject_id
    for _ in range(MAX_MERGE_CHAIN):
        into = (await session.execute(
            select(subject_merges.c.merged_into).where(subject_merges.c.subject_id == current, IN_FORCE)
        )).scalar()
        if into is None:
            return current
        current = into
    raise RuntimeError("merge chain too long")


async def cluster(session: AsyncSession, subject_id: UUID) -> set[UUID]:
    """The canonical subject and every subject merged into it (by pointers in force), directly or not."""
    root = await canonical(session, subject_id)
    members, frontier = {root}, {root}
    while frontier:
        merged = set((await session.execute(
            select(subject_merges.c.subject_id).where(subject_merges.c.merged_into.in_(frontier), IN_FORCE)
        )).scalars())
        frontier = merged - members
        members |= frontier
    return members


async def merge_in_force(session: AsyncSession, match_id: UUID) -> Any | None:
    """The merge pointer a possible match's decision added, while it is in force (else None)."""
    return (await session.execute(
        select(subject_merges).where(subject_merges.c.match_id == match_id, IN_FORCE)
    )).first()


async def record_boroughs(session: AsyncSession, subject_id: UUID) -> frozenset[str | None]:
    """The boroughs of the referrals about this subject and those merged into it (None: on the triage list).
    What an officer may see of the subject, and who may merge it, follow from these."""
    members = await cluster(session, subject_id)
    subject_type = (await session.execute(
        select(subjects.c.subject_type).where(subjects.c.subject_id == subject_id)
    )).scalar()
    named = (referrals.c.carer_subject_ids.overlap(sorted(members)) if subject_type == "carer"
             else referrals.c.child_subject_id.in_(members))
    return frozenset((await session.execute(select(referrals.c.borough).distinct().where(named))).scalars())


async def _clusters(session: AsyncSession, subject_ids: set[UUID]) -> dict[UUID, set[UUID]]:
    by_root: dict[UUID, set[UUID]] = {}
    for subject_id in subject_ids:
        root = await canonical(session, subject_id)
        if root not in by_root:
            by_root[root] = await cluster(session, root)
    return by_root


# ---- what the index knows


async def _observations(session: AsyncSession, members: set[UUID]) -> list[Any]:
    return list((await session.execute(
        select(subject_observations).where(subject_observations.c.subject_id.in_(members))
        .order_by(subject_observations.c.observation_id)
    )).all())


async def _postcodes(session: AsyncSession, members: set[UUID]) -> frozenset[str]:
    rows = await session.execute(
        select(subject_addresses.c.postcode_key).where(
            subject_addresses.c.subject_id.in_(members), subject_addresses.c.postcode_key.is_not(None)
        )
    )
    return frozenset(rows.scalars())


async def known_children(session: AsyncSession, subject_ids: set[UUID]) -> list[KnownChild]:
    known = []
    for root, members in (await _clusters(session, subject_ids)).items():
        observations = await _observations(session, members)
        known.append(KnownChild(
            subject_id=root,
            name_keys=frozenset(k for o in observations for k in o.name_keys),
            dates_of_birth=frozenset(o.date_of_birth for o in observations if o.date_of_birth),
            postcodes=await _postcodes(session, members),
            upns=frozenset(o.upn for o in observations if o.upn_valid),
            nhs_numbers=frozenset(o.nhs_number for o in observations if o.nhs_valid),
        ))
    return known


async def known_carers(session: AsyncSession, subject_ids: set[UUID]) -> list[KnownCarer]:
    known = []
    for root, members in (await _clusters(session, subject_ids)).items():
        observations = await _observations(session, members)
        children = (await session.execute(
            select(care_links.c.child_subject_id).where(care_links.c.carer_subject_id.in_(members))
        )).scalars()
        known.append(KnownCarer(
            subject_id=root,
            name_keys=frozenset(k for o in observations for k in o.name_keys),
            child_subject_ids=frozenset([await canonical(session, c) for c in set(children)]),
            postcodes=await _postcodes(session, members),
            phones=frozenset(p for o in observations for p in o.phones),
            emails=frozenset(o.email for o in observations if o.email),
        ))
    return known


_SUBJECTS_NAMED = (
    select(subject_observations.c.subject_id).distinct()
    .join(subjects, subjects.c.subject_id == subject_observations.c.subject_id)
    .where(subjects.c.subject_type == bindparam("subject_type"),
           subject_observations.c.name_keys.overlap(bindparam("keys", type_=subject_observations.c.name_keys.type)))
)


async def subjects_named(session: AsyncSession, keys: frozenset[str], subject_type: str) -> set[UUID]:
    if not keys:
        return set()
    known = session.info.get(_NAMES_KNOWN) if deferred.active(session) else None
    if known is not None and keys <= known.asked:
        return {subject_id for subject_id, observed in known.observations[subject_type] if observed & keys}
    rows = await session.execute(_SUBJECTS_NAMED, {"subject_type": subject_type, "keys": sorted(keys)})
    return set(rows.scalars())


@dataclass
class _NamesKnown:
    """For a batch holding the index lock: every observation whose name keys meet `asked`, as read once,
    plus those the batch itself records (`_observe`)."""

    asked: frozenset[str]
    observations: dict[str, list[tuple[UUID, frozenset[str]]]]


_NAMES_KNOWN = "cme_intake.names_known"  # session.info
_OBSERVATIONS_NAMED = (
    select(subject_observations.c.subject_id, subjects.c.subject_type, subject_observations.c.name_keys)
    .join(subjects, subjects.c.subject_id == subject_observations.c.subject_id)
    .where(subject_observations.c.name_keys.overlap(bindparam("keys", type_=subject_observations.c.name_keys.type)))
)


async def prefetch_names(session: AsyncSession, batch: list[tuple[Child, list[Carer]]]) -> None:
    """Read once, for a whole batch, what `subjects_named` would read for each of its children and carers.

    Used only on the batch's fast path (`deferred.active`), where a failure rolls back the whole batch:
    the observations the batch records are added as it goes, and no other writer records any while
    the batch holds the index lock."""
    asked = frozenset(key for child, carers in batch for key in (
        *child_facts(child).name_keys, *(k for carer in carers for k in name_keys(carer.first_name, carer.last_name))))
    observations: dict[str, list[tuple[UUID, frozenset[str]]]] = {"child": [], "carer": []}
    if asked:
        for row in await session.execute(_OBSERVATIONS_NAMED, {"keys": sorted(asked)}):
            observations.setdefault(row.subject_type, []).append((row.subject_id, frozenset(row.name_keys)))
    session.info[_NAMES_KNOWN] = _NamesKnown(asked, observations)


async def subjects_holding(session: AsyncSession, upn: str | None, nhs_number: str | None) -> set[UUID]:
    conditions = []
    if upn:
        conditions.append(subject_observations.c.upn_valid & (subject_observations.c.upn == upn))
    if nhs_number:
        conditions.append(subject_observations.c.nhs_valid & (subject_observations.c.nhs_number == nhs_number))
    if not conditions:
        return set()
    rows = await session.execute(select(subject_observations.c.subject_id).distinct().where(or_(*conditions)))
    return set(rows.scalars())


def child_facts(child: Child) -> ChildFacts:
    upn = identifiers.compact_upn(child.upn) if child.upn else None
    nhs_number = identifiers.compact_nhs_number(child.nhs_number) if child.nhs_number else None
    return ChildFacts(
        name_keys=name_keys(child.first_name, child.last_name, middle_names=child.middle_names,
                            preferred_name=child.preferred_name, aliases=child.aliases),
        date_of_birth=child.date_of_birth,
        postcode=_postcode_key(child.address),
        upn=upn if upn and identifiers.upn_problem(upn, child.date_of_birth) is None else None,
        nhs_number=nhs_number if nhs_number and identifiers.nhs_number_problem(nhs_number) is None else None,
    )


async def match_child_facts(session: AsyncSession, facts: ChildFacts) -> MatchDecision:
    holders = await subjects_holding(session, facts.upn, facts.nhs_number)
    named = await subjects_named(session, facts.name_keys, "child")
    return match_child(facts, await known_children(session, holders), await known_children(session, named))


# ---- recording

# Built once: a statement built per record (and per row) costs more Python than the round trip itself.
# Columns not given take their defaults, as with `.values(...)`.
_INSERT_OBSERVATION = insert(subject_observations)
_INSERT_ADDRESS = insert(subject_addresses)
_INSERT_CARE_LINK = insert(care_links)
_INSERT_POSSIBLE_MATCH = insert(possible_matches)


async def record_child(
    session: AsyncSession, child: Child, *, intake_id: UUID, source: str, borough: str | None,
    future_address: Address | None = None, future_address_from: date | None = None,
) -> Resolution:
    facts = child_facts(child)
    decision = await match_child_facts(session, facts)
    subject_id = decision.same_as or uuid.uuid4()
    await _observe(session, subject_id, new=decision.same_as is None, subject_type="child", address=_address_row(
        subject_id, child.address, source=source, intake_id=intake_id), values=dict(
        subject_id=subject_id, kind="referral", intake_id=intake_id, source=source,
        first_name=child.first_name, last_name=child.last_name, middle_names=child.middle_names,
        preferred_name=child.preferred_name, aliases=list(child.aliases), name_keys=sorted(facts.name_keys),
        date_of_birth=child.date_of_birth, sex=child.sex.value,
        upn=identifiers.compact_upn(child.upn) if child.upn else None, upn_valid=facts.upn is not None,
        nhs_number=identifiers.compact_nhs_number(child.nhs_number) if child.nhs_number else None,
        nhs_valid=facts.nhs_number is not None,
    ))
    match_ids = await _possible_matches(session, "child", subject_id, decision, intake_id, borough)
    await add_address(session, subject_id, future_address, source=source, intake_id=intake_id,
                      valid_from=future_address_from)
    return Resolution(subject_id, decision, match_ids)


async def record_carer(
    session: AsyncSession, carer: Carer, *, child: Child, child_subject_id: UUID, intake_id: UUID, source: str,
    borough: str | None,
) -> Resolution:
    # A parent the child lives with shares the child's address when the return gives no other.
    address = carer.address or (child.address if carer.lives_with_child else None)
    facts = CarerFacts(
        name_keys=name_keys(carer.first_name, carer.last_name),
        child_subject_id=child_subject_id,
        postcode=_postcode_key(address),
        phones=frozenset(p for p in (_digits(phone) for phone in carer.phones) if p),
        email=carer.email.strip().lower() if carer.email else None,
    )
    named = await subjects_named(session, facts.name_keys, "carer")
    decision = match_carer(facts, await known_carers(session, named))
    subject_id = decision.same_as or uuid.uuid4()
    await _observe(session, subject_id, new=decision.same_as is None, subject_type="carer", address=_address_row(
        subject_id, address, source=source, intake_id=intake_id), values=dict(
        subject_id=subject_id, kind="referral", intake_id=intake_id, source=source,
        first_name=carer.first_name, last_name=carer.last_name, name_keys=sorted(facts.name_keys),
        relationship=carer.relationship.value, phones=sorted(facts.phones), email=facts.email,
    ))
    match_ids = await _possible_matches(session, "carer", subject_id, decision, intake_id, borough)
    await session.execute(_INSERT_CARE_LINK, dict(
        child_subject_id=child_subject_id, carer_subject_id=subject_id, relationship=carer.relationship.value,
        intake_id=intake_id,
    ))
    return Resolution(subject_id, decision, match_ids)


async def add_address(
    session: AsyncSession, subject_id: UUID, address: Address | None, *, source: str,
    intake_id: UUID | None = None, rights_request_id: UUID | None = None, valid_from: date | None = None,
) -> bool:
    """A new row in the subject's address history (never an update of an earlier one)."""
    row = _address_row(subject_id, address, source=source, intake_id=intake_id,
                       rights_request_id=rights_request_id, valid_from=valid_from)
    if row is None:
        return False
    await session.execute(_INSERT_ADDRESS, row)
    return True


def _address_row(
    subject_id: UUID, address: Address | None, *, source: str, intake_id: UUID | None = None,
    rights_request_id: UUID | None = None, valid_from: date | None = None,
) -> dict[str, Any] | None:
    if address is None:
        return None
    return dict(
        subject_id=subject_id, line1=address.line1, line2=address.line2, town=address.town,
        postcode=(identifiers.normalise_postcode(address.postcode) or address.postcode) if address.postcode else None,
        postcode_key=_postcode_key(address), uprn=address.uprn, valid_from=valid_from, source=source,
        intake_id=intake_id, rights_request_id=rights_request_id,
    )


async def _observe(session: AsyncSession, subject_id: UUID, *, new: bool, subject_type: str,
                   values: dict[str, Any], address: dict[str, Any] | None = None) -> None:
    """A referral's observation of a subject, and the address it gives (an `_address_row`). A new subject
    is created in the same statement as both (one round trip, not three: the foreign keys are checked at
    the end of the statement, when the subject exists)."""
    known = session.info.get(_NAMES_KNOWN) if deferred.active(session) else None
    if known is not None:
        known.observations.setdefault(subject_type, []).append((subject_id, frozenset(values["name_keys"])))
    if not new:
        await session.execute(_INSERT_OBSERVATION, values)
        if address is not None:
            await session.execute(_INSERT_ADDRESS, address)
        return
    shape = (frozenset(values), address is not None)
    statement = _INSERT_NEW_SUBJECT_OBSERVATION.get(shape)
    if statement is None:
        statement = _INSERT_NEW_SUBJECT_OBSERVATION[shape] = _new_subject_observation(values, address)
    parameters = {**values, "new_subject_type": subject_type}
    if address is not None:
        parameters.update({f"address_{name}": value for name, value in address.items()})
    await session.execute(statement, parameters)


# One statement per shape of observation (a child's, a carer's; with an address or not): built on first
# use, then reused.
_INSERT_NEW_SUBJECT_OBSERVATION: dict[tuple[frozenset[str], bool], Any] = {}


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


async def _possible_matches(
    session: AsyncSession, subject_type: str, subject_id: UUID, decision: MatchDecision, intake_id: UUID | None,
    borough: str | None,
) -> tuple[UUID, ...]:
    match_ids = []
    for candidate in decision.possible:
        match_id = uuid.uuid4()
        await session.execute(_INSERT_POSSIBLE_MATCH, dict(
            match_id=match_id, subject_type=subject_type, subject_id=subject_id,
            candidate_subject_id=candidate.subject_id, matched_on=list(candidate.matched_on),
            conflicts=list(candidate.conflicts), intake_id=intake_id, borough=borough,
        ))
        match_ids.append(match_id)
    return tuple(match_ids)


def _postcode_key(address: Address | None) -> str | None:
    if address is None or not address.postcode:
        return None
    return identifiers.postcode_key(address.postcode)


def _digits(phone: str) -> str:
    digits = re.sub(r"\D", "", phone)
    return "0" + digits[2:] if digits.startswith("44") else digits  # +44 20... and 020... are one number


# ---- reading


@dataclass(frozen=True)
class SubjectView:
    subject_id: UUID
    subject_type: str
    merged_subject_ids: list[UUID]
    details: dict[str, Any]
    addresses: list[dict[str, Any]]


FIELDS = ("first_name", "last_name", "middle_names", "preferred_name", "date_of_birth", "sex", "upn",
          "nhs_number", "relationship", "email")


async def view(session: AsyncSession, subject_id: UUID) -> SubjectView | None:
    """A subject's current details: per field, the latest rectification, else the latest report."""
    members = await cluster(session, subject_id)
    root = await canonical(session, subject_id)
    subject_type = (await session.execute(
        select(subjects.c.subject_type).where(subjects.c.subject_id == root)
    )).scalar()
    if subject_type is None:
        return None
    observations = await _observations(session, members)
    details: dict[str, Any] = {}
    # Later reports win over earlier ones; a rectification wins over any report (DOMAIN 3).
    for o in sorted(observations, key=lambda o: (o.kind != "referral", o.observation_id)):
        details.update({f: getattr(o, f) for f in FIELDS if getattr(o, f) is not None})
    details["aliases"] = sorted({a for o in observations for a in o.aliases})
    addresses = [dict(row._mapping) for row in (await session.execute(
        select(subject_addresses).where(subject_addresses.c.subject_id.in_(members))
        .order_by(subject_addresses.c.address_id)
    )).all()]
    return SubjectView(root, subject_type, sorted(members - {root}), details, addresses)


def current_address(addresses: list[dict[str, Any]], today: date) -> dict[str, Any] | None:
    """The address in force today: the latest by the date it applies from (or was reported)."""
    in_force = [a for a in addresses if a["valid_from"] is None or a["valid_from"] <= today]
    if not in_force:
        return None
    return max(in_force, key=lambda a: (a["valid_from"] or a["recorded_at"].date(), a["address_id"]))
