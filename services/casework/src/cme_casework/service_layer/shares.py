"""Shares casework makes (a school told of a child, a statutory transfer to another council).

The share's history entry and its `ShareMade` event are written in one transaction, so there is never a
share the disclosure log does not hear of (DOMAIN section 4: every share is recorded).
"""

from datetime import UTC, datetime
from uuid import uuid4

from cme_shared.contracts import topics
from cme_shared.contracts.shares import Recipient, ShareMade

from ..adapters.repository import CaseRecords
from ..domain.history import Entry
from ..domain.lifecycle import CaseState
from .cases import AfterCommit
from .casework import Casework


def share_made(state: CaseState, entry: Entry) -> ShareMade:
    d = entry.detail
    return ShareMade(
        event_id=uuid4(), occurred_at=datetime.now(UTC), share_ref=f"casework:{d['share_id']}", service="casework",
        subject_ids=[state.child_subject_id], recipient=Recipient(**d["recipient"]), purpose=d["purpose"],
        legal_gateway=d["legal_gateway"], categories=d["categories"], fields_released=d["fields_released"],
        reason=entry.reason, decided_by=entry.actor, shared_at=entry.recorded_at or datetime.now(UTC),
    )


def publisher(casework: Casework) -> AfterCommit:
    """The hook that queues the `ShareMade` event in the share's own transaction."""

    async def publish(records: CaseRecords, state: CaseState, entry: Entry) -> None:
        event = share_made(state, entry)
        await casework.runtime.outbox.add(records.session, topic=casework.runtime.topics(topics.SHARE_EVENTS),
                                          event=event, aggregate_type="share", aggregate_id=str(state.child_subject_id))

    return publish
