"""The dead-letter tool: list, show and replay a service's dead letters; the outbox's quarantine beside them.

    python -m cme_shared.dlq list   --topic cme.referrals.v1 [--reason CODE] [--kind KIND] [--since T] [--until T] [--key K]
    python -m cme_shared.dlq show   --topic cme.referrals.v1 PARTITION:OFFSET [--payload]
    python -m cme_shared.dlq replay --topic cme.referrals.v1 PARTITION:OFFSET... --reason TICKET [--again]
    python -m cme_shared.dlq replay --topic cme.referrals.v1 --matching [filters] --reason TICKET
    python -m cme_shared.dlq journal [--topic T]
    python -m cme_shared.dlq outbox quarantined|show|release|drop ...   (cme_shared.ops's outbox commands)

`--topic` names the source topic as on the broker (with any test namespace); its dead letters are on
`<topic>.dlq` (consumer.py's `dead_letter_headers`: the record's key, value and headers as they came, then
`x-dlq-kind`, `x-dlq-reasons`, `x-dlq-consumer` and `x-dlq-original-{topic,partition,offset}`). Kafka comes
from CME_KAFKA_* (an operator's login: a service may not read its own DLQ back); the outbox commands and
the release of inbox claims use the service's CME_DATABASE_URL.

A replay sends the dead letter back to the topic it came from, byte for byte: the same key (a partner's
referral keeps its key, so its partition and order), the same value, and the original headers in their
order, only the `x-dlq-*` ones taken off, so a signed internal event still verifies (signing.py signs the
topic, key, event id and payload). A consumer that knows events by their `event_id` (`by_event_id`)
claimed that id in its inbox when it dead-lettered the event after its handler failed, and would take
the replay as a duplicate: for a `handler_failed` dead letter with an event id, the replay first deletes
that one claim (consumer `x-dlq-consumer`, the event id) in the service's database. Partners' referrals
are known by their place in the log (`by_position`): the replay is a new place, nothing to release.

Every replay is recorded in the replay journal (`--journal`, CME_DLQ_JOURNAL, default
`.local/dlq/replays.jsonl`; append-only JSON lines, flushed and fsynced): who, when, why (a ticket
reference), which dead letter (DLQ partition and offset), its fingerprint (SHA-256 of the source topic,
key, value and headers sent) and where the replay landed. A `started` line is written before the send
and a `replayed` line after it, so a run that stops half way is resumed by running it again: `--matching`
skips what was replayed and replays the rest. The loop guard: a dead letter already replayed, and a new
dead letter with the fingerprint of one replayed before (it was replayed and dead-lettered again), are
not replayed again without `--again` (named records only); nor is one whose replay is in doubt (a
`started` line without its `replayed` one). Dead letters that do not hold the record (an undecodable
batch, a record too large to keep) cannot be replayed.

Nothing here prints a payload, a key or a sender's header value, except `show --payload` (the payload
alone: it may be a child's personal data); keys are shown by size and digest.
"""

import asyncio
import getpass
import hashlib
import json
import os
import re
import sys
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from rich.console import Console
from rich.table import Table
from sqlalchemy import MetaData, delete
from sqlalchemy.exc import DBAPIError

from .clock import SYSTEM_CLOCK
from .contracts.topics import dlq, is_dlq
from .db import create_engine
from .kafka_security import KafkaConnection
from .logging import configure_logging, get_logger
from .messaging.tables import KitTables
from .ops import KIT_HEADERS, OPERATOR_REASON, outbox_commands
from .settings import ServiceSettings

log = get_logger(__name__)

DLQ_HEADER_PREFIX = "x-dlq-"
DEFAULT_JOURNAL = Path(".local/dlq/replays.jsonl")
INBOX = KitTables(MetaData()).inbox  # the same table in every service's database
# Kinds whose dead letter claimed the consumer's own identity of the record (consumer.py `_write_dead_letter`:
# an unreadable record is claimed by its place in the log, anything else by `identify`).
CLAIMED_BY_IDENTITY = frozenset({"handler_failed"})
NOT_REPLAYABLE_HEADERS = ("x-dlq-value-omitted-bytes", "x-dlq-value-format")
POSITION = re.compile(r"(\d{1,6}):(\d{1,19})")


class DlqError(Exception):
    """A refusal or failure the tool reports as one line (never a record's content)."""


@dataclass(frozen=True)
class DeadLetter:
    """One record of a `<topic>.dlq`, with what its x-dlq-* headers say."""

    topic: str  # the DLQ topic
    partition: int
    offset: int
    timestamp_ms: int
    key: bytes | None
    value: bytes
    headers: list[tuple[str, bytes | None]]

    @property
    def position(self) -> str:
        return f"{self.partition}:{self.offset}"

    def header(self, name: str) -> str | None:
        for header_name, value in self.headers:
            if header_name == name:
                return None if value is None else value.decode("utf-8", "replace")
        return None

    @property
    def dead_lettered_at(self) -> datetime:
        return datetime.fromtimestamp(self.timestamp_ms / 1000, UTC)

    @property
    def kind(self) -> str:
        return self.header("x-dlq-kind") or "-"

    @property
    def consumer(self) -> str:
        return self.header("x-dlq-consumer") or "-"

    @property
    def reasons(self) -> list[dict[str, Any]]:
        text = self.header("x-dlq-reasons")
        try:
            listed = json.loads(text) if text else []
        except ValueError:
            return [{"loc": [], "code": "reasons_unreadable", "message": "x-dlq-reasons is not JSON"}]
        return [r for r in listed if isinstance(r, dict)] if isinstance(listed, list) else []

    @property
    def codes(self) -> list[str]:
        return sorted({str(r.get("code")) for r in self.reasons})

    @property
    def origin(self) -> str:
        return ":".join(self.header(f"x-dlq-original-{part}") or "?" for part in ("topic", "partition", "offset"))

    @property
    def original_topic(self) -> str | None:
        return self.header("x-dlq-original-topic")

    @property
    def original_headers(self) -> list[tuple[str, bytes | None]]:
        """The headers the record came with, in their order: all but the x-dlq-* ones."""
        return [(name, value) for name, value in self.headers if not name.startswith(DLQ_HEADER_PREFIX)]

    @property
    def event_id(self) -> str | None:
        for name, value in self.original_headers:
            if name == "event_id" and value is not None:
                try:
                    return str(uuid.UUID(value.decode("ascii")))
                except (UnicodeDecodeError, ValueError):
                    return None
        return None

    def key_summary(self) -> str:
        if self.key is None:
            return "none"
        return f"{len(self.key)} bytes #{hashlib.sha256(self.key).hexdigest()[:12]}"

    def fingerprint(self, target_topic: str) -> str:
        """What a replay sends, digested: the same record dead-lettered again has the same fingerprint."""
        digest = hashlib.sha256(b"cme-dlq-replay-v1")
        for part in (target_topic.encode(), self.key, self.value):
            digest.update(b"-" if part is None else len(part).to_bytes(8, "big") + part)
        for name, value in self.original_headers:
            encoded = name.encode("utf-8", "surrogateescape")
            digest.update(len(encoded).to_bytes(8, "big") + encoded)
            digest.update(b"-" if value is None else len(value).to_bytes(8, "big") + value)
        return digest.hexdigest()

    def why_not_replayable(self) -> str | None:
        if self.original_topic is None:
            return "it names no original topic (x-dlq-original-topic)"
        if self.kind == "undecodable_batch" or any(self.header(h) is not None for h in NOT_REPLAYABLE_HEADERS):
            return "it does not hold the record itself (an undecodable batch or a record too large to keep)"
        return None


@dataclass(frozen=True)
class Filters:
    reason: str | None = None
    kind: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    key: bytes | None = None

    def match(self, letter: DeadLetter) -> bool:
        return ((self.reason is None or self.reason in letter.codes)
                and (self.kind is None or self.kind == letter.kind)
                and (self.since is None or letter.dead_lettered_at >= self.since)
                and (self.until is None or letter.dead_lettered_at < self.until)
                and (self.key is None or letter.key == self.key))


def dlq_topic(topic: str) -> str:
    return topic if is_dlq(topic) else dlq(topic)


def source_topic(topic: str) -> str:
    return topic.removesuffix(".dlq") if is_dlq(topic) else topic


async def read_dead_letters(kafka: KafkaConnection, topic: str, filters: Filters = Filters(),
                            only: set[tuple[int, int]] | None = None) -> list[DeadLetter]:
    """Every dead letter of `topic`'s DLQ up to its end now (no consumer group: nothing is committed), in
    partition and offset order; `only`: just these (partition, offset) places."""
    name = dlq_topic(topic)
    reader = AIOKafkaConsumer(**kafka.aiokafka(), group_id=None, enable_auto_commit=False,
                              auto_offset_reset="earliest", client_id="cme-dlq")
    await reader.start()
    try:
        tps = [TopicPartition(name, p) for p in await topic_partitions(kafka, name)]
        reader.assign(tps)
        ends = await reader.end_offsets(tps)
        if only is not None:  # read each wanted partition from its first wanted offset to its last
            ends = {tp: min(end, max((o + 1 for p, o in only if p == tp.partition), default=0))
                    for tp, end in ends.items()}
        starts = await reader.beginning_offsets(tps)
        for tp in tps:
            first = min((o for p, o in only if p == tp.partition), default=starts[tp]) if only else starts[tp]
            reader.seek(tp, max(first, starts[tp]))
        letters: list[DeadLetter] = []
        remaining = {tp for tp in tps if await reader.position(tp) < ends[tp]}
        reader.pause(*[tp for tp in tps if tp not in remaining])
        while remaining:
            batch = await reader.getmany(*remaining, timeout_ms=1000)
            for tp, records in batch.items():
                for r in records:
                    if r.offset >= ends[tp]:
                        continue
                    letter = DeadLetter(name, r.partition, r.offset, r.timestamp, r.key,
                                        r.value if r.value is not None else b"", list(r.headers or []))
                    if (only is None or (r.partition, r.offset) in only) and filters.match(letter):
                        letters.append(letter)
            for tp in list(remaining):
                if await reader.position(tp) >= ends[tp]:
                    remaining.discard(tp)
                    reader.pause(tp)
        return sorted(letters, key=lambda letter: (letter.partition, letter.offset))
    finally:
        await reader.stop()


async def topic_partitions(kafka: KafkaConnection, name: str) -> list[int]:
    admin = AIOKafkaAdminClient(**kafka.aiokafka(), client_id="cme-dlq")
    await admin.start()
    try:
        [described] = await admin.describe_topics([name])
    finally:
        await admin.close()
    if described.get("error_code") or not described.get("partitions"):
        raise DlqError(f"no topic {name} on the broker")
    return sorted(p["partition"] for p in described["partitions"])


# ---- the replay journal


@dataclass
class Journal:
    """Append-only JSON lines: one `started` and one `replayed` line per replay (mode 600)."""

    path: Path
    entries: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def open(cls, path: Path) -> "Journal":
        journal = cls(path)
        if path.exists():
            for number, line in enumerate(path.read_text().splitlines(), 1):
                if line.strip():
                    try:
                        journal.entries.append(json.loads(line))
                    except ValueError:
                        raise DlqError(f"the replay journal {path} has a broken line {number}") from None
        return journal

    def append(self, entry: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, (json.dumps(entry, sort_keys=True) + "\n").encode())
            os.fsync(fd)
        finally:
            os.close(fd)
        self.entries.append(entry)

    def of_place(self, dlq_name: str, partition: int, offset: int) -> list[dict[str, Any]]:
        return [e for e in self.entries
                if (e.get("dlq_topic"), e.get("dlq_partition"), e.get("dlq_offset")) == (dlq_name, partition, offset)]

    def of_fingerprint(self, fingerprint: str) -> list[dict[str, Any]]:
        return [e for e in self.entries if e.get("fingerprint") == fingerprint and e.get("status") == "replayed"]


@dataclass(frozen=True)
class Verdict:
    letter: DeadLetter
    outcome: str  # replayed | already_replayed | replayed_before | in_doubt | not_replayable
    detail: str = ""
    target: str = ""


def guard(journal: Journal, letter: DeadLetter) -> Verdict | None:
    """Why this dead letter must not be replayed without --again (None: it may be)."""
    if (why := letter.why_not_replayable()) is not None:
        return Verdict(letter, "not_replayable", why)
    place = journal.of_place(letter.topic, letter.partition, letter.offset)
    done = [e for e in place if e.get("status") == "replayed"]
    if done:
        last = done[-1]
        return Verdict(letter, "already_replayed",
                       f"replayed at {last['at']} by {last['by']} ({last['why']}) to {last['target']}")
    if {e.get("replay_id") for e in place if e.get("status") == "started"} - {e.get("replay_id") for e in done}:
        return Verdict(letter, "in_doubt", "a replay was started and not recorded as sent: it may be on the topic")
    earlier = journal.of_fingerprint(letter.fingerprint(letter.original_topic or ""))
    if earlier:
        last = earlier[-1]
        return Verdict(letter, "replayed_before",
                       f"the same record was replayed from {last['dlq_partition']}:{last['dlq_offset']} at "
                       f"{last['at']} and dead-lettered again")
    return None


async def release_claim(database_url: str, letter: DeadLetter) -> bool:
    """Delete the inbox claim the dead letter made of its event id (see the module's docstring)."""
    assert letter.event_id is not None
    engine = create_engine(database_url, pool_size=1)
    try:
        async with engine.begin() as conn:
            result = await conn.execute(delete(INBOX).where(INBOX.c.consumer == letter.consumer,
                                                            INBOX.c.message_id == letter.event_id))
        return bool(result.rowcount)
    finally:
        await engine.dispose()


def needs_release(letter: DeadLetter) -> bool:
    return letter.kind in CLAIMED_BY_IDENTITY and letter.event_id is not None


async def replay(kafka: KafkaConnection, journal: Journal, letters: Iterable[DeadLetter], *, by: str, why: str,
                 again: bool = False, database_url: str | None = None) -> list[Verdict]:
    """Replay each dead letter the guard lets through (all of them with `again`, but for those that
    cannot be replayed), recording each in the journal; one Verdict per letter, in order."""
    if not OPERATOR_REASON.fullmatch(why):
        raise DlqError("the reason must be a ticket reference or a code (letters, digits, ._:#/-)")
    letters = list(letters)
    verdicts: list[Verdict] = []
    producer = AIOKafkaProducer(**kafka.aiokafka(), acks="all", enable_idempotence=True, client_id="cme-dlq",
                                max_request_size=2 * 1024 * 1024)
    await producer.start()
    try:
        for letter in letters:
            refused = guard(journal, letter)
            if refused is not None and (not again or refused.outcome == "not_replayable"):
                verdicts.append(refused)
                continue
            target = letter.original_topic or ""
            if needs_release(letter) and database_url is None:
                verdicts.append(Verdict(letter, "not_replayable",
                                        "its consumer claimed the event id in the service's inbox: give the "
                                        "service's CME_DATABASE_URL so that the claim is released"))
                continue
            replay_id = str(uuid.uuid4())
            common = {"replay_id": replay_id, "by": by, "why": why, "again": bool(refused),
                      "dlq_topic": letter.topic, "dlq_partition": letter.partition, "dlq_offset": letter.offset,
                      "target": target, "fingerprint": letter.fingerprint(target), "kind": letter.kind,
                      "codes": letter.codes, "consumer": letter.consumer, "origin": letter.origin}
            journal.append({**common, "status": "started", "at": now()})
            released = False
            if needs_release(letter):
                assert database_url is not None
                released = await release_claim(database_url, letter)
            sent = await producer.send_and_wait(target, letter.value, key=letter.key,
                                                headers=letter.original_headers)
            landed = f"{target}:{sent.partition}:{sent.offset}"
            journal.append({**common, "status": "replayed", "at": now(), "landed": landed,
                            "inbox_claim_released": released})
            log.warning("dlq_record_replayed", dlq_topic=letter.topic, dlq_partition=letter.partition,
                        dlq_offset=letter.offset, target=landed, kind=letter.kind, codes=letter.codes,
                        by=by, operator_reason=why, again=bool(refused), inbox_claim_released=released)
            verdicts.append(Verdict(letter, "replayed", "again" if refused else "", landed))
    finally:
        await producer.stop()
    return verdicts


def now() -> str:
    return SYSTEM_CLOCK.now().isoformat(timespec="milliseconds")


# ---- the command line

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Dead letters of a topic (<topic>.dlq): list, show, replay; and the outbox's quarantine.")
app.add_typer(outbox_commands(ServiceSettings), name="outbox",
              help="Rows the outbox relay quarantined (the same as python -m cme_<service> outbox).")

TopicOption = Annotated[str, typer.Option("--topic", help="the source topic (or its .dlq), as on the broker")]
JournalOption = Annotated[Path, typer.Option("--journal", envvar="CME_DLQ_JOURNAL", help="the replay journal")]


def _time(text: str | None, name: str) -> datetime | None:
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter("an ISO 8601 time, e.g. 2026-12-01T09:00:00+00:00", param_hint=name) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _filters(reason: str | None, kind: str | None, since: str | None, until: str | None, key: str | None) -> Filters:
    return Filters(reason=reason, kind=kind, since=_time(since, "--since"), until=_time(until, "--until"),
                   key=None if key is None else key.encode())


def _place(text: str) -> tuple[int, int]:
    matched = POSITION.fullmatch(text.strip())
    if matched is None:
        raise typer.BadParameter(f"PARTITION:OFFSET, e.g. 0:42 (not {text[:40]!r})")
    return int(matched[1]), int(matched[2])


def _kafka() -> KafkaConnection:
    settings = ServiceSettings()
    configure_logging("dlq", settings.log_level)
    return settings.kafka_connection()


def _run(work: Any) -> Any:
    try:
        return asyncio.run(work)
    except DlqError as exc:
        typer.echo(f"dlq: {exc}", err=True)
        raise typer.Exit(2) from None
    except (DBAPIError, OSError) as exc:  # the type only: a database's message may quote a row
        typer.echo(f"dlq: could not use the database or broker ({type(getattr(exc, 'orig', None) or exc).__name__})",
                   err=True)
        raise typer.Exit(2) from None


FilterReason = Annotated[str | None, typer.Option("--reason-code", "--code", help="a reason code (x-dlq-reasons)")]
FilterKind = Annotated[str | None, typer.Option(help="unreadable | handler_failed | undecodable_batch")]
FilterSince = Annotated[str | None, typer.Option(help="dead-lettered at or after (ISO 8601; UTC if no zone)")]
FilterUntil = Annotated[str | None, typer.Option(help="dead-lettered before (ISO 8601)")]
FilterKey = Annotated[str | None, typer.Option(help="the record's key, exactly")]


@app.command("list")
def list_letters(topic: TopicOption, code: FilterReason = None, kind: FilterKind = None, since: FilterSince = None,
                 until: FilterUntil = None, key: FilterKey = None,
                 journal_path: JournalOption = DEFAULT_JOURNAL) -> None:
    """The dead letters of TOPIC that match: place, when, kind, reason codes, consumer, origin, replays."""
    letters = _run(read_dead_letters(_kafka(), topic, _filters(code, kind, since, until, key)))
    journal = _open_journal(journal_path)
    if not letters:
        typer.echo(f"no dead letters on {dlq_topic(topic)} match")
        return
    table = Table("place", "dead-lettered at", "kind", "reason codes", "consumer", "came from", "key", "replays")
    for letter in letters:
        replays = [e for e in journal.of_place(letter.topic, letter.partition, letter.offset)
                   if e.get("status") == "replayed"]
        table.add_row(letter.position, letter.dead_lettered_at.isoformat(timespec="seconds"), letter.kind,
                      ", ".join(letter.codes), letter.consumer, letter.origin, letter.key_summary(),
                      str(len(replays)) if replays else "-")
    Console(width=220).print(table)
    typer.echo(f"{len(letters)} dead letter(s) on {dlq_topic(topic)}")


@app.command("show")
def show(topic: TopicOption, place: str,
         payload: Annotated[bool, typer.Option("--payload", help="print only the payload: it may be personal data")]
         = False,
         journal_path: JournalOption = DEFAULT_JOURNAL) -> None:
    """One dead letter: its reasons, its headers (the kit's values; a sender's by name and size) and its replays."""
    partition, offset = _place(place)
    letters = _run(read_dead_letters(_kafka(), topic, only={(partition, offset)}))
    if not letters:
        typer.echo(f"no dead letter {place} on {dlq_topic(topic)}", err=True)
        raise typer.Exit(1)
    letter = letters[0]
    if payload:
        typer.echo("warning: a dead letter's payload may hold personal data (a child's, a family's). Keep it out "
                   "of tickets, chats and shared screens, and delete any copy once done.", err=True)
        sys.stdout.buffer.write(letter.value)
        sys.stdout.buffer.flush()
        return
    lines = [
        f"dead letter {letter.position} on {letter.topic}",
        f"  dead-lettered at: {letter.dead_lettered_at.isoformat()}",
        f"  kind:             {letter.kind}",
        f"  consumer:         {letter.consumer}",
        f"  came from:        {letter.origin}",
        f"  key:              {letter.key_summary()}",
        f"  payload:          {len(letter.value)} bytes (not shown; --payload prints it)",
        f"  replayable:       {letter.why_not_replayable() or 'yes'}",
        f"  reasons ({len(letter.reasons)}):",
        *[f"    {r.get('code')} at {'/'.join(map(str, r.get('loc') or [])) or '-'}: {r.get('message')}"
          for r in letter.reasons],
        f"  headers ({len(letter.headers)}):",
        *_header_lines(letter.headers),
    ]
    for entry in _open_journal(journal_path).of_place(letter.topic, letter.partition, letter.offset):
        lines.append(f"  journal: {entry['status']} at {entry['at']} by {entry['by']} ({entry['why']})"
                     + (f" to {entry['landed']}" if entry.get("landed") else ""))
    typer.echo("\n".join(lines))


def _header_lines(headers: list[tuple[str, bytes | None]]) -> list[str]:
    lines = []
    for name, value in headers:
        if value is None:
            lines.append(f"    {name}: null")
        elif name in KIT_HEADERS or (name.startswith(DLQ_HEADER_PREFIX) and name != "x-dlq-reasons"):
            lines.append(f"    {name}: {value.decode('utf-8', 'replace')[:300]}")
        elif name == "x-dlq-reasons":
            lines.append(f"    {name} ({len(value)} bytes): listed above")
        else:
            lines.append(f"    {name} ({len(value)} bytes): value not shown (a sender's header)")
    return lines


def _open_journal(path: Path) -> Journal:
    try:
        return Journal.open(path)
    except DlqError as exc:
        typer.echo(f"dlq: {exc}", err=True)
        raise typer.Exit(2) from None


@app.command("replay")
def replay_command(
    topic: TopicOption,
    places: Annotated[list[str] | None, typer.Argument(help="PARTITION:OFFSET of each dead letter to replay")] = None,
    reason: Annotated[str, typer.Option("--reason", help="why: a ticket reference or code (journalled, logged)")] = "",
    matching: Annotated[bool, typer.Option("--matching", help="every dead letter the filters match")] = False,
    code: FilterReason = None, kind: FilterKind = None, since: FilterSince = None, until: FilterUntil = None,
    key: FilterKey = None,
    again: Annotated[bool, typer.Option("--again", help="replay named dead letters even if replayed before")] = False,
    by: Annotated[str | None, typer.Option(help="who replays (default: the login name)")] = None,
    database_url: Annotated[str | None, typer.Option(
        envvar="CME_DATABASE_URL", show_envvar=True,
        help="the service's database, to release an event's inbox claim")] = None,
    journal_path: JournalOption = DEFAULT_JOURNAL,
    yes: Annotated[bool, typer.Option("--yes", help="do not ask for confirmation")] = False,
) -> None:
    """Send dead letters back to their source topic, byte for byte (headers minus x-dlq-*), once the cause
    is fixed; each replay journalled. Named records already replayed are refused without --again;
    with --matching they are skipped, so a stopped run is resumed by running it again."""
    if not OPERATOR_REASON.fullmatch(reason):
        raise typer.BadParameter("a ticket reference or code: letters, digits and ._:#/- (it is journalled)",
                                 param_hint="--reason")
    if bool(places) == matching:
        typer.echo("name the dead letters to replay (PARTITION:OFFSET...), or --matching with filters", err=True)
        raise typer.Exit(2)
    if again and matching:
        typer.echo("--again takes named dead letters only: a filter would also match the copies replayed before",
                   err=True)
        raise typer.Exit(2)
    kafka = _kafka()
    wanted = {_place(p) for p in places or []}
    filters = _filters(code, kind, since, until, key)
    letters = _run(read_dead_letters(kafka, topic, filters, only=wanted or None))
    missing = wanted - {(letter.partition, letter.offset) for letter in letters}
    if missing:
        typer.echo(f"no such dead letter on {dlq_topic(topic)}: "
                   f"{', '.join(f'{p}:{o}' for p, o in sorted(missing))}", err=True)
        raise typer.Exit(1)
    if not letters:
        typer.echo("no dead letters match: nothing replayed")
        return
    if not yes:
        typer.confirm(f"replay {len(letters)} dead letter(s) to {source_topic(topic)}?", abort=True)
    journal = _open_journal(journal_path)
    operator = by or getpass.getuser()
    verdicts = _run(replay(kafka, journal, letters, by=operator, why=reason, again=again,
                           database_url=database_url))
    refused = 0
    for v in verdicts:
        if v.outcome == "replayed":
            typer.echo(f"replayed {v.letter.position} to {v.target}" + (" (again)" if v.detail else ""))
        elif matching and v.outcome == "already_replayed":
            typer.echo(f"skipped {v.letter.position}: already {v.detail}")
        else:
            refused += 1
            hint = "" if v.outcome == "not_replayable" else " (--again to replay it anyway)"
            typer.echo(f"refused {v.letter.position} ({v.outcome}): {v.detail}{hint}", err=True)
    typer.echo(f"{sum(v.outcome == 'replayed' for v in verdicts)} replayed, {refused} refused; "
               f"journal: {journal_path}")
    if refused:
        raise typer.Exit(1)


@app.command("journal")
def journal_command(topic: Annotated[str | None, typer.Option("--topic", help="only this topic's")] = None,
                    journal_path: JournalOption = DEFAULT_JOURNAL) -> None:
    """The replays recorded: when, who, why, which dead letter, where it went."""
    journal = _open_journal(journal_path)
    entries = [e for e in journal.entries if e.get("status") == "replayed"
               and (topic is None or e.get("dlq_topic") == dlq_topic(topic))]
    if not entries:
        typer.echo("no replays recorded")
        return
    table = Table("at", "by", "why", "dead letter", "to", "again", "claim released")
    for e in entries:
        table.add_row(e["at"], e["by"], e["why"], f"{e['dlq_topic']} {e['dlq_partition']}:{e['dlq_offset']}",
                      e.get("landed", "-"), "yes" if e.get("again") else "-",
                      "yes" if e.get("inbox_claim_released") else "-")
    Console(width=220).print(table)


if __name__ == "__main__":
    app()
