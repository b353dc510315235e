"""Reliable consumers: parse, dead-letter, retry, and commit offsets only after the handler's transaction.

Each record is parsed (one nobody can read is dead-lettered at once, byte for byte, to `<topic>.dlq`),
claimed in the inbox and handled in one unit of work (`async def on_<event>(uow, event) -> None`); a
handler that keeps failing is retried with backoff, then dead-lettered. A transient failure (database or
broker away) is never dead-lettered: the record is read again. Offsets are committed after the commit.
Batch mode (`batch_size`) takes a batch in one unit of work; if a record fails, the batch is settled
record by record instead. Guarantees and costs: docs/performance.md, "Batch semantics".
"""

import asyncio
import hashlib
import json
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeVar, get_args, get_origin

from faststream import AckPolicy
from faststream.kafka import KafkaBroker, KafkaRouter
from aiokafka import ConsumerRecord, TopicPartition
from faststream.kafka.annotations import KafkaMessage
from pydantic import BaseModel, ValidationError

from .. import correlation
from ..contracts.topics import DLQ_MAX_MESSAGE_BYTES, dlq
from ..db import is_transient
from ..logging import get_logger
from ..metrics import DEAD_LETTERS, HANDLER_SECONDS, MESSAGES
from ..problems import Problem
from ..tracing import OFF, Tracing
from .fetching import FetchGuard, raw_body, tolerant_parser
from .health import ConsumerHealth
from .inbox import Inbox
from .outbox import record_size
from .signing import SIGNER_HEADER, SignatureRefused, TrustedSigners, logical_topic

if TYPE_CHECKING:
    from ..unit_of_work import UnitOfWork

log = get_logger(__name__)

T = TypeVar("T")

__all__ = ["Delivery", "Outcome", "Problem", "ReliableConsumer", "Unreadable", "is_transient", "json_kind_parser",
           "json_model_parser", "write_dead_letter"]


class Outcome(StrEnum):
    """What became of a record (metrics, spans, tests)."""

    HANDLED = "handled"
    DUPLICATE = "duplicate"
    DEAD_LETTERED_UNREADABLE = "dead_lettered_unreadable"
    DEAD_LETTERED_FAILED = "dead_lettered_failed"
    DEAD_LETTERED_UNWRITABLE = "dead_lettered_unwritable"


# What a rejection may say, whatever arrived. A record's problems travel in a dead letter's headers, an
# outcome and an HTTP answer, each of which must stay far below Kafka's record limit: 10,000 unknown keys
# once made a 3.7 MB header and a 3.5 MB outcome that no relay could ever send (SEC-01).
MAX_PROBLEMS = 20
MAX_LOC_PARTS = 12
MAX_LOC_PART_CHARS = 64
MAX_MESSAGE_CHARS = 300
MAX_REASONS_HEADER_BYTES = 8192
# JSON is parsed only by jiter (pydantic's parser), which refuses nesting deeper than this; Python's json
# module recursed until RecursionError instead, which once wedged a partition for good (SEC-04).
MAX_JSON_DEPTH = 200
# Kafka's default maximum record: nothing larger is a message of ours (HTTP bodies are limited far lower).
MAX_RECORD_BYTES = 1_048_576


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def bounded_problems(problems: Sequence[Problem], limit: int = MAX_PROBLEMS) -> list[Problem]:
    """The first `limit` problems, each of bounded size, then one saying how many more there were."""
    kept = [
        Problem(loc=[_cut(part, MAX_LOC_PART_CHARS) if isinstance(part, str) else part
                     for part in p.loc[:MAX_LOC_PARTS]],
                code=_cut(p.code, MAX_LOC_PART_CHARS), message=_cut(p.message, MAX_MESSAGE_CHARS))
        for p in problems[:limit]
    ]
    if len(problems) > limit:
        kept.append(Problem(loc=[], code="too_many_problems",
                            message=f"{len(problems) - limit} more problem(s) not listed ({len(problems)} in all)"))
    return kept


class Unreadable(Exception):
    """The message cannot be understood; the problems say why (no personal data in them), bounded in
    number and size however many there were."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = bounded_problems(problems)
        super().__init__(f"{len(problems)} problem(s): " + ", ".join(p.code for p in self.problems))


def unreadable_because(code: str, message: str) -> Unreadable:
    return Unreadable([Problem(loc=[], code=code, message=message)])


def as_header_list(headers: Any) -> list[tuple[str, bytes | None]]:
    """A record's headers as the kit keeps them: bytes, or None for a null value (never the text "None")."""
    return [(name, value if isinstance(value, bytes) or value is None else str(value).encode())
            for name, value in headers or ()]


@dataclass(frozen=True)
class Delivery:
    """One Kafka record as the kit hands it to parsers and handlers."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    headers: list[tuple[str, bytes | None]] = field(default_factory=list)

    @classmethod
    def of(cls, record: ConsumerRecord[Any, Any]) -> "Delivery":
        return cls(
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            key=record.key,
            value=record.value if record.value is not None else b"",
            headers=as_header_list(record.headers),
        )

    def header(self, name: str) -> str | None:
        for header_name, value in self.headers:
            if header_name == name:
                return None if value is None else value.decode("utf-8", errors="replace")
        return None

    @property
    def position(self) -> str:
        return f"{self.topic}:{self.partition}:{self.offset}"

    @property
    def message_id(self) -> str:
        """An event's own id when it has one (our events do: a UUID), else its place in the log. A header
        that is not a UUID is not taken: it may hold anything (a NUL, kilobytes) the inbox key cannot."""
        event_id = self.header("event_id")
        if event_id is not None:
            try:
                return str(uuid.UUID(event_id))
            except ValueError:
                pass
        return self.position


class _RecordFailed(Exception):
    """A record failed in a batch taken at once: the attempt is rolled back and taken record by record.
    `index`: the failing record's place in the batch (None: the prepare hook or the held inserts failed)."""

    def __init__(self, index: int | None, error: Exception) -> None:
        super().__init__(type(error).__name__)
        self.index, self.error = index, error


def problems_from_validation(error: ValidationError) -> list[Problem]:
    """pydantic's errors without the offending input, which may be personal data: the input is read only to
    tell whether pydantic's message quotes it (a UUID error quotes the character it stopped at, a validator's
    ValueError the value), and then only the message's first clause is kept (http.errors, SEC-28)."""
    from ..http.errors import validation_message  # http.errors imports this module

    return [
        Problem(loc=[str(part) if not isinstance(part, int) else part for part in e["loc"]],
                code=e["type"], message=validation_message(e))
        for e in error.errors(include_url=False)
    ]


def _json_text(delivery: Delivery) -> str:
    """A record's value as text, or Unreadable: larger than any record we accept, or not UTF-8."""
    if len(delivery.value) > MAX_RECORD_BYTES:
        raise unreadable_because("too_large", f"message value is over {MAX_RECORD_BYTES} bytes")
    try:
        return delivery.value.decode("utf-8")
    except UnicodeDecodeError:
        raise unreadable_because("not_utf8", "message value is not UTF-8") from None


def _not_json(exc: ValidationError) -> Unreadable | None:
    """The JSON itself is bad (jiter's own depth limit included): one problem, not the model's errors."""
    for error in exc.errors(include_input=False, include_url=False):
        if error["type"] == "json_invalid":
            if "recursion limit" in str((error.get("ctx") or {}).get("error", "")):
                return unreadable_because("json_too_deep", f"message value nests deeper than {MAX_JSON_DEPTH} levels")
            return unreadable_because("json_invalid", "message value is not valid JSON")
    return None


def json_model_parser(model: type[BaseModel]) -> Callable[[Delivery], Any]:
    """Parse a record's value as UTF-8 JSON into `model`, or raise Unreadable."""

    def parse(delivery: Delivery) -> Any:
        text = _json_text(delivery)
        try:
            return model.model_validate_json(text)
        except ValidationError as exc:
            raise (_not_json(exc) or Unreadable(problems_from_validation(exc))) from None

    return parse


def json_kind_parser(models: Mapping[str, type[BaseModel]] | Iterable[type[BaseModel]]) -> Callable[[Delivery], Any]:
    """For a topic several message kinds share: parse the kinds of `models`, return None for any other.

    `models`: the models themselves (each says its kind in a `kind` literal), or a map of kind to model.
    A message of another kind is some other service's business, not an error: the handler gets None and
    does nothing. A message of a listed kind that does not validate is Unreadable, as with
    `json_model_parser`; so is one that is not JSON at all, however deep or large.
    """
    by_kind = dict(models) if isinstance(models, Mapping) else {kind_of(model): model for model in models}
    parsers = {kind: json_model_parser(model) for kind, model in by_kind.items()}

    def parse(delivery: Delivery) -> Any:
        text = _json_text(delivery)
        try:
            kind = _Kinded.model_validate_json(text).kind
        except ValidationError as exc:
            if (bad_json := _not_json(exc)) is not None:
                raise bad_json from None
            return None  # JSON, but not an object with a string `kind`: some other service's message
        parser = parsers.get(kind)
        return parser(delivery) if parser is not None else None

    return parse


def kind_of(model: type[BaseModel]) -> str:
    """The kind a model's messages carry: its `kind` field's one literal value."""
    kind = model.model_fields.get("kind")
    values = get_args(kind.annotation) if kind is not None and get_origin(kind.annotation) is Literal else ()
    if len(values) != 1 or not isinstance(values[0], str):
        raise TypeError(f"{model.__name__} has no `kind` literal")
    return values[0]


class _Kinded(BaseModel):
    """Just the `kind` of a message (every other field ignored), read by the same parser as the models."""

    kind: str


def dead_letter_headers(
    headers: list[tuple[str, bytes | None]], kind: str, problems: list[Problem], consumer: str,
    *, origin: Delivery | None = None,
) -> list[tuple[str, bytes | None]]:
    """A dead letter's headers: the original ones unchanged, then why (never the offending values),
    who gave up on it and, for a Kafka record, where it came from."""
    letter = [
        *headers,
        ("x-dlq-kind", kind.encode()),
        ("x-dlq-reasons", reasons_header(problems)),
        ("x-dlq-consumer", consumer.encode()),
    ]
    if origin is not None:
        letter += [
            ("x-dlq-original-topic", origin.topic.encode()),
            ("x-dlq-original-partition", str(origin.partition).encode()),
            ("x-dlq-original-offset", str(origin.offset).encode()),
        ]
    return letter


def reasons_header(problems: Sequence[Problem]) -> bytes:
    """The problems as JSON in at most MAX_REASONS_HEADER_BYTES (a bounded problem is far smaller): the
    first ones that fit, then one saying that others were left off."""
    listed = bounded_problems(problems)
    while True:
        encoded = json.dumps([p.model_dump() for p in listed]).encode()
        if len(encoded) <= MAX_REASONS_HEADER_BYTES:
            return encoded
        listed = [*listed[:-2], Problem(loc=[], code="too_many_problems",
                                        message="more problems than this header can list")]


def signed_by(trusted: TrustedSigners, allowed: frozenset[str], namespace: str = "") -> Callable[[Delivery], None]:
    """A `verify` step: the record must carry a signature, by one of `allowed`, that verifies against the
    key pinned for it (messaging/signing.py). Refused: Unreadable with code `unsigned`, `bad_signature`
    or `unexpected_signer`."""

    def verify(delivery: Delivery) -> None:
        try:
            trusted.verify(logical_topic(delivery.topic, namespace), allowed, delivery.key, delivery.headers,
                           delivery.value)
        except SignatureRefused as refused:
            raise unreadable_because(refused.code, str(refused)) from None

    return verify


def signer_of(delivery: Delivery) -> str | None:
    """Who signed a record that passed its consumer's `verify` step (before it, the sender's claim)."""
    return delivery.header(SIGNER_HEADER)


def value_reference(key: bytes | None, value: bytes) -> list[tuple[str, bytes | None]]:
    """What a dead letter says of a record it cannot hold: the value's size and SHA-256, the key's size."""
    return [
        ("x-dlq-value-omitted-bytes", str(len(value)).encode()),
        ("x-dlq-value-sha256", hashlib.sha256(value).hexdigest().encode()),
        ("x-dlq-key-bytes", str(len(key or b"")).encode()),
    ]


async def write_dead_letter(
    uow: "UnitOfWork[Any]", *, topic: str, kind: str, problems: list[Problem], consumer: str, key: bytes | None,
    value: bytes, headers: list[tuple[str, bytes | None]], aggregate_id: str, origin: Delivery | None = None,
) -> None:
    """A message nobody can take, to `<topic>.dlq` (`topic` as named on the broker) through the unit of
    work's outbox: its key, value and headers as they came, then the `x-dlq-*` headers saying why, who
    gave up (`consumer`) and, for a Kafka record (`origin`), where it came from. One too large for the
    dead-letter topic (inflated from a compressed batch) is replaced by its size and digest."""
    letter = dead_letter_headers(headers, kind, problems, consumer, origin=origin)
    if record_size(key, value, letter) > DLQ_MAX_MESSAGE_BYTES:
        key, value, letter = None, b"", [*value_reference(key, value), *letter[len(headers):]]
    await uow.outbox.add_raw(topic=dlq(topic), key=key, payload=value, headers=letter,
                             aggregate_type="dead_letter", aggregate_id=aggregate_id, event_type=kind)


def by_event_id(delivery: Delivery) -> str:
    """Our own events: known by their `event_id` header, so a republished event is one message."""
    return delivery.message_id


def by_position(delivery: Delivery) -> str:
    """A partner's records: known by their place in the log, never by headers the partner chose (two
    referrals sharing a partner's `event_id` header must not look like one redelivery)."""
    return delivery.position


# What a service registers (ServiceRuntime.consume): the handler, the batch's prepare hook, and the hook
# that tells a sender its record was dead-lettered, each given the record's unit of work.
Handler = Callable[["UnitOfWork[Any]", T], Awaitable[None]]
BatchHook = Callable[["UnitOfWork[Any]", list[tuple[T, Delivery]]], Awaitable[None]]
RejectHook = Callable[["UnitOfWork[Any]", Delivery, list[Problem]], Awaitable[None]]


@dataclass
class ReliableConsumer(Generic[T]):
    """One subscription with the kit's guarantees. `register` attaches it to a FastStream router."""

    name: str
    topic: str
    group_id: str
    parse: Callable[[Delivery], T]
    # A new unit of work (runtime.unit_of_work): one per record, or one per batch in batch mode.
    unit_of_work: Callable[[], "UnitOfWork[Any]"]
    inbox: Inbox
    # The handler, `async def on_<event>(uow, event)`.
    on: Handler[T]
    # Told of every dead letter of this consumer, in its unit of work (intake answers the sender).
    reject: RejectHook | None = None
    # Checks who wrote a record before it is parsed (`signed_by`): raises Unreadable for a record without
    # a valid signature of a service allowed to write the topic, which is dead-lettered and changes nothing.
    verify: Callable[[Delivery], None] | None = None
    identify: Callable[[Delivery], str] = by_event_id
    max_attempts: int = 4
    backoff_seconds: float = 0.2

    # None: one record, one transaction. A number: up to that many records per transaction.
    batch_size: int | None = None
    # How long one fetch of an idle batch subscriber waits for a record before it asks again (fetching.py:
    # a fetch returns as soon as any record is there, so this never holds a record back).
    batch_timeout_ms: int = 500
    # Batch mode: called first in the batch's unit of work with every readable record, to take the locks
    # the batch will need in one statement and one order (so a batch never deadlocks with a writer that
    # locks in that order) and fill the batch state (`uow.batch`). If it fails, the batch is settled
    # record by record, without it.
    prepare: BatchHook[T] | None = None
    # Batch mode: settled batches' offsets are committed together, this long after the first of them
    # (a commit is a broker round trip that cost a third of a small batch's time). A crash in between
    # reads those records again: the inbox finds them all handled, and nothing is done twice.
    commit_interval_seconds: float = 0.5
    # A partition with records waiting whose settled offset has not moved this long makes the consumer
    # unhealthy (health.py): longer than one record's retries, so a consumer retrying is not "stalled".
    stall_seconds: float = 60.0
    # A span per record (and per batch), each a child of the trace context the record carries (tracing.py).
    tracing: Tracing = OFF
    _commits: "_LazyCommits | None" = field(default=None, init=False, repr=False)
    health: ConsumerHealth = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.health = ConsumerHealth(self.name, self.group_id, self.stall_seconds)

    async def commit_pending(self, timeout: float = 5.0) -> None:
        """Batch mode: commit the settled batches' offsets now (at shutdown, say). Gives up after
        `timeout` seconds (the broker away): those records are read again, as duplicates."""
        if self._commits is not None:
            try:
                await asyncio.wait_for(self._commits.flush(), timeout)
            except TimeoutError:
                log.warning("offsets_not_committed", consumer=self.name, error_type="TimeoutError")

    def register(self, router: KafkaRouter | KafkaBroker) -> None:
        if self.batch_size is not None:
            self._register_batch(router, self.batch_size)
            return
        subscriber = router.subscriber(
            self.topic,
            group_id=self.group_id,
            ack_policy=AckPolicy.NACK_ON_ERROR,
            auto_offset_reset="earliest",
            listener=self.health.listener(),
            title=f"{self.name}:{self.topic}",
        )
        guard = FetchGuard(self, subscriber, self.health, batch=False, advance=self._commit_past)

        # FastStream's parser and decoder would read headers and body as text or JSON, which a partner's
        # record need not be (fetching.py): the kit reads the raw record only.
        @subscriber(parser=tolerant_parser, decoder=raw_body)
        async def on_record(msg: KafkaMessage) -> None:
            delivery = Delivery.of(msg.raw_message)
            with guard.handling([delivery]):
                await self.process(delivery)

    def _register_batch(self, router: KafkaRouter | KafkaBroker, batch_size: int) -> None:
        subscriber = router.subscriber(
            self.topic,
            group_id=self.group_id,
            batch=True,
            max_records=batch_size,
            batch_timeout_ms=self.batch_timeout_ms,
            # Settled batches' offsets are committed by `_LazyCommits`; a batch that could not be settled
            # is nacked here (its partitions rewound to its earliest records, to be read again).
            ack_policy=AckPolicy.MANUAL,
            auto_offset_reset="earliest",
            listener=self.health.listener(),
            title=f"{self.name}:{self.topic}",
        )
        commits = _LazyCommits(self.name, self.commit_interval_seconds)
        self._commits = commits
        guard = FetchGuard(self, subscriber, self.health, batch=True, max_records=batch_size,
                           advance=commits.skipped)

        @subscriber(parser=tolerant_parser, decoder=raw_body)
        async def on_batch(msg: KafkaMessage) -> None:
            # A tuple from the broker; TestKafkaBroker hands a list.
            records = msg.raw_message if isinstance(msg.raw_message, (tuple, list)) else (msg.raw_message,)
            deliveries = [Delivery.of(record) for record in records]
            with guard.handling(deliveries):
                try:
                    await self.process_batch(deliveries)
                except BaseException:
                    await msg.nack()
                    raise
            commits.settled(msg.consumer, deliveries)

    async def process(self, delivery: Delivery, *, failed_before: Exception | None = None) -> Outcome:
        """Handle one record to the end; returns what happened (for metrics and tests).

        `failed_before`: the record already failed once in a batch; that counts as its first attempt.
        """
        correlation_id = correlation.bind(delivery.header(correlation.HEADER))
        try:
            with self.tracing.record(delivery, self.group_id, self.name, trusted=self.verify is not None) as span:
                started = time.perf_counter()
                outcome = await self._process(delivery, failed_before)
                HANDLER_SECONDS.labels(self.name, outcome).observe(time.perf_counter() - started)
                if span is not None:
                    span.set_attributes({"cme.outcome": outcome, "cme.correlation_id": correlation_id})
                return outcome
        finally:
            correlation.clear()

    async def _process(self, delivery: Delivery, failed_before: Exception | None) -> Outcome:
        try:
            try:
                parsed = self._parse(delivery)
            except Unreadable as unreadable:
                await self._dead_letter(delivery, "unreadable", unreadable.problems)
                return self._count(Outcome.DEAD_LETTERED_UNREADABLE)
            last_error = failed_before
            for attempt in range(2 if failed_before is not None else 1, self.max_attempts + 1):
                if attempt > 1:
                    await asyncio.sleep(self.backoff_seconds * 2 ** (attempt - 2))
                try:
                    async with self.unit_of_work() as uow:
                        uow.delivery = delivery
                        if not await self.inbox.claim(uow.session, self.name, self.identify(delivery)):
                            return self._count(Outcome.DUPLICATE)
                        await self.on(uow, parsed)
                        await uow.commit()
                    return self._count(Outcome.HANDLED)
                except Exception as exc:
                    if is_transient(exc):
                        raise  # the database or broker is away: nack and read it again, never dead-letter
                    self._log_failure(delivery, attempt, exc)
                    last_error = exc
            problem = Problem(
                loc=[], code="handler_failed",
                message=f"handler failed {self.max_attempts} times: {type(last_error).__name__}",
            )
            await self._dead_letter(delivery, "handler_failed", [problem])
            return self._count(Outcome.DEAD_LETTERED_FAILED)
        except Exception as exc:
            if not is_transient(exc) and await self._dead_letter_bare(delivery, exc):
                return self._count(Outcome.DEAD_LETTERED_UNWRITABLE)
            # Not even the dead letter could be written (the database away): leave the offset uncommitted
            # and pause, so the record is read again instead of being lost.
            log.error("record_not_settled", consumer=self.name, topic=delivery.topic,
                      partition=delivery.partition, offset=delivery.offset, error_type=type(exc).__name__)
            await asyncio.sleep(self.backoff_seconds * 2 ** self.max_attempts)
            raise

    async def _dead_letter_bare(self, delivery: Delivery, cause: Exception) -> bool:
        """The last resort for a record whose dead letter could not be written for a reason of its own (a
        header the database cannot store, say): its key and value, claimed by its place in the log, with
        the kit's headers only and no hook. Reading it again would fail the same way for ever."""
        problem = Problem(loc=[], code="dead_letter_unwritable",
                          message=f"the dead letter could not be stored as received ({type(cause).__name__}); "
                                  f"the sender's {len(delivery.headers)} header(s) were left off")
        try:
            async with self.unit_of_work() as uow:
                if await self.inbox.claim(uow.session, self.name, delivery.position):
                    bare = Delivery(delivery.topic, delivery.partition, delivery.offset, delivery.key, delivery.value)
                    await write_dead_letter(uow, topic=delivery.topic, kind="dead_letter_unwritable",
                                            problems=[problem], consumer=self.name, key=delivery.key,
                                            value=delivery.value, headers=[], aggregate_id=delivery.position,
                                            origin=bare)
                await uow.commit()
        except Exception as exc:
            log.error("dead_letter_not_written", consumer=self.name, topic=delivery.topic,
                      partition=delivery.partition, offset=delivery.offset, error_type=type(exc).__name__)
            return False
        self._dead_lettered(delivery, "dead_letter_unwritable", [problem])
        return True

    async def process_batch(self, deliveries: Sequence[Delivery]) -> list[Outcome]:
        """Handle a batch to the end: in one unit of work or, if a record fails there, record by record
        (module docstring); returns each record's outcome."""
        topic = deliveries[0].topic if deliveries else self.topic
        with self.tracing.batch(topic, self.group_id, self.name, len(deliveries)) as batch_span:
            started = time.perf_counter()
            parsed = [self._parse_or_error(delivery) for delivery in deliveries]
            try:
                outcomes = await self._batch_at_once(deliveries, parsed, batch_span)
            except _RecordFailed as failed:
                # Nothing of this attempt committed: each record is settled on its own, in offset order (so
                # per key too), the failing one's batch attempt counting as its first.
                if failed.index is not None:
                    self._log_failure(deliveries[failed.index], 1, failed.error, in_batch=True)
                else:
                    log.warning("batch_failed", consumer=self.name, records=len(deliveries),
                                error_type=type(failed.error).__name__)
                return [await self.process(delivery, failed_before=failed.error if index == failed.index else None)
                        for index, delivery in enumerate(deliveries)]
            # Each record of a batch took as long as its batch to settle (its transaction is the batch's).
            elapsed = time.perf_counter() - started
            for outcome in outcomes:
                HANDLER_SECONDS.labels(self.name, outcome).observe(elapsed)
            return outcomes

    async def _batch_at_once(self, deliveries: Sequence[Delivery], parsed: list[Any],
                             batch_span: Any = None) -> list[Outcome]:
        """The fast path: one unit of work, one inbox claim for the whole batch, the handlers one after
        another with no savepoints, and the held inserts (every outbox row) in one statement per table. A
        record that fails (for a reason that is not transient) rolls the whole attempt back and raises
        _RecordFailed; nothing is committed or counted."""
        outcomes: list[Outcome] = []
        try:
            async with self.unit_of_work() as uow:
                readable = [(p, d) for p, d in zip(parsed, deliveries, strict=True) if not isinstance(p, Unreadable)]
                if readable and self.prepare is not None:
                    try:
                        await self.prepare(uow, readable)
                    except Exception as exc:
                        if is_transient(exc):
                            raise
                        raise _RecordFailed(None, exc) from exc
                ids = [self._inbox_id(delivery, message) for delivery, message in zip(deliveries, parsed, strict=True)]
                claimed = await self.inbox.claim_many(uow.session, self.name, ids)
                uow.held.start()
                for index, (delivery, message, message_id) in enumerate(zip(deliveries, parsed, ids, strict=True)):
                    if message_id not in claimed:
                        outcomes.append(Outcome.DUPLICATE)  # seen before, or earlier in this batch
                        continue
                    claimed.discard(message_id)
                    uow.delivery = delivery
                    correlation.bind(delivery.header(correlation.HEADER))
                    try:
                        with self._record_span(delivery, batch_span) as span:
                            outcomes.append(await self._settle_claimed(uow, delivery, message))
                            self._traced(span, outcomes[-1])
                    except Exception as exc:
                        if is_transient(exc):
                            raise
                        raise _RecordFailed(index, exc) from exc
                    finally:
                        correlation.clear()
                uow.delivery = None
                try:
                    await uow.held.flush()
                except Exception as exc:
                    if is_transient(exc):
                        raise
                    raise _RecordFailed(None, exc) from exc
                await uow.commit()
        except _RecordFailed:
            raise
        except Exception as exc:
            await self._batch_not_settled(deliveries, exc)
            raise
        self._batch_committed(zip(deliveries, outcomes, parsed, strict=True))
        return outcomes

    def _record_span(self, delivery: Delivery, batch_span: Any) -> Any:
        """One record's span in a batch (tracing.py): linked to the batch's."""
        return self.tracing.record(delivery, self.group_id, self.name, trusted=self.verify is not None,
                                   batch=batch_span)

    @staticmethod
    def _traced(span: Any, outcome: str) -> None:
        if span is not None:
            span.set_attributes({"cme.outcome": outcome, "cme.correlation_id": correlation.current() or ""})

    async def _batch_not_settled(self, deliveries: Sequence[Delivery], exc: Exception) -> None:
        first = deliveries[0] if deliveries else None
        log.error("batch_not_settled", consumer=self.name, topic=first.topic if first else None,
                  partition=first.partition if first else None, offset=first.offset if first else None,
                  records=len(deliveries), error_type=type(exc).__name__)
        await asyncio.sleep(self.backoff_seconds * 2 ** self.max_attempts)

    def _batch_committed(self, settled: Iterable[tuple[Delivery, Outcome, Any]]) -> None:
        """After a batch's unit of work committed: each settled record counted (with what `parse` made of
        it: a dead letter is counted by its reasons)."""
        for delivery, outcome, message in settled:
            self._count(outcome)
            if outcome == Outcome.DEAD_LETTERED_UNREADABLE:
                self._dead_lettered(delivery, "unreadable", message.problems)

    def _parse(self, delivery: Delivery) -> Any:
        """The parser's answer, or Unreadable: a parser that breaks on a record (RecursionError, a bug, any
        exception at all) has found a record nobody can read, and reading it again would break it again."""
        try:
            if self.verify is not None:
                self.verify(delivery)
            return self.parse(delivery)
        except Unreadable:
            raise
        except Exception as exc:
            log.warning("parser_failed", consumer=self.name, topic=delivery.topic, partition=delivery.partition,
                        offset=delivery.offset, error_type=type(exc).__name__)
            raise unreadable_because("parser_failed", f"the message could not be parsed ({type(exc).__name__})") from None

    def _parse_or_error(self, delivery: Delivery) -> Any:
        try:
            return self._parse(delivery)
        except Unreadable as unreadable:  # dead-lettered in the batch
            return unreadable

    def _inbox_id(self, delivery: Delivery, message: Any) -> str:
        """What the inbox knows a record by: its identity (an event id, say) once it is readable; an
        unreadable one (a forged signature included) by its place in the log, so that a record nobody can
        vouch for never claims the event id of the genuine event it copies."""
        return delivery.position if isinstance(message, Unreadable) else self.identify(delivery)

    async def _settle_claimed(self, uow: "UnitOfWork[Any]", delivery: Delivery, message: Any) -> Outcome:
        """A record of the batch whose inbox claim its unit of work holds: dead-lettered if unreadable (the
        reject hook uncontained: if it fails, the batch is settled record by record), else handled."""
        if isinstance(message, Unreadable):
            await self._write_dead_letter(uow, delivery, "unreadable", message.problems, claimed=True,
                                          contained=False)
            return Outcome.DEAD_LETTERED_UNREADABLE
        await self.on(uow, message)
        return Outcome.HANDLED

    def _log_failure(self, delivery: Delivery, attempt: int, exc: Exception, *, in_batch: bool = False) -> None:
        log.warning(
            "handler_failed",
            consumer=self.name, topic=delivery.topic, partition=delivery.partition,
            offset=delivery.offset, attempt=attempt, max_attempts=self.max_attempts,
            error_type=type(exc).__name__, in_batch=in_batch,
        )

    async def _dead_letter(self, delivery: Delivery, kind: str, problems: list[Problem]) -> None:
        """The record to `<topic>.dlq` through the outbox, with the reject hook (so a sender still hears
        back, whichever way the record failed), in one unit of work with the inbox claim."""
        async with self.unit_of_work() as uow:
            uow.delivery = delivery
            if not await self._write_dead_letter(uow, delivery, kind, problems):
                return
            await uow.commit()
        self._dead_lettered(delivery, kind, problems)

    def _dead_lettered(self, delivery: Delivery, kind: str, problems: Sequence[Problem]) -> None:
        codes = sorted({p.code for p in problems})
        for code in codes:  # rule codes (pydantic's and ours): a small fixed set, never values
            DEAD_LETTERS.labels(consumer=self.name, kind=kind, code=code).inc()
        log.info("dead_lettered", consumer=self.name, topic=delivery.topic, partition=delivery.partition,
                 offset=delivery.offset, reasons=kind, codes=codes)

    async def _write_dead_letter(self, uow: "UnitOfWork[Any]", delivery: Delivery, kind: str,
                                 problems: list[Problem], *, claimed: bool = False, contained: bool = True) -> bool:
        """The dead letter's writes in the caller's unit of work; False if the record was claimed before.
        `claimed`: the caller has already claimed the record in this transaction. `contained`: the reject
        hook runs in a savepoint, and if it breaks on this record the dead letter is still written."""
        identity = delivery.position if kind == "unreadable" else self.identify(delivery)
        if not claimed and not await self.inbox.claim(uow.session, self.name, identity):
            return False
        await write_dead_letter(uow, topic=delivery.topic, kind=kind, problems=problems, consumer=self.name,
                                key=delivery.key, value=delivery.value, headers=delivery.headers,
                                aggregate_id=delivery.position, origin=delivery)
        if self.reject is None:
            return True
        if not contained:
            await self.reject(uow, delivery, problems)
            return True
        # The hook tells the sender (intake's outcome); if it breaks on this record, the dead letter is
        # still written: a record the hook cannot cope with must not be read again for ever.
        try:
            async with uow.session.begin_nested():
                await self.reject(uow, delivery, problems)
        except Exception as exc:
            if is_transient(exc):
                raise
            log.error("reject_hook_failed", consumer=self.name, topic=delivery.topic,
                      partition=delivery.partition, offset=delivery.offset, error_type=type(exc).__name__)
        return True

    def _count(self, outcome: Outcome) -> Outcome:
        MESSAGES.labels(consumer=self.name, outcome=outcome).inc()
        self.health.record_settled()
        return outcome

    async def _dead_letter_batch(self, tp: TopicPartition, first_offset: int, last_offset: int, unread_from: int,
                                 data: bytes, error_type: str) -> None:
        """A batch aiokafka cannot decode (fetching.py), whole and byte for byte, to `<topic>.dlq`: the
        records from `unread_from` on cannot be had apart, nor their senders told (those before it were
        handled). Claimed in the inbox by its place, so that reading it again writes it once."""
        origin = Delivery(topic=tp.topic, partition=tp.partition, offset=first_offset, key=None, value=data)
        problems = [Problem(loc=[], code="undecodable_batch",
                            message=f"the record batch cannot be decoded ({error_type})")]
        headers = [*dead_letter_headers([], "undecodable_batch", problems, self.name, origin=origin),
                   ("x-dlq-original-last-offset", str(last_offset).encode()),
                   ("x-dlq-unread-from-offset", str(unread_from).encode()),
                   ("x-dlq-value-format", b"kafka-record-batch")]
        async with self.unit_of_work() as uow:
            if not await self.inbox.claim(uow.session, self.name, f"{origin.position}-{last_offset}:batch"):
                return
            await uow.outbox.add_raw(topic=dlq(tp.topic), key=None, payload=data, headers=headers,
                                     aggregate_type="dead_letter", aggregate_id=origin.position,
                                     event_type="undecodable_batch")
            await uow.commit()
        self._dead_lettered(origin, "undecodable_batch", problems)
        log.error("undecodable_batch_dead_lettered", consumer=self.name, topic=tp.topic, partition=tp.partition,
                  offset=first_offset, last_offset=last_offset, unread_from=unread_from, error_type=error_type,
                  size=len(data))

    async def _commit_past(self, consumer: Any, tp: TopicPartition, next_offset: int) -> None:
        """One-record mode, past a dead-lettered batch: the records before it were committed as they settled."""
        try:
            await consumer.commit({tp: next_offset})
        except Exception as exc:  # a rebalance, the broker away: the batch is read again, its dead letter once
            log.warning("offsets_not_committed", consumer=self.name, count=1, error_type=type(exc).__name__)


class _LazyCommits:
    """The next offsets of settled batches, per partition, committed `interval` seconds after the first
    batch settled since the last commit. Only settled records are ever committed: a batch's offsets are
    noted once the batch has settled (its transaction, or each of its records on its own)."""

    def __init__(self, consumer_name: str, interval: float) -> None:
        self._name = consumer_name
        self._interval = interval
        self._pending: dict[TopicPartition, int] = {}
        self._consumer: Any = None
        self._timer: asyncio.Task[None] | None = None

    def settled(self, consumer: Any, deliveries: Sequence[Delivery]) -> None:
        for delivery in deliveries:
            self._note(TopicPartition(delivery.topic, delivery.partition), delivery.offset + 1)
        self._schedule(consumer)

    async def skipped(self, consumer: Any, partition: TopicPartition, next_offset: int) -> None:
        """A dead-lettered batch the partition has moved past (fetching.py), committed like a settled one."""
        self._note(partition, next_offset)
        self._schedule(consumer)

    def _note(self, partition: TopicPartition, next_offset: int) -> None:
        self._pending[partition] = max(self._pending.get(partition, 0), next_offset)

    def _schedule(self, consumer: Any) -> None:
        self._consumer = consumer
        if self._interval <= 0:
            self._timer = asyncio.create_task(self.commit())
        elif self._timer is None or self._timer.done():
            self._timer = asyncio.create_task(self._commit_later())

    async def _commit_later(self) -> None:
        # Batches that settle while a commit is under way find this timer still running: go round again
        # for them rather than leave their offsets for whichever batch comes next.
        while True:
            await asyncio.sleep(self._interval)
            await self.commit()
            if not self._pending:
                return

    async def flush(self) -> None:
        """Commit what is pending now, instead of when the timer fires."""
        if self._timer is not None and not self._timer.done() and self._timer is not asyncio.current_task():
            self._timer.cancel()
        await self.commit()

    async def commit(self) -> None:
        pending, self._pending = self._pending, {}
        if not pending or self._consumer is None:
            return
        # A partition taken away by a rebalance would fail the whole commit: its new owner reads those
        # records again (inbox duplicates); the partitions still ours are committed.
        assigned = self._consumer.assignment()
        pending = {partition: offset for partition, offset in pending.items() if partition in assigned}
        if not pending:
            return
        try:
            await self._consumer.commit(pending)
        except Exception as exc:  # a rebalance, the broker away: those records are read again, as duplicates
            log.warning("offsets_not_committed", consumer=self._name, count=len(pending),
                        error_type=type(exc).__name__)
