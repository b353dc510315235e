"""Pruning the kit's own copies: published outbox rows and processed inbox rows (SEC-18, issue 13 item 4).

Every service runs a `Pruner` (started by the runtime) that, every `CME_PRUNE_INTERVAL_SECONDS` (an hour),
deletes in small batches (`CME_PRUNE_BATCH_SIZE`, each its own short transaction, skipping rows another
transaction holds):

- outbox rows published more than `CME_PRUNE_OUTBOX_PUBLISHED_DAYS` (7) ago. A published row is a copy of
  an event that is on Kafka: kept a week so that an operator can see what was sent, then gone, so that a
  copy of the database no longer holds every event the service ever sent (subject access dossiers, values
  from before a rectification, share details). Rows waiting to be sent and quarantined rows are never
  touched, however old: they are not copies, they are all there is.
- inbox rows processed more than `CME_PRUNE_INBOX_PROCESSED_DAYS` (30) ago. An inbox row is what makes a
  redelivered message change nothing, so it must outlive every redelivery Kafka can make. A record is
  delivered again only while it is on its topic: every topic a kit consumer reads is kept
  `TOPIC_RETENTION_DAYS` (7: `log.retention.hours=168` in deploy/bin/kafka.sh and Kafka's default in
  docker-compose.yml; the tree heads, kept for ever, are read by verify-log, never by a kit consumer). The
  worst case is a group whose committed offsets are lost (a group idle past `offsets.retention.minutes`,
  7 days by default, or reset by an operator): with `auto_offset_reset=earliest` it reads its topics again
  from their oldest record, at most 7 days old. Thirty days is four times that, with room for a topic's
  retention to be raised for an incident; the settings refuse an inbox age that is not longer than the
  retention plus a day (`MIN_INBOX_DAYS`). A topic given a longer retention needs the inbox age raised with
  it. Duplicates that reach a service by other ways than Kafka's redelivery (a partner sending a referral
  again) are recognised by the domain's own keys, not the inbox.

Each pass counts what it removed (`cme_kit_pruned_rows_total{table}`) and logs it (`kit_rows_pruned`).
A pass that fails (the database away) is logged and tried again at the next interval.

The deletes find their rows by the outbox's primary key (published rows are the oldest ids) and by a scan
of the inbox (which has no index on `processed_at`): cheap at this platform's volumes, where thirty days
of inbox rows is a few hundred thousand rows.
"""

import asyncio
import contextlib
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import Interval, bindparam, delete, func, select, tuple_
from sqlalchemy.ext.asyncio import AsyncEngine

from ..logging import get_logger
from ..metrics import KIT_PRUNED
from .tables import KitTables

log = get_logger(__name__)

# How long every topic a kit consumer reads keeps its records (deploy/bin/kafka.sh, docker-compose.yml).
TOPIC_RETENTION_DAYS = 7
# The inbox must remember a message for longer than Kafka can deliver it again (see above).
MIN_INBOX_DAYS = TOPIC_RETENTION_DAYS + 1
BATCH_PAUSE_SECONDS = 0.05  # between two batches: the service's own transactions go first
FIRST_PASS_DELAY_SECONDS = 60.0  # after start: not while the service is still warming up


@dataclass
class Pruned:
    """Rows one pass removed."""

    outbox: int = 0
    inbox: int = 0


class Pruner:
    """Deletes published outbox rows and processed inbox rows older than their ages, in batches."""

    def __init__(
        self,
        engine: AsyncEngine,
        tables: KitTables,
        *,
        outbox_published_days: float = 7.0,
        inbox_processed_days: float = 30.0,
        batch_size: int = 1000,
        interval_seconds: float = 3600.0,
    ) -> None:
        self._engine = engine
        self.outbox_age = timedelta(days=outbox_published_days)
        self.inbox_age = timedelta(days=inbox_processed_days)
        self._batch_size = batch_size
        self._interval = interval_seconds
        self._task: asyncio.Task[None] | None = None
        age = bindparam("age", type_=Interval)
        limit = bindparam("limit")
        o = tables.outbox
        # Published and not quarantined: a row waiting to be sent, or one an operator must look at, stays.
        published = (select(o.c.id)
                     .where(o.c.published_at < func.now() - age, o.c.quarantined_at.is_(None))
                     .order_by(o.c.id).limit(limit).with_for_update(skip_locked=True))
        self._outbox = delete(o).where(o.c.id.in_(published.scalar_subquery()))
        i = tables.inbox
        processed = (select(i.c.consumer, i.c.message_id).where(i.c.processed_at < func.now() - age)
                     .limit(limit).with_for_update(skip_locked=True))
        self._inbox = delete(i).where(tuple_(i.c.consumer, i.c.message_id).in_(processed))

    async def prune_outbox(self) -> int:
        return await self._prune("outbox", self._outbox, self.outbox_age)

    async def prune_inbox(self) -> int:
        return await self._prune("inbox", self._inbox, self.inbox_age)

    async def prune_once(self) -> Pruned:
        return Pruned(outbox=await self.prune_outbox(), inbox=await self.prune_inbox())

    async def _prune(self, table: str, statement: object, age: timedelta) -> int:
        total = 0
        while True:
            async with self._engine.begin() as conn:
                deleted = (await conn.execute(statement, {"age": age, "limit": self._batch_size})).rowcount  # type: ignore[call-overload]
            total += deleted
            KIT_PRUNED.labels(table).inc(deleted)
            if deleted < self._batch_size:
                break
            await asyncio.sleep(BATCH_PAUSE_SECONDS)
        if total:
            log.info("kit_rows_pruned", table=table, count=total, older_than_days=age.total_seconds() / 86400)
        return total

    def start(self) -> None:
        if self._interval > 0 and self._task is None:
            self._task = asyncio.create_task(self._run(), name="kit-pruner")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        await asyncio.sleep(min(FIRST_PASS_DELAY_SECONDS, self._interval))
        while True:
            try:
                await self.prune_once()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the database is away: the rows wait for the next pass
                log.warning("kit_pruning_failed", error_type=type(exc).__name__)
            await asyncio.sleep(self._interval)
