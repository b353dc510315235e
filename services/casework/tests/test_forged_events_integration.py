"""Forged events change nothing in casework (issue 12, SEC-03): an accepted referral, a restriction or its lift,
and a rectification on casework's topics without a valid signature of their rightful writer are dead-lettered
with the reason, byte for byte, and no case opens, no case is restricted or released, no fact changes."""

import json
import uuid
from datetime import UTC, datetime

import pytest

from cme_shared.contracts import topics
from cme_shared.contracts.rights import FactualRectification, RestrictionLifted, SubjectRestricted
from cme_shared.testing.kafka import TopicReader, produce
from cme_shared.testing.signing import forgeries

from .test_kafka_flows_integration import cases_of, history_kinds, kinds_for_child, send

pytestmark = pytest.mark.integration


def reasons(record) -> list[str]:
    return [p["code"] for p in json.loads(dict(record.headers)["x-dlq-reasons"])]


async def forge(stack, topic: str, event, key: bytes) -> list[str]:
    """Every forgery of `event` on `topic`; the reason codes its dead letters carry."""
    value = event.model_dump_json().encode()
    attempts = forgeries(topic, value, key, str(event.event_id).encode())
    async with TopicReader(stack.settings.kafka_connection(), stack.topics(topics.dlq(topic))) as dead:
        for headers, _ in attempts:
            await produce(stack.settings.kafka_connection(), stack.topics(topic), value, key=key, headers=headers)
        # The DLQ may hold earlier letters of the test: these are the ones holding this record's bytes.
        await dead.wait_for(lambda records: sum(r.value == value for r in records) >= len(attempts))
    letters = [letter for letter in dead.records if letter.value == value]
    assert len(letters) == len(attempts)  # kept byte for byte
    assert sorted(code for letter in letters for code in reasons(letter)) == sorted(c for _, c in attempts)
    return [code for _, code in attempts]


async def test_a_forged_accepted_referral_opens_no_case(stack, make_referral):
    child = uuid.uuid4()
    await forge(stack, topics.REFERRAL_ACCEPTED, make_referral(child=child), str(child).encode())
    assert await cases_of(stack, child) == []
    assert await kinds_for_child(stack, child) == []


async def test_forged_restrictions_lifts_and_rectifications_change_no_case(stack, make_referral):
    child, request = uuid.uuid4(), uuid.uuid4()
    case_id = await stack.referral(make_referral(child=child))
    before = await history_kinds(stack, case_id)
    key = str(request).encode()
    restriction = SubjectRestricted(event_id=uuid.uuid4(), occurred_at=datetime.now(UTC), rights_request_id=request,
                                    subject_ids=[child], reason="accuracy contested")
    await forge(stack, topics.RIGHTS_EVENTS, restriction, key)
    await forge(stack, topics.RIGHTS_EVENTS, FactualRectification(
        event_id=uuid.uuid4(), occurred_at=datetime.now(UTC), rights_request_id=request, subject_id=child,
        field="date_of_birth", new_value="2010-01-01", decided_by="nobody"), key)
    assert await history_kinds(stack, case_id) == before
    note = {"kind": "fact", "category": "contact", "text": "letter sent to the last known address"}
    answer = await stack.client.post(f"/cases/{case_id}/notes", json=note,
                                     headers=stack.headers("officer", borough="westminster"))
    assert answer.status_code == 201  # not restricted

    # The genuine event, signed by rights, with the event id the forgeries copied, still takes effect (a
    # forgery never claims a genuine event's id); and then a forged lift does not release the case.
    await send(stack, topics.RIGHTS_EVENTS, restriction, str(request))

    async def restricted() -> bool:
        refused = await stack.client.post(f"/cases/{case_id}/notes", json=note,
                                          headers=stack.headers("officer", borough="westminster"))
        return refused.status_code == 409

    from cme_shared.testing.kafka import eventually

    await eventually(restricted)
    await forge(stack, topics.RIGHTS_EVENTS, RestrictionLifted(
        event_id=uuid.uuid4(), occurred_at=datetime.now(UTC), rights_request_id=request, subject_ids=[child],
        reason="forged"), key)
    assert await restricted()
