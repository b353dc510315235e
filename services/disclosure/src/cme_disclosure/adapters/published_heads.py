"""Read back the tree heads the log published on `cme.disclosure.tree-heads.v1`.

They are copies held outside the log's database: someone able to rewrite the database (and re-sign
its heads with a key of their own) cannot recall what the broker and every reader already hold, so
verify-log compares the database with them.
"""

import asyncio
import time
from dataclasses import dataclass, field

from aiokafka import AIOKafkaConsumer
from cme_shared.contracts.log import TreeHeadPublished
from cme_shared.kafka_security import KafkaConnection

from ..domain.tree_head import SignedTreeHead, TreeHead


@dataclass
class PublishedHeads:
    heads: list[SignedTreeHead] = field(default_factory=list)
    unreadable: int = 0  # records on the topic that are not a TreeHeadPublished
    topic_exists: bool = True  # False: the topic is gone (deleted), and with it the copies outside the log


async def read_published_heads(kafka: KafkaConnection, topic: str, timeout: float = 30.0) -> PublishedHeads:
    """Every head on `topic`, from the beginning up to the end as it stood when reading began.

    A fresh consumer with no group (group_id=None): it commits nothing and disturbs nobody.
    """
    consumer = AIOKafkaConsumer(**kafka.aiokafka(), group_id=None, enable_auto_commit=False,
                                auto_offset_reset="earliest", request_timeout_ms=int(timeout * 1000))
    await asyncio.wait_for(consumer.start(), timeout)
    found = PublishedHeads()
    deadline = time.monotonic() + timeout
    try:
        if topic not in await asyncio.wait_for(consumer.topics(), timeout):
            found.topic_exists = False
            return found
        # Without a group, subscribing assigns every partition once the topic's metadata is in.
        consumer.subscribe([topic])
        while not consumer.assignment():
            if time.monotonic() > deadline:
                raise TimeoutError(f"{topic}: no partitions assigned within {timeout}s")
            await asyncio.sleep(0.05)
        partitions = sorted(consumer.assignment())
        await consumer.seek_to_beginning(*partitions)
        end = await asyncio.wait_for(consumer.end_offsets(partitions), timeout)
        pending = {tp for tp in partitions if end[tp] > 0}
        while pending:
            for tp in list(pending):
                if await consumer.position(tp) >= end[tp]:
                    pending.discard(tp)
            if not pending:
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"{topic}: could not read to the end within {timeout}s")
            batch = await consumer.getmany(*pending, timeout_ms=500)
            for tp, records in batch.items():
                for record in records:
                    if record.offset >= end[tp]:
                        continue
                    try:
                        event = TreeHeadPublished.model_validate_json(record.value or b"")
                        found.heads.append(SignedTreeHead(
                            TreeHead(event.tree_size, bytes.fromhex(event.root_hash), event.timestamp,
                                     event.key_id),
                            bytes.fromhex(event.signature),
                        ))
                    except ValueError:  # pydantic's ValidationError too
                        found.unreadable += 1
        return found
    finally:
        await consumer.stop()
