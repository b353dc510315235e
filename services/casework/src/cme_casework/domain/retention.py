"""Which of casework's records fall due for disposal (issue 14, item 1; DOMAIN section 3), pure rules.

Sources: DOMAIN section 3 ("Retention: as long as necessary under the corporate records policy; default 7
years after case closure, configurable per category, with legal hold. At disposal the content goes; a
minimal tombstone (what, when, why disposed) stays"); UK GDPR Art 5(1)(e) (storage limitation: kept no
longer than necessary); LGA 1972 s224 and the FOI Act s46 Code of Practice on records management (a record
of what was destroyed, when and under which authority is kept: the tombstone).

Casework's record types (contracts.retention.RecordType):
- CASE: a case, its whole history (referrals, enquiries and their facts, escalations, notes and addenda,
  closure and its evidence, share proposals and decisions). Its clock is the case's closure
  (ClockStart.CASE_CLOSED). A case that is not closed (open, or reopened: a reopened case is not closed) is
  never due, whatever its earlier closures.
- RECORD_WITHOUT_CASE: a referral recorded, routed or held with no case (history entries with no case id),
  one record per referral (its intake id), clocked from the day it was recorded (ClockStart.RECORDED).
- EHE_RECORD: an elective home education record (issue 14, item 2), its history and its register entries,
  clocked from the record's closure (the schedule's `ehe_record` rule, ClockStart.CASE_CLOSED).

Decisions (casework's, documented in the README):
- A child's casework is kept while any of it is live: while the child has a case or an EHE record that is
  not closed, none of the child's closed cases, EHE records or records without a case falls due (the live
  one may draw on them: a referral's history, the time missing, an earlier closure's evidence, an EHE
  assessment that opened the case). A child has at most one case and one EHE record that is not closed (the
  database enforces both), so this only ever waits on those.
- A record without a case is kept at least as long as the child's cases: it falls due on its own date or
  the latest due date of the child's cases, whichever is later (it is part of the same child's record).
- Per-category rules: a case is disposed of as a whole. Each category the case holds may have its own rule
  (`RetentionSchedule.rule_for(record_type, category)`); the case falls due when the LONGEST of the rules
  that apply has run (the general rule and those of its categories), and that rule is the one named in the
  tombstone. A category rule can therefore keep a case longer (e.g. safeguarding), never dispose of part
  of one sooner: the history is folded whole (lifecycle.fold) and one entry cannot go without changing what
  the case says happened. A shorter category period is honoured by record types that hold that category
  alone.
- Legal holds (by subject, case or record) are applied afterwards (cme_shared.retention.LegalHolds.apply):
  a hold on any subject of a record (the child or a carer named in it) keeps it. So does a UK GDPR Art 18
  restriction in force on any of them (`restricted_keeps`): a restricted subject's data may only be stored
  (Art 18(2)), and a restriction asked for instead of erasure or for a legal claim (Art 18(1)(b), (c)) is
  exactly a request to keep it.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from uuid import UUID, uuid5
from zoneinfo import ZoneInfo

from cme_shared.contracts.categories import DataCategory
from cme_shared.contracts.retention import RecordType, RetentionRule, RetentionSchedule
from cme_shared.retention import Candidate, due_on

from . import ehe as ehe_domain
from .history import Entry, Kind
from .lifecycle import Status, fold

LONDON = ZoneInfo("Europe/London")
# What keeps a case whose own record does not bear out its closure (C1: the job decides only from the
# append-only history, which the running service's login can add to but never rewrite). Reported among the
# held, under this fixed id in `held_by` (it is no legal hold: the records officer looks at the case).
MISMATCH_HOLD = uuid5(UUID(int=0), "cme:casework:retention:history-mismatch")


@dataclass(frozen=True)
class HistoryClosure:
    """What a case's history says of its closure: closed or not, on which day, and why not trusted."""

    closed: bool
    closed_on: date | None
    problem: str | None = None  # a code: the dates the history gives cannot be right
    child_subject_id: UUID | None = None  # whom the history says the case is about
    carer_subject_ids: tuple[UUID, ...] = ()  # the carers the history names


def history_closure(entries: Sequence[Entry]) -> HistoryClosure:
    """A case is closed, and on which day, only if its history (lifecycle.fold) says so; and only on a day
    that can be true: not before the period it closes was opened, not after the day the closure was
    written (a closure dated ahead), and no period opened before the closure it reopens (a history that
    goes back in time). A closure whose dates cannot be right is `problem`, and never starts a clock."""
    state = fold(entries)
    who = {"child_subject_id": state.child_subject_id,
           "carer_subject_ids": tuple(UUID(str(c)) for c in state.carer_subject_ids)}
    if state.status is not Status.CLOSED or state.closure is None:
        return HistoryClosure(False, None, None if state.case_id else "no_history", **who)
    closed_on = state.closure["closed_on"]
    closing = next((e for e in reversed(entries) if e.kind is Kind.CASE_CLOSED), None)
    written_on = closing.recorded_at.astimezone(LONDON).date() if closing and closing.recorded_at else None
    problem = None
    if written_on is None or closed_on > written_on:
        problem = "closed_after_written"
    elif any(p.closed_on is not None and p.closed_on < p.opened_on for p in state.periods) or closed_on < state.period.opened_on:
        problem = "closed_before_opened"
    elif any(later.opened_on < (earlier.closed_on or later.opened_on)
             for earlier, later in zip(state.periods, state.periods[1:])):
        problem = "reopened_before_closed"
    return HistoryClosure(True, closed_on, problem, **who)


@dataclass(frozen=True)
class CaseFacts:
    """What the rules need of one case (ids, codes and dates only)."""

    case_id: UUID
    child_subject_id: UUID
    closed: bool  # status is closed (a reopened case is not)
    closed_on: date | None
    carer_subject_ids: tuple[UUID, ...] = ()
    categories: tuple[DataCategory, ...] = ()
    intake_ids: tuple[str, ...] = ()  # the referrals the case drew on (intake's records)
    # The `cases` projection's own status and closure day, where it disagrees with the history (None:
    # it agrees); the projection is the running service's and may have been rewritten.
    projected: tuple[bool, date | None] | None = None
    problem: str | None = None  # HistoryClosure.problem

    @property
    def trusted(self) -> bool:
        return self.projected is None and self.problem is None


def case_facts_from(case_id: UUID, child_subject_id: UUID, history: HistoryClosure, projected_closed: bool,
                    projected_closed_on: date | None, **rest: object) -> CaseFacts:
    """A case's facts: closed and when from its history, with the projection kept only if it disagrees."""
    agrees = (projected_closed, projected_closed_on if projected_closed else None) == (
        history.closed, history.closed_on if history.closed else None)
    problem = history.problem
    if problem is None and history.child_subject_id not in (None, child_subject_id):
        problem = "child_differs"
    carers = tuple(sorted(set(rest.pop("carer_subject_ids", ())) | set(history.carer_subject_ids), key=str))  # type: ignore[arg-type]
    return CaseFacts(case_id=case_id, child_subject_id=child_subject_id, closed=history.closed,
                     closed_on=history.closed_on, projected=None if agrees else (projected_closed, projected_closed_on),
                     problem=problem, carer_subject_ids=carers, **rest)  # type: ignore[arg-type]


@dataclass(frozen=True)
class LooseRecord:
    """A referral recorded with no case: the history entries it wrote (ids only)."""

    record_id: str  # the referral's intake id (or `entry-<id>` where an entry names none)
    child_subject_id: UUID
    recorded_on: date  # London's day the first of its entries was written
    entry_ids: tuple[int, ...]
    categories: tuple[DataCategory, ...] = ()
    carer_subject_ids: tuple[UUID, ...] = ()
    intake_id: str | None = None


@dataclass(frozen=True)
class EheFacts:
    """An elective home education record (issue 14, item 2): closed or not, and when (from its history)."""

    ehe_id: UUID
    child_subject_id: UUID
    closed: bool
    closed_on: date | None
    categories: tuple[DataCategory, ...] = ()
    intake_ids: tuple[str, ...] = ()
    projected: tuple[bool, date | None] | None = None  # the ehe_records row, where it disagrees
    problem: str | None = None

    @property
    def trusted(self) -> bool:
        return self.projected is None and self.problem is None


def ehe_history_closure(entries: Sequence["ehe_domain.EheEntry"]) -> HistoryClosure:
    """An EHE record is closed, and on which day, only as its history says (ehe.fold): not before its first
    notice, not after the day the closure was written."""
    state = ehe_domain.fold(entries)
    if state.ehe_id is None:
        return HistoryClosure(False, None, "no_history")
    if state.closed is None:
        return HistoryClosure(False, None, child_subject_id=state.child_subject_id)
    closed_on = state.closed["closed_on"]
    closing = next((e for e in reversed(entries) if e.kind is ehe_domain.EheKind.RECORD_CLOSED), None)
    written_on = closing.recorded_at.astimezone(LONDON).date() if closing and closing.recorded_at else None
    problem = ("closed_after_written" if written_on is None or closed_on > written_on
               else "closed_before_opened" if closed_on < state.notice_on else None)
    return HistoryClosure(True, closed_on, problem, child_subject_id=state.child_subject_id)


def ehe_facts_from(ehe_id: UUID, child_subject_id: UUID, history: HistoryClosure, projected_closed: bool,
                   projected_closed_on: date | None, **rest: object) -> EheFacts:
    agrees = (projected_closed, projected_closed_on if projected_closed else None) == (
        history.closed, history.closed_on if history.closed else None)
    problem = history.problem
    if problem is None and history.child_subject_id not in (None, child_subject_id):
        problem = "child_differs"
    return EheFacts(ehe_id=ehe_id, child_subject_id=child_subject_id, closed=history.closed,
                    closed_on=history.closed_on, projected=None if agrees else (projected_closed, projected_closed_on),
                    problem=problem, **rest)  # type: ignore[arg-type]


@dataclass
class Plan:
    """The candidates of one run, with what each disposal tells intake (the referrals it drew on)."""

    candidates: list[Candidate] = field(default_factory=list)
    referrals: dict[tuple[RecordType, str], tuple[str, ...]] = field(default_factory=dict)
    entry_ids: dict[str, tuple[int, ...]] = field(default_factory=dict)  # a record without a case's entries


def longest_rule(schedule: RetentionSchedule, record_type: RecordType, categories: Iterable[DataCategory],
                 started_on: date) -> RetentionRule:
    """The rule that keeps a record longest of the general one and those of its categories (the general
    rule on a tie, so a tombstone names a category rule only where it made a difference)."""
    best = schedule.rule_for(record_type)
    for category in sorted(set(categories), key=lambda c: c.value):
        rule = schedule.rule_for(record_type, category)
        if due_on(rule, started_on) > due_on(best, started_on):
            best = rule
    return best


def live_children(cases: Sequence[CaseFacts], ehe: Sequence["EheFacts"] = ()) -> frozenset[UUID]:
    """The children with live casework: a case or an EHE record that is not closed (by its history, or by
    the projection where the two disagree: the safe side)."""
    return frozenset({c.child_subject_id for c in cases if not c.closed or (c.projected and not c.projected[0])}
                     | {r.child_subject_id for r in ehe if not r.closed or (r.projected and not r.projected[0])})


def case_candidates(schedule: RetentionSchedule, cases: Sequence[CaseFacts], as_of: date,
                    live: frozenset[UUID] | None = None) -> list[Candidate]:
    """The closed cases due on `as_of` (before legal holds): closed, their longest rule run, and nothing of
    the same child still live (`live`: a case or an EHE record not closed)."""
    live_children_ = live_children(cases) if live is None else live
    due: list[Candidate] = []
    for case in cases:
        if not case.trusted:  # history and projection disagree, or the history's dates cannot be right
            claims = [d for d in (case.closed_on if case.closed else None,
                                  case.projected[1] if case.projected and case.projected[0] else None) if d]
            claimed = min(claims, default=None)  # the earliest either says: what a run could have acted on
            if claimed is not None:
                candidate = _case_candidate(schedule, case, claimed, (MISMATCH_HOLD,))
                if candidate.due_on <= as_of:
                    due.append(candidate)  # reported as held, never disposed of
            continue
        if not case.closed or case.closed_on is None or case.child_subject_id in live_children_:
            continue
        candidate = _case_candidate(schedule, case, case.closed_on)
        if candidate.due_on <= as_of:
            due.append(candidate)
    return due


def _case_candidate(schedule: RetentionSchedule, case: CaseFacts, closed_on: date,
                    held_by: tuple[UUID, ...] = ()) -> Candidate:
    rule = longest_rule(schedule, RecordType.CASE, case.categories, closed_on)
    return Candidate(
        record_type=RecordType.CASE, record_id=str(case.case_id), rule=rule, clock_started_on=closed_on,
        subject_ids=(case.child_subject_id, *sorted(set(case.carer_subject_ids) - {case.child_subject_id}, key=str)),
        case_ids=(case.case_id,), categories=tuple(sorted(set(case.categories), key=lambda c: c.value)),
        held_by=held_by)


def case_due_dates(schedule: RetentionSchedule, cases: Sequence[CaseFacts]) -> dict[UUID, date | None]:
    """Per child, the latest day any of their cases falls due (None: one is live, so never yet)."""
    latest: dict[UUID, date | None] = {}
    for case in cases:
        if latest.get(case.child_subject_id, date.min) is None:
            continue
        if not case.closed or case.closed_on is None or not case.trusted:
            latest[case.child_subject_id] = None
            continue
        rule = longest_rule(schedule, RecordType.CASE, case.categories, case.closed_on)
        latest[case.child_subject_id] = max(latest.get(case.child_subject_id, date.min) or date.min,
                                            due_on(rule, case.closed_on))
    return latest


def loose_candidates(schedule: RetentionSchedule, loose: Sequence[LooseRecord], cases: Sequence[CaseFacts],
                     as_of: date, live: frozenset[UUID] = frozenset()) -> list[Candidate]:
    """Records without a case due on `as_of`: their own period run, and the child's cases' too."""
    cases_due = case_due_dates(schedule, cases)
    due: list[Candidate] = []
    for record in loose:
        if record.child_subject_id in live or (record.child_subject_id in cases_due
                                                 and cases_due[record.child_subject_id] is None):
            continue  # the child has a live case or EHE record
        rule = longest_rule(schedule, RecordType.RECORD_WITHOUT_CASE, record.categories, record.recorded_on)
        candidate = Candidate(
            record_type=RecordType.RECORD_WITHOUT_CASE, record_id=record.record_id, rule=rule,
            clock_started_on=record.recorded_on,
            subject_ids=(record.child_subject_id,
                         *sorted(set(record.carer_subject_ids) - {record.child_subject_id}, key=str)),
            categories=tuple(sorted(set(record.categories), key=lambda c: c.value)))
        kept_until = max(candidate.due_on, cases_due.get(record.child_subject_id) or date.min)
        if kept_until <= as_of:
            due.append(candidate)
    return due


def ehe_candidates(schedule: RetentionSchedule, records: Sequence[EheFacts], cases: Sequence[CaseFacts],
                   as_of: date) -> list[Candidate]:
    """EHE records due on `as_of`: closed, their rule (ClockStart.CASE_CLOSED: the record's closure) run, and
    nothing of the child live (an unsuitable education opens a CME case, which may draw on the EHE record;
    a further notice reopens the child's EHE work, which may draw on the old one)."""
    live = live_children(cases, records)
    due: list[Candidate] = []
    for record in records:
        held_by: tuple[UUID, ...] = ()
        closed_on = record.closed_on if record.closed else None
        if not record.trusted:  # as for a case (C1): reported held, never disposed of
            claims = [d for d in (closed_on, record.projected[1] if record.projected and record.projected[0] else None)
                      if d]
            closed_on, held_by = min(claims, default=None), (MISMATCH_HOLD,)
        elif record.child_subject_id in live:
            continue
        if closed_on is None:
            continue
        rule = longest_rule(schedule, RecordType.EHE_RECORD, record.categories, closed_on)
        candidate = Candidate(
            record_type=RecordType.EHE_RECORD, record_id=str(record.ehe_id), rule=rule,
            clock_started_on=closed_on, subject_ids=(record.child_subject_id,),
            categories=tuple(sorted(set(record.categories), key=lambda c: c.value)), held_by=held_by)
        if candidate.due_on <= as_of:
            due.append(candidate)
    return due


def plan(schedule: RetentionSchedule, as_of: date, cases: Sequence[CaseFacts], loose: Sequence[LooseRecord] = (),
         ehe: Sequence[EheFacts] = ()) -> Plan:
    """Every record of casework's due on `as_of` (holds not yet applied), oldest clock first."""
    result = Plan()
    live = live_children(cases, ehe)
    for candidate in (case_candidates(schedule, cases, as_of, live) + loose_candidates(schedule, loose, cases, as_of, live)
                      + ehe_candidates(schedule, ehe, cases, as_of)):
        result.candidates.append(candidate)
    result.candidates.sort(key=lambda c: (c.clock_started_on, c.record_type.value, c.record_id))
    by_case = {str(c.case_id): c.intake_ids for c in cases}
    by_loose = {r.record_id: (r.intake_id,) if r.intake_id else () for r in loose}
    result.entry_ids = {r.record_id: r.entry_ids for r in loose}
    by_ehe = {str(r.ehe_id): r.intake_ids for r in ehe}
    for c in result.candidates:
        source = {RecordType.CASE: by_case, RecordType.RECORD_WITHOUT_CASE: by_loose,
                  RecordType.EHE_RECORD: by_ehe}[c.record_type]
        result.referrals[(c.record_type, c.record_id)] = tuple(sorted(set(source.get(c.record_id, ()))))
    return result


def restricted_keeps(candidates: Iterable[Candidate], restricted: dict[UUID, UUID]) -> list[Candidate]:
    """Candidates with the rights requests of Art 18 restrictions in force on any of their subjects added to
    `held_by` (`restricted`: subject -> the request that restricted it): kept, and reported as held."""
    out: list[Candidate] = []
    for c in candidates:
        requests = {restricted[s] for s in c.subject_ids if s in restricted}
        if requests:
            c = Candidate(**{**c.__dict__, "held_by": tuple(sorted(set(c.held_by) | requests, key=str))})
        out.append(c)
    return out
