"""Retention and disposal of rights requests (issue 14, item 1; domain/retention.py has the rules).

- `report(uow, as_of)`: the records officer's dry-run report (what would be disposed of, under which rule,
  and what a legal hold keeps); it changes nothing. Served by `GET /retention/report` and by
  `python -m cme_rights dispose --dry-run`.
- `dispose(uow, as_of, dry_run=False)`: the disposal job, the one way a request's content leaves rights. On a
  unit of work opened on the disposal login (entrypoints/disposal.py), for every completed request past its
  period and under no legal hold: its content goes from every table it touches (adapters/retention.py), one
  tombstone stays (what, when, under which rule), and `RecordsDisposed` goes to the outbox, all in one
  transaction, so a crash loses nothing and a rerun disposes of nothing twice (a disposed request is gone,
  and a tombstone is written once).
- `place_hold`, `lift_hold`, `holds`: legal holds by subject or by request (records officer or DPO).

No route erases anything: an erasure request is decided (service_layer/decisions.py) and, granted or refused,
the records go only by this job, when the schedule says and no hold keeps them (retention wins over erasure:
UK GDPR Art 17(3)(b)).
"""

import uuid
from collections import defaultdict
from datetime import date
from typing import Any

from cme_shared.auth import Principal
from cme_shared.contracts import topics
from cme_shared.logging import get_logger
from cme_shared.refusal import Refusal
from cme_shared.retention import Candidate, DisposalReport, disposed_event

from ..adapters.unit_of_work import RightsUnitOfWork
from ..domain import retention as rules
from .commands import HoldLift, HoldPlacement

log = get_logger(__name__)
SERVICE = "rights"
RUN_AGGREGATE = "retention_run"  # the outbox rows of a disposal run (never removed by a later disposal)


async def _candidates(uow: RightsUnitOfWork, as_of: date) -> list[Candidate]:
    """The completed requests due by `as_of`, with the legal holds that keep any of them."""
    listed = [rules.candidate(r, uow.schedule) for r in await uow.retention.completed_requests()]
    return await uow.holds.apply(rules.due([c for c in listed if c is not None], as_of))


async def report(uow: RightsUnitOfWork, as_of: date | None = None) -> DisposalReport:
    """What a disposal run would do on `as_of` (London's today by default): it changes nothing."""
    day = as_of or uow.clock.today()
    return DisposalReport.of(SERVICE, uuid.uuid4(), uow.schedule, day, True, await _candidates(uow, day))


async def dispose(uow: RightsUnitOfWork, as_of: date | None = None, *, dry_run: bool = False) -> DisposalReport:
    """The disposal run (see the module); with `dry_run`, the report and nothing else."""
    day = as_of or uow.clock.today()
    run_id, now = uuid.uuid4(), uow.clock.now()
    if dry_run:  # a dry run may look ahead: what would go on that day
        return DisposalReport.of(SERVICE, run_id, uow.schedule, day, True, await _candidates(uow, day))
    if day > uow.clock.today():
        raise Refusal(422, "as_of_in_future", "a disposal run cannot be dated later than today", ["as_of"])
    candidates = await _candidates(uow, day)
    done: list[Candidate] = []
    for c in candidates:
        if c.held_by:
            continue
        request_id = uuid.UUID(c.record_id)
        if not await uow.retention.lock_released(request_id):
            continue  # gone meanwhile (another run), or no longer released
        removed = await uow.retention.dispose(request_id)
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
    log.info("disposal_run", run_id=str(run_id), disposed=len(done), held=len(held), as_of=day.isoformat())
    return DisposalReport.of(SERVICE, run_id, uow.schedule, day, False, done + held)


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
    log.info("legal_hold_placed", hold_id=str(hold.hold_id), scope=command.scope)
    return hold_view(hold)


async def lift_hold(uow: RightsUnitOfWork, hold_id: uuid.UUID, command: HoldLift,
                    principal: Principal) -> dict[str, Any]:
    hold = await uow.holds.lift(hold_id, principal.sub, command.reason, uow.clock.now())
    if hold is None:
        raise Refusal(404, "no_hold_in_force", "no legal hold in force with this id")
    log.info("legal_hold_lifted", hold_id=str(hold_id))
    return hold_view(hold)


async def holds(uow: RightsUnitOfWork, in_force_only: bool = True) -> list[dict[str, Any]]:
    return [hold_view(h) for h in await uow.holds.listed(in_force_only)]
