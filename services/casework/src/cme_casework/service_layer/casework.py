"""What every casework handler shares: the runtime, the clock policy, and one way to record entries.

`record` is the only path by which a case changes: each entry is checked by the state machine, appended
to the history, and then the `cases` projection is rewritten from the new state and a `CaseChanged`
event queued in the outbox, all in the caller's transaction.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from uuid import UUID, uuid4
from zoneinfo import ZoneInfo

from cme_shared.contracts import topics
from cme_shared.contracts.cases import CaseChanged
from cme_shared.runtime import ServiceRuntime

from ..adapters.repository import CaseRecords
from ..domain import lifecycle
from ..domain.clocks import ClockPolicy, next_due
from ..domain.history import Entry, Kind
from ..domain.lifecycle import CaseState

LONDON = ZoneInfo("Europe/London")


def london_date(moment: datetime) -> date:
    """The council's calendar day of a moment: deadlines run on London days, not UTC ones."""
    return moment.astimezone(LONDON).date()


def today() -> date:
    return london_date(datetime.now(UTC))


# Changes others are told of even when the status stays the same.
TOLD = frozenset({Kind.CASE_REOPENED, Kind.RISK_RAISED, Kind.BOROUGH_ASSIGNED})


@dataclass(frozen=True)
class Casework:
    runtime: ServiceRuntime
    policy: ClockPolicy


async def record(casework: Casework, records: CaseRecords, state: CaseState, entries: Sequence[Entry],
                 *, case_id: UUID, child_subject_id: UUID) -> tuple[CaseState, list[Entry]]:
    """Append `entries` to a case through the state machine; returns the new state and the stored entries."""
    stored: list[Entry] = []
    before = state.status
    for entry in entries:
        lifecycle.transition(state, entry)  # refuses before anything is written
        saved = await records.append(case_id, child_subject_id, entry)
        state = lifecycle.transition(state, saved)
        stored.append(saved)
    await records.project(state, next_due(state, casework.policy))
    if stored and (state.status != before or any(e.kind in TOLD for e in stored)):
        await _tell(casework, records, state, stored[-1])
    return state, stored



async def _tell(casework: Casework, records: CaseRecords, state: CaseState, entry: Entry) -> None:
    event = CaseChanged(
        event_id=uuid4(), occurred_at=datetime.now(UTC), case_id=state.case_id, child_subject_id=state.child_subject_id,
        borough=state.borough, change=entry.kind.value, status=state.status.value if state.status else "",
        reason=state.reason, risk=state.risk.value, closure_reason=state.period.closure_reason,
        effective_on=entry.effective_on,
    )
    await casework.runtime.outbox.add(records.session, topic=casework.runtime.topics(topics.CASE_EVENTS), event=event,
                                      aggregate_type="case", aggregate_id=str(state.case_id))
