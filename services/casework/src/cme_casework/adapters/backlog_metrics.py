"""The clock-driven backlog gauge (issue 17 item 3): `cme_casework_cases_overdue{borough}`.

Open cases whose next deadline (escalation, first enquiries, review) has passed on London's today, the
same cases GET /cases/overdue lists, counted by borough. Worked out from the `cases` table by a task the
app runs beside the runtime, every `CME_BACKLOG_METRICS_SECONDS` (60 at most), not at each scrape: a scrape
reads the last count. The labels are bounded: each `Borough`, `unassigned` (no borough yet) and `other`
(a value the enum does not know), each set every time (0 when none), so a cleared backlog reads 0. Counts
only: no id, no personal data. Each instance exports the whole count, so dashboards take max, not sum,
across instances.
"""

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from datetime import date

from prometheus_client import Gauge
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from cme_shared.contracts.referrals import Borough
from cme_shared.logging import get_logger

from ..domain.lifecycle import Status
from .tables import cases

log = get_logger(__name__)

UNASSIGNED, OTHER = "unassigned", "other"
LABELS = (*(b.value for b in Borough), UNASSIGNED, OTHER)

CASES_OVERDUE = Gauge("cme_casework_cases_overdue",
                      "Open cases whose next statutory deadline has passed (London's today), by borough", ["borough"])


async def overdue_by_borough(engine: AsyncEngine, today: date) -> dict[str, int]:
    """Open cases with `next_due_date` before `today`, by label (every label present, 0 when none)."""
    query = (select(cases.c.borough, func.count())
             .where(cases.c.status != Status.CLOSED.value, cases.c.next_due_date < today)
             .group_by(cases.c.borough))
    async with engine.connect() as conn:
        rows = (await conn.execute(query)).all()
    counts = dict.fromkeys(LABELS, 0)
    for borough, count in rows:
        label = UNASSIGNED if borough is None else borough if borough in counts else OTHER
        counts[label] += count
    return counts


async def refresh(engine: AsyncEngine, today: date) -> dict[str, int]:
    """Count again and set the gauge; returns the counts."""
    counts = await overdue_by_borough(engine, today)
    for label, count in counts.items():
        CASES_OVERDUE.labels(label).set(count)
    return counts


async def run(engine: AsyncEngine, today: Callable[[], date], interval_seconds: float) -> None:
    while True:
        try:
            await refresh(engine, today())
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the database is away: the last counts stand until the next round
            log.warning("backlog_metrics_failed", error_type=type(exc).__name__)
        await asyncio.sleep(interval_seconds)


@contextlib.asynccontextmanager
async def running(engine: AsyncEngine, today: Callable[[], date], interval_seconds: float) -> AsyncIterator[None]:
    task = asyncio.create_task(run(engine, today, interval_seconds), name="casework-backlog-metrics")
    try:
        yield
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
