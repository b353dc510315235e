"""The DfE termly CME return, worked out from the case histories as they stood on the census date."""

from datetime import date
from itertools import groupby
from uuid import UUID

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ..adapters.repository import entry_from_row
from ..adapters.tables import case_history
from ..domain import census
from ..domain.history import Kind
from ..domain.lifecycle import CaseState
from ..domain.permissions import Grant


async def _states_as_at(session: AsyncSession, census_date: date) -> list[CaseState]:
    """Every case opened by `census_date`, as it stood that day."""
    opened_by_then = (select(case_history.c.case_id)
                      .where(case_history.c.kind == Kind.CASE_OPENED.value, case_history.c.effective_on <= census_date))
    rows = (await session.execute(
        select(case_history).where(case_history.c.case_id.in_(opened_by_then),
                                   case_history.c.kind.in_([k.value for k in census.AS_AT_KINDS]),
                                   case_history.c.effective_on <= census_date)
        .order_by(case_history.c.case_id, case_history.c.entry_id)
    )).mappings()
    return [census.as_at((entry_from_row(row) for row in group), census_date)
            for _, group in groupby(rows, key=lambda r: r["case_id"])]


async def cme_census(session: AsyncSession, census_date: date,
                     grant: Grant) -> tuple[list[tuple[census.CensusKey, int]], list[UUID]]:
    """The return's rows, and the children it counts (each export is recorded as a read of each of them).

    A case is counted in the borough it belonged to on the census date, not the one it belongs to now."""
    states = await _states_as_at(session, census_date)
    counted = [s for s in states if grant.covers(s.borough) and census.census_key(s, census_date) is not None]
    return census.count(counted, census_date), [s.child_subject_id for s in counted if s.child_subject_id]


async def cme_any_time(session: AsyncSession, first: date, last: date,
                       grant: Grant) -> tuple[list[tuple[str, int]], list[UUID]]:
    """The children CME at any time from `first` to `last` per borough (as it stood on `last`), and who."""
    states = await _states_as_at(session, last)
    counted = [s for s in states if grant.covers(s.borough) and census.cme_at_any_time(s, first, last)]
    return census.any_time(counted, first, last), sorted({s.child_subject_id for s in counted if s.child_subject_id})
