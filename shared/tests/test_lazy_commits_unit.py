"""Batch mode's offset commits: settled offsets only, committed together, none left behind."""

import asyncio

import pytest
from aiokafka import TopicPartition

from cme_shared.messaging.consumer import Delivery, _LazyCommits

pytestmark = pytest.mark.unit


class SlowConsumer:
    """Records what was committed; each commit takes until `release` is set."""

    def __init__(self) -> None:
        self.commits: list[dict[TopicPartition, int]] = []
        self.release = asyncio.Event()

    def assignment(self) -> set[TopicPartition]:
        return {TopicPartition("t", 0), TopicPartition("t", 1)}

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        await self.release.wait()
        self.commits.append(dict(offsets))


def records(partition: int, *offsets: int) -> list[Delivery]:
    return [Delivery(topic="t", partition=partition, offset=o, key=None, value=b"") for o in offsets]


async def test_batches_settled_while_a_commit_is_under_way_are_committed_too():
    consumer = SlowConsumer()
    commits = _LazyCommits("test", interval=0.05)
    commits.settled(consumer, records(0, 0, 1, 2))
    await asyncio.sleep(0.1)  # the timer has fired and its commit is waiting on the broker
    commits.settled(consumer, records(0, 3, 4) + records(1, 7))
    consumer.release.set()
    await asyncio.sleep(0.3)
    assert consumer.commits == [{TopicPartition("t", 0): 3},
                                {TopicPartition("t", 0): 5, TopicPartition("t", 1): 8}]


async def test_a_flush_commits_at_once_and_a_failed_commit_is_dropped_not_retried_forever():
    class Refusing:
        calls = 0

        def assignment(self):
            return {TopicPartition("t", 0)}

        async def commit(self, offsets):
            Refusing.calls += 1
            raise RuntimeError("partition revoked")

    commits = _LazyCommits("test", interval=60)
    commits.settled(Refusing(), records(0, 9))
    await commits.flush()
    await commits.flush()  # nothing pending any more: the failed offsets are read again, as duplicates
    assert Refusing.calls == 1


async def test_partitions_taken_away_by_a_rebalance_do_not_stop_the_others_being_committed():
    consumer = SlowConsumer()
    consumer.release.set()
    commits = _LazyCommits("test", interval=60)
    commits.settled(consumer, records(0, 4) + records(2, 9))  # partition 2 has since gone to another member
    await commits.flush()
    assert consumer.commits == [{TopicPartition("t", 0): 5}]
