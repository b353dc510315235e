"""Retention and disposal in disclosure (issue 14, item 1; DOMAIN section 3; domain/retention.py).

- `on_records_disposed`: a service disposed of records of a type it owns (kafka.py refuses any other). The
  log gets one leaf for the notice (ids, codes and dates; the subjects' ids in its purgeable payload), once
  per event id, and the notice is kept (`disposal_notices`) with its signed record as received. Nothing is
  disposed of here: the running service does not hold the disposal login.
- `dispose`: the disposal job (`python -m cme_disclosure dispose`, on the disposal login). It takes the hold
  lock, believes only the notices whose signed record verifies again with the pinned keys (C1: the runtime
  login can INSERT a row, never sign one), and disposes of what is due (domain/retention.py) and neither held
  nor restricted (Art 18) through `dispose_one`, the one purge path, which `purge` (`purge-disclosure`)
  uses too.
- `dispose_one`: the payloads of the record's leaves are emptied and a purge leaf names them (the leaves,
  the tree and every earlier inclusion proof stay valid: a leaf commits to its payload's digest, never to
  the payload being there); the row's people and words, its subject links and its withholdings' words go;
  published replies that quoted it go (SEC-18); one tombstone; one `RecordsDisposed` per run and rule.
- Legal holds: placed and lifted by the records officer or the DPO; a hold on the record, on any of its
  subjects or on a case keeps it (`LegalHolds.apply`), whichever path would dispose of it. Holds on a
  subject or a case are told to the other services (cme.retention.legal-holds.v1) and theirs kept here.
"""

import uuid
from collections import defaultdict
from collections.abc import Iterable
from datetime import date
from typing import Any

import structlog
from pydantic import ValidationError

from cme_shared.clock import london_date
from cme_shared.contracts import topics
from cme_shared.contracts.retention import LegalHoldChanged, RecordsDisposed, RecordType, from_owner
from cme_shared.messaging.signing import SIGNATURE_HEADER, SIGNER_HEADER, SignatureRefused, TrustedSigners
from cme_shared.refusal import Refusal
from cme_shared.retention import Candidate, DisposalReport, Hold, disposed_event, hold_event

from ..adapters.unit_of_work import SERVICE, DisclosureUnitOfWork
from ..domain.entries import LeafKind, entry
from ..domain.retention import (MANUAL_RULE, REASON_CODES, HoldLift, HoldRequest, Mark, ReceivedDisposal, by_subject,
                                candidates, disposal_leaf, marks_of)
from .log import record_in_log, record_unbound

log = structlog.get_logger(__name__)

DISPOSAL_AGGREGATE = "disposal_run"


async def on_records_disposed(uow: DisclosureUnitOfWork, received: ReceivedDisposal) -> None:
    """A disposal notice from its record type's owner (kafka.py): one leaf, once per event id, and the
    notice kept, with the signed record as received, for the disposal job."""
    event, signed = received.event, received.signed
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
        "clock_started_on": event.clock_started_on, "disposed_at": event.disposed_at, "leaf_index": index,
        "received_at": now, "record_key": signed.key, "signed_event_id": signed.event_id, "signer": signed.signer,
        "signature": signed.signature, "payload": signed.payload,
    })


def verified_notices(rows: Iterable[dict[str, Any]], trusted: TrustedSigners, as_of: date) -> list[RecordsDisposed]:
    """The notices whose signed record verifies again with the pinned keys (C1: the runtime login can add a
    row, never sign one), from their record type's owner (M2), under their own event id, with a possible
    closure date (not after the disposal it announces, nor after `as_of`). The others are left out (kept
    from nothing: a forged row can only fail to make records due)."""
    out, refused = [], 0
    for row in rows:
        headers = [("event_id", row["signed_event_id"].encode()), (SIGNER_HEADER, row["signer"].encode()),
                   (SIGNATURE_HEADER, row["signature"].encode())]
        try:
            signer = trusted.verify(topics.RETENTION_DISPOSALS, topics.SIGNERS[topics.RETENTION_DISPOSALS],
                                    row["record_key"], headers, bytes(row["payload"]))
            event = RecordsDisposed.model_validate_json(bytes(row["payload"]))
        except (SignatureRefused, ValidationError, ValueError):
            refused += 1
            continue
        started = event.clock_started_on
        if (event.service != signer or not from_owner(event) or event.event_id != row["event_id"]
                or row["signed_event_id"] != str(event.event_id)
                or (started is not None and (started > london_date(event.disposed_at) or started > as_of))):
            refused += 1
            continue
        out.append(event)
    if refused:
        log.warning("disposal_notices_refused", count=refused)  # ids only in the rows; none logged
    return out


async def due(uow: DisclosureUnitOfWork, as_of: date, trusted: TrustedSigners) -> list[Candidate]:
    """The disclosures due on `as_of` under the schedule in force, each with the legal holds (and Art 18
    restrictions: their rights request ids) that keep it. Takes the hold lock first (a hold committed
    during a run is seen, or waits)."""
    await uow.holds.lock()
    marks: dict[uuid.UUID, list[Mark]] = by_subject(
        m for e in verified_notices(await uow.retention.signed_notices(), trusted, as_of) for m in marks_of(e))
    kept = await uow.retention.kept_disclosures(list(marks))
    return await _kept_by_restrictions(uow, await uow.holds.apply(candidates(uow.schedule, kept, marks, as_of)))


async def _kept_by_restrictions(uow: DisclosureUnitOfWork, found: list[Candidate]) -> list[Candidate]:
    """UK GDPR Art 18(1)-(2): a restricted subject's data is only stored, never erased while the
    restriction is in force (the subject may need it for a claim): a restriction keeps a record as a hold."""
    restricted = await uow.retention.restrictions_in_force(sorted({s for c in found for s in c.subject_ids}, key=str))
    out = []
    for c in found:
        by = sorted({r for s in c.subject_ids for r in restricted.get(s, [])}, key=str)
        out.append(Candidate(**{**c.__dict__, "held_by": tuple(sorted({*c.held_by, *by}, key=str))}) if by else c)
    return out


async def report(uow: DisclosureUnitOfWork, as_of: date, trusted: TrustedSigners) -> DisposalReport:
    """The records officer's dry-run report: what a run on `as_of` would dispose of, and what is held."""
    return DisposalReport.of(SERVICE, uuid.uuid4(), uow.schedule, as_of, True, await due(uow, as_of, trusted))


async def dispose(uow: DisclosureUnitOfWork, as_of: date, run_id: uuid.UUID, trusted: TrustedSigners,
                  dry_run: bool = False) -> DisposalReport:
    """The disposal job's run: every disclosure due and not held is disposed of (the dry run changes
    nothing). A rerun finds nothing more: a disposed record is no longer kept, its tombstone is there."""
    found = await due(uow, as_of, trusted)
    done = DisposalReport.of(SERVICE, run_id, uow.schedule, as_of, dry_run, found)
    if dry_run:
        return done
    disposed = [c for c in found if not c.held_by]
    for candidate in disposed:
        await dispose_one(uow, candidate, run_id, "schedule")
    await _announce(uow, run_id, disposed)
    return done


async def dispose_one(uow: DisclosureUnitOfWork, candidate: Candidate, run_id: uuid.UUID, reason: str,
                      approval: dict[str, str] | None = None) -> list[int]:
    """The one purge path: returns the leaves whose payloads were emptied. `reason` is a code
    (REASON_CODES) kept in the leaf and the tombstone, never free text (M3); `approval` (by hand: who ran
    it and the DPO who approved it, staff ids) is kept in the purge leaf too."""
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
             "due_on": candidate.due_on.isoformat(), **(approval or {})}
    await record_in_log(uow, disclosure_id, [entry(LeafKind.PURGED, str(disclosure_id), now, facts, {})])
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


async def purge(uow: DisclosureUnitOfWork, disclosure_id: uuid.UUID, reason_code: str, operator: str,
                approved_by: str, run_id: uuid.UUID | None = None) -> int:
    """`purge-disclosure`: dispose of one disclosure by hand, by the same path as the schedule, approved by
    a DPO other than the operator (two people: nothing goes before its time on one person's word), and only
    if no legal hold (409 legal_hold) nor Art 18 restriction (409 subject_restricted) keeps it. The purge
    leaf keeps the reason code, the operator and the approver. Returns how many payloads were emptied."""
    if reason_code not in REASON_CODES or reason_code == "schedule":
        raise Refusal(422, "bad_reason_code", f"the reason code must be one of {', '.join(REASON_CODES[1:])}",
                      loc=["reason_code"])
    if not operator.strip() or not approved_by.strip():
        raise Refusal(422, "approval_required", "name the operator and the approving DPO", loc=["approved_by"])
    if operator.strip() == approved_by.strip():
        raise Refusal(422, "same_person", "the approving DPO must be another person than the operator",
                      loc=["approved_by"])
    await uow.holds.lock()
    found = await uow.retention.disclosure(disclosure_id)
    if found is None:
        if await uow.disclosures.get(disclosure_id) is None:
            raise Refusal(404, "not_found", "no such disclosure")
        raise Refusal(409, "already_disposed", "this disclosure has been disposed of already")
    if await uow.retention.restrictions_in_force(list(found.subject_ids)):
        raise Refusal(409, "subject_restricted", "a subject of this disclosure is restricted (UK GDPR Art 18): "
                      "its data is only stored while the restriction is in force")
    today = uow.clock.today()
    [candidate] = await uow.holds.apply([Candidate(
        record_type=RecordType.DISCLOSURE, record_id=str(disclosure_id), rule=MANUAL_RULE, clock_started_on=today,
        subject_ids=found.subject_ids, categories=found.categories)])
    run_id = run_id or uuid.uuid4()
    purged = await dispose_one(uow, candidate, run_id, reason_code,
                               approval={"operator": operator.strip(), "approved_by": approved_by.strip()})
    await _announce(uow, run_id, [candidate])
    return len(purged)


# Legal holds (the records officer, the DPO) ------------------------------------------------------------

async def place_hold(uow: DisclosureUnitOfWork, body: HoldRequest, placed_by: str) -> Hold:
    hold = await uow.holds.place(body.scope, body.target(), body.reason, placed_by, uow.clock.now())
    await _tell_others(uow, hold, "placed")
    return hold


async def lift_hold(uow: DisclosureUnitOfWork, hold_id: uuid.UUID, body: HoldLift, lifted_by: str) -> Hold:
    lifted = await uow.holds.lift(hold_id, lifted_by, body.reason, uow.clock.now())
    if lifted is not None:
        await _tell_others(uow, lifted, "lifted")
        return lifted
    if await uow.holds.get(hold_id) is None:
        raise Refusal(404, "not_found", "no such legal hold")
    raise Refusal(409, "already_lifted", "this legal hold has been lifted already")


async def _tell_others(uow: DisclosureUnitOfWork, hold: Hold, change: str) -> None:
    """A hold on a subject or a case keeps their records in every service (cme.retention.legal-holds.v1)."""
    event = hold_event(SERVICE, hold, change, uow.clock.now())
    if event is not None:
        await uow.outbox.add(topics.LEGAL_HOLDS, event, aggregate_type="legal_hold", aggregate_id=str(hold.hold_id))


async def on_legal_hold_changed(uow: DisclosureUnitOfWork, event: LegalHoldChanged) -> None:
    """Another service placed or lifted a hold on a subject or a case: disclosure keeps the same hold (its
    own events come back to it and are ignored)."""
    if event.service == SERVICE:
        return
    await uow.holds.mirror(event)
