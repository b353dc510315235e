"""Who looked at a child's record (issue 13): casework's reads of a child's data are in its access log.

The case page, case lists, the census export, held referrals and the shares awaiting a decision each write
one row per child they return, in the read's own transaction; the DPO lists them (GET /access-log), and the
child's subject access pack lists them as recipients within the council.
"""

import json
import uuid
from datetime import UTC, date, datetime

import pytest

from cme_shared.contracts import topics
from cme_shared.contracts.rights import DataCollectionRequest
from cme_shared.testing.kafka import TopicReader, produce
from cme_shared.testing.signing import signed_headers

pytestmark = pytest.mark.integration

WESTMINSTER = {"borough": "westminster"}


async def access_log(stack, subject) -> list[dict]:
    response = await stack.client.get(f"/access-log?subject_id={subject}", headers=stack.headers("dpo", sub="dpo-1"))
    assert response.status_code == 200, response.text
    return [e for e in response.json()["entries"] if e["action"] != "access_log.read"]


async def test_an_officer_opening_a_case_page_is_in_the_dpos_access_log_and_the_childs_pack(stack, make_referral):
    child, carer = uuid.uuid4(), uuid.uuid4()
    case_id = await stack.referral(make_referral(child=child, carers=[carer], received_on=date(2026, 11, 2)))
    officer = {**stack.headers("officer", sub="officer-ana", **WESTMINSTER), "X-CME-Purpose": "first enquiries"}
    assert await access_log(stack, child) == []

    assert (await stack.client.get(f"/cases/{case_id}", headers=officer)).status_code == 200
    [read] = await access_log(stack, child)
    assert (read["actor"], read["role"], read["borough"], read["action"], read["record_type"], read["record_id"],
            read["purpose"]) == ("officer-ana", "officer", "westminster", "case.read", "case", str(case_id),
                                 "first enquiries")
    assert read["correlation_id"] and "history" in read["returned"]
    assert [e["action"] for e in await access_log(stack, carer)] == ["case.read"]  # the page names the carer

    # Another borough's officer is answered 404 and has read nothing.
    rbkc = stack.headers("officer", sub="officer-kc", borough="kensington_and_chelsea")
    assert (await stack.client.get(f"/cases/{case_id}", headers=rbkc)).status_code == 404
    assert "officer-kc" not in {e["actor"] for e in await access_log(stack, child)}
    # Only the DPO reads the access log.
    assert (await stack.client.get(f"/access-log?subject_id={child}", headers=officer)).status_code == 403

    replies_topic = stack.topics(topics.replies_of("casework"))
    request = DataCollectionRequest(event_id=uuid.uuid4(), occurred_at=datetime.now(UTC), collection_id=uuid.uuid4(),
                                    rights_request_id=uuid.uuid4(), subject_ids=[child])
    value, key = request.model_dump_json().encode(), str(request.rights_request_id).encode()
    async with TopicReader(stack.settings.kafka_connection(), replies_topic) as replies:
        await produce(stack.settings.kafka_connection(), stack.topics(topics.DATA_COLLECTION_REQUESTS), value, key=key,
                      headers=signed_headers(topics.DATA_COLLECTION_REQUESTS, value, key,
                                             [("event_id", str(request.event_id).encode())]))
        records = await replies.wait_for(lambda rs: any(_last_of(r, request.collection_id) for r in rs))
    items = [item for r in records for item in json.loads(r.value).get("items", [])
             if json.loads(r.value).get("collection_id") == str(request.collection_id)]
    # The DPO's own looks at the access log are reads of the child's record too, and are listed with it.
    access = [item for item in items if item["record_type"] == "access"]
    assert {a["data"]["action"] for a in access} == {"case.read", "access_log.read"}
    access = [a for a in access if a["data"]["action"] == "case.read"]
    # By role; the purpose the officer typed stays in the DPO's log and never reaches the requester.
    assert [(a["data"]["role"], "purpose" in a["data"]) for a in access] == [("officer", False)]
    assert access[0]["subject_id"] == str(child)
    assert access[0]["recipient"]["type"] == "council_staff"
    assert "officer-ana" not in json.dumps(access)  # the pack names the role and service, not the member of staff


async def test_lists_and_the_census_export_record_one_row_per_child_they_return(stack, make_referral):
    children = [uuid.uuid4() for _ in range(3)]
    for child in children:
        await stack.referral(make_referral(child=child, received_on=date(2026, 9, 7), deletion_date=date(2026, 9, 1)))
    elsewhere = uuid.uuid4()
    await stack.referral(make_referral(child=elsewhere, borough="kensington_and_chelsea", received_on=date(2026, 9, 7)))
    officer = stack.headers("officer", sub="officer-ana", **WESTMINSTER)

    listed = await stack.client.get("/cases", headers=officer)
    assert {c["child_subject_id"] for c in listed.json()} == {str(c) for c in children}
    overdue = await stack.client.get("/cases/overdue?as_of=2026-12-01", headers=officer)
    assert len(overdue.json()) == 3
    census = await stack.client.get("/returns/cme-census?census_date=2026-10-01", headers=officer)
    assert census.status_code == 200 and census.text.count("westminster") == 1  # one row: 3 children counted

    for child in children:
        actions = sorted(e["action"] for e in await access_log(stack, child))
        assert actions == ["cases.list", "cases.list", "census.export"]  # once per read that returned the child
    # The other borough's child was neither listed nor counted for this officer, so nothing is recorded.
    assert await access_log(stack, elsewhere) == []
    [exported] = [e for e in await access_log(stack, children[0]) if e["action"] == "census.export"]
    assert (exported["record_type"], exported["record_id"]) == ("census_return", "2026-10-01")

    # A manager's worklist of shares awaiting a decision shows the child: a read too.
    case_id = listed.json()[0]["case_id"]
    proposed = await stack.client.post(f"/cases/{case_id}/shares", headers=officer, json={
        "recipient": {"type": "school", "org_name": "St Mary's"}, "purpose": "cme_tracking",
        "legal_gateway": "Education Act 1996 s436A", "categories": ["education"], "fields_released": ["child.upn"],
        "reason": "the school is asked to admit"})
    assert proposed.status_code == 201, proposed.text
    pending = await stack.client.get("/shares/pending", headers=stack.headers("manager", sub="manager-mo"))
    [shown] = pending.json()
    [worklist] = [e for e in await access_log(stack, shown["child_subject_id"]) if e["action"] == "shares.pending"]
    assert (worklist["actor"], worklist["role"]) == ("manager-mo", "manager")

    # A list that returns nobody records nobody.
    nobody = await stack.client.get(f"/cases?child_subject_id={uuid.uuid4()}", headers=officer)
    assert nobody.json() == []
    assert [len(await access_log(stack, child)) for child in children].count(3) == 2  # the third: 4, with the worklist


def _last_of(record, collection_id) -> bool:
    value = json.loads(record.value)
    return value.get("collection_id") == str(collection_id) and value.get("last") is True
