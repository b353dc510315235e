"""When disclosure's own records fall due, and what the log says of a disposal. Pure.

Sources: DOMAIN section 3 ("Retention: ... default 7 years after case closure (configurable per category),
with legal hold. At disposal the content goes; a minimal tombstone (what, when, why disposed) stays");
UK GDPR Art 5(1)(e) (storage limitation: kept no longer than necessary); LGA 1972 s224 and the FOI Act
s46 Code of Practice on records management (a record of what was destroyed, when and under which
authority is kept); DOMAIN section 4 (every share is recorded and the log is append-only and
tamper-evident: a disposal is itself a leaf, and no leaf is ever removed).

A disclosure record (RecordType.DISCLOSURE) runs "as long as the case" (rule `disclosure.7y` of the
default schedule, clock from the case's closure). Disclosure does not know cases, nor when a subject's
last case is over: it learns of them only when the services that hold them dispose of them
(`RecordsDisposed` on cme.retention.disposals.v1, acted on only from the record type's owner, and only as
signed by it: the disposal job checks each signature again with the pinned keys). So it is conservative:

- a share falls due only once EVERY subject it is about is *gone*: intake has disposed of their identity
  (RecordType.IDENTITY, which intake disposes of only once every referral naming them, hence every case,
  has been disposed of). A case's or an EHE record's notice alone is not enough: the child (or a carer
  named in a sibling's case) may have another case open that disclosure cannot see;
- its clock runs from the LATER of the day it was made and the latest closure any notice of any of its
  subjects gives (a case, an EHE record, the identity's own clock): a share made after the last closure
  runs 7 years from the share itself (it was never covered by a closure);
- its cases are those of every notice about its subjects, so a hold on any of those cases keeps it (a hold
  on a subject or a record too; `LegalHolds.apply`), and so does an Art 18 restriction of any subject.

Known limit (README): a case opened without a referral (casework's own EHE-lapsed case) that is still open
when intake disposes of the child's identity is not seen; a hold on the child (mirrored over
cme.retention.legal-holds.v1) keeps their shares in that case.
"""

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from cme_shared.contracts.categories import DataCategory
from cme_shared.contracts.retention import ClockStart, RecordsDisposed, RecordType, RetentionRule, RetentionSchedule
from cme_shared.retention import Candidate, due_on

# Notices whose closure dates a disclosure's clock may run from: a case and its history, an EHE record, the
# child's identity. A referral, a dead letter, a rights request or a record without a case says nothing about
# when a share's case ended.
FALLS_DUE_WITH = frozenset({RecordType.CASE, RecordType.EHE_RECORD, RecordType.IDENTITY})
# The notice that says a subject has no case left (intake disposes of an identity after its last referral).
GONE_WITH = RecordType.IDENTITY

# Why a disclosure was disposed of, as the purge leaf and the tombstone say it (codes, never free text).
REASON_CODES = ("schedule", "made_in_error", "duplicate", "court_order", "other")

# `purge-disclosure <id> --reason-code --approved-by`: a disposal by hand, before or without the schedule (a
# records officer's decision approved by a DPO other than them, e.g. a record made in error). It takes the same
# path, honours holds and Art 18 restrictions; its tombstone names this rule.
MANUAL_RULE = RetentionRule(
    rule_id="disclosure.manual", record_type=RecordType.DISCLOSURE, starts=ClockStart.RECORDED,
    description="a disclosure record disposed of by hand by the records officer (purge-disclosure)")


@dataclass(frozen=True)
class Disclosure:
    """What disposal needs to know of a disclosure record: ids and dates only."""

    disclosure_id: uuid.UUID
    made_on: date  # the day it was requested, or shared when another service made it (London)
    subject_ids: tuple[uuid.UUID, ...]
    categories: tuple[DataCategory, ...] = ()


@dataclass(frozen=True)
class SignedRecord:
    """A Kafka record as received and signed: what its signature covers (with the logical topic)."""

    key: bytes | None
    event_id: str  # its `event_id` header
    signer: str
    signature: str  # base64, as in its header
    payload: bytes


@dataclass(frozen=True)
class ReceivedDisposal:
    """A RecordsDisposed from its record type's owner, with the signed record it came in."""

    event: RecordsDisposed
    signed: SignedRecord


@dataclass(frozen=True)
class Mark:
    """What one disposal notice says of one of its subjects: its record type, the closure its period ran
    from, and the cases it named."""

    subject_id: uuid.UUID
    record_type: RecordType
    clock_started_on: date | None
    case_ids: tuple[uuid.UUID, ...] = ()


def marks_of(event: RecordsDisposed) -> list[Mark]:
    """The marks a (verified) disposal notice puts on its subjects: none when its record type says nothing
    of a case's end."""
    if event.record_type not in FALLS_DUE_WITH:
        return []
    cases = tuple(dict.fromkeys(event.case_ids))
    return [Mark(s, event.record_type, event.clock_started_on, cases) for s in dict.fromkeys(event.subject_ids)]


def by_subject(marks: Iterable[Mark]) -> dict[uuid.UUID, list[Mark]]:
    found: dict[uuid.UUID, list[Mark]] = {}
    for m in marks:
        found.setdefault(m.subject_id, []).append(m)
    return found


def clock_for(made_on: date, subject_ids: Sequence[uuid.UUID], marks: Mapping[uuid.UUID, Sequence[Mark]]) -> date | None:
    """The date a disclosure's retention runs from, or None while some subject is not gone (no identity
    notice): the later of the day it was made and the latest closure of any notice of any of its subjects."""
    if not subject_ids:
        return None
    start = made_on
    for subject in subject_ids:
        theirs = marks.get(subject, ())
        if not any(m.record_type == GONE_WITH for m in theirs):
            return None
        start = max([start, *(m.clock_started_on for m in theirs if m.clock_started_on is not None)])
    return start


def cases_of(subject_ids: Sequence[uuid.UUID], marks: Mapping[uuid.UUID, Sequence[Mark]]) -> tuple[uuid.UUID, ...]:
    """Every case any notice about these subjects named (a hold on one keeps the disclosure)."""
    return tuple(sorted({c for s in subject_ids for m in marks.get(s, ()) for c in m.case_ids}, key=str))


def candidates(schedule: RetentionSchedule, disclosures: Iterable[Disclosure],
               marks: Mapping[uuid.UUID, Sequence[Mark]], as_of: date) -> list[Candidate]:
    """The disclosures due on `as_of` under the schedule in force (holds and restrictions are applied
    after: the caller keeps a held one)."""
    rule = schedule.rule_for(RecordType.DISCLOSURE)
    out = []
    for d in disclosures:
        start = clock_for(d.made_on, d.subject_ids, marks)
        if start is None:
            continue
        candidate = Candidate(record_type=RecordType.DISCLOSURE, record_id=str(d.disclosure_id),
                              rule=_rule_for(schedule, rule, d.categories), clock_started_on=start,
                              subject_ids=d.subject_ids, case_ids=cases_of(d.subject_ids, marks),
                              categories=d.categories)
        if candidate.due_on <= as_of:
            out.append(candidate)
    return out


def _rule_for(schedule: RetentionSchedule, general: RetentionRule, categories: Sequence[DataCategory]) -> RetentionRule:
    """A record spanning categories is kept as long as the longest rule among them (a per-category rule
    may lengthen or shorten the record type's: the longest wins, so nothing goes before its time)."""
    rules = [schedule.rule_for(RecordType.DISCLOSURE, c) for c in categories] or [general]
    probe = date(2000, 1, 1)
    return max(rules, key=lambda r: (due_on(r, probe), r.rule_id))


def disposal_leaf(event: RecordsDisposed) -> tuple[dict[str, Any], dict[str, Any]]:
    """What a disposal notice's leaf says (facts: ids of records, codes and dates, no subject) and its
    purgeable payload (the subjects' internal ids, as the notice gave them)."""
    facts = {
        "event_id": str(event.event_id), "service": event.service,  # the service that signed it (kafka.py)
        "schedule_id": event.schedule_id, "rule_id": event.rule_id, "record_type": event.record_type.value,
        "record_ids": list(event.record_ids), "case_ids": [str(c) for c in event.case_ids],
        "related_record_ids": {k.value: list(v) for k, v in sorted(event.related_record_ids.items())},
        "subject_count": len(set(event.subject_ids)),
        "clock_started_on": event.clock_started_on.isoformat() if event.clock_started_on else None,
        "disposed_at": event.disposed_at.isoformat(), "run_id": str(event.run_id),
    }
    personal = {"subject_ids": sorted(str(s) for s in set(event.subject_ids))}
    return facts, personal


class HoldRequest(BaseModel):
    """A legal hold: by subject (a child's or carer's internal id), case (casework's case id) or record
    (a disclosure id, or `disclosure:<id>`). The reason is kept with the hold for as long as it exists."""

    model_config = ConfigDict(extra="forbid")

    scope: Literal["subject", "case", "record"]
    target_id: str = Field(min_length=1, max_length=100)
    reason: str = Field(min_length=1, max_length=500)

    @field_validator("target_id")
    @classmethod
    def _an_id(cls, value: str) -> str:
        text = value.strip().removeprefix(f"{RecordType.DISCLOSURE.value}:")
        try:
            return str(uuid.UUID(text))
        except ValueError:
            raise ValueError("target_id must be an id (a UUID; for a record, a disclosure id)") from None

    def target(self) -> str:
        """The target as the kit's holds name it (`LegalHolds.apply`): a record is `disclosure:<id>`."""
        return f"{RecordType.DISCLOSURE.value}:{self.target_id}" if self.scope == "record" else self.target_id


class HoldLift(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=500)
