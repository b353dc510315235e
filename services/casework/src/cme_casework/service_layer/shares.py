"""Shares casework makes (a school told of a child, a statutory transfer to another council).

A share is made when a manager approves an officer's proposal (the two-person rule, SEC-17). The approval's
history entry and its `ShareMade` event are written in one transaction, so there is never a share the
disclosure log does not hear of (DOMAIN section 4: every share is recorded); a proposal or a refusal
sends nothing.
"""

from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

from sqlalchemy import and_, exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from cme_shared.contracts import topics
from cme_shared.contracts.shares import Recipient, ShareMade

from ..adapters.repository import CaseRecords, in_reach
from ..adapters.tables import case_history, cases
from ..domain.history import Entry, Kind
from ..domain.lifecycle import CaseState
from ..domain.permissions import Action, Grant, roles_for
from .cases import AfterCommit
from .casework import Casework


def share_made(state: CaseState, entry: Entry) -> ShareMade:
    d = entry.detail
    return ShareMade(
        event_id=uuid4(), occurred_at=datetime.now(UTC), share_ref=f"casework:{d['share_id']}", service="casework",
        subject_ids=[state.child_subject_id], recipient=Recipient(**d["recipient"]), purpose=d["purpose"],
        legal_gateway=d["legal_gateway"], categories=d["categories"], fields_released=d["fields_released"],
        reason=entry.reason, decided_by=entry.actor, shared_at=entry.recorded_at or datetime.now(UTC),
        proposed_by=d["proposed_by"], approval_roles=[r.value for r in roles_for(Action.DECIDE_SHARE)],
    )


def publisher(casework: Casework) -> AfterCommit:
    """The hook that queues the `ShareMade` event in the approval's own transaction (a refusal sends none)."""

    async def publish(records: CaseRecords, state: CaseState, entry: Entry) -> None:
        if entry.kind is not Kind.SHARE_MADE:
            return  # a refusal shares nothing
        event = share_made(state, entry)
        await casework.runtime.outbox.add(records.session, topic=casework.runtime.topics(topics.SHARE_EVENTS),
                                          event=event, aggregate_type="share", aggregate_id=str(state.child_subject_id))

    return publish


_proposed, _decided = case_history.alias("proposed"), case_history.alias("decided")
_is_decided = exists().where(and_(_decided.c.case_id == _proposed.c.case_id,
                                  _decided.c.kind.in_([Kind.SHARE_MADE.value, Kind.SHARE_REFUSED.value]),
                                  _decided.c.detail["share_id"].astext == _proposed.c.detail["share_id"].astext))


async def pending_shares(session: AsyncSession, grant: Grant, limit: int) -> list[dict[str, Any]]:
    """Shares proposed and not yet decided on the cases the grant reaches, oldest first: a manager's worklist."""
    query = (select(_proposed, cases.c.borough)
             .select_from(_proposed.join(cases, cases.c.case_id == _proposed.c.case_id))
             .where(_proposed.c.kind == Kind.SHARE_PROPOSED.value, ~_is_decided, in_reach(grant))
             .order_by(_proposed.c.entry_id).limit(limit))
    return [_pending_view(row) for row in (await session.execute(query)).mappings()]


def _pending_view(row: Any) -> dict[str, Any]:
    d = row["detail"]
    return {"share_id": d["share_id"], "case_id": row["case_id"], "child_subject_id": row["child_subject_id"],
            "borough": row["borough"], "recipient": d["recipient"], "purpose": d["purpose"],
            "legal_gateway": d["legal_gateway"], "categories": d["categories"],
            "fields_released": d["fields_released"], "reason": row["reason"], "proposed_by": row["actor"],
            "proposed_at": row["recorded_at"]}
