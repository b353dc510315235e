"""When disclosure's own records fall due, and what the log says of a disposal. Pure.

Sources: DOMAIN section 3 ("Retention: ... default 7 years after case closure (configurable per category),
with legal hold. At disposal the content goes; a minimal tombstone (what, when, why disposed) stays");
UK GDPR Art 5(1)(e) (storage limitation: kept no longer than necessary); LGA 1972 s224 and the FOI Act
s46 Code of Practice on records management (a record of what was destroyed, when and under which
authority is kept); DOMAIN section 4 (every share is recorded and the log is append-only and
tamper-evident: a disposal is itself a leaf, and no leaf is ever removed).

A disclosure record (RecordType.DISCLOSURE) runs "as long as the case" (rule `disclosure.7y` of the
default schedule, clock from the case's closure). Disclosure does not know cases: it learns of them
when the service that holds them disposes of them (`RecordsDisposed` on cme.retention.disposals.v1).
Each such notice of a case, an elective home education record or a child's identity (the record types
in FALLS_DUE_WITH) is a *mark* on each of its subjects, dated by the notice's `clock_started_on` (the
closure the case's period ran from). A disclosure falls under a mark when the mark's date is on or after
the day the disclosure was made: a share made while the case was open (or before it) is part of that
case; a share made after that closure belongs to a later case, which must be disposed of first.
A disclosure about several children is due only when every one of them has such a mark; its clock runs
from the latest of their closures. A notice may also name disclosures directly
(`related_record_ids["disclosure"]`): those run from its `clock_started_on` alone.
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

# Notices whose subjects' disclosures fall due with them: a case and its history, an EHE record, the
# child's identity (intake disposes of it after their last case). A referral, a dead letter, a rights
# request or a record without a case says nothing about when a share's case ended.
FALLS_DUE_WITH = frozenset({RecordType.CASE, RecordType.EHE_RECORD, RecordType.IDENTITY})

# `purge-disclosure <id> --reason`: a disposal by hand, before or without the schedule (a records
# officer's decision, e.g. a record made in error). It takes the same path and honours holds; its
# tombstone names this rule.
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
class Mark:
    """A subject's record disposed of upstream, with the closure its period ran from."""

    subject_id: uuid.UUID
    clock_started_on: date


def marks_of(event: RecordsDisposed) -> list[Mark]:
    """The marks a disposal notice puts on its subjects (none when its record type does not end a case,
    or when it names no closure date)."""
    if event.record_type not in FALLS_DUE_WITH or event.clock_started_on is None:
        return []
    return [Mark(s, event.clock_started_on) for s in dict.fromkeys(event.subject_ids)]


def clock_for(made_on: date, subject_ids: Sequence[uuid.UUID], marks: Mapping[uuid.UUID, Sequence[date]]) -> date | None:
    """The date a disclosure's retention runs from, or None while some subject has no mark covering it.

    For each subject: the first closure on or after the day the disclosure was made (the case it was
    part of); for the disclosure: the latest of these (it is kept as long as the longest of its cases)."""
    if not subject_ids:
        return None
    starts = []
    for subject in subject_ids:
        covering = [d for d in marks.get(subject, ()) if d >= made_on]
        if not covering:
            return None
        starts.append(min(covering))
    return max(starts)


def candidates(schedule: RetentionSchedule, disclosures: Iterable[Disclosure],
               marks: Mapping[uuid.UUID, Sequence[date]], named: Mapping[uuid.UUID, date], as_of: date) -> list[Candidate]:
    """The disclosures due on `as_of` under the schedule in force (holds are applied after: the caller
    keeps a held one). `named`: disclosures a notice named directly, with its clock start."""
    rule = schedule.rule_for(RecordType.DISCLOSURE)
    out = []
    for d in disclosures:
        starts = [s for s in (clock_for(d.made_on, d.subject_ids, marks), named.get(d.disclosure_id)) if s is not None]
        if not starts:
            continue
        candidate = Candidate(record_type=RecordType.DISCLOSURE, record_id=str(d.disclosure_id),
                              rule=_rule_for(schedule, rule, d.categories), clock_started_on=max(starts),
                              subject_ids=d.subject_ids, categories=d.categories)
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
