"""When a rights request falls due for disposal (pure; issue 14, item 1).

The law and the council's rules:
- UK GDPR Art 5(1)(e), storage limitation: personal data is kept no longer than necessary; DOMAIN section 3:
  retention per the council's schedule (configurable per category), legal hold, and at disposal "the content
  goes; a minimal tombstone (what, when, why disposed) stays".
- Local Government Act 1972 s224 and the Code of Practice under FOI Act 2000 s46: the council keeps a record
  of what it destroyed, when and under which authority (the tombstone).
- The schedule's rule for a rights request (`RecordType.RIGHTS_REQUEST`) runs from its completion
  (`ClockStart.COMPLETED`); the default is 7 years (cme_shared.retention.DEFAULT_SCHEDULE).

What "completed" means here (rights has no withdrawal: a request is answered, or refused with reasons, and
either way released by a DPO):
- a request is completed when its response was released (`responded`); the day is London's day of the
  release (`approved_at`). An Art 12(5) refusal is released the same way, so it completes the same way.
- a released request with a proposal still waiting for the DPO (a restriction's lift) is not completed;
- a request whose decision still restricts processing (an Art 18 restriction not lifted, an objection upheld,
  an erasure granted: each sent `SubjectRestricted`) is not completed: the restriction runs on, and the
  request is its record (Art 18(3): the requester is told before it is lifted);
- a request never released (waiting for identity, a fee, a decision, the DPO) is not completed, so never
  disposed of: the worklist shows it.
A complaint is a request of its own, with its own completion; it is not disposed of with the request it is
about (nothing links them), nor that request with it.

A request is one record, disposed of at once: where the schedule has category rules for rights requests,
the request is kept until the last of them runs out for the categories its response held (and the general
rule's period), never shorter than any of them.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from uuid import UUID

from cme_shared.clock import LONDON
from cme_shared.contracts.categories import DataCategory
from cme_shared.contracts.retention import RecordType, RetentionRule, RetentionSchedule
from cme_shared.retention import Candidate, due_on

from .requests import Status

RECORD_TYPE = RecordType.RIGHTS_REQUEST
COMPLETED = frozenset({Status.RESPONDED})
# The decisions that restrict processing (each sent SubjectRestricted), as (kind, outcome); a restriction's
# lift (decision kind `restriction_lifted`) ends the restriction of a restriction request.
RESTRICTING = frozenset({("restriction", "restricted"), ("objection", "upheld"), ("erasure", "granted")})
# A request always holds the requester's and the subject's names and contact details.
OWN_CATEGORY = DataCategory.CONTACT


@dataclass(frozen=True)
class RequestForRetention:
    """What the schedule needs of one request: ids, codes and dates only."""

    request_id: UUID
    status: str
    released_at: datetime | None
    proposal_pending: bool
    restriction_in_force: bool
    subject_ids: tuple[UUID, ...]
    categories: tuple[DataCategory, ...] = ()


def completed_on(request: RequestForRetention) -> date | None:
    """The day the request was completed (London's day of its release), or None while it is not."""
    if Status(request.status) not in COMPLETED or request.released_at is None:
        return None
    if request.proposal_pending or request.restriction_in_force:
        return None
    return request.released_at.astimezone(LONDON).date()


def restriction_in_force(decisions: Iterable[Mapping[str, Any]]) -> bool:
    """Whether the request's decisions (`kind`, `decision`) still restrict processing."""
    listed = list(decisions)
    restricts = any((d["kind"], (d["decision"] or {}).get("outcome")) in RESTRICTING for d in listed)
    lifted = any(d["kind"] == "restriction_lifted" for d in listed)
    return restricts and not lifted


def rule_for(schedule: RetentionSchedule, categories: Iterable[DataCategory], started_on: date) -> RetentionRule:
    """The rule that keeps the request longest: the general one or a category's (see the module)."""
    rules = [schedule.rule_for(RECORD_TYPE)] + [schedule.rule_for(RECORD_TYPE, c) for c in categories]
    return max(rules, key=lambda r: (due_on(r, started_on), r.category is not None))


def candidate(request: RequestForRetention, schedule: RetentionSchedule) -> Candidate | None:
    """The request as a disposal candidate (due or not), or None while it is not completed."""
    started = completed_on(request)
    if started is None:
        return None
    categories = tuple(sorted({OWN_CATEGORY, *request.categories}, key=lambda c: c.value))
    return Candidate(record_type=RECORD_TYPE, record_id=str(request.request_id),
                     rule=rule_for(schedule, categories, started), clock_started_on=started,
                     subject_ids=request.subject_ids, categories=categories)


def due(candidates: Iterable[Candidate], as_of: date) -> list[Candidate]:
    """Those whose period has run out by `as_of` (the first day a record may go is its `due_on`)."""
    return [c for c in candidates if c.due_on <= as_of]


def categories_of(values: Iterable[Any]) -> tuple[DataCategory, ...]:
    """The data categories named in a stored response (unknown codes are ignored)."""
    known = {c.value: c for c in DataCategory}
    return tuple(sorted({known[v] for v in values if isinstance(v, str) and v in known}, key=lambda c: c.value))
