"""Retention and disposal of rights requests (issue 14, item 1; domain/retention.py has the rules).

- `report(uow, as_of)`: the records officer's dry-run report (what would be disposed of, under which rule,
  and what a legal hold keeps); it changes nothing. Served by `GET /retention/report` and by
  `python -m cme_rights dispose --dry-run`.
- `dispose(uow, as_of, dry_run=False)`: the disposal job, the one way a request's content leaves rights. On a
  unit of work opened on the disposal login (entrypoints/disposal.py), which first takes the hold lock, for
  every request past its period (completed, or abandoned: domain/retention.py, decided from the append-only
  history only; a request whose row and history disagree is reported, never disposed of) and under no legal
  hold nor a restriction of its subject's: its content goes from every table it touches (adapters/retention.py), one
  tombstone stays (what, when, under which rule), and `RecordsDisposed` goes to the outbox, all in one
  transaction, so a crash loses nothing and a rerun disposes of nothing twice (a disposed request is gone,
  and a tombstone is written once).
- `place_hold`, `lift_hold`, `holds`: legal holds by subject or by request (records officer or DPO); a hold
  on a subject is announced on LEGAL_HOLDS, and `on_legal_hold_changed` keeps the other services' holds.

No route erases anything: an erasure request is decided (service_layer/decisions.py) and, granted or refused,
the records go only by this job, when the schedule says and no hold keeps them (retention wins over erasure:
UK GDPR Art 17(3)(b)).
"""

import uuid
from collections import defaultdict
from datetime import date
from typing import Any

from pydantic import BaseModel

from cme_shared.auth import Principal
from cme_shared.contracts import topics
from cme_shared.logging import get_logger
from cme_shared.refusal import Refusal
from cme_shared.contracts.retention import LegalHoldChanged
from cme_shared.retention import Candidate, DisposalReport, disposed_event, hold_event

from ..adapters.unit_of_work import RightsUnitOfWork
from ..domain import retention as rules
from .commands import HoldLift, HoldPlacement

log = get_logger(__name__)
SERVICE = "rights"
RUN_AGGREGATE = "retention_run"  # the outbox rows of a disposal run (never removed by a later disposal)


class AnomalyRow(BaseModel):
    record_type: str
    record_id: str
    code: str  # domain/retention.py `anomaly`: why the request's dates cannot be believed


class RightsDisposalReport(DisposalReport):
    """The kit's report, and the requests not disposed of because their row and history disagree."""

    anomalies: list[AnomalyRow] = []


Assessed = tuple[list[Candidate], dict[str, rules.RequestForRetention], list[rules.Anomaly]]


async def _candidates(uow: RightsUnitOfWork, as_of: date) -> Assessed:
    """The requests due by `as_of` (completed, or abandoned: domain/retention.py), with the legal holds and
    the Art 18 restrictions that keep any of them; and the anomalies (never due)."""
    now = uow.clock.now()
    requests = await uow.retention.requests()
    anomalies = [rules.Anomaly(r.request_id, code) for r in requests
                 if (code := rules.anomaly(r, now)) is not None]
    for a in anomalies:
        log.warning("retention_anomaly", request_id=str(a.request_id), code=a.code)
    listed = [c for r in requests if (c := rules.candidate(r, uow.schedule, now)) is not None]
    held = await uow.holds.apply(rules.due(listed, as_of))
    kept = rules.restricted_keeps(held, rules.restricted_subjects(requests))
    return kept, {str(r.request_id): r for r in requests}, anomalies


def _report(uow: RightsUnitOfWork, run_id: uuid.UUID, day: date, dry_run: bool, candidates: list[Candidate],
            anomalies: list[rules.Anomaly]) -> RightsDisposalReport:
    report = RightsDisposalReport.of(SERVICE, run_id, uow.schedule, day, dry_run, candidates)
    report.anomalies = [AnomalyRow(record_type=rules.RECORD_TYPE.value, record_id=str(a.request_id), code=a.code)
                        for a in anomalies]
    return report  # type: ignore[return-value]


async def report(uow: RightsUnitOfWork, as_of: date | None = None) -> RightsDisposalReport:
    """What a disposal run would do on `as_of` (London's today by default): it changes nothing."""
    day = as_of or uow.clock.today()
    candidates, _, anomalies = await _candidates(uow, day)
    return _report(uow, uuid.uuid4(), day, True, candidates, anomalies)


async def dispose(uow: RightsUnitOfWork, as_of: date | None = None, *,
                  dry_run: bool = False) -> RightsDisposalReport:
    """The disposal run (see the module); with `dry_run`, the report and nothing else."""
    day = as_of or uow.clock.today()
    run_id, now = uuid.uuid4(), uow.clock.now()
    if dry_run:  # a dry run may look ahead: what would go on that day
        candidates, _, anomalies = await _candidates(uow, day)
        return _report(uow, run_id, day, True, candidates, anomalies)
    if day > uow.clock.today():
        raise Refusal(422, "as_of_in_future", "a disposal run cannot be dated later than today", ["as_of"])
    # The hold lock before the holds are read: a hold placed (or mirrored) while this run works is either
    # committed before, and seen, or waits for this transaction (one transaction: the run is all or nothing).
    await uow.holds.lock()
    candidates, assessed, anomalies = await _candidates(uow, day)
    done: list[Candidate] = []
    for c in candidates:
        if c.held_by:
            continue
        if not await uow.retention.lock_as_assessed(assessed[c.record_id]):
            continue  # gone meanwhile (another run), or changed since it was assessed
        removed = await uow.retention.dispose(uuid.UUID(c.record_id))
        await uow.tombstones.add(c, schedule_id=uow.schedule.schedule_id, run_id=run_id, now=now)
        done.append(c)
        log.info("record_disposed", record_type=c.record_type.value, request_id=c.record_id, rule_id=c.rule.rule_id,
                 run_id=str(run_id), rows=sum(removed.values()))
    by_rule: dict[str, list[Candidate]] = defaultdict(list)
    for c in done:
        by_rule[c.rule.rule_id].append(c)
    for group in by_rule.values():
        event = disposed_event(SERVICE, uow.schedule, run_id, now, group)
        await uow.outbox.add(topics.RETENTION_DISPOSALS, event, aggregate_type=RUN_AGGREGATE, aggregate_id=str(run_id))
    held = [c for c in candidates if c.held_by]
    log.info("disposal_run", run_id=str(run_id), disposed=len(done), held=len(held), anomalies=len(anomalies),
             as_of=day.isoformat())
    return _report(uow, run_id, day, False, done + held, anomalies)


# Legal holds: a hold by subject keeps every request about that subject (the subject's own ids, or the
# requester's); a hold by request keeps that request. Placing and lifting are kept (who, when, why).
SCOPES = {"subject": "subject", "request": "record"}


def _target(scope: str, target_id: uuid.UUID) -> tuple[str, str]:
    kit_scope = SCOPES[scope]
    return kit_scope, (f"{rules.RECORD_TYPE.value}:{target_id}" if kit_scope == "record" else str(target_id))


def hold_view(hold: Any) -> dict[str, Any]:
    scope = "request" if hold.scope == "record" else hold.scope
    target = hold.target_id.split(":", 1)[1] if hold.scope == "record" else hold.target_id
    return {"hold_id": hold.hold_id, "scope": scope, "target_id": target, "reason": hold.reason,
            "placed_by": hold.placed_by, "placed_at": hold.placed_at, "lifted_by": hold.lifted_by,
            "lifted_at": hold.lifted_at, "lift_reason": hold.lift_reason, "in_force": hold.lifted_at is None}


async def place_hold(uow: RightsUnitOfWork, command: HoldPlacement, principal: Principal) -> dict[str, Any]:
    """A legal hold on a subject or a request. A hold on a request needs the request (404 if unknown; 409 once
    it was disposed of: nothing is left to keep)."""
    if command.scope == "request" and not await uow.retention.exists(command.target_id):
        if await uow.tombstones.exists(rules.RECORD_TYPE, str(command.target_id)):
            raise Refusal(409, "already_disposed", "that request was disposed of: there is nothing left to hold",
                          ["body", "target_id"])
        raise Refusal(404, "not_found", "no rights request with this id", ["body", "target_id"])
    scope, target = _target(command.scope, command.target_id)
    hold = await uow.holds.place(scope, target, command.reason, principal.sub, uow.clock.now())
    await _announce(uow, hold, "placed")
    log.info("legal_hold_placed", hold_id=str(hold.hold_id), scope=command.scope)
    return hold_view(hold)


async def lift_hold(uow: RightsUnitOfWork, hold_id: uuid.UUID, command: HoldLift,
                    principal: Principal) -> dict[str, Any]:
    hold = await uow.holds.lift(hold_id, principal.sub, command.reason, uow.clock.now())
    if hold is None:
        raise Refusal(404, "no_hold_in_force", "no legal hold in force with this id")
    await _announce(uow, hold, "lifted")
    log.info("legal_hold_lifted", hold_id=str(hold_id))
    return hold_view(hold)


async def _announce(uow: RightsUnitOfWork, hold: Any, change: str) -> None:
    """A hold on a subject is every service's (LEGAL_HOLDS); a hold on one rights request stays here."""
    event = hold_event(SERVICE, hold, change, uow.clock.now())
    if event is not None:
        await uow.outbox.add(topics.LEGAL_HOLDS, event, aggregate_type="legal_hold", aggregate_id=str(hold.hold_id))


async def on_legal_hold_changed(uow: RightsUnitOfWork, event: LegalHoldChanged) -> None:
    """Another service placed or lifted a hold on a subject (or a case): rights keeps the same hold (a case
    hold keeps nothing here, rights holds no case ids, but is kept for the record). Its own are ignored."""
    if event.service == SERVICE:
        return
    if await uow.holds.mirror(event):
        log.info("legal_hold_mirrored", hold_id=str(event.hold_id), change=event.change, scope=event.scope,
                 service=event.service)


async def holds(uow: RightsUnitOfWork, in_force_only: bool = True) -> list[dict[str, Any]]:
    return [hold_view(h) for h in await uow.holds.listed(in_force_only)]
