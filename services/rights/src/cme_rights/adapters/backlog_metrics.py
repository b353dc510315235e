"""The clock-driven backlog gauges (issue 17 item 3), for the DPO's alerts in deploy/monitoring:

- `cme_rights_requests_overdue`: open requests (not `responded`) whose due date is before London's today,
  as the worklist marks them overdue;
- `cme_rights_requests_due_within_seconds{within="604800"}`: open requests not yet overdue that are due
  within 7 days (a due date from today to today + 7).

A request whose clock is stopped or paused has no due date and is in neither. Worked out from
`rights_requests` by the collection task (entrypoints/collector.py) every `CME_BACKLOG_METRICS_SECONDS`
(60 at most), not at each scrape. Counts only: no id, no personal data. Each instance exports the whole
count, so dashboards take max, not sum, across instances.
"""

from datetime import date, timedelta

from prometheus_client import Gauge
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from ..domain.requests import Status
from .tables import rights_requests

NEAR_DUE = timedelta(days=7)

REQUESTS_OVERDUE = Gauge("cme_rights_requests_overdue",
                         "Open rights requests past their statutory due date (London's today)")
REQUESTS_DUE_WITHIN = Gauge("cme_rights_requests_due_within_seconds",
                            "Open rights requests not yet overdue and due within `within` seconds (whole days)",
                            ["within"])


async def backlog(engine: AsyncEngine, today: date) -> tuple[int, int]:
    """(overdue, due within 7 days) among the open requests on `today`."""
    due = rights_requests.c.due_date
    query = (select(func.count().filter(due < today), func.count().filter(due.between(today, today + NEAR_DUE)))
             .where(rights_requests.c.status != Status.RESPONDED.value, due.is_not(None)))
    async with engine.connect() as conn:
        overdue, near = (await conn.execute(query)).one()
    return overdue, near


async def refresh(engine: AsyncEngine, today: date) -> tuple[int, int]:
    """Count again and set the gauges; returns (overdue, due within 7 days)."""
    overdue, near = await backlog(engine, today)
    REQUESTS_OVERDUE.set(overdue)
    REQUESTS_DUE_WITHIN.labels(str(int(NEAR_DUE.total_seconds()))).set(near)
    return overdue, near
