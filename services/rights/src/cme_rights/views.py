"""What the HTTP API reads: a request's detail, its prepared and released responses, the worklist.

Reads only (SQL allowed here, as in cosmicpython's views.py), each under the authorisation rule
(domain/access.py): the request is loaded as the handlers load it, so another borough's request is not
found. The route records the read in the access log in the same unit of work.
"""

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, or_, select

from cme_shared.auth import Principal
from cme_shared.refusal import Refusal

from .adapters.tables import ask_targets, asks, audit_log, clock_events, decisions, rights_requests
from .adapters.unit_of_work import RightsUnitOfWork
from .domain import access
from .domain import requests as rules
from .domain.access import Action
from .domain.requests import RequestType, Status
from .service_layer import records


async def request_detail(uow: RightsUnitOfWork, request_id: uuid.UUID, principal: Principal) -> dict[str, Any]:
    """Status, due date, clock history, decisions, collection progress and the audit trail."""
    row = await records.load_for(uow, request_id, principal, Action.READ)
    clock = await _by_request(uow, clock_events, request_id)
    history = await _by_request(uow, audit_log, request_id)
    decided = await _by_request(uow, decisions, request_id)
    collections = await _collection_progress(uow, request_id)
    state = (await records.load_clock(uow, row)).state() if rules.uses_month_clock(records.type_of(row)) else None
    return {
        "request_id": row["request_id"], "type": row["request_type"], "status": row["status"],
        "received_on": row["received_on"], "channel": row["channel"],
        "borough": row["borough"], "created_by": row["created_by"],
        "requester": {**row["requester"], "acting_as": row["acting_as"]}, "subject": row["subject"],
        "authority": row["authority"], "identity_verified": row["identity_verified"], "details": row["details"],
        "due_date": row["due_date"], "on_hold": row["on_hold"],
        "clock": {
            "kind": "one_month" if state is not None else "complaint_acknowledgement_30_days",
            "extended": state.extended if state else False,
            "paused_days": state.paused_days if state else 0,
            "day_one": state.day_one if state else row["received_on"],
            "history": [{"event": c["event"], "on": c["on"], "reason": c["reason"],
                         "due_date_after": c["due_date_after"], "on_hold_after": c["on_hold_after"],
                         "recorded_by": c["recorded_by"], "at": c["at"]} for c in clock],
        },
        "acknowledged_on": row["acknowledged_on"],
        "subject_ids": row["subject_ids"], "requester_subject_ids": row["requester_subject_ids"],
        "possible_matches": row["possible_matches"],
        "gathering": collections,  # the answer's name for the collections
        "decisions": [{"kind": d["kind"], "decision": d["decision"], "decided_by": d["decided_by"],
                       "decided_role": d["decided_role"], "at": d["at"]} for d in decided],
        "history": [{"action": h["action"], "from_status": h["from_status"], "to_status": h["to_status"],
                     "actor": h["actor"], "detail": h["detail"], "at": h["at"]} for h in history],
        "pending_proposal": row["pending_proposal"],
        "response_ready": row["response"] is not None,
        "approved_by": row["approved_by"], "approved_at": row["approved_at"],
    }


async def _by_request(uow: RightsUnitOfWork, table: Any, request_id: uuid.UUID) -> Sequence[Any]:
    """An append-only table's rows for the request, in the order they were written."""
    return (await uow.session.execute(select(table).where(table.c.request_id == request_id)
                                      .order_by(table.c.id))).mappings().all()


async def _collection_progress(uow: RightsUnitOfWork, request_id: uuid.UUID) -> list[dict[str, Any]]:
    rows = (await uow.session.execute(
        select(asks.c.ask_id, asks.c.purpose, asks.c.state, asks.c.created_at, ask_targets.c.service,
               ask_targets.c.state.label("target_state"), ask_targets.c.attempts, ask_targets.c.last_asked_at,
               ask_targets.c.last_error)
        .join(ask_targets, ask_targets.c.ask_id == asks.c.ask_id)
        .where(asks.c.request_id == request_id).order_by(asks.c.created_at, ask_targets.c.service))).mappings().all()
    out: dict[uuid.UUID, dict[str, Any]] = {}
    for r in rows:
        entry = out.setdefault(r["ask_id"], {"collection_id": r["ask_id"], "purpose": r["purpose"],
                                             "state": r["state"], "created_at": r["created_at"], "services": []})
        entry["services"].append({"service": r["service"], "state": r["target_state"], "attempts": r["attempts"],
                                  "last_asked_at": r["last_asked_at"], "last_error": r["last_error"]})
    return list(out.values())


async def draft(uow: RightsUnitOfWork, request_id: uuid.UUID,
                principal: Principal) -> tuple[dict[str, Any], list[uuid.UUID]]:
    """The prepared response, for review before approval, and whose data it shows."""
    row = await records.load_for(uow, request_id, principal, Action.DRAFT)
    if row["response"] is None:
        raise Refusal(409, "not_ready_for_review", "there is no response prepared yet")
    return {**row["response"], "status": row["status"]}, records.people(row)


async def released_response(uow: RightsUnitOfWork, request_id: uuid.UUID,
                            principal: Principal) -> tuple[dict[str, Any], list[uuid.UUID], bytes | None]:
    """The released response, whose data it shows, and its printed copy once one was made."""
    row = await records.load_for(uow, request_id, principal, Action.READ_RESPONSE)
    if records.status_of(row) is not Status.RESPONDED:
        raise Refusal(409, "not_approved", "the response is released only after a DPO's approval")
    return dict(row["response"]), records.people(row), row["response_pdf"]


def _in_scope(principal: Principal) -> ColumnElement[bool]:
    """The requests of the boroughs the principal sees (access.scope), those of no borough included when
    the principal's role sees them."""
    boroughs, unassigned = access.scope(principal)
    in_scope = rights_requests.c.borough.in_(sorted(boroughs))
    return or_(in_scope, rights_requests.c.borough.is_(None)) if unassigned else in_scope


async def worklist(uow: RightsUnitOfWork, principal: Principal) -> list[dict[str, Any]]:
    """Open requests by due date, overdue first; those with the clock stopped or paused come last. A
    released request with a proposal awaiting the DPO (a restriction's lift) stays on the list. Only the
    requests of the principal's boroughs are listed."""
    rows = (await uow.session.execute(
        select(rights_requests.c.request_id, rights_requests.c.request_type, rights_requests.c.status,
               rights_requests.c.received_on, rights_requests.c.due_date, rights_requests.c.on_hold,
               rights_requests.c.borough, rights_requests.c.pending_proposal)
        .where(or_(rights_requests.c.status != Status.RESPONDED.value,
                   rights_requests.c.pending_proposal.is_not(None)), _in_scope(principal))
        .order_by(rights_requests.c.due_date.asc().nulls_last(), rights_requests.c.received_on,
                  rights_requests.c.request_id))).mappings().all()
    today = uow.clock.today()
    return [{
        "request_id": r["request_id"], "type": r["request_type"], "status": r["status"],
        "received_on": r["received_on"], "due_date": r["due_date"], "on_hold": r["on_hold"],
        "borough": r["borough"],
        "overdue": r["due_date"] is not None and r["due_date"] < today,
        "days_left": (r["due_date"] - today).days if r["due_date"] is not None else None,
        "needs": _complaint_needs(r, today) or _needs(
            Status.AWAITING_APPROVAL if r["pending_proposal"] else Status(r["status"])),
    } for r in rows]


# An unacknowledged complaint this close to its 30 days (DPA 2018 s164A(3)) needs attention now.
ACKNOWLEDGE_WARNING_DAYS = 7


def _complaint_needs(row: Any, today: Any) -> str | None:
    if row["request_type"] != RequestType.COMPLAINT.value or row["status"] != Status.RECEIVED.value:
        return None
    due = row["due_date"]
    if due is not None and (due - today).days <= ACKNOWLEDGE_WARNING_DAYS:
        return "attention: acknowledge the complaint now (s164A: 30 days)"
    return "officer or DPO: acknowledge the complaint"


def _needs(status: Status) -> str:
    """What the request waits for, in the worklist's words."""
    return {
        Status.RECEIVED: "officer: verify identity or acknowledge",
        Status.AWAITING_IDENTITY: "requester: identity evidence",
        Status.AWAITING_FEE: "requester: fee",
        Status.COLLECTING: "services: data collection",
        Status.COLLECTION_INCOMPLETE: "officer: re-ask the services, or DPO: accept as incomplete",
        Status.AWAITING_DECISION: "officer or DPO: decision",
        Status.AWAITING_APPROVAL: "DPO: approve or reject the proposed decision",
        Status.INVESTIGATING: "officer: complaint outcome",
        Status.READY_FOR_REVIEW: "DPO: review and approve",
    }.get(status, "")
