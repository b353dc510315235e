"""Record batches as they lie on the log, for tests of the consumers' edge.

`librdkafka_send` sends records as a partner's librdkafka client does, compressed with the codec asked for,
and `codecs_on_log` reads the topic back raw to show which codecs its batches really use (librdkafka sends
a batch uncompressed when compressing would not make it smaller).

Kafka checks a batch's framing and CRC, and decompresses it, before it appends it; it does not check that
header names are UTF-8, which aiokafka insists on when it reads them. A partner's client that writes header
names as raw bytes (librdkafka's C API takes any) thus puts on the log a batch aiokafka cannot decode.
`record_batch` writes such a batch byte by byte and `send_batch` appends it, in a ProduceRequest of its own.
"""

import struct
import time
from typing import Any

from aiokafka.client import AIOKafkaClient
from aiokafka.errors import for_code
from aiokafka.protocol.produce import ProduceRequest
from aiokafka.record import MemoryRecords
from aiokafka.record.util import calc_crc32c_py, encode_varint_py
from aiokafka.structs import TopicPartition
from confluent_kafka import Producer

from ..kafka_security import KafkaConnection
from ..messaging.fetching import read_raw, split_batches

CODEC_NAMES = {0: "none", 1: "gzip", 2: "snappy", 3: "lz4", 4: "zstd"}

Header = tuple[bytes, bytes | None]


def _varint(value: int) -> bytes:
    out = bytearray()
    encode_varint_py(value, out.append)
    return bytes(out)


def _record(offset_delta: int, key: bytes | None, value: bytes, headers: list[Header]) -> bytes:
    body = bytearray(b"\x00" + _varint(0) + _varint(offset_delta))  # attributes, timestamp delta, offset delta
    body += _varint(-1) if key is None else _varint(len(key)) + key
    body += _varint(len(value)) + value + _varint(len(headers))
    for name, header_value in headers:
        body += _varint(len(name)) + name
        body += _varint(-1) if header_value is None else _varint(len(header_value)) + header_value
    return _varint(len(body)) + bytes(body)


def record_batch(records: list[tuple[bytes | None, bytes, list[Header]]]) -> bytes:
    """A version 2 batch, uncompressed, of (key, value, headers) records; header names taken as bytes."""
    now = int(time.time() * 1000)
    payload = b"".join(_record(i, key, value, headers) for i, (key, value, headers) in enumerate(records))
    after_crc = struct.pack(">hiqqqhii", 0, len(records) - 1, now, now, -1, -1, -1, len(records)) + payload
    rest = struct.pack(">ibI", 0, 2, calc_crc32c_py(after_crc)) + after_crc  # leader epoch, magic, CRC-32C
    return struct.pack(">qi", 0, len(rest)) + rest


async def send_batch(kafka: KafkaConnection, topic: str, partition: int, batch: bytes) -> int:
    """Append `batch` to the partition; returns the offset of its first record."""
    client = AIOKafkaClient(**kafka.aiokafka())
    await client.bootstrap()
    try:
        await client._wait_on_metadata(topic)
        node = client.cluster.leader_for_partition(TopicPartition(topic, partition))
        response = await client.send(node, ProduceRequest(None, -1, 10_000, [(topic, [(partition, batch)])]))
        [(_topic, [(_partition, error_code, offset, *_rest)])] = response.topics
        if error_code:
            raise for_code(error_code)(f"{topic}:{partition}")
        return int(offset)
    finally:
        await client.close()


def librdkafka_send(kafka: KafkaConnection, topic: str, records: list[dict[str, Any]],
                    compression: str = "none") -> list[tuple[int, int]]:
    """Send `records` (keyword arguments of confluent-kafka's `produce`: value, key, headers, partition)
    in one go; the (partition, offset) of each, in order. Blocking: from async code, in a thread."""
    producer = Producer({**kafka.librdkafka(), "compression.type": compression, "linger.ms": 20})
    placed: dict[int, tuple[int, int]] = {}
    for index, record in enumerate(records):
        producer.produce(topic, on_delivery=lambda error, message, index=index: placed.__setitem__(
            index, (-1, -1) if error else (message.partition(), message.offset())), **record)
    unsent = producer.flush(30)
    if unsent or (-1, -1) in placed.values() or len(placed) != len(records):
        raise AssertionError(f"{topic}: not every record was acknowledged")
    return [placed[index] for index in range(len(records))]


async def codecs_on_log(kafka: KafkaConnection, topic: str, partitions: int) -> set[str]:
    """The codecs of the batches on the topic's first `partitions` partitions, read raw from the start."""
    client = AIOKafkaClient(**kafka.aiokafka())
    await client.bootstrap()
    try:
        await client._wait_on_metadata(topic)
        found: set[str] = set()
        for partition in range(partitions):
            tp = TopicPartition(topic, partition)
            for batch in split_batches(tp, await read_raw(client, tp, 0), 0):
                found.add(CODEC_NAMES[MemoryRecords(batch.data).next_batch().compression_type])
        return found
    finally:
        await client.close()
