"""Rights's records for the retention schedule (issue 14, item 1): which requests are completed, and how a
request's content goes at disposal. All the SQL of disposal is here; the disposal job
(service_layer/retention.py) runs it as the disposal login (`cme_rights_disposal`), the one role the history
tables' triggers let delete a row (migration 0008).

What a request's disposal removes, every table it touches in rights:
- `ask_chunks`, `ask_targets`, `asks`: the lookups and collections sent for it and every service's answers;
- `decisions`, `clock_events`, `audit_log`, `rectifications_applied` (history, append-only to everyone else);
- the kit's `outbox` rows about it (`aggregate_type` "rights_request", its id: the events it sent);
- `rights_requests`: its row, with who asked, for whom, the prepared and released response and its PDF.
What stays: the tombstone (`disposal_tombstones`, ids and codes), the `inbox` (message ids only) and the
`access_log` rows (ids and roles only: who looked, when, why), which the next access pack lists.
"""

import uuid
from typing import Any

from sqlalchemy import and_, delete, exists, func, literal_column, select
from sqlalchemy.ext.asyncio import AsyncSession

from ..domain.retention import RequestForRetention, categories_of, restriction_in_force
from .tables import (ask_chunks, ask_targets, asks, audit_log, clock_events, decisions, kit, rectifications_applied,
                     rights_requests)

RESTRICTING_KINDS = ("restriction", "objection", "erasure", "restriction_lifted")
AGGREGATE = "rights_request"
RELEASE = "approved_and_released"  # the audit line of a DPO's release (service_layer/requests.py)


class RetentionRecords:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def requests(self) -> list[RequestForRetention]:
        """Every request, with what the schedule needs of it: its release, first and last activity from the
        append-only history (audit_log, clock_events, decisions: their times are the database's), the row's
        status and release time to cross-check (domain/retention.py decides)."""
        cats = func.jsonb_path_query_array(rights_requests.c.response, literal_column(
            "'$.supplementary_information.categories[*].category'::jsonpath"))
        transferred = func.jsonb_path_query_array(rights_requests.c.response,
                                                  literal_column("'$.records[*].category'::jsonpath"))
        audit = (select(audit_log.c.request_id,
                        func.min(audit_log.c.at).filter(audit_log.c.action == RELEASE).label("released_at"),
                        func.min(audit_log.c.at).label("first_at"), func.max(audit_log.c.at).label("last_at"))
                 .group_by(audit_log.c.request_id).subquery())
        clocked = (select(clock_events.c.request_id, func.max(clock_events.c.at).label("last_at"))
                   .group_by(clock_events.c.request_id).subquery())
        decided_at = (select(decisions.c.request_id, func.max(decisions.c.at).label("last_at"))
                      .group_by(decisions.c.request_id).subquery())
        rows = (await self._session.execute(
            select(rights_requests.c.request_id, rights_requests.c.status, rights_requests.c.approved_at,
                   rights_requests.c.pending_proposal.is_not(None).label("proposal_pending"),
                   rights_requests.c.subject_ids, rights_requests.c.requester_subject_ids,
                   cats.label("categories"), transferred.label("transferred"),
                   audit.c.released_at, audit.c.first_at,
                   func.greatest(audit.c.last_at, clocked.c.last_at, decided_at.c.last_at).label("last_at"))
            .outerjoin(audit, audit.c.request_id == rights_requests.c.request_id)
            .outerjoin(clocked, clocked.c.request_id == rights_requests.c.request_id)
            .outerjoin(decided_at, decided_at.c.request_id == rights_requests.c.request_id)
            .order_by(rights_requests.c.received_on, rights_requests.c.request_id))).mappings().all()
        if not rows:
            return []
        decided = (await self._session.execute(
            select(decisions.c.request_id, decisions.c.kind, decisions.c.decision)
            .where(decisions.c.kind.in_(RESTRICTING_KINDS)))).mappings().all()
        by_request: dict[uuid.UUID, list[dict[str, Any]]] = {}
        for d in decided:
            by_request.setdefault(d["request_id"], []).append(dict(d))
        return [RequestForRetention(
            request_id=r["request_id"], status=r["status"], released_at=r["released_at"],
            approved_at=r["approved_at"], first_recorded_at=r["first_at"], last_activity_at=r["last_at"],
            proposal_pending=r["proposal_pending"],
            restriction_in_force=restriction_in_force(by_request.get(r["request_id"], [])),
            subject_ids=tuple(dict.fromkeys(uuid.UUID(s) for s in [*r["subject_ids"], *r["requester_subject_ids"]])),
            categories=categories_of([*(r["categories"] or []), *(r["transferred"] or [])]))
            for r in rows]

    async def lock_as_assessed(self, request: RequestForRetention) -> bool:
        """Lock the request's row for its disposal; False if it is gone, its status changed, or (a request
        never released) something happened to it since it was assessed."""
        found = await self._session.execute(
            select(rights_requests.c.status).where(rights_requests.c.request_id == request.request_id)
            .with_for_update())
        if found.scalar_one_or_none() != request.status:
            return False
        if request.released_at is not None:
            return True
        latest = (await self._session.execute(select(func.greatest(*(
            select(func.max(t.c.at)).where(t.c.request_id == request.request_id).scalar_subquery()
            for t in (audit_log, clock_events, decisions)))))).scalar_one_or_none()
        return latest is not None and latest == request.last_activity_at

    async def dispose(self, request_id: uuid.UUID) -> dict[str, int]:
        """Remove the request's content from every table it touches (see the module); rows removed per table."""
        removed: dict[str, int] = {}
        of_request = select(asks.c.ask_id).where(asks.c.request_id == request_id)

        async def gone(name: str, statement: Any) -> None:
            result = await self._session.execute(statement)
            removed[name] = int(result.rowcount or 0)  # type: ignore[attr-defined]

        await gone("ask_chunks", delete(ask_chunks).where(ask_chunks.c.ask_id.in_(of_request)))
        await gone("ask_targets", delete(ask_targets).where(ask_targets.c.ask_id.in_(of_request)))
        await gone("asks", delete(asks).where(asks.c.request_id == request_id))
        for table in (decisions, clock_events, audit_log, rectifications_applied):
            await gone(table.name, delete(table).where(table.c.request_id == request_id))
        await gone("outbox", delete(kit.outbox).where(and_(kit.outbox.c.aggregate_type == AGGREGATE,
                                                            kit.outbox.c.aggregate_id == str(request_id))))
        await gone("rights_requests", delete(rights_requests).where(rights_requests.c.request_id == request_id))
        return removed

    async def exists(self, request_id: uuid.UUID) -> bool:
        found = await self._session.execute(select(exists().where(rights_requests.c.request_id == request_id)))
        return bool(found.scalar())
