"""The DPO's backlog gauges on the real database: open requests overdue and due within 7 days, on /metrics."""

from datetime import datetime, timedelta

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.ext.asyncio import create_async_engine

from cme_rights.adapters.backlog_metrics import refresh
from cme_rights.domain.clock import one_month_deadline
from cme_shared.clock import LONDON
from cme_shared.testing.kafka import eventually

pytestmark = pytest.mark.integration


def gauges(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for f in text_string_to_metric_families(text) if f.name.startswith("cme_rights_requests_")
            for s in f.samples}


OVERDUE = ("cme_rights_requests_overdue", ())
NEAR = ("cme_rights_requests_due_within_seconds", (("within", "604800"),))


async def test_requests_overdue_and_due_within_a_week_are_counted_and_shown_on_metrics(start_rights):
    today = datetime.now(LONDON).date()
    # Received n days ago, due (one month on, next working day) between today and a week from today.
    near_n = next(n for n in range(20, 40) if 0 <= (one_month_deadline(today - timedelta(days=n)) - today).days <= 7)
    async with start_rights(backlog_metrics_seconds=0.2) as rights:
        await rights.create(type="erasure", received_on=(today - timedelta(days=45)).isoformat())  # overdue
        await rights.create(type="rectification", received_on=(today - timedelta(days=near_n)).isoformat())
        await rights.create(type="rectification", received_on=today.isoformat())  # due in a month: neither
        stopped = (await rights.create(identity_verified=False,
                                       received_on=(today - timedelta(days=45)).isoformat()))["request_id"]
        asked = await rights.post(f"/requests/{stopped}/clock",
                                  {"event": "identity_requested", "on": (today - timedelta(days=44)).isoformat()})
        assert asked.json()["due_date"] is None  # a stopped clock is due nowhere: neither
        answered = (await rights.create(type="automated_decision",
                                        received_on=(today - timedelta(days=60)).isoformat()))["request_id"]
        assert (await rights.post(f"/requests/{answered}/approve", headers=rights.dpo)).status_code == 200

        worklist = (await rights.client.get("/worklist", headers=rights.dpo)).json()
        assert sum(e["overdue"] for e in worklist) == 1  # the worklist agrees on what is overdue

        engine = create_async_engine(rights.database_url)
        try:
            assert await refresh(engine, today) == (1, 1)
        finally:
            await engine.dispose()
        scraped = gauges((await rights.client.get("/metrics")).text)
        assert (scraped[OVERDUE], scraped[NEAR]) == (1, 1)

        # The collection task keeps counting (every 0.2 s here): a second overdue request shows unprompted.
        await rights.create(type="restriction", received_on=(today - timedelta(days=50)).isoformat())

        async def counted() -> bool:
            return gauges((await rights.client.get("/metrics")).text)[OVERDUE] == 2
        await eventually(counted, timeout=10)
