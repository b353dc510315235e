"""The DfE termly CME return, worked out from the case histories as they stood on the census date."""

from collections.abc import Collection
from datetime import date
from itertools import groupby

from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from ..adapters.repository import entry_from_row
from ..adapters.tables import case_history, cases
from ..domain import census
from ..domain.history import Kind


def in_boroughs(boroughs: Collection[str | None]) -> ColumnElement[bool]:
    named = [b for b in boroughs if b is not None]
    clause = cases.c.borough.in_(named)
    return or_(clause, cases.c.borough.is_(None)) if None in boroughs else clause


async def cme_census(session: AsyncSession, census_date: date,
                     boroughs: Collection[str | None]) -> list[tuple[census.CensusKey, int]]:
    """Counted in the borough a case belonged to on the census date, not the one it belongs to now."""
    opened_by_then = (select(case_history.c.case_id)
                      .where(case_history.c.kind == Kind.CASE_OPENED.value, case_history.c.effective_on <= census_date))
    rows = (await session.execute(
        select(case_history).where(case_history.c.case_id.in_(opened_by_then),
                                   case_history.c.kind.in_([k.value for k in census.AS_AT_KINDS]),
                                   case_history.c.effective_on <= census_date)
        .order_by(case_history.c.case_id, case_history.c.entry_id)
    )).mappings()
    states = [census.as_at((entry_from_row(row) for row in group), census_date)
              for _, group in groupby(rows, key=lambda r: r["case_id"])]
    return census.count((s for s in states if s.borough in boroughs), census_date)
