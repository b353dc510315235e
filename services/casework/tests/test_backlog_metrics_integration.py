"""The overdue-cases gauge on the real database: counted by borough from the cases table, shown on /metrics."""

from datetime import timedelta

import pytest
from prometheus_client.parser import text_string_to_metric_families

from cme_casework.adapters.backlog_metrics import refresh
from cme_shared.clock import SYSTEM_CLOCK
from cme_shared.testing.kafka import eventually

from .conftest import casework_stack

pytestmark = pytest.mark.integration


def overdue_gauge(text: str) -> dict[str, float]:
    [family] = [f for f in text_string_to_metric_families(text) if f.name == "cme_casework_cases_overdue"]
    return {s.labels["borough"]: s.value for s in family.samples}


async def test_overdue_cases_are_counted_by_borough_and_shown_on_metrics(infra, databases, namespace, make_referral):
    day = SYSTEM_CLOCK.today()
    async with casework_stack(infra, databases, namespace, backlog_metrics_seconds=0.2) as stack:
        late = day - timedelta(days=120)  # first enquiries (10 school days) long past
        for borough in ("westminster", "westminster", "kensington_and_chelsea", None):
            await stack.referral(make_referral(received_on=late, borough=borough))
        await stack.referral(make_referral(received_on=day - timedelta(days=1)))  # due in a fortnight or so

        counts = await refresh(stack.runtime.engine, day)
        expected = {"westminster": 2, "kensington_and_chelsea": 1, "unassigned": 1, "other": 0}
        assert counts == expected
        assert overdue_gauge((await stack.client.get("/metrics")).text) == expected
        # The manager's overdue list (every borough, and cases without one) holds the same cases.
        listed = (await stack.client.get("/cases/overdue", headers=stack.headers("manager"))).json()
        assert len(listed) == sum(expected.values())

        # The app's own task keeps counting (every 0.2 s here): a further overdue case shows without a refresh call.
        await stack.referral(make_referral(received_on=late, borough="kensington_and_chelsea"))

        async def counted() -> bool:
            return overdue_gauge((await stack.client.get("/metrics")).text)["kensington_and_chelsea"] == 2
        await eventually(counted, timeout=10)
