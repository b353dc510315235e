"""The reply protocol to the rights service (cme_shared.replies), with the kit's in-memory outbox.

Source: CONTRACT section 4 as contracts/rights.py states it: a service answers a `DataCollectionRequest`
addressed to it (an empty `services` list addresses every service; a re-ask names those still owed) with
`DataCollectionReply` chunks numbered from 0 on its own replies topic, the last with `last=True` and
`total_items`; rights takes the answer as whole when it holds every chunk up to the last and as many items
as announced (`cme_rights.domain.collection.answer_complete`).
"""

import uuid
from datetime import UTC, datetime

import pytest

from cme_shared.clock import FixedClock
from cme_shared.contracts import topics
from cme_shared.contracts.categories import DataCategory
from cme_shared.contracts.rights import (
    MAX_CHUNK_BYTES,
    MAX_ITEMS_PER_CHUNK,
    DataCollectionRequest,
    DataItem,
    RectificationApplied,
)
from cme_shared.replies import REPLY_AGGREGATE_TYPE, addressed_to, reply_in_chunks, send_reply
from cme_shared.testing.fakes import FakeOutbox

pytestmark = pytest.mark.unit

CLOCK = FixedClock(datetime(2026, 11, 2, 9, 30, tzinfo=UTC))


def request(*services: str) -> DataCollectionRequest:
    return DataCollectionRequest(event_id=uuid.uuid4(), occurred_at=CLOCK.now(), collection_id=uuid.uuid4(),
                                 rights_request_id=uuid.uuid4(), subject_ids=[uuid.uuid4()], services=list(services))


def item(text: str = "a note") -> DataItem:
    return DataItem(service="casework", record_type="note", record_id=str(uuid.uuid4()), subject_id=uuid.uuid4(),
                    category=DataCategory.EDUCATION, source="an officer", recorded_at=CLOCK.now(),
                    data={"text": text})


def whole(replies) -> bool:
    """The rights service's test of a complete answer, as the contract states it."""
    last = [r for r in replies if r.last]
    if len(last) != 1:
        return False
    numbers = sorted(r.chunk for r in replies)
    return (numbers == list(range(last[0].chunk + 1))
            and sum(len(r.items) for r in replies) == last[0].total_items)


def test_a_request_naming_no_service_is_addressed_to_every_service():
    for service in ("intake", "casework", "disclosure"):
        assert addressed_to(request(), service)


def test_a_re_ask_is_addressed_only_to_the_services_it_names():
    re_ask = request("casework", "disclosure")
    assert addressed_to(re_ask, "casework") and addressed_to(re_ask, "disclosure")
    assert not addressed_to(re_ask, "intake")


async def test_an_answer_with_nothing_held_is_still_one_last_chunk():
    outbox, asked = FakeOutbox(), request()
    await reply_in_chunks(outbox, asked, "intake", [], occurred_at=CLOCK.now())

    [sent] = outbox.sent
    assert sent.topic == topics.replies_of("intake")
    reply = sent.event
    assert (reply.chunk, reply.last, reply.total_items, reply.items) == (0, True, 0, [])
    assert reply.collection_id == asked.collection_id and reply.service == "intake"
    assert whole([reply])


async def test_many_items_go_in_numbered_chunks_the_last_announcing_the_total():
    outbox, asked = FakeOutbox(), request()
    items = [item() for _ in range(2 * MAX_ITEMS_PER_CHUNK + 50)]
    sent = await reply_in_chunks(outbox, asked, "casework", items, occurred_at=CLOCK.now())

    replies = outbox.events(topics.replies_of("casework"))
    assert replies == sent
    assert [len(r.items) for r in replies] == [MAX_ITEMS_PER_CHUNK, MAX_ITEMS_PER_CHUNK, 50]
    assert [r.chunk for r in replies] == [0, 1, 2]
    assert [r.last for r in replies] == [False, False, True]
    assert [r.total_items for r in replies] == [None, None, len(items)]
    assert [i for r in replies for i in r.items] == items  # every item, in order
    assert whole(replies)
    assert all(r.occurred_at == CLOCK.now() for r in replies)  # the unit of work's clock, not the wall's


async def test_every_chunk_of_one_collection_is_one_aggregate_so_they_leave_in_order():
    outbox, asked = FakeOutbox(), request("disclosure")
    await reply_in_chunks(outbox, asked, "disclosure", [item() for _ in range(MAX_ITEMS_PER_CHUNK + 1)],
                          occurred_at=CLOCK.now())
    assert {(s.aggregate_type, s.aggregate_id) for s in outbox.sent} == {
        (REPLY_AGGREGATE_TYPE, str(asked.collection_id))}
    assert {s.topic for s in outbox.sent} == {topics.replies_of("disclosure")}


async def test_chunks_are_bounded_by_bytes_and_an_item_larger_than_a_chunk_travels_alone():
    big, small = item("b" * (MAX_CHUNK_BYTES + 10)), item("s")
    outbox = FakeOutbox()
    replies = await reply_in_chunks(outbox, request(), "casework", [small, big, small], occurred_at=CLOCK.now())
    assert [len(r.items) for r in replies] == [1, 1, 1]
    assert whole(replies)


async def test_the_smaller_limits_a_caller_sets_are_kept():
    replies = await reply_in_chunks(FakeOutbox(), request(), "intake", [item() for _ in range(5)],
                                    occurred_at=CLOCK.now(), max_items=2)
    assert [len(r.items) for r in replies] == [2, 2, 1] and whole(replies)


async def test_a_single_reply_goes_on_the_services_replies_topic_under_the_one_aggregate_type():
    outbox = FakeOutbox()
    applied = RectificationApplied(event_id=uuid.uuid4(), occurred_at=CLOCK.now(), rights_request_id=uuid.uuid4(),
                                   service="casework", subject_id=uuid.uuid4(), records_changed=2)
    await send_reply(outbox, "casework", applied, aggregate_id=str(applied.rights_request_id))
    [sent] = outbox.sent
    assert (sent.topic, sent.event, sent.aggregate_type, sent.aggregate_id) == (
        topics.replies_of("casework"), applied, REPLY_AGGREGATE_TYPE, str(applied.rights_request_id))
