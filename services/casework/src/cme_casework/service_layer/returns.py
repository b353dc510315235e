"""The DfE termly CME return, worked out from the case histories as they stood on the census date."""

from datetime import date
from uuid import UUID

from ..adapters.unit_of_work import CaseworkUnitOfWork
from ..domain import census
from ..domain.permissions import Grant


async def cme_census(uow: CaseworkUnitOfWork, census_date: date,
                     grant: Grant) -> tuple[list[tuple[census.CensusKey, int]], list[UUID]]:
    """The return's rows, and the children it counts (each export is recorded as a read of each of them).

    A case is counted in the borough it belonged to on the census date, not the one it belongs to now."""
    states = await uow.cases.states_as_at(census_date)
    counted = [s for s in states if grant.covers(s.borough) and census.census_key(s, census_date) is not None]
    return census.count(counted, census_date), [s.child_subject_id for s in counted if s.child_subject_id]


async def cme_any_time(uow: CaseworkUnitOfWork, first: date, last: date,
                       grant: Grant) -> tuple[list[tuple[str, int]], list[UUID]]:
    """The children CME at any time from `first` to `last` per borough (as it stood on `last`), and who."""
    states = await uow.cases.states_as_at(last)
    counted = [s for s in states if grant.covers(s.borough) and census.cme_at_any_time(s, first, last)]
    return census.any_time(counted, first, last), sorted({s.child_subject_id for s in counted if s.child_subject_id})
