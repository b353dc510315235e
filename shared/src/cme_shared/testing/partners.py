"""What partners' own clients send, for tests of the platform's edges (issue 11).

Partners do not use our kit: their Kafka clients are librdkafka or Java ones, which batch and compress
(gzip, snappy, lz4, zstd) as they are configured to. `publish` sends records the way such a client does,
through confluent-kafka (librdkafka), one producer per codec. The builders make the hostile documents the
platform must survive: a referral widened with thousands of unknown keys, JSON nested far deeper than any
parser should follow.
"""

import asyncio
import json
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from confluent_kafka import KafkaError, Producer

from ..kafka_security import KafkaConnection
from .infra import SAMPLE_REFERRALS

CODECS = ("none", "gzip", "snappy", "lz4", "zstd")
# Kafka's default largest record (the broker's message.max.bytes); librdkafka's own default is lower.
MAX_RECORD_BYTES = 1_048_576


@dataclass(frozen=True)
class PartnerRecord:
    """One record as a partner's producer sends it. `value` None is a tombstone; a header value None is a
    header without a value, which Kafka allows."""

    value: bytes | None
    key: bytes | None = None
    headers: list[tuple[str, bytes | None]] = field(default_factory=list)
    compression: str = "none"
    partition: int | None = None


def publish(kafka: KafkaConnection, topic: str, records: Sequence[PartnerRecord], *, timeout: float = 120.0) -> None:
    """Send `records` in their order, each through the librdkafka producer of its codec (all of them
    batching at once, so compressed and plain batches interleave on the partitions). Returns when every
    record is acknowledged by the broker (acks=all); raises if any was refused. Blocking: from async code,
    use `publish_async`."""
    producers = {
        codec: Producer({
            **kafka.librdkafka(), "compression.type": codec, "enable.idempotence": True,
            "linger.ms": 20, "message.max.bytes": MAX_RECORD_BYTES,
        })
        for codec in sorted({record.compression for record in records})
    }
    failures: list[str] = []
    lock = threading.Lock()

    def delivered(error: KafkaError | None, _message: Any) -> None:
        if error is not None:
            with lock:
                failures.append(error.name())

    for record in records:
        producer = producers[record.compression]
        options: dict[str, Any] = {"value": record.value, "key": record.key, "headers": record.headers,
                                   "on_delivery": delivered}
        if record.partition is not None:
            options["partition"] = record.partition
        while True:
            try:
                producer.produce(topic, **options)
                break
            except BufferError:  # the producer's queue is full: let it send some first
                producer.poll(0.1)
        producer.poll(0)
    unsent = sum(producer.flush(timeout) for producer in producers.values())
    if unsent or failures:
        raise AssertionError(f"{topic}: {unsent} record(s) not acknowledged, {len(failures)} refused "
                             f"({sorted(set(failures))[:5]})")


async def publish_async(kafka: KafkaConnection, topic: str, records: Sequence[PartnerRecord], *,
                        timeout: float = 120.0) -> None:
    """`publish` in a worker thread, so that apps running in the caller's event loop keep consuming."""
    await asyncio.to_thread(publish, kafka, topic, records, timeout=timeout)


async def lag(kafka: KafkaConnection, group: str, topic: str) -> dict[int, int]:
    """Records of `topic` that consumer group `group` has not committed yet, per partition: all zero once
    the group has settled everything partners sent, poison included (a partition the group never
    committed on counts from its start)."""
    admin = AIOKafkaAdminClient(**kafka.aiokafka())
    consumer = AIOKafkaConsumer(**kafka.aiokafka())
    await admin.start()
    await consumer.start()
    try:
        await consumer.topics()  # the cluster's metadata, for the topic's partitions
        partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        committed = {tp: meta.offset for tp, meta in (await admin.list_consumer_group_offsets(group)).items()}
        ends = await consumer.end_offsets(partitions)
        return {tp.partition: ends[tp] - max(committed.get(tp, 0), 0) for tp in partitions}
    finally:
        await consumer.stop()
        await admin.close()


def widened(document: dict[str, Any], unknown_keys: int) -> bytes:
    """`document` with `unknown_keys` keys no contract knows (`"k0":0,…`), compact: the shape of SEC-01's
    130 KB public referral (13,000 keys), whose every key was once a problem listed in full."""
    wide = {**document, **{f"k{i}": 0 for i in range(unknown_keys)}}
    return json.dumps(wide, separators=(",", ":")).encode()


def nested(size: int, kind: str | None = None) -> bytes:
    """JSON arrays nested `size // 2` deep (`[[[…]]]`, SEC-04's 200 KB record), optionally inside an
    object whose `kind` comes first, so that a pre-parser reading only `kind` meets the depth too."""
    if kind is None:
        depth = size // 2
        return b"[" * depth + b"]" * depth
    head = json.dumps({"kind": kind})[:-1].encode() + b', "value": '
    depth = max(1, (size - len(head) - 1) // 2)
    return head + b"[" * depth + b"]" * depth + b"}"


def ordinary_referral(tag: str) -> dict[str, Any]:
    """A school's deletion return that intake accepts and casework opens a case for, about a child named
    by no sample (so that its case is new, whatever was sent before): the referral a test sends after an
    edge to show the platform still works. `tag` makes its referral id unique."""
    referral = json.loads((SAMPLE_REFERRALS / "accepted-school-deletion-no-destination.json").read_bytes())
    referral["referral_id"] = f"ORD-{tag}"[:64]
    child = referral["child"]
    child.update(first_name="Zofia", last_name="Afterward", date_of_birth="2015-05-05", upn=None, nhs_number=None)
    child["address"]["line1"] = "3 Quiet Row"
    return referral
