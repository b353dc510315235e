"""Retention and disposal in disclosure (issue 14, item 1; DOMAIN section 3; domain/retention.py).

- `on_records_disposed`: another service (or disclosure's own job) disposed of records. The log gets one
  leaf for the notice (ids, codes and dates; the subjects' ids in its purgeable payload), once per event
  id, and the notice is kept (`disposal_notices`): a case's notice makes the disclosures about its
  subjects fall due under the schedule's disclosure rule. Nothing is disposed of here: the running
  service does not hold the disposal login.
- `dispose`: the disposal job (`python -m cme_disclosure dispose`, on the disposal login): what is due and
  not held goes through `dispose_one`, the one purge path, which `purge` (`purge-disclosure`) uses too.
- `dispose_one`: the payloads of the record's leaves are emptied and a purge leaf names them (the leaves,
  the tree and every earlier inclusion proof stay valid: a leaf commits to its payload's digest, never to
  the payload being there); the row's people and words, its subject links and its withholdings' words go;
  published replies that quoted it go (SEC-18); one tombstone; one `RecordsDisposed` per run and rule.
- Legal holds: placed and lifted by the records officer or the DPO; a hold on the record, on any of its
  subjects or on a case keeps it (`LegalHolds.apply`), whichever path would dispose of it.
"""

import uuid
from collections import defaultdict
from datetime import date

from cme_shared.contracts import topics
from cme_shared.contracts.retention import RecordsDisposed, RecordType
from cme_shared.refusal import Refusal
from cme_shared.retention import Candidate, DisposalReport, Hold, disposed_event

from ..adapters.unit_of_work import SERVICE, DisclosureUnitOfWork
from ..domain.entries import LeafKind, entry
from ..domain.retention import MANUAL_RULE, HoldLift, HoldRequest, candidates, disposal_leaf
from .log import record_in_log, record_unbound

DISPOSAL_AGGREGATE = "disposal_run"


async def on_records_disposed(uow: DisclosureUnitOfWork, event: RecordsDisposed) -> None:
    """A disposal notice: one leaf, once per event id, and the notice kept for the disposal job."""
    if await uow.retention.notice_recorded(event.event_id):
        return
    now = uow.clock.now()
    facts, personal = disposal_leaf(event)
    [index] = await record_unbound(uow, [entry(LeafKind.DISPOSED, str(event.event_id), now, facts, personal)])
    await uow.retention.add_notice({
        "event_id": event.event_id, "service": event.service, "record_type": event.record_type.value,
        "schedule_id": event.schedule_id, "rule_id": event.rule_id, "run_id": event.run_id,
        "record_ids": list(event.record_ids), "subject_ids": list(dict.fromkeys(event.subject_ids)),
        "case_ids": list(dict.fromkeys(event.case_ids)),
        "disclosure_ids": [uuid.UUID(i) for i in event.related_record_ids.get(RecordType.DISCLOSURE, [])
                           if _is_uuid(i)],
        "clock_started_on": event.clock_started_on, "disposed_at": event.disposed_at, "leaf_index": index,
        "received_at": now,
    })


def _is_uuid(text: str) -> bool:
    try:
        uuid.UUID(text)
        return True
    except ValueError:
        return False


async def due(uow: DisclosureUnitOfWork, as_of: date) -> list[Candidate]:
    """The disclosures due on `as_of` under the schedule in force, each with the legal holds that keep it."""
    marks = await uow.retention.marks()
    named = await uow.retention.named()
    kept = await uow.retention.kept_disclosures(list(marks), list(named))
    return await uow.holds.apply(candidates(uow.schedule, kept, marks, named, as_of))


async def report(uow: DisclosureUnitOfWork, as_of: date) -> DisposalReport:
    """The records officer's dry-run report: what a run on `as_of` would dispose of, and what is held."""
    return DisposalReport.of(SERVICE, uuid.uuid4(), uow.schedule, as_of, True, await due(uow, as_of))


async def dispose(uow: DisclosureUnitOfWork, as_of: date, run_id: uuid.UUID, dry_run: bool = False) -> DisposalReport:
    """The disposal job's run: every disclosure due and not held is disposed of (the dry run changes
    nothing). A rerun finds nothing more: a disposed record is no longer kept, its tombstone is there."""
    found = await due(uow, as_of)
    done = DisposalReport.of(SERVICE, run_id, uow.schedule, as_of, dry_run, found)
    if dry_run:
        return done
    disposed = [c for c in found if not c.held_by]
    for candidate in disposed:
        await dispose_one(uow, candidate, run_id, "schedule")
    await _announce(uow, run_id, disposed)
    return done


async def dispose_one(uow: DisclosureUnitOfWork, candidate: Candidate, run_id: uuid.UUID, reason: str,
                      words: str | None = None) -> list[int]:
    """The one purge path: returns the leaves whose payloads were emptied. `reason` is a code (schedule,
    manual) kept in the leaf and the tombstone; `words` (the records officer's, by hand) only in the
    purge leaf's payload."""
    if candidate.held_by:
        raise Refusal(409, "legal_hold", "a legal hold in force keeps this record")
    disclosure_id = uuid.UUID(candidate.record_id)
    now = uow.clock.now()
    purged = await uow.log.purge_payloads(await uow.disclosures.leaf_indices(disclosure_id), reason, now)
    # The purge is itself a leaf naming the payloads it removed (verify-log requires one for every payload
    # found NULL) and the rule, run and dates it was disposed of under.
    schedule_id = "manual" if candidate.rule.rule_id == MANUAL_RULE.rule_id else uow.schedule.schedule_id
    facts = {"purged_leaves": purged, "reason": reason, "schedule_id": schedule_id, "rule_id": candidate.rule.rule_id,
             "run_id": str(run_id), "clock_started_on": candidate.clock_started_on.isoformat(),
             "due_on": candidate.due_on.isoformat()}
    await record_in_log(uow, disclosure_id, [entry(LeafKind.PURGED, str(disclosure_id), now, facts,
                                                   {"reason": words} if words else {})])
    await uow.disclosures.forget_people(disclosure_id, now)
    await uow.retention.blank_withholdings(disclosure_id)
    await uow.retention.forget_copies(disclosure_id)
    await uow.tombstones.add(candidate, schedule_id=schedule_id, run_id=run_id, now=now, reason=reason)
    return purged


async def _announce(uow: DisclosureUnitOfWork, run_id: uuid.UUID, disposed: list[Candidate]) -> None:
    """One RecordsDisposed per rule on cme.retention.disposals.v1 (SEC-18: the others hold copies; the
    log gets its leaf for it like any other)."""
    by_rule: dict[str, list[Candidate]] = defaultdict(list)
    for c in disposed:
        by_rule[c.rule.rule_id].append(c)
    for group in by_rule.values():
        schedule = uow.schedule
        event = disposed_event(SERVICE, schedule, run_id, uow.clock.now(), group)
        if group[0].rule.rule_id == MANUAL_RULE.rule_id:
            event = event.model_copy(update={"schedule_id": "manual"})
        await uow.outbox.add(topics.RETENTION_DISPOSALS, event, aggregate_type=DISPOSAL_AGGREGATE,
                             aggregate_id=str(run_id))


async def purge(uow: DisclosureUnitOfWork, disclosure_id: uuid.UUID, reason: str,
                run_id: uuid.UUID | None = None) -> int:
    """`purge-disclosure`: dispose of one disclosure by hand, by the same path as the schedule, and only
    if no legal hold keeps it (409 legal_hold). Returns how many payloads were emptied."""
    found = await uow.retention.disclosure(disclosure_id)
    if found is None:
        if await uow.disclosures.get(disclosure_id) is None:
            raise Refusal(404, "not_found", "no such disclosure")
        raise Refusal(409, "already_disposed", "this disclosure has been disposed of already")
    today = uow.clock.today()
    [candidate] = await uow.holds.apply([Candidate(
        record_type=RecordType.DISCLOSURE, record_id=str(disclosure_id), rule=MANUAL_RULE, clock_started_on=today,
        subject_ids=found.subject_ids, categories=found.categories)])
    run_id = run_id or uuid.uuid4()
    purged = await dispose_one(uow, candidate, run_id, "manual", words=reason)
    await _announce(uow, run_id, [candidate])
    return len(purged)


# Legal holds (the records officer, the DPO) ------------------------------------------------------------

async def place_hold(uow: DisclosureUnitOfWork, body: HoldRequest, placed_by: str) -> Hold:
    return await uow.holds.place(body.scope, body.target(), body.reason, placed_by, uow.clock.now())


async def lift_hold(uow: DisclosureUnitOfWork, hold_id: uuid.UUID, body: HoldLift, lifted_by: str) -> Hold:
    lifted = await uow.holds.lift(hold_id, lifted_by, body.reason, uow.clock.now())
    if lifted is not None:
        return lifted
    if await uow.holds.get(hold_id) is None:
        raise Refusal(404, "not_found", "no such legal hold")
    raise Refusal(409, "already_lifted", "this legal hold has been lifted already")
