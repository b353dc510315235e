"""Shares casework makes (a school told of a child, a statutory transfer to another council).

A share is made when a manager approves an officer's proposal (the two-person rule, SEC-17). The approval's
history entry and its `ShareMade` event are written in one transaction, so there is never a share the
disclosure log does not hear of (DOMAIN section 4: every share is recorded); a proposal or a refusal
sends nothing.
"""

from datetime import datetime
from uuid import uuid4

from cme_shared.contracts import topics
from cme_shared.contracts.shares import Recipient, ShareMade

from ..adapters.unit_of_work import CaseworkUnitOfWork
from ..domain.history import Entry, Kind
from ..domain.lifecycle import CaseState
from ..domain.permissions import Action, roles_for


def share_made(state: CaseState, entry: Entry, now: datetime) -> ShareMade:
    d = entry.detail
    return ShareMade(
        event_id=uuid4(), occurred_at=now, share_ref=f"casework:{d['share_id']}", service="casework",
        subject_ids=[state.child_subject_id], recipient=Recipient(**d["recipient"]), purpose=d["purpose"],
        legal_gateway=d["legal_gateway"], categories=d["categories"], fields_released=d["fields_released"],
        reason=entry.reason, decided_by=entry.actor, shared_at=entry.recorded_at or now,
        proposed_by=d["proposed_by"], approval_roles=[r.value for r in roles_for(Action.DECIDE_SHARE)],
    )


async def publish_share_made(uow: CaseworkUnitOfWork, state: CaseState, entry: Entry) -> None:
    """Queue the `ShareMade` event in the approval's own transaction (a refusal sends none)."""
    if entry.kind is not Kind.SHARE_MADE:
        return  # a refusal shares nothing
    await uow.outbox.add(topics.SHARE_EVENTS, share_made(state, entry, uow.clock.now()), aggregate_type="share",
                         aggregate_id=str(state.child_subject_id))
