"""Kafka helpers for tests: produce raw records, read a topic until what is expected has arrived."""

import asyncio
import time
from collections.abc import Callable
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord

from ..kafka_security import KafkaConnection


async def produce(kafka: KafkaConnection, topic: str, value: bytes, key: bytes | None = None,
                  headers: list[tuple[str, bytes]] | None = None, partition: int | None = None) -> Any:
    producer = AIOKafkaProducer(**kafka.aiokafka(), acks="all", enable_idempotence=True)
    await producer.start()
    try:
        return await producer.send_and_wait(topic, value=value, key=key, headers=headers or [],
                                            partition=partition)
    finally:
        await producer.stop()


class TopicReader:
    """Reads a topic from the beginning and keeps every record seen, for assertions."""

    def __init__(self, kafka: KafkaConnection, topic: str) -> None:
        self.topic = topic
        self.records: list[ConsumerRecord[bytes, bytes]] = []
        self._consumer = AIOKafkaConsumer(
            topic, **kafka.aiokafka(), auto_offset_reset="earliest", enable_auto_commit=False,
            group_id=None,
        )

    async def __aenter__(self) -> "TopicReader":
        await self._consumer.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._consumer.stop()

    async def wait_for(
        self, predicate: Callable[[list[ConsumerRecord[bytes, bytes]]], bool], timeout: float = 30.0
    ) -> list[ConsumerRecord[bytes, bytes]]:
        deadline = time.monotonic() + timeout
        while not predicate(self.records):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"{self.topic}: condition not met in {timeout}s; {len(self.records)} records seen")
            batch = await self._consumer.getmany(timeout_ms=int(min(remaining, 0.5) * 1000))
            for records in batch.values():
                self.records.extend(records)
        return self.records

    async def settle(self, seconds: float = 1.0) -> list[ConsumerRecord[bytes, bytes]]:
        """Keep reading for `seconds` more: to show that nothing further arrives."""
        deadline = time.monotonic() + seconds
        while (remaining := deadline - time.monotonic()) > 0:
            batch = await self._consumer.getmany(timeout_ms=int(min(remaining, 0.5) * 1000))
            for records in batch.values():
                self.records.extend(records)
        return self.records


async def eventually(check: Callable[[], Any], timeout: float = 30.0, interval: float = 0.2) -> Any:
    """Await `check()` until it returns something truthy."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        await asyncio.sleep(interval)
