"""Subject rights across the whole platform, all four services as real processes.

A school and a named member of the public refer the same child; the police ask for the child's data and
a manager approves; the child's mother asks for the child's data. The approved pack holds the data from
intake, casework and disclosure, lists the police as recipient, leaves out the referrer's identity and
renders as a PDF; before approval it is not released. Then a restriction makes a later share fail, and a
rectified date of birth changes in intake and casework while the old value stays in the history.
"""

import json
from datetime import date

import asyncpg
import httpx
import pytest

from cme_shared.contracts import topics
from cme_shared.testing.infra import SAMPLE_REFERRALS
from cme_shared.testing.kafka import TopicReader, eventually, produce

pytestmark = pytest.mark.e2e

REFERRER = {"name": "Jo Neighbour", "role": None, "email": "jo.neighbour@example.org", "phone": "07700 900456"}


@pytest.fixture
async def platform(stack):
    return await stack("intake", "casework", "disclosure", "rights")


def police_request(child_id: str, reference: str) -> dict:
    return {
        "subject_ids": [child_id],
        "recipient": {"type": "police", "org_id": "MPS", "org_name": "Metropolitan Police Service",
                      "requester_name": "DI Example", "requester_role": "Investigating officer",
                      "requester_rank": "Detective Inspector"},
        "purpose": "crime", "legal_gateway": "DPA 2018 Sch 2 Part 1 para 2", "reference": reference,
        "categories": ["contact", "education"], "reason": "Investigation of an offence against the child.",
    }


async def wait_for_status(client: httpx.AsyncClient, url: str, headers: dict, *statuses: str) -> dict:
    async def reached() -> dict | None:
        state = (await client.get(url, headers=headers)).json()
        return state if state["status"] in statuses else None

    return await eventually(reached, timeout=90)


async def test_a_parent_gets_the_childs_data_from_every_service_with_the_referrer_redacted(
    platform, infra, namespace, token
):
    intake, casework = platform["intake"].url, platform["casework"].url
    disclosure, rights = platform["disclosure"].url, platform["rights"].url
    officer = token("officer-w", "officer", borough="westminster")
    manager, dpo = token("manager-1", "manager"), token("dpo-1", "dpo")
    school = json.loads((SAMPLE_REFERRALS / "accepted-school-deletion-no-destination.json").read_bytes())
    child = school["child"]

    # A school's deletion return (with the UPN) and a named member of the public, about the same child.
    async with TopicReader(infra.kafka, namespace(topics.REFERRAL_OUTCOMES)) as outcomes:
        await produce(infra.kafka, namespace(topics.REFERRALS), json.dumps(school).encode())
        [record] = await outcomes.wait_for(lambda rs: len(rs) >= 1, timeout=60)
    child_id = json.loads(record.value)["child_subject_id"]
    async with httpx.AsyncClient(timeout=30) as client:
        public = await client.post(f"{intake}/public/referrals", json={
            "schema_version": 1, "referral_id": "PUB-E2E-1", "submitted_at": "2026-11-03T10:00:00+00:00",
            "source": {"type": "public", "contact": REFERRER},
            "notification": {"kind": "child_not_in_school_concern", "details": "Not at school since October."},
            "child": {"first_name": child["first_name"], "last_name": child["last_name"],
                      "date_of_birth": child["date_of_birth"], "address": child["address"]},
        })
        assert public.status_code == 202, public.text
        joined = (await client.get(f"{intake}/referrals/{public.json()['intake_id']}", headers=officer)).json()
        assert joined["child_subject_id"] == child_id  # one child, whoever referred

        async def case() -> list:
            return (await client.get(f"{casework}/cases", params={"child_subject_id": child_id}, headers=officer)).json()

        [the_case] = await eventually(case, timeout=60)

        # The police ask; a manager (never the asker) approves; the share is made.
        asked = (await client.post(f"{disclosure}/disclosures", json=police_request(child_id, "CAD-1"),
                                   headers=officer)).json()
        assert asked["status"] == "pending"
        own = await client.post(f"{disclosure}/disclosures/{asked['disclosure_id']}/decision",
                                json={"decision": "approve", "reason": "mine"}, headers=officer)
        assert own.status_code == 403
        approved = await client.post(f"{disclosure}/disclosures/{asked['disclosure_id']}/decision",
                                     json={"decision": "approve", "reason": "necessary and proportionate",
                                           "sign_off_rank": "Detective Inspector"},
                                     headers=manager)
        assert approved.status_code in (200, 201) and approved.json()["status"] == "shared"

        # The child's mother asks for her daughter's data.
        created = await client.post(f"{rights}/requests", headers=officer, json={
            "type": "access", "received_on": date.today().isoformat(), "channel": "email",
            "requester": {"first_name": "Leila", "last_name": child["last_name"], "acting_as": "parent",
                          "address": child["address"]},
            "subject": {"first_name": child["first_name"], "last_name": child["last_name"],
                        "date_of_birth": child["date_of_birth"], "upn": child["upn"]},
        })
        assert created.status_code == 201, created.text
        request_url = f"{rights}/requests/{created.json()['request_id']}"
        await client.post(f"{request_url}/clock", headers=dpo, json={  # identity: the DPO's word (issue 13)
            "event": "identity_received", "on": date.today().isoformat()})
        ready = await wait_for_status(client, request_url, dpo, "ready_for_review", "collection_incomplete")
        assert ready["status"] == "ready_for_review", ready["gathering"]
        assert (await client.get(f"{request_url}/response", headers=dpo)).status_code == 409  # not yet released
        assert (await client.post(f"{request_url}/approve", headers=officer, json={})).status_code == 403
        assert (await client.post(f"{request_url}/approve", headers=dpo, json={})).status_code == 200
        pack = (await client.get(f"{request_url}/response", headers=dpo)).json()
        pdf = await client.get(f"{request_url}/response", params={"format": "pdf"}, headers=dpo)

    text = json.dumps(pack)
    assert set(pack["summary"]["services"]) - {"rights"} == {"intake", "casework", "disclosure"}  # rights: reads
    assert pack["completeness"]["complete"] is True
    assert {r["org_name"] for r in pack["recipients"] if r["type"] != "council_staff"} == {
        "Metropolitan Police Service"}  # and, within the council, who looked (issue 13's access log)
    for secret in ("Jo Neighbour", "jo.neighbour@example.org", "07700 900456"):
        assert secret not in text
    assert "third_party_public_referrer" in {r["reason_code"] for r in pack["redactions"]}
    assert the_case["case_id"] in text  # casework's record of the case is in the pack
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")

    # Sealed stays sealed (issue 13): after the whole subject access request, the referrer is in no Kafka
    # record of any topic and no row of any service's database (outbox and inbox included), in clear.
    secrets = ("Jo Neighbour", "jo.neighbour@example.org", "07700 900456")
    for topic in namespace.all_with_dlqs():
        async with TopicReader(infra.kafka, topic) as reader:
            records = await reader.settle(0.5)
        for record in records:
            seen = b"\n".join([record.value or b"", record.key or b"", *(v or b"" for _, v in record.headers)])
            assert not [s for s in secrets if s.encode() in seen], f"the referrer in clear on {topic}"
    for service in ("intake", "casework", "disclosure", "rights"):
        assert not [s for s in secrets if s in await database_text(platform[service].database_url)], service


async def database_text(url: str) -> str:
    """Every row of every table of a database, as text (bytes decoded as UTF-8 where they are)."""
    conn = await asyncpg.connect(url.replace("+asyncpg", ""))
    try:
        tables = [r["table_name"] for r in await conn.fetch(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'")]
        parts = []
        for table in tables:
            for row in await conn.fetch(f'SELECT * FROM "{table}"'):
                parts += [value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
                          for value in row.values()]
        return "\n".join(parts)
    finally:
        await conn.close()


async def test_a_restriction_stops_later_shares_and_a_rectification_reaches_every_service(
    platform, infra, namespace, token
):
    casework = platform["casework"].url
    disclosure, rights = platform["disclosure"].url, platform["rights"].url
    officer = token("officer-w", "officer", borough="westminster")
    dpo, manager = token("dpo-1", "dpo"), token("manager-1", "manager")
    school = json.loads((SAMPLE_REFERRALS / "accepted-school-deletion-no-destination.json").read_bytes())
    child = school["child"]
    async with TopicReader(infra.kafka, namespace(topics.REFERRAL_OUTCOMES)) as outcomes:
        await produce(infra.kafka, namespace(topics.REFERRALS), json.dumps(school).encode())
        [record] = await outcomes.wait_for(lambda rs: len(rs) >= 1, timeout=60)
    child_id = json.loads(record.value)["child_subject_id"]
    subject = {"first_name": child["first_name"], "last_name": child["last_name"],
               "date_of_birth": child["date_of_birth"], "upn": child["upn"]}
    requester = {"first_name": "Leila", "last_name": child["last_name"], "acting_as": "parent"}

    async with httpx.AsyncClient(timeout=30) as client:
        async def case() -> list:
            return (await client.get(f"{casework}/cases", params={"child_subject_id": child_id}, headers=officer)).json()

        [the_case] = await eventually(case, timeout=60)

        # Rectification: the date of birth was wrong; the DPO accepts the correction.
        created = (await client.post(f"{rights}/requests", headers=officer, json={
            "type": "rectification", "received_on": date.today().isoformat(), "channel": "letter",
            "requester": requester, "subject": subject,
            "details": "Her date of birth is the 15th, not the 14th.",
        })).json()
        url = f"{rights}/requests/{created['request_id']}"
        await client.post(f"{url}/clock", headers=dpo, json={  # identity: the DPO's word (issue 13)
            "event": "identity_received", "on": date.today().isoformat()})
        await wait_for_status(client, url, dpo, "awaiting_decision")
        decided = await client.post(f"{url}/rectification-decision", headers=dpo, json={
            "corrections": [{"subject_id": child_id, "field": "date_of_birth", "new_value": "2016-03-15",
                             "accepted": True, "reason": "birth certificate seen"}],
            "opinion_disputes": [], "reason": "factual correction with evidence",
        })
        assert decided.status_code == 200, decided.text

        async def applied_by_both() -> bool:
            history = (await client.get(url, headers=dpo)).json()["history"]
            return {h["actor"] for h in history if h["action"] == "rectification_applied"} >= {
                "service:intake", "service:casework"}

        await eventually(applied_by_both, timeout=60)
        detail = (await client.get(f"{casework}/cases/{the_case['case_id']}", headers=officer)).json()
        assert detail["child"]["date_of_birth"] == "2016-03-15"
        assert "2016-03-14" in json.dumps(detail["history"])  # the old value stays in the record

        # Restriction (Art 18): the DPO restricts; a later police request about the child is refused.
        created = (await client.post(f"{rights}/requests", headers=officer, json={
            "type": "restriction", "received_on": date.today().isoformat(), "channel": "email",
            "requester": requester, "subject": subject,
            "details": "Please stop using her data while the date of birth is checked.",
        })).json()
        url = f"{rights}/requests/{created['request_id']}"
        await client.post(f"{url}/clock", headers=dpo, json={  # identity: the DPO's word (issue 13)
            "event": "identity_received", "on": date.today().isoformat()})
        await wait_for_status(client, url, dpo, "awaiting_decision")
        restricted = await client.post(f"{url}/restriction-decision", headers=dpo, json={
            "outcome": "restricted", "ground": "accuracy_contested", "reason": "accuracy contested"})
        assert restricted.status_code == 200, restricted.text

        async def refused_share() -> dict | None:
            # A manager is told of the restriction; an officer never is (SEC-29).
            asked = (await client.post(f"{disclosure}/disclosures", json=police_request(child_id, "CAD-2"),
                                       headers=manager)).json()
            return asked if asked["status"] == "refused" else None

        refusal = await eventually(refused_share, timeout=60, interval=1.0)
        assert "subject_restricted" in {r["code"] for r in refusal["refusal_reasons"]}

    # intake keeps both versions of the child's date of birth.
    conn = await asyncpg.connect(platform["intake"].database_url.replace("+asyncpg", ""))
    try:
        tables = {r["table_name"] for r in await conn.fetch(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'")}
        found = []
        for table in tables - {"outbox", "inbox", "alembic_version"}:
            rows = await conn.fetch(f'SELECT t::text AS row FROM "{table}" t')
            found += [r["row"] for r in rows]
        everything = "\n".join(found)
    finally:
        await conn.close()
    assert "2016-03-15" in everything and "2016-03-14" in everything
