"""The relay's wake-up path: a commit's nudge is never lost, and a pass that took every row waits for the
next one instead of making an empty pass straight after (docs/performance.md, latency under load)."""

import asyncio
import time

import pytest
from sqlalchemy import MetaData
from sqlalchemy.ext.asyncio import create_async_engine

from cme_shared.kafka_security import KafkaConnection
from cme_shared.messaging.outbox import OutboxRelay, RelayPass
from cme_shared.messaging.tables import KitTables

pytestmark = pytest.mark.unit

POLL = 5.0  # far longer than any test waits: a pass that starts at once was woken, not polled


class ScriptedRelay(OutboxRelay):
    """`publish_pending` plays a script: each pass claims a number of rows and may be nudged meanwhile
    (a unit of work committing while the pass runs). No database, no broker."""

    def __init__(self, script: list[tuple[int, bool]], batch_size: int = 10) -> None:
        super().__init__(create_async_engine("postgresql+asyncpg://nobody@127.0.0.1:1/none"), KitTables(MetaData()),
                         kafka=KafkaConnection("127.0.0.1:1", security_protocol="PLAINTEXT"), batch_size=batch_size, poll_seconds=POLL)
        self.script = list(script)
        self.passes: list[float] = []  # when each pass started (monotonic)

    async def _refresh_stats(self) -> None:
        self._stats_at = time.monotonic()

    async def publish_pending(self) -> RelayPass:
        self.passes.append(time.monotonic())
        claimed, nudged = self.script.pop(0) if self.script else (0, False)
        await asyncio.sleep(0.01)  # the pass's round trips
        if nudged:
            self.nudge()
        return RelayPass(claimed=claimed, published=claimed)


async def run_for(relay: ScriptedRelay, seconds: float) -> None:
    relay._task = asyncio.create_task(relay._run())
    await asyncio.sleep(seconds)
    relay._task.cancel()
    await asyncio.gather(relay._task, return_exceptions=True)


async def test_a_nudge_during_a_pass_that_found_nothing_starts_the_next_pass_at_once():
    # The commit came just after the pass's claim: the pass found nothing, its rows are the next pass's.
    # Before the fix the relay cleared that nudge after the empty pass and the rows waited for the poll.
    relay = ScriptedRelay([(0, True), (3, False)])
    await run_for(relay, 0.5)
    assert len(relay.passes) == 2
    assert relay.passes[1] - relay.passes[0] < 0.2


async def test_a_nudge_during_a_pass_that_sent_rows_starts_the_next_pass_at_once():
    relay = ScriptedRelay([(4, True), (2, False)])
    await run_for(relay, 0.5)
    assert len(relay.passes) == 2
    assert relay.passes[1] - relay.passes[0] < 0.2


async def test_a_pass_that_took_every_row_waits_for_the_next_commit():
    relay = ScriptedRelay([(4, False)])
    await run_for(relay, 0.3)
    assert len(relay.passes) == 1  # no empty pass straight after it
    relay = ScriptedRelay([(4, False)])
    relay._task = asyncio.create_task(relay._run())
    await asyncio.sleep(0.1)
    relay.nudge()  # a unit of work committed rows
    await asyncio.sleep(0.1)
    relay._task.cancel()
    await asyncio.gather(relay._task, return_exceptions=True)
    assert len(relay.passes) == 2


async def test_a_full_pass_goes_round_again_at_once():
    # It took as many rows as it may: more may be waiting, whoever wrote them.
    relay = ScriptedRelay([(10, False), (10, False), (1, False)], batch_size=10)
    await run_for(relay, 0.5)
    assert len(relay.passes) == 3
    assert relay.passes[2] - relay.passes[0] < 0.2
