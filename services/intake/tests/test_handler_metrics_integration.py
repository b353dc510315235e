"""Handler latency on /metrics (issue 17: the alert rules and dashboard in deploy/monitoring read it): every
settled record is timed by consumer and outcome, in the single-record path and in batches alike."""

import json
import re

import pytest

from cme_shared.contracts import topics

pytestmark = pytest.mark.integration


def settled_count(text: str, consumer: str, outcome: str) -> float:
    found = re.search(rf'^cme_handler_duration_seconds_count{{consumer="{consumer}",outcome="{outcome}"}} (\S+)$',
                      text, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


async def test_each_settled_referral_is_timed_by_outcome(intake, sample):
    before = (await intake.client.get("/metrics")).text
    async with intake.reader(topics.REFERRAL_OUTCOMES) as outcomes:
        await intake.produce(sample("accepted-nhs-new-arrival.json"))
        await intake.produce(b"{not json")
        await outcomes.wait_for(lambda records: len(records) >= 2)
    after = (await intake.client.get("/metrics")).text
    assert sorted(json.loads(r.value)["status"] for r in outcomes.records) == ["accepted", "rejected"]
    assert settled_count(after, "referrals", "handled") - settled_count(before, "referrals", "handled") >= 1
    assert (settled_count(after, "referrals", "dead_lettered_unreadable")
            - settled_count(before, "referrals", "dead_lettered_unreadable")) >= 1
    assert 'cme_handler_duration_seconds_bucket{consumer="referrals",le="0.005",outcome="handled"}' in after
