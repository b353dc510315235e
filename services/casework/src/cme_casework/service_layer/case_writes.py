"""The one way a case changes: `append_entries`, in the caller's unit of work.

Each entry is checked by the state machine, appended to the history, and then the `cases` projection is
rewritten from the new state and a `CaseChanged` event queued in the outbox, all in one transaction.
"""

from collections.abc import Sequence
from uuid import UUID, uuid4

from cme_shared.contracts import topics
from cme_shared.contracts.cases import CaseChanged

from ..adapters.unit_of_work import CaseworkUnitOfWork
from ..domain import lifecycle
from ..domain.clocks import next_due
from ..domain.history import Entry, Kind
from ..domain.lifecycle import CaseState

# Changes others are told of even when the status stays the same.
TOLD = frozenset({Kind.CASE_REOPENED, Kind.RISK_RAISED, Kind.BOROUGH_ASSIGNED})


async def append_entries(uow: CaseworkUnitOfWork, state: CaseState, entries: Sequence[Entry], *, case_id: UUID,
                         child_subject_id: UUID) -> tuple[CaseState, list[Entry]]:
    """Append `entries` to a case through the state machine; returns the new state and the stored entries."""
    stored: list[Entry] = []
    before = state.status
    for entry in entries:
        lifecycle.transition(state, entry)  # refuses before anything is written
        saved = await uow.cases.append(case_id, child_subject_id, entry)
        state = lifecycle.transition(state, saved)
        stored.append(saved)
    await uow.cases.project(state, next_due(state, uow.policy))
    if stored and (state.status != before or any(e.kind in TOLD for e in stored)):
        await _publish_case_changed(uow, state, stored[-1])
    return state, stored


async def _publish_case_changed(uow: CaseworkUnitOfWork, state: CaseState, entry: Entry) -> None:
    event = CaseChanged(
        event_id=uuid4(), occurred_at=uow.clock.now(), case_id=state.case_id, child_subject_id=state.child_subject_id,
        borough=state.borough, change=entry.kind.value, status=state.status.value if state.status else "",
        reason=state.reason, risk=state.risk.value, closure_reason=state.period.closure_reason,
        effective_on=entry.effective_on,
    )
    await uow.outbox.add(topics.CASE_EVENTS, event, aggregate_type="case", aggregate_id=str(state.case_id))
