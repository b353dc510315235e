"""Who is who: deciding whether a person on a referral is someone the index already knows.

Children: a valid UPN or NHS number first; then name (any name key in common) + date of birth +
postcode (any postcode in the subject's address history), with no conflicting identifier. Exactly one
such subject is the same child. Anything weaker (name and only one of date of birth / postcode, a
conflicting identifier, several equally good candidates) never merges by itself: the person gets a new
subject and a possible match that an officer resolves. A shared name alone is not even a possible match.

Carers (no date of birth or identifier in the contract): same name and linked to the same child, or same
name and a phone number or email in common. Same name and postcode only is a possible match.
"""

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from typing import TypeVar
from uuid import UUID


class MatchBasis(StrEnum):
    EXACT_IDENTIFIER = "exact_identifier"
    NAME_DOB_POSTCODE = "name_dob_postcode"
    CARER_LINK = "carer_link"


@dataclass(frozen=True)
class ChildFacts:
    """What one referral (or a rights request) says about a child."""

    name_keys: frozenset[str]
    date_of_birth: date | None = None
    postcode: str | None = None  # postcode_key form
    upn: str | None = None  # only a UPN that passed its checks
    nhs_number: str | None = None  # only an NHS number that passed its check digit


@dataclass(frozen=True)
class KnownChild:
    """What the index holds for one subject, over every record of it and of the subjects merged into it."""

    subject_id: UUID
    name_keys: frozenset[str] = frozenset()
    dates_of_birth: frozenset[date] = frozenset()
    postcodes: frozenset[str] = frozenset()
    upns: frozenset[str] = frozenset()
    nhs_numbers: frozenset[str] = frozenset()


@dataclass(frozen=True)
class CarerFacts:
    name_keys: frozenset[str]
    child_subject_id: UUID
    postcode: str | None = None
    phones: frozenset[str] = frozenset()  # digits only
    email: str | None = None  # folded to lower case


@dataclass(frozen=True)
class KnownCarer:
    subject_id: UUID
    name_keys: frozenset[str] = frozenset()
    child_subject_ids: frozenset[UUID] = frozenset()
    postcodes: frozenset[str] = frozenset()
    phones: frozenset[str] = frozenset()
    emails: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Candidate:
    subject_id: UUID
    matched_on: tuple[str, ...]
    conflicts: tuple[str, ...] = ()


@dataclass(frozen=True)
class MatchDecision:
    """`same_as`: the known subject this person is. Otherwise a new subject, with `possible` to resolve."""

    same_as: UUID | None = None
    basis: MatchBasis | None = None
    matched_on: tuple[str, ...] = ()
    possible: tuple[Candidate, ...] = field(default=())


NEW_SUBJECT = MatchDecision()


def match_child(facts: ChildFacts, by_identifier: Iterable[KnownChild], by_name: Iterable[KnownChild]) -> MatchDecision:
    holders = _unique(by_identifier)
    if len(holders) == 1:
        known = holders[0]
        return MatchDecision(known.subject_id, MatchBasis.EXACT_IDENTIFIER, _identifiers_in_common(facts, known))
    if holders:  # an identifier held by several subjects the officers kept apart: ask again
        return MatchDecision(possible=tuple(
            Candidate(k.subject_id, _identifiers_in_common(facts, k), ("identifier_held_by_several",))
            for k in holders
        ))
    strong: list[Candidate] = []
    weak: list[Candidate] = []
    for known in _unique(by_name):
        if not facts.name_keys & known.name_keys:
            continue
        dob = facts.date_of_birth is not None and facts.date_of_birth in known.dates_of_birth
        postcode = facts.postcode is not None and facts.postcode in known.postcodes
        matched_on = ("name",) + (("date_of_birth",) if dob else ()) + (("postcode",) if postcode else ())
        conflicts = _child_conflicts(facts, known)
        if dob and postcode and not conflicts:
            strong.append(Candidate(known.subject_id, matched_on))
        elif dob or postcode:
            weak.append(Candidate(known.subject_id, matched_on, conflicts))
    if len(strong) == 1:
        return MatchDecision(strong[0].subject_id, MatchBasis.NAME_DOB_POSTCODE, strong[0].matched_on)
    if strong:
        return MatchDecision(possible=tuple(
            Candidate(c.subject_id, c.matched_on, ("several_equal_candidates",)) for c in strong
        ))
    return MatchDecision(possible=tuple(weak))


def match_carer(facts: CarerFacts, known_carers: Iterable[KnownCarer]) -> MatchDecision:
    if not facts.name_keys:
        return NEW_SUBJECT
    strong: list[Candidate] = []
    weak: list[Candidate] = []
    for known in _unique(known_carers):
        if not facts.name_keys & known.name_keys:
            continue
        linked = facts.child_subject_id in known.child_subject_ids
        contact = bool(facts.phones & known.phones) or (facts.email is not None and facts.email in known.emails)
        postcode = facts.postcode is not None and facts.postcode in known.postcodes
        matched_on = ("name",) + (("same_child",) if linked else ()) + (("phone_or_email",) if contact else ()) \
            + (("postcode",) if postcode else ())
        if linked or contact:
            strong.append(Candidate(known.subject_id, matched_on))
        elif postcode:
            weak.append(Candidate(known.subject_id, matched_on))
    if len(strong) == 1:
        return MatchDecision(strong[0].subject_id, MatchBasis.CARER_LINK, strong[0].matched_on)
    if strong:
        return MatchDecision(possible=tuple(
            Candidate(c.subject_id, c.matched_on, ("several_equal_candidates",)) for c in strong
        ))
    return MatchDecision(possible=tuple(weak))


def _identifiers_in_common(facts: ChildFacts, known: KnownChild) -> tuple[str, ...]:
    return (("upn",) if facts.upn and facts.upn in known.upns else ()) + (
        ("nhs_number",) if facts.nhs_number and facts.nhs_number in known.nhs_numbers else ()
    )


def _child_conflicts(facts: ChildFacts, known: KnownChild) -> tuple[str, ...]:
    conflicts = []
    if facts.date_of_birth and known.dates_of_birth and facts.date_of_birth not in known.dates_of_birth:
        conflicts.append("date_of_birth")
    if facts.upn and known.upns and facts.upn not in known.upns:
        conflicts.append("upn")
    if facts.nhs_number and known.nhs_numbers and facts.nhs_number not in known.nhs_numbers:
        conflicts.append("nhs_number")
    return tuple(conflicts)


Known = TypeVar("Known", KnownChild, KnownCarer)


def _unique(known: Iterable[Known]) -> list[Known]:
    seen: dict[UUID, Known] = {}
    for k in known:
        seen.setdefault(k.subject_id, k)
    return list(seen.values())
