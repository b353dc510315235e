"""Who is who: deciding whether a person on a referral is someone the index already knows.

Children: a valid UPN or NHS number first; then name (any name key in common) + date of birth +
postcode (any postcode in the subject's address history), with no conflicting identifier. Exactly one
such subject is the same child. Anything weaker (name and only one of date of birth / postcode, a
conflicting identifier, several equally good candidates) never merges by itself: the person gets a new
subject and a possible match that an officer resolves. A shared name alone is not even a possible match.

Carers (no date of birth or identifier in the contract): same name and linked to the same child, or same
name and a phone number or email in common. Same name and postcode only is a possible match.
"""

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from typing import Any, TypeVar
from uuid import UUID

from cme_shared.contracts.referrals import Address, Carer, Child

from . import identifiers
from .names import name_keys


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


# ---- what a referral says, as the index compares it


def postcode_key(address: Address | None) -> str | None:
    if address is None or not address.postcode:
        return None
    return identifiers.postcode_key(address.postcode)


def phone_digits(phone: str) -> str:
    digits = re.sub(r"\D", "", phone)
    return "0" + digits[2:] if digits.startswith("44") else digits  # +44 20... and 020... are one number


def child_facts(child: Child) -> ChildFacts:
    upn = identifiers.compact_upn(child.upn) if child.upn else None
    nhs_number = identifiers.compact_nhs_number(child.nhs_number) if child.nhs_number else None
    return ChildFacts(
        name_keys=name_keys(child.first_name, child.last_name, middle_names=child.middle_names,
                            preferred_name=child.preferred_name, aliases=child.aliases),
        date_of_birth=child.date_of_birth,
        postcode=postcode_key(child.address),
        upn=upn if upn and identifiers.upn_problem(upn, child.date_of_birth) is None else None,
        nhs_number=nhs_number if nhs_number and identifiers.nhs_number_problem(nhs_number) is None else None,
    )


def carer_address(carer: Carer, child: Child) -> Address | None:
    """A parent the child lives with shares the child's address when the return gives no other."""
    return carer.address or (child.address if carer.lives_with_child else None)


def carer_facts(carer: Carer, child: Child, child_subject_id: UUID) -> CarerFacts:
    return CarerFacts(
        name_keys=name_keys(carer.first_name, carer.last_name),
        child_subject_id=child_subject_id,
        postcode=postcode_key(carer_address(carer, child)),
        phones=frozenset(p for p in (phone_digits(phone) for phone in carer.phones) if p),
        email=carer.email.strip().lower() if carer.email else None,
    )


# ---- what the index shows of a subject

DETAIL_FIELDS = ("first_name", "last_name", "middle_names", "preferred_name", "date_of_birth", "sex", "upn",
                 "nhs_number", "relationship", "email")


def current_details(observations: Sequence[Any]) -> dict[str, Any]:
    """A subject's details from its observations (rows with `kind`, `observation_id`, `aliases` and the
    `DETAIL_FIELDS`): per field, the latest rectification, else the latest report. A correction is a new
    version that wins over any report (UK GDPR Art 16); later reports win over earlier ones."""
    details: dict[str, Any] = {}
    for o in sorted(observations, key=lambda o: (o.kind != "referral", o.observation_id)):
        details.update({f: getattr(o, f) for f in DETAIL_FIELDS if getattr(o, f) is not None})
    details["aliases"] = sorted({a for o in observations for a in o.aliases})
    return details


def current_address(addresses: Sequence[Mapping[str, Any]], today: date) -> Mapping[str, Any] | None:
    """The address in force today: the latest by the date it applies from (or was reported)."""
    in_force = [a for a in addresses if a["valid_from"] is None or a["valid_from"] <= today]
    if not in_force:
        return None
    return max(in_force, key=lambda a: (a["valid_from"] or a["recorded_at"].date(), a["address_id"]))
