"""Forged events change nothing in disclosure (SEC-03 a, c): a restriction lift or a share without a valid
signature of a service allowed to write its topic is dead-lettered with the reason, on the real broker."""

import json
import uuid

import pytest

from cme_shared.contracts import topics
from cme_shared.contracts.rights import RestrictionLifted, SubjectRestricted
from cme_shared.contracts.shares import Recipient, ShareMade
from cme_shared.testing.kafka import TopicReader, eventually, produce
from cme_shared.testing.signing import FORGER, signed_headers

from .test_disclosures_integration import now, police_request, send

pytestmark = pytest.mark.integration


def reasons(record) -> list[str]:
    headers = dict(record.headers)
    return [p["code"] for p in json.loads(headers["x-dlq-reasons"])]


async def test_a_forged_restriction_lift_is_dead_lettered_and_the_subject_stays_restricted(
        client, token, infra, namespace):
    subject, request_id = uuid.uuid4(), uuid.uuid4()
    asker = token("manager", sub="m-asks")  # an officer is never told of a restriction (SEC-29)
    await send(infra, namespace, topics.RIGHTS_EVENTS, SubjectRestricted(
        event_id=uuid.uuid4(), occurred_at=now(), rights_request_id=request_id, subject_ids=[subject],
        reason="accuracy contested"), key=str(request_id))

    async def refused() -> bool:
        answer = (await client.post("/disclosures", json=police_request(subject), headers=asker)).json()
        return answer["status"] == "refused"

    await eventually(refused)
    lift = RestrictionLifted(event_id=uuid.uuid4(), occurred_at=now(), rights_request_id=request_id,
                             subject_ids=[subject], reason="forged")
    value, key = lift.model_dump_json().encode(), str(request_id).encode()
    forgeries = [
        ([("event_id", str(uuid.uuid4()).encode())], "unsigned"),
        (signed_headers(topics.RIGHTS_EVENTS, value, key, [("event_id", str(uuid.uuid4()).encode())],
                        signer=FORGER), "bad_signature"),  # "rights", with a key nobody pinned
        (signed_headers(topics.RIGHTS_EVENTS, value, key, [("event_id", str(uuid.uuid4()).encode())],
                        signer="casework"), "unexpected_signer"),  # a real key, of a service that may not write it
    ]
    async with TopicReader(infra.kafka, namespace(topics.dlq(topics.RIGHTS_EVENTS))) as dead:
        for headers, _ in forgeries:
            await produce(infra.kafka, namespace(topics.RIGHTS_EVENTS), value, key=key, headers=headers)
        letters = await dead.wait_for(lambda rs: len(rs) >= len(forgeries))
    assert sorted(code for r in letters for code in reasons(r)) == sorted(code for _, code in forgeries)
    assert all(r.value == value for r in letters)  # byte for byte
    answer = (await client.post("/disclosures", json=police_request(subject), headers=asker)).json()
    assert answer["status"] == "refused"
    assert [r["code"] for r in answer["refusal_reasons"]] == ["subject_restricted"]


async def test_a_share_signed_by_one_service_cannot_claim_to_be_another_s(client, token, infra, namespace):
    subject = uuid.uuid4()
    share = ShareMade(
        event_id=uuid.uuid4(), occurred_at=now(), share_ref=f"rights:{uuid.uuid4()}", service="rights",
        subject_ids=[subject], recipient=Recipient(type="police", org_id="MPS", org_name="Metropolitan Police"),
        purpose="statutory_transfer", legal_gateway="Education (Pupil Registration) Regulations 2006",
        categories=["contact"], fields_released=["child.first_name"], reason="forged", decided_by="nobody",
        shared_at=now(),
    )
    async with TopicReader(infra.kafka, namespace(topics.dlq(topics.SHARE_EVENTS))) as dead:
        # casework may write share events, but not rights' shares: it would squat rights' share_ref.
        await send(infra, namespace, topics.SHARE_EVENTS, share, signer="casework")
        [letter] = await dead.wait_for(lambda rs: len(rs) >= 1)
    assert reasons(letter) == ["service_mismatch"]
    # The genuine share with that reference, signed by rights, is logged (not dropped as a duplicate).
    await send(infra, namespace, topics.SHARE_EVENTS, share.model_copy(update={"event_id": uuid.uuid4()}), signer="rights")

    async def listed():
        body = (await client.get("/disclosures", params={"subject_id": str(subject)}, headers=token("dpo"))).json()
        return body or None

    [logged] = await eventually(listed)
    assert logged["recipient"]["type"] == "police"
