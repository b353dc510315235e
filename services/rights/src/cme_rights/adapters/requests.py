"""The rights requests repository: a request's row and the append-only tables beside it (its audit trail,
its decisions, its clock's events), and the rectifications the services report applying.

Rows come back as mappings of the `rights_requests` columns; the service layer reads them by name.
"""

import uuid
from collections.abc import Mapping
from datetime import date
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from ..domain.clock import ClockEvent, ClockEventKind
from ..domain.requests import Status
from .tables import audit_log, clock_events, decisions, rectifications_applied, rights_requests


class RightsRequests:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, request_id: uuid.UUID, **values: Any) -> None:
        await self._session.execute(insert(rights_requests).values(request_id=request_id, **values))

    async def get(self, request_id: uuid.UUID, *, for_update: bool = False,
                  skip_locked: bool = False) -> Mapping[str, Any] | None:
        """The request's row (locked with `for_update`; with `skip_locked`, None while another holds it)."""
        query = select(rights_requests).where(rights_requests.c.request_id == request_id)
        if for_update:
            query = query.with_for_update(skip_locked=skip_locked)
        return (await self._session.execute(query)).mappings().first()

    async def exists(self, request_id: uuid.UUID) -> bool:
        found = await self._session.execute(select(rights_requests.c.request_id)
                                            .where(rights_requests.c.request_id == request_id))
        return found.scalar_one_or_none() is not None

    async def change(self, request_id: uuid.UUID, **values: Any) -> None:
        """Sets the columns `values` names (and `updated_at`)."""
        await self._session.execute(update(rights_requests).where(rights_requests.c.request_id == request_id)
                                    .values(**values, updated_at=func.now()))

    async def keep_printed(self, request_id: uuid.UUID, content: bytes) -> None:
        """The released response's printed copy, unless one is kept already (two downloads at once: the first)."""
        await self._session.execute(update(rights_requests).where(
            rights_requests.c.request_id == request_id, rights_requests.c.status == Status.RESPONDED.value,
            rights_requests.c.response_pdf.is_(None)).values(response_pdf=content))

    async def audit(self, request_id: uuid.UUID, action: str, actor: str, *, from_status: str | None = None,
                    to_status: str | None = None, detail: dict[str, Any] | None = None) -> None:
        """One append-only line: what happened, who did it. `detail` holds ids and codes, never personal data."""
        await self._session.execute(insert(audit_log).values(
            request_id=request_id, action=action, from_status=from_status, to_status=to_status, actor=actor,
            detail=detail or {}))

    async def add_decision(self, request_id: uuid.UUID, kind: str, decision: dict[str, Any], decided_by: str,
                           decided_role: str) -> None:
        await self._session.execute(insert(decisions).values(request_id=request_id, kind=kind, decision=decision,
                                                             decided_by=decided_by, decided_role=decided_role))

    async def latest_decision(self, request_id: uuid.UUID, kind: str) -> dict[str, Any] | None:
        found = await self._session.execute(
            select(decisions.c.decision).where(decisions.c.request_id == request_id, decisions.c.kind == kind)
            .order_by(decisions.c.id.desc()).limit(1))
        return found.scalar_one_or_none()

    async def clock_events(self, request_id: uuid.UUID) -> list[ClockEvent]:
        """The clock's history, in the order it was recorded."""
        rows = (await self._session.execute(
            select(clock_events.c.event, clock_events.c.on, clock_events.c.reason)
            .where(clock_events.c.request_id == request_id).order_by(clock_events.c.id))).all()
        return [ClockEvent(ClockEventKind(r.event), r.on, r.reason) for r in rows]

    async def add_clock_event(self, request_id: uuid.UUID, event: ClockEvent, *, due_date_after: date | None,
                              on_hold_after: str | None, recorded_by: str) -> None:
        await self._session.execute(insert(clock_events).values(
            request_id=request_id, event=event.kind.value, on=event.on, reason=event.reason,
            due_date_after=due_date_after, on_hold_after=on_hold_after, recorded_by=recorded_by))

    async def add_rectification_applied(self, request_id: uuid.UUID, service: str, subject_id: uuid.UUID,
                                        records_changed: int, event_id: uuid.UUID) -> None:
        """What a service reports it changed; the same report twice is kept once."""
        await self._session.execute(pg_insert(rectifications_applied).values(
            request_id=request_id, service=service, subject_id=subject_id, records_changed=records_changed,
            event_id=event_id).on_conflict_do_nothing())
