"""Retention and disposal in casework (issue 14, item 1): the one disposal path, legal holds, the report.

`run_disposal` is `python -m cme_casework dispose`: on the disposal job's own login (the only one the
history tables let remove a row), it plans what the schedule says is due (domain/retention.py), keeps what
a legal hold or an Art 18 restriction keeps, and disposes of each other record in a transaction of its own:
its content removed, one tombstone written, and `RecordsDisposed` put in the outbox for the running
service's relay to send (intake disposes of the referrals named in `related_record_ids`; disclosure logs a
leaf). A crash between two records loses nothing and a rerun disposes of nothing twice: a disposed record
is gone from the plan and its tombstone is written once. Holds are checked again inside each record's own
transaction, so a hold placed while a run is under way keeps the records it names.

There is no other way content leaves casework's history: no route deletes, and the runtime login cannot
(the trigger refuses it), so every disposal passes the hold check here.
"""

from collections.abc import Callable, Sequence
from datetime import date
from uuid import UUID, uuid4

from cme_shared.contracts import topics
from cme_shared.contracts.retention import LegalHoldChanged, RecordType, RetentionSchedule
from cme_shared.logging import get_logger
from cme_shared.retention import Candidate, DisposalReport, Hold, disposed_event, hold_event

from ..adapters.access_log import SERVICE
from ..adapters.unit_of_work import CaseworkUnitOfWork
from ..domain.errors import RecordNotFound, TransitionRefused
from ..domain.retention import CaseFacts, EheFacts, Plan, plan, restricted_keeps

log = get_logger(__name__)


async def planned(uow: CaseworkUnitOfWork, schedule: RetentionSchedule, as_of: date) -> tuple[list[Candidate], Plan]:
    """What is due on `as_of`, each with the holds (legal holds, restrictions) that keep it. Takes the hold
    lock first (a hold being placed waits for this transaction, or is seen by it)."""
    records = uow.retention
    await records.holds.lock()
    cases, ehe = await records.case_facts(), await records.ehe_facts()
    _warn_untrusted(cases, ehe)
    loose = await records.loose_records()
    due = plan(schedule, as_of, cases, loose, ehe)
    return await _kept(uow, due.candidates), due


def _warn_untrusted(cases: Sequence[CaseFacts], ehe: Sequence[EheFacts]) -> None:
    """C1: a case (or EHE record) whose projection disagrees with its history, or whose history's dates
    cannot be right, is never disposed of; the records officer is told (ids and codes only)."""
    for case in cases:
        if not case.trusted:
            log.warning("retention_case_history_mismatch", case_id=str(case.case_id),
                        reason=case.problem or "projection_differs")
    untrusted = [r for r in ehe if not r.trusted]  # their ids are in the report (the log has no EHE id key)
    if untrusted:
        log.warning("retention_ehe_history_mismatch", count=len(untrusted),
                    reasons=sorted({r.problem or "projection_differs" for r in untrusted}))


async def _kept(uow: CaseworkUnitOfWork, candidates: Sequence[Candidate]) -> list[Candidate]:
    """The candidates with what keeps them: those already kept (a history mismatch), legal holds in force
    and Art 18 restrictions. The caller holds the hold lock."""
    applied = await uow.retention.holds.apply(candidates)
    held = [Candidate(**{**a.__dict__, "held_by": tuple(sorted(set(a.held_by) | set(c.held_by), key=str))})
            for a, c in zip(applied, candidates, strict=True)]
    restricted = await uow.retention.restricted_subjects([s for c in held for s in c.subject_ids])
    return restricted_keeps(held, restricted)


async def report(uow: CaseworkUnitOfWork, schedule: RetentionSchedule, as_of: date) -> DisposalReport:
    """The records officer's dry run: what a run on `as_of` would dispose of, and what holds keep."""
    candidates, _ = await planned(uow, schedule, as_of)
    return DisposalReport.of(SERVICE, uuid4(), schedule, as_of, True, candidates)


async def dispose_one(uow: CaseworkUnitOfWork, schedule: RetentionSchedule, run_id: UUID, candidate: Candidate,
                      due: Plan) -> bool:
    """Dispose of one record in `uow` (the caller commits): False if it was disposed of already, is held now,
    or changed since it was planned (a case reopened)."""
    records = uow.retention
    await records.holds.lock()  # before the holds are read: a hold committed meanwhile is seen, or waits
    late = False  # a record without a case whose later entries go under the tombstone it already has
    if await records.tombstones.exists(candidate.record_type, candidate.record_id):
        if candidate.record_type is not RecordType.RECORD_WITHOUT_CASE:
            return False
        late = True
    [candidate] = await _kept(uow, [candidate])
    if candidate.held_by:
        return False
    referrals = list(due.referrals.get((candidate.record_type, candidate.record_id), ()))
    if candidate.record_type is RecordType.CASE:
        # The history again, in this transaction: still closed on the planned day, and still trusted.
        [facts] = await records.case_facts(UUID(candidate.record_id)) or [None]
        if facts is None or not facts.trusted or not facts.closed or facts.closed_on != candidate.clock_started_on:
            return False
        removed = await records.remove_case(UUID(candidate.record_id), candidate.clock_started_on, referrals)
    elif candidate.record_type is RecordType.RECORD_WITHOUT_CASE:
        removed = await records.remove_loose(due.entry_ids.get(candidate.record_id, ())) > 0
    else:
        [ehe] = await records.ehe_facts(UUID(candidate.record_id)) or [None]
        if ehe is None or not ehe.trusted or not ehe.closed or ehe.closed_on != candidate.clock_started_on:
            return False
        removed = await records.remove_ehe(UUID(candidate.record_id), candidate.clock_started_on)
    if not removed or late:  # late: the record's tombstone and event were written at its first disposal
        return removed
    now = uow.clock.now()
    await records.tombstones.add(candidate, schedule_id=schedule.schedule_id, run_id=run_id, now=now)
    event = disposed_event(SERVICE, schedule, run_id, now, [candidate],
                           related={RecordType.REFERRAL: referrals} if referrals else None)
    await uow.outbox.add(topics.RETENTION_DISPOSALS, event, aggregate_type="disposal",
                         aggregate_id=f"{candidate.record_type.value}:{candidate.record_id}")
    return True


async def run_disposal(unit_of_work: Callable[[], CaseworkUnitOfWork], schedule: RetentionSchedule, as_of: date,
                       *, dry_run: bool = False, run_id: UUID | None = None) -> DisposalReport:
    """One run of the disposal job: plan in one transaction, then each record in its own."""
    run_id = run_id or uuid4()
    async with unit_of_work() as uow:
        candidates, due = await planned(uow, schedule, as_of)
    if dry_run:
        return DisposalReport.of(SERVICE, run_id, schedule, as_of, True, candidates)
    done: list[Candidate] = []
    for candidate in candidates:
        if candidate.held_by:
            done.append(candidate)
            continue
        async with unit_of_work() as uow:
            if await dispose_one(uow, schedule, run_id, candidate, due):
                await uow.commit()
                done.append(candidate)
            else:  # held since it was planned: report it so; otherwise it is simply not this run's
                [now_held] = await _kept(uow, [candidate])
                if now_held.held_by:
                    done.append(now_held)
    return DisposalReport.of(SERVICE, run_id, schedule, as_of, False, done)


# --- legal holds (records officer, DPO) -------------------------------------------------------------------

async def place_hold(uow: CaseworkUnitOfWork, scope: str, target_id: UUID, reason: str, placed_by: str) -> Hold:
    """A legal hold on a subject (the child or a carer: every casework record about them) or a case. A case
    must exist here (404) and not be disposed of already (409); a subject may be held before casework has
    any record of them (a claim can precede the referral)."""
    if scope == "case":
        if await uow.retention.tombstones.exists(RecordType.CASE, str(target_id)):
            raise TransitionRefused("already_disposed", "this case was disposed of under the retention schedule",
                                    ["body", "target_id"])
        if not await uow.retention.case_exists(target_id):
            raise RecordNotFound("case_not_found", "no such case", ["body", "target_id"])
    hold = await uow.retention.holds.place(scope, str(target_id), reason, placed_by, uow.clock.now())
    await _tell_others(uow, hold, "placed")
    return hold


async def _tell_others(uow: CaseworkUnitOfWork, hold: Hold, change: str) -> None:
    """A hold on a subject or a case keeps that subject's or case's records in every service: the others
    learn of it from LegalHoldChanged (cme.retention.legal-holds.v1), in the same transaction."""
    event = hold_event(SERVICE, hold, change, uow.clock.now())
    if event is not None:
        await uow.outbox.add(topics.LEGAL_HOLDS, event, aggregate_type="legal_hold", aggregate_id=str(hold.hold_id))


async def on_legal_hold_changed(uow: CaseworkUnitOfWork, event: LegalHoldChanged) -> None:
    """Another service placed or lifted a hold on a subject or a case: casework keeps the same hold (its
    own id), so the disposal job here honours it. Casework's own events come back too: ignored. Mirroring
    is idempotent and order-proof (a lifting that arrives first is kept, lifted)."""
    if event.service == SERVICE:
        return
    await uow.retention.holds.mirror(event)


async def lift_hold(uow: CaseworkUnitOfWork, hold_id: UUID, reason: str, lifted_by: str) -> Hold:
    lifted = await uow.retention.holds.lift(hold_id, lifted_by, reason, uow.clock.now())
    if lifted is not None:
        await _tell_others(uow, lifted, "lifted")
        return lifted
    if await uow.retention.holds.get(hold_id) is None:
        raise RecordNotFound("hold_not_found", "no such legal hold", ["path", "hold_id"])
    raise TransitionRefused("hold_already_lifted", "this legal hold was lifted already", ["path", "hold_id"])
