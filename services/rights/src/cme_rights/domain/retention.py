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
  release line in the append-only audit trail (`approved_and_released`, its time the database's: migration
  0008), never `rights_requests.approved_at`, which the running service's login may rewrite. An Art 12(5)
  refusal is released the same way, so it completes the same way. The projection is cross-checked: a request
  the row says is released but whose history has no release line (or the other way round, or whose release
  times disagree by more than a day), or whose release is dated after the run or before the request was
  recorded, is not disposed of and is reported (UK GDPR Art 5(1)(f) integrity: a forged date destroys no record);
- a released request with a proposal still waiting for the DPO (a restriction's lift) is not completed;
- a request whose decision still restricts processing (an Art 18 restriction not lifted, an objection upheld,
  an erasure granted: each sent `SubjectRestricted`) is not completed: the restriction runs on, and the
  request is its record (Art 18(3): the requester is told before it is lifted). Nor is any other request
  about the same subject disposed of meanwhile (reported as held by the restricting request);
- a request never released (waiting for identity, a fee, a decision, the DPO; or received and never worked)
  is abandoned once nothing has happened to it for the rule's period: the same rule runs from its last
  recorded activity (the latest line of its audit trail, clock history or decisions), so it is not kept for
  ever (Art 5(1)(e)). Any new line restarts the period.
A complaint is a request of its own, with its own completion; it is not disposed of with the request it is
about (nothing links them), nor that request with it.

A request is one record, disposed of at once: where the schedule has category rules for rights requests,
the request is kept until the last of them runs out for the categories its response held (and the general
rule's period), never shorter than any of them.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import Any
from uuid import UUID

from cme_shared.clock import LONDON
from cme_shared.contracts.categories import DataCategory
from cme_shared.contracts.retention import RecordType, RetentionRule, RetentionSchedule
from cme_shared.retention import Candidate, due_on, statement

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
    """What the schedule needs of one request: ids, codes and dates only. `released_at`, `first_recorded_at`
    and `last_activity_at` come from the append-only history; `status` and `approved_at` from the row."""

    request_id: UUID
    status: str
    released_at: datetime | None  # the audit trail's release line
    proposal_pending: bool
    restriction_in_force: bool
    subject_ids: tuple[UUID, ...]
    categories: tuple[DataCategory, ...] = ()
    approved_at: datetime | None = None  # the row's (projection), cross-checked only
    first_recorded_at: datetime | None = None
    last_activity_at: datetime | None = None


@dataclass(frozen=True)
class Anomaly:
    """A request the job will not dispose of because its row and its history disagree (or its dates are
    impossible): reported for the records officer, by id and code."""

    request_id: UUID
    code: str


AGREEMENT = timedelta(days=1)  # the row's release time and the audit line's are written in one transaction


def anomaly(request: RequestForRetention, now: datetime) -> str | None:
    """Why the request's dates cannot be believed, or None."""
    projected = Status(request.status) in COMPLETED or request.approved_at is not None
    if request.released_at is None:
        return "released_without_history" if projected else None
    if Status(request.status) not in COMPLETED or request.approved_at is None:
        return "history_released_row_not"
    if abs(request.approved_at - request.released_at) > AGREEMENT:
        return "release_times_disagree"
    if request.released_at > now:
        return "clock_start_in_future"
    if request.first_recorded_at is not None and request.released_at < request.first_recorded_at:
        return "clock_start_before_record"
    return None


def completed_on(request: RequestForRetention) -> date | None:
    """The day the request was completed (London's day of its release line), or None while it is not."""
    if Status(request.status) not in COMPLETED or request.released_at is None:
        return None
    if request.proposal_pending or request.restriction_in_force:
        return None
    return request.released_at.astimezone(LONDON).date()


def abandoned_since(request: RequestForRetention, now: datetime) -> date | None:
    """For a request never released (and restricting nothing): London's day of its last recorded activity."""
    if request.released_at is not None or Status(request.status) in COMPLETED or request.restriction_in_force:
        return None
    if request.last_activity_at is None or request.last_activity_at > now:
        return None  # no history, or an impossible one: never due
    return request.last_activity_at.astimezone(LONDON).date()


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


ABANDONED_WORDS = ("A data-protection request that is never completed (for example one still waiting for proof "
                   "of identity or a fee) is kept for the same period as an answered one, counted from the last "
                   "thing done on it.")


def pack_statement(schedule: RetentionSchedule) -> str:
    """The access pack's retention statement (Art 15(1)(d)): the schedule in force (the kit's words), and how
    the rights request rule runs for a request never completed (`abandoned_since`)."""
    return f"{statement(schedule)} {ABANDONED_WORDS}"


def candidate(request: RequestForRetention, schedule: RetentionSchedule,
              now: datetime | None = None) -> Candidate | None:
    """The request as a disposal candidate (due or not): from its completion, or (abandoned) from its last
    activity; None while it is neither (or its dates cannot be believed: see `anomaly`)."""
    if now is not None and anomaly(request, now) is not None:
        return None
    started = completed_on(request)
    if started is None and now is not None:
        started = abandoned_since(request, now)
    if started is None:
        return None
    categories = tuple(sorted({OWN_CATEGORY, *request.categories}, key=lambda c: c.value))
    return Candidate(record_type=RECORD_TYPE, record_id=str(request.request_id),
                     rule=rule_for(schedule, categories, started), clock_started_on=started,
                     subject_ids=request.subject_ids, categories=categories)


def restricted_subjects(requests: Iterable[RequestForRetention]) -> dict[UUID, UUID]:
    """Subject -> the request whose Art 18 restriction (or upheld objection, granted erasure) is in force."""
    out: dict[UUID, UUID] = {}
    for r in requests:
        if r.restriction_in_force:
            for s in r.subject_ids:
                out.setdefault(s, r.request_id)
    return out


def restricted_keeps(candidates: Iterable[Candidate], restricted: Mapping[UUID, UUID]) -> list[Candidate]:
    """Candidates with the restricting requests of any of their subjects added to `held_by` (Art 18(2): a
    restricted subject's data is only stored): kept, and reported as held."""
    out: list[Candidate] = []
    for c in candidates:
        by = {restricted[s] for s in c.subject_ids if s in restricted} - {UUID(c.record_id)}
        if by:
            c = replace(c, held_by=tuple(sorted(set(c.held_by) | by, key=str)))
        out.append(c)
    return out


def due(candidates: Iterable[Candidate], as_of: date) -> list[Candidate]:
    """Those whose period has run out by `as_of` (the first day a record may go is its `due_on`)."""
    return [c for c in candidates if c.due_on <= as_of]


def categories_of(values: Iterable[Any]) -> tuple[DataCategory, ...]:
    """The data categories named in a stored response (unknown codes are ignored)."""
    known = {c.value: c for c in DataCategory}
    return tuple(sorted({known[v] for v in values if isinstance(v, str) and v in known}, key=lambda c: c.value))
