"""Reading and changing a request's row: every status change goes through `move`, which audits it."""

import uuid
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncSession

from cme_shared.auth import Principal
from cme_shared.logging import get_logger

from ..adapters.tables import audit_log, clock_events, decisions, rights_requests
from ..domain import access
from ..domain.clock import AccessRequestClock, ClockEvent, ClockEventKind
from ..domain.requests import RequestType, Status
from ..domain.responses import RequestFacts
from .context import Refused

log = get_logger(__name__)


async def load(session: AsyncSession, request_id: uuid.UUID, *, for_update: bool = False) -> RowMapping:
    query = select(rights_requests).where(rights_requests.c.request_id == request_id)
    if for_update:
        query = query.with_for_update()
    row = (await session.execute(query)).mappings().first()
    if row is None:
        raise Refused(404, "not_found", "no rights request with this id")
    return row


async def load_for(session: AsyncSession, request_id: uuid.UUID, principal: Principal, action: access.Action, *,
                   for_update: bool = False) -> RowMapping:
    """The request, if the authorisation rule lets `principal` do `action` to it (domain/access.py): another
    borough's request is not found, exactly as an unknown id is."""
    row = await load(session, request_id, for_update=for_update)
    access.check(principal, action, borough=row["borough"], created_by=row["created_by"])
    return row


async def update_row(session: AsyncSession, request_id: uuid.UUID, **values: Any) -> None:
    await session.execute(update(rights_requests).where(rights_requests.c.request_id == request_id)
                          .values(**values, updated_at=func.now()))


async def audit(session: AsyncSession, request_id: uuid.UUID, action: str, actor: str, *,
                from_status: str | None = None, to_status: str | None = None,
                detail: dict[str, Any] | None = None) -> None:
    """One append-only line: what happened, who did it. `detail` holds ids and codes, never personal data."""
    await session.execute(insert(audit_log).values(
        request_id=request_id, action=action, from_status=from_status, to_status=to_status, actor=actor,
        detail=detail or {}))


async def move(session: AsyncSession, row: RowMapping | dict[str, Any], to: Status, actor: str, action: str,
               detail: dict[str, Any] | None = None, **values: Any) -> None:
    """Change the request's status (and other columns), with its audit line, in the caller's transaction."""
    request_id, before = row["request_id"], row["status"]
    await update_row(session, request_id, status=to.value, **values)
    await audit(session, request_id, action, actor, from_status=before, to_status=to.value, detail=detail)
    log.info("rights_request_status", request_id=str(request_id), request_type=row["request_type"],
             from_status=before, to_status=to.value)


async def record_decision(session: AsyncSession, request_id: uuid.UUID, kind: str, decision: dict[str, Any],
                          decided_by: str, decided_role: str) -> None:
    await session.execute(insert(decisions).values(request_id=request_id, kind=kind, decision=decision,
                                                   decided_by=decided_by, decided_role=decided_role))


async def latest_decision(session: AsyncSession, request_id: uuid.UUID, kind: str) -> dict[str, Any] | None:
    row = (await session.execute(
        select(decisions.c.decision).where(decisions.c.request_id == request_id, decisions.c.kind == kind)
        .order_by(decisions.c.id.desc()).limit(1))).scalar_one_or_none()
    return row


async def load_clock(session: AsyncSession, row: RowMapping) -> AccessRequestClock:
    rows = (await session.execute(
        select(clock_events.c.event, clock_events.c.on, clock_events.c.reason)
        .where(clock_events.c.request_id == row["request_id"]).order_by(clock_events.c.id))).all()
    return AccessRequestClock(row["received_on"], tuple(
        ClockEvent(ClockEventKind(r.event), r.on, r.reason) for r in rows))


def facts(row: RowMapping | dict[str, Any]) -> RequestFacts:
    return RequestFacts(
        request_id=row["request_id"], request_type=row["request_type"], received_on=row["received_on"],
        channel=row["channel"], requester=row["requester"], subject=row["subject"], acting_as=row["acting_as"],
        authority=list(row["authority"]),
    )


def status_of(row: RowMapping | dict[str, Any]) -> Status:
    return Status(row["status"])


def type_of(row: RowMapping | dict[str, Any]) -> RequestType:
    return RequestType(row["request_type"])


def uuids(values: list[str]) -> list[uuid.UUID]:
    return [uuid.UUID(v) for v in values]


def people(row: RowMapping | dict[str, Any]) -> list[uuid.UUID]:
    """The subjects whose personal data a read of the request shows: the subject's ids and the requester's."""
    return list(dict.fromkeys(uuids(row["subject_ids"]) + uuids(row["requester_subject_ids"])))
