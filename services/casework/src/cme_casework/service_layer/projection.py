"""Rebuild the `cases` projection from the history, the record it is derived from.

Run after changing the term dates or the clock settings (every open case's `next_due_date` is worked out
again), or to repair the projection; the history itself is never touched.
"""

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ..adapters.repository import CaseRecords
from ..adapters.tables import case_history
from ..domain.clocks import ClockPolicy, next_due


async def rebuild_cases(session: AsyncSession, policy: ClockPolicy) -> int:
    records = CaseRecords(session)
    case_ids = (await session.execute(
        select(case_history.c.case_id).where(case_history.c.case_id.is_not(None)).distinct()
        .order_by(case_history.c.case_id))).scalars().all()  # locked in case_id order, like every other path
    for case_id in case_ids:
        await records.lock(case_id)
        state = await records.state(case_id)
        await records.project(state, next_due(state, policy))
    return len(case_ids)
