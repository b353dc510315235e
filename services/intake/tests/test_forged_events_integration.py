"""Forged events change nothing in intake (issue 12, SEC-03): a rectification or a data-collection request without
a valid signature of the rights service is dead-lettered with the reason, byte for byte; the child's record keeps
its values and no reply leaves intake with the child's data."""

import json
import uuid
from datetime import UTC, datetime

import pytest

from cme_shared.contracts import topics
from cme_shared.contracts.rights import DataCollectionRequest, FactualRectification
from cme_shared.testing.kafka import produce
from cme_shared.testing.signing import forgeries

from .test_rights_integration import child_of, refer, send

pytestmark = pytest.mark.integration


def reasons(record) -> list[str]:
    return [p["code"] for p in json.loads(dict(record.headers)["x-dlq-reasons"])]


async def forge(intake, topic: str, event) -> None:
    value = event.model_dump_json().encode()
    attempts = forgeries(topic, value, b"rights", str(event.event_id).encode())
    async with intake.reader(topics.dlq(topic)) as dead:
        for headers, _ in attempts:
            await produce(intake.infra.kafka, intake.names(topic), value, key=b"rights", headers=headers)
        # The DLQ may hold earlier letters of the test: these are the ones holding this record's bytes.
        await dead.wait_for(lambda records: sum(r.value == value for r in records) >= len(attempts))
    letters = [letter for letter in dead.records if letter.value == value]
    assert len(letters) == len(attempts)
    assert sorted(code for letter in letters for code in reasons(letter)) == sorted(c for _, c in attempts)


async def test_a_forged_rectification_changes_no_record(intake, sample):
    child = await child_of(intake, await refer(intake, sample("accepted-school-deletion-no-destination.json"),
                                               "101234"))
    correction = FactualRectification(
        event_id=uuid.uuid4(), occurred_at=datetime.now(UTC), rights_request_id=uuid.uuid4(), subject_id=child,
        field="last_name", new_value="Haddad-Khalil", decided_by="dpo-1")
    await forge(intake, topics.RIGHTS_EVENTS, correction)
    versions = await intake.rows("SELECT kind FROM subject_observations WHERE subject_id = :s", s=child)
    assert [v.kind for v in versions] == ["referral"]
    assert await intake.scalar("SELECT count(*) FROM rectifications") == 0

    # The genuine event with the id the forgeries copied is applied: a forgery never claims a genuine id.
    async with intake.reader(topics.replies_of("intake")) as receipts:
        await send(intake, topics.RIGHTS_EVENTS, correction)
        await receipts.wait_for(lambda records: len(records) >= 1)
    assert await intake.scalar("SELECT count(*) FROM rectifications") == 1


async def test_a_forged_data_collection_request_gets_no_reply(intake, sample):
    child = await child_of(intake, await refer(intake, sample("accepted-school-deletion-no-destination.json"),
                                               "101234"))
    request = DataCollectionRequest(event_id=uuid.uuid4(), occurred_at=datetime.now(UTC),
                                    collection_id=uuid.uuid4(), rights_request_id=uuid.uuid4(), subject_ids=[child])
    async with intake.reader(topics.replies_of("intake")) as replies:
        await forge(intake, topics.DATA_COLLECTION_REQUESTS, request)
        await replies.settle(1.0)
    assert replies.records == []
