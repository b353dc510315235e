"""Who looked at a child's or carer's record (issue 13): every read of personal data is recorded.

Each service keeps its own `access_log` (a kit table, append-only like the other history: the runtime role
may INSERT and SELECT only). One row per subject per read: who (`sub`, the role that let the request in,
its borough), when, which subject, why (the request's `X-CME-Purpose` header, or "not stated"), what (the
action, the record type and id, and a summary of what was returned, never the data itself), and the
request's correlation id.

- A route that returns personal data calls `record_access(session, request, principal, ...)` in the same
  transaction as its read, so a read that is answered is a read that is recorded.
- `GET /access-log?subject_id=` (the DPO only) lists who looked at a subject in this service, newest first;
  every service serves it (`create_service_app`).
- `access_items` turns the rows into subject access items: the pack lists them as recipients within the
  council (UK GDPR Art 15(1)(c)), by role and service, without naming the member of staff or quoting the
  purpose they typed.
"""

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request
from sqlalchemy import BigInteger, Column, DateTime, Index, MetaData, Table, Text, func, insert, select
from sqlalchemy.dialects.postgresql import UUID as PG_UUID
from sqlalchemy.ext.asyncio import AsyncSession

from . import correlation
from .contracts.categories import DataCategory
from .contracts.rights import DataItem

if TYPE_CHECKING:
    from .auth import Principal

PURPOSE_HEADER = "x-cme-purpose"
MAX_PURPOSE_CHARS = 200
NOT_STATED = "not stated"


def access_log_table(metadata: MetaData) -> Table:
    return Table(
        "access_log",
        metadata,
        Column("id", BigInteger, primary_key=True, autoincrement=True),
        Column("accessed_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        Column("actor", Text, nullable=False),  # the token's sub
        Column("role", Text, nullable=False),  # the role that let the request in
        Column("borough", Text, nullable=True),
        Column("subject_id", PG_UUID(as_uuid=True), nullable=False),
        Column("action", Text, nullable=False),  # e.g. "case.read", "cases.list", "sar.pack"
        Column("record_type", Text, nullable=True),
        Column("record_id", Text, nullable=True),
        Column("returned", Text, nullable=False),  # what was shown, in words: never the data
        Column("purpose", Text, nullable=False),
        Column("correlation_id", Text, nullable=True),
        Index("access_log_subject", "subject_id", "accessed_at"),
    )


def purpose_of(request: Request) -> str:
    """Why, as the request says (X-CME-Purpose), cut to size and stripped of control characters."""
    stated = request.headers.get(PURPOSE_HEADER, "")
    cleaned = "".join(ch for ch in stated if ch.isprintable()).strip()[:MAX_PURPOSE_CHARS]
    return cleaned or NOT_STATED


def acting_role(principal: "Principal") -> str:
    role = getattr(principal, "acting_role", None)
    return str(role.value if role is not None else ",".join(sorted(r.value for r in principal.roles)))


async def record_access(
    session: AsyncSession, table: Table, request: Request, principal: "Principal", subject_ids: Iterable[UUID],
    *, action: str, returned: str, record_type: str | None = None, record_id: str | None = None,
) -> int:
    """One row per distinct subject; returns how many were written (0 when the read returned nobody)."""
    subjects = list(dict.fromkeys(subject_ids))
    if not subjects:
        return 0
    common = {
        "actor": principal.sub, "role": acting_role(principal),
        "borough": principal.borough.value if principal.borough else None,
        "action": action, "record_type": record_type, "record_id": record_id, "returned": returned,
        "purpose": purpose_of(request), "correlation_id": correlation.current(),
    }
    await session.execute(insert(table), [{**common, "subject_id": subject} for subject in subjects])
    return len(subjects)


def row_view(row: Any) -> dict[str, Any]:
    return {
        "accessed_at": row.accessed_at.isoformat(), "actor": row.actor, "role": row.role, "borough": row.borough,
        "subject_id": str(row.subject_id), "action": row.action, "record_type": row.record_type,
        "record_id": row.record_id, "returned": row.returned, "purpose": row.purpose,
        "correlation_id": row.correlation_id,
    }


async def who_looked(session: AsyncSession, table: Table, subject_id: UUID, *, limit: int = 100,
                     offset: int = 0) -> list[dict[str, Any]]:
    rows = await session.execute(
        select(table).where(table.c.subject_id == subject_id)
        .order_by(table.c.accessed_at.desc(), table.c.id.desc()).limit(limit).offset(offset))
    return [row_view(row) for row in rows]


async def access_items(session: AsyncSession, table: Table, service: str, subject_ids: Sequence[UUID],
                       category: DataCategory = DataCategory.EDUCATION) -> list[DataItem]:
    """The subject access items for these subjects' rows: who within the council saw their record."""
    if not subject_ids:
        return []
    rows = await session.execute(
        select(table).where(table.c.subject_id.in_(list(subject_ids))).order_by(table.c.id))
    return [
        DataItem(
            service=service, record_type="access", record_id=f"access:{row.id}", subject_id=row.subject_id,
            category=category, source=f"the council's {service} service", recorded_at=row.accessed_at,
            # The stated purpose stays in the log for the DPO: it is the member of staff's free text, which may
            # name someone else, so it never travels to the requester (Art 15's purposes are the notice's).
            data={"action": row.action, "role": row.role, "returned": row.returned},
            recipient={"type": "council_staff", "org_name": f"council staff ({row.role}), {service} service"},
        )
        for row in rows
    ]


def access_log_router(table: Table) -> APIRouter:
    """GET /access-log?subject_id=: the DPO's list of who looked at a subject in this service."""
    from .auth import Principal, Role, require_roles

    router = APIRouter(tags=["access log"])

    @router.get("/access-log", summary="Who looked at a subject's record in this service (role dpo)")
    async def list_access(
        request: Request, principal: Annotated[Principal, Depends(require_roles(Role.DPO))],
        subject_id: UUID, limit: Annotated[int, Query(ge=1, le=500)] = 100,
        offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    ) -> dict[str, Any]:
        runtime = request.app.state.runtime
        async with runtime.sessions.begin() as session:
            entries = await who_looked(session, table, subject_id, limit=limit, offset=offset)
            # Reading the access log is a read of the subject's record too.
            await record_access(session, table, request, principal, [subject_id], action="access_log.read",
                                returned=f"{len(entries)} access log entries")
        return {"subject_id": str(subject_id), "entries": entries}

    return router

