"""What falls due in intake, and how a disposed subject can still be recognised (issue 14, item 1).

DOMAIN section 3: records are kept as long as necessary (UK GDPR Art 5(1)(e), storage limitation) under the
council's schedule (cme_shared.retention; default 7 years after case closure); at disposal the content goes and
a minimal tombstone (what, when, why) stays (LGA 1972 s224; the FOI s46 Code of Practice on records management:
a record of destruction is kept). Intake's records and their clocks:

- a referral that led to a case (or to casework's record without a case) lives as long as that record: it falls
  due when casework says it disposed of it (`RecordsDisposed` with the referral in `related_record_ids`), and
  intake's own referral rule, run from the same date, has passed too (a longer referral rule keeps it longer);
- a referral from the public form that no officer ever accepted never reached casework: no case will ever close
  on it, so its clock runs from its receipt, under the referral rule (decision recorded in the README);
- a dead letter (a message intake could not understand, kept for its sender to correct): from its receipt,
  under the dead-letter rule (default 1 year);
- an identity (a child or carer in the index): once every referral naming them (any subject merged with them
  included) has been disposed of, and the identity rule has run from the latest of those referrals' clocks.

The rule for a referral is the schedule's rule for its category (what the referral is evidence of: police,
Home Office, statutory services, else education) if the schedule has one, else the referral rule.

Tombstones of children keep keyed digests (HMAC, `cme_shared.retention.subject_digest`) of exactly the
identifiers a subject access request is matched on (service_layer/subject_rights.find_subjects): a valid UPN,
name + date of birth + postcode, and the weaker name + date of birth or name + postcode; carers' of name +
postcode. A later lookup digests what the requester gave the same way: a match says "we held a record about
this person and disposed of it", never the identifiers themselves.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Literal
from uuid import UUID

from cme_shared.contracts.categories import DataCategory
from cme_shared.contracts.referrals import SourceType
from cme_shared.contracts.retention import RecordType, RetentionRule, RetentionSchedule
from cme_shared.retention import Candidate, due_on, subject_digest

from .subject_access import INVOLVEMENT

# The categories of a referral's content (domain/subject_access.child_items) and of an identity record.
IDENTITY_CATEGORIES = (DataCategory.CONTACT, DataCategory.DEMOGRAPHICS, DataCategory.EDUCATION)

Match = Literal["exact_identifier", "name_dob_postcode", "possible"]
SubjectType = Literal["child", "carer"]
STRENGTH: dict[str, int] = {"exact_identifier": 3, "name_dob_postcode": 2, "possible": 1}

# What each kind of digest part proves when a lookup's digest meets it (the same as the live lookup's rules).
KIND_MATCH: dict[str, tuple[SubjectType, Match]] = {
    "upn": ("child", "exact_identifier"),
    "child-name-dob-postcode": ("child", "name_dob_postcode"),
    "child-name-dob": ("child", "possible"),
    "child-name-postcode": ("child", "possible"),
    "carer-name-postcode": ("carer", "possible"),
}


def referral_category(source_type: str) -> DataCategory:
    """What a referral is evidence of (privacy notice categories): its rule may be set per category."""
    return INVOLVEMENT.get(SourceType(source_type), DataCategory.EDUCATION)


def referral_rule(schedule: RetentionSchedule, source_type: str) -> RetentionRule:
    return schedule.rule_for(RecordType.REFERRAL, referral_category(source_type))


def referral_candidate(schedule: RetentionSchedule, *, intake_id: UUID, source_type: str, clock_started_on: date,
                       child_subject_id: UUID, carer_subject_ids: Iterable[UUID],
                       case_ids: Iterable[UUID] = ()) -> Candidate:
    """A referral as a candidate for disposal: the child first among its subjects (a tombstone's digests are
    the child's)."""
    category = referral_category(source_type)
    return Candidate(record_type=RecordType.REFERRAL, record_id=str(intake_id),
                     rule=schedule.rule_for(RecordType.REFERRAL, category), clock_started_on=clock_started_on,
                     subject_ids=(child_subject_id, *(c for c in carer_subject_ids if c != child_subject_id)),
                     case_ids=tuple(case_ids), categories=tuple(dict.fromkeys((*IDENTITY_CATEGORIES, category))))


def dead_letter_candidate(schedule: RetentionSchedule, *, message_id: str, received_on: date) -> Candidate:
    """A message intake could not understand: ids and the reasons only remain here (its bytes are on the
    dead-letter topic, whose own retention is the broker's), from its receipt."""
    return Candidate(record_type=RecordType.DEAD_LETTER, record_id=message_id,
                     rule=schedule.rule_for(RecordType.DEAD_LETTER), clock_started_on=received_on,
                     categories=(DataCategory.EDUCATION,))


def identity_candidate(schedule: RetentionSchedule, *, subject_id: UUID, last_clock_started_on: date) -> Candidate:
    return Candidate(record_type=RecordType.IDENTITY, record_id=str(subject_id),
                     rule=schedule.rule_for(RecordType.IDENTITY), clock_started_on=last_clock_started_on,
                     subject_ids=(subject_id,), categories=IDENTITY_CATEGORIES)


def is_due(candidate: Candidate, as_of: date) -> bool:
    return due_on(candidate.rule, candidate.clock_started_on) <= as_of


def identity_falls_due(referrals_left: int, candidate: Candidate, as_of: date) -> bool:
    """A person stays in the index while any referral about them (or anyone merged with them) remains."""
    return referrals_left == 0 and is_due(candidate, as_of)


# ---- digests of identifiers (tombstones, and the lookups matched against them)

Part = tuple[str | date, ...]


@dataclass(frozen=True)
class ChildIdentifiers:
    """What intake knew of a child, as the live lookup compares it (name keys, postcode keys, valid UPNs)."""

    name_keys: frozenset[str] = frozenset()
    dates_of_birth: frozenset[date] = frozenset()
    postcodes: frozenset[str] = frozenset()
    upns: frozenset[str] = frozenset()


def child_parts(known: ChildIdentifiers) -> set[Part]:
    parts: set[Part] = {("upn", upn) for upn in known.upns}
    for key in known.name_keys:
        for dob in known.dates_of_birth:
            parts.add(("child-name-dob", key, dob))
            parts |= {("child-name-dob-postcode", key, dob, postcode) for postcode in known.postcodes}
        parts |= {("child-name-postcode", key, postcode) for postcode in known.postcodes}
    return parts


def carer_parts(name_keys: Iterable[str], postcodes: Iterable[str]) -> set[Part]:
    postcodes = list(postcodes)
    return {("carer-name-postcode", key, postcode) for key in name_keys for postcode in postcodes}


def digests(key: bytes, parts: Iterable[Part]) -> list[str]:
    return sorted({subject_digest(key, *part) for part in parts})


def lookup_parts(name_keys: Iterable[str], date_of_birth: date | None, postcode: str | None,
                 upn: str | None) -> set[Part]:
    """The parts a requester's details make, in the forms tombstones keep (`upn`: only one that passed its
    checks; `postcode`: its key)."""
    parts: set[Part] = {("upn", upn)} if upn else set()
    for key in name_keys:
        if date_of_birth is not None:
            parts.add(("child-name-dob", key, date_of_birth))
            if postcode is not None:
                parts.add(("child-name-dob-postcode", key, date_of_birth, postcode))
        if postcode is not None:
            parts |= {("child-name-postcode", key, postcode), ("carer-name-postcode", key, postcode)}
    return parts


def lookup_digests(key: bytes, parts: Iterable[Part]) -> dict[str, tuple[SubjectType, Match]]:
    """Each digest of a lookup, with what meeting it in a tombstone proves."""
    return {subject_digest(key, *part): KIND_MATCH[str(part[0])] for part in parts}


def best_match(found: Iterable[str], asked: Mapping[str, tuple[SubjectType, Match]]) -> tuple[SubjectType, Match] | None:
    """The strongest thing a tombstone's digests prove about a lookup (None: nothing in common)."""
    proved = [asked[d] for d in found if d in asked]
    return max(proved, key=lambda p: STRENGTH[p[1]]) if proved else None
