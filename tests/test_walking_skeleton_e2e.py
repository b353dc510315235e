"""The walking skeleton: a partner's referral on Kafka becomes an outcome and a case an officer can see.

intake and casework run as real processes, on the real broker and their own real databases.
"""

import json

import httpx
import pytest

from cme_intake.settings import IntakeSettings
from cme_shared.contracts import topics
from cme_shared.testing.infra import SAMPLE_REFERRALS
from cme_shared.testing.kafka import TopicReader, eventually, produce
from cme_shared.testing.processes import ServiceProcess

pytestmark = pytest.mark.e2e


@pytest.fixture
async def walking(stack) -> dict[str, ServiceProcess]:
    return await stack("intake", "casework")


@pytest.fixture
def officer(token):
    return lambda borough: token("officer-1", "officer", borough=borough)


async def test_a_school_deletion_return_becomes_an_outcome_and_a_visible_case(walking, infra, namespace, officer):
    raw = (SAMPLE_REFERRALS / "accepted-school-deletion-no-destination.json").read_bytes()
    async with TopicReader(infra.kafka, namespace(topics.REFERRAL_OUTCOMES)) as outcomes:
        await produce(infra.kafka, namespace(topics.REFERRALS), raw, key=b"partner-key-1")
        [record] = await outcomes.wait_for(lambda rs: len(rs) >= 1, timeout=60)
    outcome = json.loads(record.value)
    assert record.key == b"partner-key-1"  # keyed like the input
    assert outcome["status"] == "accepted" and outcome["referral_id"] == "SCH-2026-0001"
    child = outcome["child_subject_id"]

    casework = walking["casework"].url

    async def case_visible() -> list:
        response = httpx.get(f"{casework}/cases", params={"child_subject_id": child}, headers=officer("westminster"))
        assert response.status_code == 200, response.text
        return response.json()

    [case] = await eventually(case_visible, timeout=60)
    assert case["status"] == "open" and case["borough"] == "westminster"
    assert case["reason"] == "unknown_destination" and case["next_due_date"]

    # The other borough's officer does not see it; without a token nobody does.
    other = httpx.get(f"{casework}/cases", params={"child_subject_id": child}, headers=officer("kensington_and_chelsea"))
    assert other.status_code == 200 and other.json() == []
    assert httpx.get(f"{casework}/cases").status_code == 401

    # Nothing personal reached either service's log.
    logs = walking["intake"].log_text() + walking["casework"].log_text()
    for personal in ("Amira", "Haddad", "W2 1AA", "2016-03-14", "07700"):
        assert personal not in logs


async def test_a_malformed_referral_is_dead_lettered_and_answered_while_the_next_flows(walking, infra, namespace):
    bad = (SAMPLE_REFERRALS / "rejected-not-json.txt").read_bytes()
    good = (SAMPLE_REFERRALS / "accepted-nhs-new-arrival.json").read_bytes()
    async with TopicReader(infra.kafka, namespace(topics.REFERRAL_OUTCOMES)) as outcomes, \
            TopicReader(infra.kafka, namespace(topics.dlq(topics.REFERRALS))) as dead:
        await produce(infra.kafka, namespace(topics.REFERRALS), bad, key=b"k", partition=0)
        await produce(infra.kafka, namespace(topics.REFERRALS), good, key=b"k", partition=0)
        records = await outcomes.wait_for(lambda rs: len(rs) >= 2, timeout=60)
        [letter] = await dead.wait_for(lambda rs: len(rs) >= 1, timeout=30)
    statuses = [json.loads(r.value)["status"] for r in records]
    assert statuses == ["rejected", "accepted"]
    assert letter.value == bad
    assert json.loads(dict(letter.headers)["x-dlq-reasons"])[0]["code"] == "json_invalid"


async def test_every_service_answers_the_operational_endpoints(walking):
    for process in walking.values():
        for path in ("/healthz", "/readyz", "/metrics", "/openapi.json", "/asyncapi.json"):
            response = httpx.get(process.url + path)
            assert response.status_code == 200, (process.service, path)
    asyncapi = httpx.get(walking["intake"].url + "/asyncapi.json").json()
    addresses = {c["address"] for c in asyncapi["channels"].values()}
    assert {a.split(".", 1)[1] for a in addresses} >= {topics.REFERRALS, topics.REFERRAL_OUTCOMES,
                                                          topics.dlq(topics.REFERRALS)}
    assert "Referral" in asyncapi["components"]["schemas"]
    assert IntakeSettings().http_port == 8001
