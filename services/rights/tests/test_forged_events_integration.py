"""Forged collection replies change nothing in rights (issue 12, SEC-03 d): a reply on an answering service's
replies topic without that service's valid signature (none, a key nobody pinned, another service's real key, or
the rightful signature of other bytes) is dead-lettered with its reason, byte for byte; the collection waits for
the genuine answers and the pack holds none of the forged items."""

import json
import uuid
from datetime import UTC, datetime

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from cme_shared.contracts import topics
from cme_shared.contracts.rights import DataCollectionReply
from cme_shared.testing.kafka import TopicReader, eventually, produce
from cme_shared.testing.signing import forgeries

from .conftest import SERVICES, item
from .test_access_integration import CHILD, script

pytestmark = pytest.mark.integration


def reasons(record) -> list[str]:
    return [p["code"] for p in json.loads(dict(record.headers)["x-dlq-reasons"])]


async def test_forged_collection_replies_are_dead_lettered_and_the_pack_holds_only_genuine_items(
        start_rights, responders, infra, namespace):
    script(responders)
    responders.held = True
    async with start_rights() as rights:
        request_id = (await rights.create())["request_id"]
        await eventually(lambda: len(responders.asked("intake")) == 1)
        collection = responders.asked("intake")[0].collection_id
        for service in SERVICES:
            topic = topics.replies_of(service)
            forged = DataCollectionReply(
                event_id=uuid.uuid4(), occurred_at=datetime.now(UTC), collection_id=collection, service=service,
                chunk=0, last=True, total_items=1,
                items=[item(service, CHILD, 99, record_id=f"forged-{service}", data={"note": "planted"})])
            value, key = forged.model_dump_json().encode(), str(collection).encode()
            attempts = forgeries(topic, value, key, str(forged.event_id).encode())
            async with TopicReader(infra.kafka, namespace(topics.dlq(topic))) as dead:
                for headers, _ in attempts:
                    await produce(infra.kafka, namespace(topic), value, key=key, headers=headers)
                letters = await dead.wait_for(lambda records, n=len(attempts): len(records) >= n)
            assert all(letter.value == value for letter in letters)
            assert sorted(c for letter in letters for c in reasons(letter)) == sorted(c for _, c in attempts)
        assert (await rights.get(request_id))["status"] == "collecting"  # the forgeries answered nothing

        await responders.release()
        await rights.reaches(request_id, "ready_for_review")
    engine = create_async_engine(rights.database_url)
    try:
        async with engine.connect() as conn:
            planted = (await conn.execute(text(
                "SELECT count(*) FROM ask_chunks WHERE items::text LIKE '%planted%'"))).scalar()
            genuine = (await conn.execute(text("SELECT count(*) FROM ask_chunks"))).scalar()
    finally:
        await engine.dispose()
    assert planted == 0 and genuine > 0
