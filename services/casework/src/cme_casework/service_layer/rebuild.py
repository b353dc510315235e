"""Rebuild the `cases` projection from the history, the record it is derived from.

Run after changing the term dates or the clock settings (every open case's `next_due_date` is worked out
again), or to repair the projection; the history itself is never touched.
"""

from ..adapters.unit_of_work import CaseworkUnitOfWork
from ..domain.clocks import ClockPolicy, next_due


async def rebuild_cases(uow: CaseworkUnitOfWork, policy: ClockPolicy | None = None) -> int:
    """Every case's projection written again from its history (under `policy`, the unit of work's unless
    given); returns how many cases there were."""
    policy = policy or uow.policy
    case_ids = await uow.cases.case_ids()  # locked in case_id order, like every other path
    for case_id in case_ids:
        await uow.cases.lock(case_id)
        state = await uow.cases.state(case_id)
        await uow.cases.project(state, next_due(state, policy))
    return len(case_ids)
