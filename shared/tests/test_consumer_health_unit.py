"""A consumer's health judged from what it is fed, and batches read raw: no broker, no database."""

import asyncio
import time
from typing import Any

import pytest
from aiokafka import ConsumerRecord, TopicPartition
from aiokafka.errors import CorruptRecordException

from cme_shared.messaging.consumer import Delivery
from cme_shared.messaging.fetching import raw_body, split_batches, tolerant_parser
from cme_shared.messaging.health import ConsumerHealth
from cme_shared.settings import ServiceSettings
from cme_shared.testing.raw_batches import record_batch

pytestmark = pytest.mark.unit

TP = TopicPartition("t", 0)


class Consumer:
    """What the watchdog reads of an aiokafka consumer."""

    def __init__(self, position: int, highwater: int) -> None:
        self.at, self.hw = position, highwater

    def assignment(self) -> set[TopicPartition]:
        return {TP}

    async def position(self, _tp: TopicPartition) -> int:
        return self.at

    def highwater(self, _tp: TopicPartition) -> int:
        return self.hw


def delivery(offset: int) -> Delivery:
    return Delivery(topic="t", partition=0, offset=offset, key=None, value=b"")


async def test_a_partition_with_records_waiting_that_does_not_move_is_stalled_and_an_idle_one_is_not():
    health = ConsumerHealth("c", "g", stall_seconds=0.2)
    health.assigned([TP])
    idle = Consumer(position=5, highwater=5)
    for _ in range(4):
        await health.check(idle)
        await asyncio.sleep(0.1)
    assert health.problems() == []

    waiting = Consumer(position=5, highwater=7)  # two records arrive and are not taken
    await health.check(waiting)
    assert health.problems() == []
    await asyncio.sleep(0.25)
    await health.check(waiting)
    [problem] = health.problems()
    assert (problem["reason"], problem["partition"], problem["offset"], problem["lag"]) == ("stalled", 0, 5, 2)

    with health.handling([delivery(5), delivery(6)]):
        pass
    await health.check(waiting)
    assert health.problems() == []


async def test_a_handler_call_that_still_settles_records_is_alive_and_one_that_does_not_is_reported():
    health = ConsumerHealth("c", "g", stall_seconds=0.2)
    health.assigned([TP])
    consumer = Consumer(position=10, highwater=20)
    with health.handling([delivery(o) for o in range(10, 20)]):
        for _ in range(5):  # a batch's records retried one by one, each settling in turn
            await asyncio.sleep(0.1)
            health.record_settled()
            await health.check(consumer)
            assert health.problems() == []
        await asyncio.sleep(0.3)  # then nothing settles
        await health.check(consumer)
        reasons = {p["reason"]: p for p in health.problems()}
        assert set(reasons) == {"handler_running", "stalled"}
        assert (reasons["handler_running"]["offset"], reasons["stalled"]["offset"]) == (10, 10)


def test_a_blocked_partition_is_reported_at_once_and_cleared_when_it_moves_past():
    health = ConsumerHealth("c", "g", stall_seconds=60)
    health.blocked(TP, 42, "UnsupportedCodecError")
    assert health.problems()[-1] == {"consumer": "c", "topic": "t", "partition": 0, "offset": 42,
                                     "reason": "blocked", "error_type": "UnsupportedCodecError"}
    health.advanced(TP, 42)
    assert not health.healthy
    health.advanced(TP, 43)
    assert health.healthy


def test_fetches_that_keep_failing_make_it_unhealthy_and_one_success_ends_it():
    health = ConsumerHealth("c", "g", stall_seconds=60)
    for _ in range(3):
        health.fetch_failed("KafkaError", "t")
    assert health.problems() == [{"consumer": "c", "reason": "fetch_failing", "error_type": "KafkaError",
                                  "attempts": 3}]
    health.fetched()
    assert health.healthy


def test_batches_are_read_raw_as_aiokafka_reads_them_up_to_the_first_it_cannot():
    good = record_batch([(b"k", b"one", []), (b"k", b"two", [(b"h", None)])])
    bad = record_batch([(b"k", b"three", []), (b"k", b"four", [(b"\xff", b"v")]), (b"k", b"five", [])])
    bad = (2).to_bytes(8, "big") + bad[8:]  # after the first on the log (the CRC leaves the base offset out)
    batches = list(split_batches(TP, good + bad + good[:20], from_offset=1))  # a response cut mid-batch
    assert len(batches) == 2
    first, second = batches
    assert [r.value for r in first.records] == [b"two"] and first.records[0].headers == (("h", None),)
    assert first.error is None and first.data == good
    assert [r.value for r in second.records] == [b"three"]  # read before the one it could not read
    assert isinstance(second.error, UnicodeDecodeError) and second.data == bad
    assert (second.base_offset, second.last_offset, second.unread_from) == (2, 4, 3)


def test_a_batch_whose_crc_does_not_match_is_not_read():
    batch = bytearray(record_batch([(None, b"value", [])]))
    batch[-1] ^= 0xFF
    [read] = split_batches(TP, bytes(batch), 0)
    assert isinstance(read.error, CorruptRecordException) and read.records == []


async def test_faststream_gets_header_values_it_can_read_and_the_kit_the_record_as_it_came():
    record: ConsumerRecord[bytes, bytes] = ConsumerRecord(
        "t", 0, 3, int(time.time() * 1000), 0, None, b"\xff body", None, -1, 6,
        (("h", b"\xff\xfe"), ("n", None)))
    seen: list[Any] = []

    async def strict(raw: Any) -> Any:  # as FastStream's own parser reads headers
        headers = {name: value.decode() for name, value in raw.headers}
        seen.append(headers)
        return type("Message", (), {"raw_message": raw, "body": raw.value})()

    message = await tolerant_parser(record, strict)
    assert message.raw_message is record and seen == [{"h": "\ufffd\ufffd", "n": ""}]
    assert await raw_body(message) == b"\xff body"
    batch = await tolerant_parser((record, record), lambda raw: strict(raw[0]))
    assert batch.raw_message == (record, record)


def test_the_stall_time_must_outlast_a_records_retries():
    with pytest.raises(ValueError, match="must exceed a record's retries"):
        ServiceSettings(consumer_stall_seconds=4.0)  # defaults: 4 attempts, 0.2 s backoff, 4.6 s at worst
    assert ServiceSettings(consumer_stall_seconds=5.0).consumer_stall_seconds == 5.0
