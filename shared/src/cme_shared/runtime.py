"""One service's running parts: database, outbox relay, Kafka subscribers, the pruning of the kit's copies.
Built the same way by all four."""

import asyncio
import gc
from collections.abc import Callable
from typing import Any, TypeVar

from faststream.kafka import KafkaBroker
from sqlalchemy import text

from .clock import SYSTEM_CLOCK, Clock
from .contracts.topics import SIGNERS, TopicNames
from .db import create_engine, session_factory
from .logging import get_logger
from .messaging.consumer import (
    BatchHook,
    Delivery,
    Handler,
    ReliableConsumer,
    RejectHook,
    by_event_id,
    signed_by,
)
from .messaging.health import missing_codecs
from .messaging.inbox import Inbox
from .messaging.outbox import Outbox, OutboxRelay
from .messaging.pruning import Pruner
from .messaging.tables import KitTables
from .ops import ensure_topics
from .problems import Problem
from .settings import ServiceSettings
from .tracing import Tracing
from .unit_of_work import UnitOfWork

log = get_logger(__name__)
T = TypeVar("T")

__all__ = ["Delivery", "Problem", "ServiceRuntime"]


# Full (generation 2) collections scan every object the service holds, most of them made at start-up
# (SQLAlchemy, pydantic, FastAPI): in a profile of the batch handlers they took a quarter of the time,
# up to 140 ms a pause. Start-up objects live as long as the process, so they are moved out of the
# collector's sight once the service has started, and full collections are made rarer.
GC_THRESHOLDS = (700, 20, 100)  # CPython's default is (700, 10, 10)


def settle_garbage_collector() -> None:
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


class ServiceRuntime:
    def __init__(self, settings: ServiceSettings, kit: KitTables, clock: Clock = SYSTEM_CLOCK) -> None:
        self.settings = settings
        self.clock = clock  # the one time source (clock.py); tests give a FixedClock
        self.topics = TopicNames(settings.topic_namespace)
        self.engine = create_engine(settings.database_url.get_secret_value())
        self.sessions = session_factory(self.engine)
        self.kit = kit
        # Off unless an OTLP endpoint or a traces file is configured (tracing.py): then HTTP requests,
        # records, SQL statements and the relay's sends are spans, carried across Kafka in headers.
        self.tracing = Tracing.configure(settings.service_name, otlp_endpoint=settings.otel_exporter_otlp_endpoint,
                                         traces_file=settings.traces_file, environment=settings.env)
        self.tracing.instrument(self.engine)
        # Every event this service writes to an internal topic is signed with its key; every record it
        # consumes from one must carry the signature of a service allowed to write there (SEC-03).
        self.trusted_signers = settings.pinned_signers()
        self.outbox = Outbox(kit, signer=settings.message_signer(), namespace=settings.topic_namespace)
        self.inbox = Inbox(kit)
        self.relay = OutboxRelay(
            self.engine, kit, kafka=settings.kafka_connection(),
            batch_size=settings.outbox_batch_size, poll_seconds=settings.outbox_poll_seconds,
            max_record_bytes=settings.outbox_max_record_bytes, send_attempts=settings.outbox_send_attempts,
            max_dead_letter_bytes=settings.outbox_max_dead_letter_bytes,
            stuck_seconds=settings.outbox_stuck_seconds, tracing=self.tracing,
        )
        # Published outbox rows and processed inbox rows are copies: deleted once old (messaging/pruning.py).
        self.pruner = Pruner(
            self.engine, kit, outbox_published_days=settings.prune_outbox_published_days,
            inbox_processed_days=settings.prune_inbox_processed_days, batch_size=settings.prune_batch_size,
            interval_seconds=settings.prune_interval_seconds,
        )
        # Topics are made at set-up (`make topics`): a service's principal may not create them.
        self.broker = KafkaBroker(settings.kafka_bootstrap, logger=None, client_id=settings.service_name,
                                  **settings.kafka_connection().faststream())
        self.consumers: list[ReliableConsumer[Any]] = []
        # What `unit_of_work()` builds: a service sets its own subclass (with its repositories) here.
        self.make_unit_of_work: Callable[[], UnitOfWork[Any]] = lambda: UnitOfWork(**self.unit_of_work_parts())

    def unit_of_work_parts(self) -> dict[str, Any]:
        """What every unit of work is built from; a service's subclass takes these and its own."""
        return {"sessions": self.sessions, "outbox": self.outbox, "topics": self.topics, "clock": self.clock,
                "on_commit": self.relay.nudge}

    def unit_of_work(self) -> UnitOfWork[Any]:
        """A new unit of work (unit_of_work.py): `async with runtime.unit_of_work() as uow: ...`."""
        return self.make_unit_of_work()

    def consume(
        self,
        name: str,
        topic: str,
        parse: Callable[[Delivery], T],
        *,
        on: Handler[T],
        reject: RejectHook | None = None,
        identify: Callable[[Delivery], str] = by_event_id,
        batch_size: int | None = None,
        prepare: BatchHook[T] | None = None,
    ) -> ReliableConsumer[T]:
        """Subscribe the handler `on` to `topic` (contract name; the namespace is added here) with the kit's
        guarantees: `on(uow, message)` runs in a unit of work (`unit_of_work()`) that the kit opens, claims
        the record in and commits.

        `reject(uow, delivery, problems)`: told of each dead letter, in its unit of work.
        `batch_size`: handle up to that many records in one unit of work (the kit's batch mode, for a
        consumer that sees bursts); None, the default, is one per record.
        `prepare(uow, batch)`: batch mode only, takes the batch's locks first, in one order, and fills the
        batch state (ReliableConsumer).
        """
        consumer = ReliableConsumer(
            name=name, topic=self.topics(topic), group_id=self.settings.group_id(name),
            parse=parse, unit_of_work=self.unit_of_work, inbox=self.inbox, on=on, reject=reject,
            identify=identify, prepare=prepare, max_attempts=self.settings.handler_max_attempts, backoff_seconds=self.settings.handler_backoff_seconds,
            batch_size=batch_size, stall_seconds=self.settings.consumer_stall_seconds,
            verify=self._signature_check(topic), tracing=self.tracing,
        )
        consumer.register(self.broker)
        self.consumers.append(consumer)
        return consumer

    def _signature_check(self, topic: str) -> Callable[[Delivery], None] | None:
        """The `verify` step for a contract topic: internal topics only (partners' records are not signed).
        A signer of the topic without a pinned key is a configuration error, said at start."""
        allowed = SIGNERS.get(topic)
        if allowed is None:
            return None
        if missing := sorted(allowed - set(self.trusted_signers.services)):
            raise ValueError(f"no pinned signing key for {', '.join(missing)}, who may write {topic} "
                             "(CME_TRUSTED_SIGNERS or CME_TRUSTED_SIGNERS_DIR)")
        return signed_by(self.trusted_signers, allowed, self.settings.topic_namespace)

    async def start(self) -> None:
        if self.settings.create_topics:
            await ensure_topics(self.settings.kafka_connection(), self.topics.all_with_dlqs())
        await self.relay.start()
        self.pruner.start()
        if missing := missing_codecs():  # a partner's compressed records would block its consumers
            log.error("codecs_missing", codecs=missing)
        await self.broker.start()
        if self.settings.env != "test":  # a test process starts many apps and must not keep them all
            settle_garbage_collector()
        log.info("service_started", port=self.settings.http_port)

    async def stop(self) -> None:
        for consumer in self.consumers:
            await consumer.commit_pending()  # what is not committed now is read again, as duplicates
        await self.broker.stop()
        await self.relay.stop()
        await self.pruner.stop()
        await self.engine.dispose()
        self.tracing.shutdown()  # the spans still waiting are exported now
        log.info("service_stopped")

    async def readiness(self) -> dict[str, bool]:
        """Kafka and the service's own database must both answer, and the relay and every consumer be
        making progress (a consumer's problems, with topic, partition and offset, are logged by its
        watchdog and listed by `consumer_problems`)."""

        async def database() -> bool:
            try:
                async with self.engine.connect() as conn:
                    await asyncio.wait_for(conn.execute(text("SELECT 1")), timeout=2)
                return True
            except Exception:
                return False

        async def kafka() -> bool:
            try:
                return bool(await self.broker.ping(timeout=2))
            except Exception:
                return False

        db_ok, kafka_ok = await asyncio.gather(database(), kafka())
        return {"database": db_ok, "kafka": kafka_ok, "outbox_relay": self.relay.healthy,
                "consumers": not self.consumer_problems()}

    def consumer_problems(self) -> list[dict[str, Any]]:
        """What keeps each consumer from making progress now (messaging/health.py); empty when none."""
        return [problem for consumer in self.consumers for problem in consumer.health.problems()]
