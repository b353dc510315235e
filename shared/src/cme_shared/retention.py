"""Retention and disposal, the kit's half (issue 14, item 1; DOMAIN section 3; contracts/retention.py).

What every service shares:
- the schedule in force (`load_schedule`: the council's default, or `CME_RETENTION_SCHEDULE_FILE`), when a
  record falls due (`due_on`), and the access pack's retention statement written from it (`statement`);
- the two kit tables (`cme_shared.migrations.create_retention_tables`): `disposal_tombstones`, what was
  disposed of, and `legal_holds`, what must be kept anyway (`Tombstones`, `LegalHolds` below);
- the disposal job's database session (`disposal_parts`): the service's third login, `cme_<svc>_disposal`
  (CME_DISPOSAL_DATABASE_URL), which alone may remove rows from a history table
  (`cme_shared.migrations.open_to_disposal`). The running service never holds it.

Each service says which of its records fall due and how their content goes (its own `adapters/` and
`service_layer/retention.py`), writes one tombstone per record disposed, and tells the others with a
`RecordsDisposed` event in the same transaction; disclosure appends a log leaf for each.

A dry run (`python -m cme_<svc> dispose --dry-run`) is the records officer's report: what would be disposed
of, under which rule, and what a legal hold keeps; it changes nothing.
"""

import hashlib
import hmac
import unicodedata
import uuid
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dateutil.relativedelta import relativedelta
from pydantic import BaseModel
from sqlalchemy import (BigInteger, Column, Date, DateTime, MetaData, Table, Text, UniqueConstraint, and_, insert,
                        or_, select, text, update)
from sqlalchemy.dialects.postgresql import ARRAY  # its comparator has `overlap` (&&), the generic one has not
from sqlalchemy.dialects.postgresql import UUID as PG_UUID
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from .contracts.categories import DataCategory
from .contracts.retention import (ClockStart, RecordsDisposed, RecordType, RetentionRule,
                                  RetentionSchedule)

if TYPE_CHECKING:
    from .contracts.retention import LegalHoldChanged
    from .contracts.rights import DataItem

# The council's default (DOMAIN section 3: "default 7 years after case closure, configurable per category,
# with legal hold"). Records not tied to a case run from their own event.
DEFAULT_SCHEDULE = RetentionSchedule(
    schedule_id="cme-default-2026",
    rules=(
        RetentionRule(rule_id="case.7y", record_type=RecordType.CASE, starts=ClockStart.CASE_CLOSED, years=7,
                      description="a case and its history: 7 years after the case is closed"),
        RetentionRule(rule_id="record-without-case.7y", record_type=RecordType.RECORD_WITHOUT_CASE,
                      starts=ClockStart.RECORDED, years=7,
                      description="a referral recorded without a case: 7 years after it was recorded"),
        RetentionRule(rule_id="ehe.7y", record_type=RecordType.EHE_RECORD, starts=ClockStart.CASE_CLOSED,
                      years=7, description="an elective home education record: 7 years after it is closed"),
        RetentionRule(rule_id="referral.7y", record_type=RecordType.REFERRAL, starts=ClockStart.CASE_CLOSED,
                      years=7, description="a referral as received: as long as the case it led to"),
        RetentionRule(rule_id="dead-letter.1y", record_type=RecordType.DEAD_LETTER, starts=ClockStart.RECORDED,
                      years=1, description="a rejected referral kept for its sender to correct: 1 year"),
        RetentionRule(rule_id="identity.7y", record_type=RecordType.IDENTITY, starts=ClockStart.CASE_CLOSED,
                      years=7, description="a child's or carer's identity details: as long as their last case"),
        RetentionRule(rule_id="disclosure.7y", record_type=RecordType.DISCLOSURE, starts=ClockStart.CASE_CLOSED,
                      years=7, description="a record of a share or of a decision not to share: as long as the "
                                           "case; the disclosure log keeps a digest of it for ever"),
        RetentionRule(rule_id="rights-request.7y", record_type=RecordType.RIGHTS_REQUEST,
                      starts=ClockStart.COMPLETED, years=7,
                      description="a data-protection rights request and its response: 7 years after it was "
                                  "answered"),
    ),
)


def load_schedule(path: Path | None) -> RetentionSchedule:
    """The schedule in force: the file's (the shape of `RetentionSchedule`, validated; every record type
    must have its category-free rule), else the default."""
    schedule = DEFAULT_SCHEDULE if path is None else RetentionSchedule.from_file(path)
    missing = [t.value for t in RecordType if not any(r.record_type is t and r.category is None for r in schedule.rules)]
    if missing:
        raise ValueError(f"the retention schedule {schedule.schedule_id} has no general rule for: {', '.join(missing)}")
    return schedule


def due_on(rule: RetentionRule, started_on: date) -> date:
    """The first day a record may be disposed of: its clock's start plus the rule's period. A 29 February
    start with a whole number of years falls due on 1 March of a common year, never a day early (keeping a
    record one day longer is the safe side of a retention period)."""
    due = started_on + relativedelta(years=rule.years)
    if (started_on.month, started_on.day) == (2, 29) and due.day == 28:
        due += relativedelta(days=1)
    return due + relativedelta(days=rule.days)


def period_words(rule: RetentionRule) -> str:
    parts = [f"{n} {unit}{'' if n == 1 else 's'}" for n, unit in ((rule.years, "year"), (rule.days, "day")) if n]
    return " and ".join(parts) or "no time"


START_WORDS = {ClockStart.CASE_CLOSED: "the case is closed", ClockStart.RECORDED: "it was recorded",
               ClockStart.COMPLETED: "it was answered"}


def _described(rule: RetentionRule) -> str:
    """The rule's own words, with its period and clock added unless the words already say that period (a
    schedule whose words and numbers disagree still tells the requester the numbers in force)."""
    if period_words(rule) in rule.description:
        return rule.description
    return f"{rule.description} ({period_words(rule)} after {START_WORDS[rule.starts]})"


def statement(schedule: RetentionSchedule) -> str:
    """The access pack's retention statement (Art 15(1)(d)), from the schedule in force."""
    general = [r for r in schedule.rules if r.category is None]
    by_category = [r for r in schedule.rules if r.category is not None]
    text = ("Kept only as long as necessary for the purposes above, under the council's corporate records "
            f"policy (retention schedule {schedule.schedule_id}): "
            + "; ".join(_described(r) for r in general) + ".")
    if by_category:
        text += " For some kinds of information the period differs: " + "; ".join(
            f"{r.category.value.replace('_', ' ')} in a {r.record_type.value.replace('_', ' ')}: {period_words(r)}"
            for r in by_category if r.category is not None) + "."
    return text + (" A legal hold keeps a record for longer while it is in force. At disposal the content is "
                   "destroyed and a minimal note of what was disposed of, when and why remains.")


def subject_digest(key: bytes, *parts: str | date | None) -> str:
    """A keyed digest (HMAC-SHA256) of a subject's identifiers, for a tombstone that must still answer a
    later subject access request ("we held a record about you and disposed of it on ...") without keeping
    the identifiers. Parts are normalised (case, accents, spaces) so the same person digests the same."""
    def norm(part: str | date | None) -> str:
        if part is None:
            return ""
        text = part.isoformat() if isinstance(part, date) else part
        text = unicodedata.normalize("NFKD", text)
        return " ".join("".join(c for c in text if not unicodedata.combining(c)).casefold().split())
    message = "\x1f".join(norm(p) for p in parts).encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Candidate:
    """A record the schedule says is due (or would be, but for a hold): ids and codes only."""

    record_type: RecordType
    record_id: str
    rule: RetentionRule
    clock_started_on: date
    subject_ids: tuple[uuid.UUID, ...] = ()
    case_ids: tuple[uuid.UUID, ...] = ()
    categories: tuple[DataCategory, ...] = ()
    held_by: tuple[uuid.UUID, ...] = ()  # the legal holds in force that keep it

    @property
    def due_on(self) -> date:
        return due_on(self.rule, self.clock_started_on)


class ReportRow(BaseModel):
    record_type: str
    record_id: str
    rule_id: str
    clock_started_on: date
    due_on: date
    subject_ids: list[uuid.UUID]
    case_ids: list[uuid.UUID]
    held_by: list[uuid.UUID]


class DisposalReport(BaseModel):
    """What a run did, or (dry run) would do: for the records officer, ids and codes only."""

    service: str
    run_id: uuid.UUID
    schedule_id: str
    as_of: date
    dry_run: bool
    disposed: list[ReportRow] = []  # dry run: would be disposed
    held: list[ReportRow] = []  # due, but kept by a legal hold

    @classmethod
    def of(cls, service: str, run_id: uuid.UUID, schedule: RetentionSchedule, as_of: date, dry_run: bool,
           candidates: Iterable[Candidate]) -> "DisposalReport":
        report = cls(service=service, run_id=run_id, schedule_id=schedule.schedule_id, as_of=as_of, dry_run=dry_run)
        for c in candidates:
            row = ReportRow(record_type=c.record_type.value, record_id=c.record_id, rule_id=c.rule.rule_id,
                            clock_started_on=c.clock_started_on, due_on=c.due_on, subject_ids=list(c.subject_ids),
                            case_ids=list(c.case_ids), held_by=list(c.held_by))
            (report.held if c.held_by else report.disposed).append(row)
        return report


def disposed_event(service: str, schedule: RetentionSchedule, run_id: uuid.UUID, now: datetime,
                   candidates: Sequence[Candidate],
                   related: dict[RecordType, list[str]] | None = None) -> RecordsDisposed:
    """One event for records disposed of together under one rule (the caller groups them)."""
    rules = {c.rule.rule_id for c in candidates}
    types = {c.record_type for c in candidates}
    if len(rules) != 1 or len(types) != 1:
        raise ValueError("one RecordsDisposed event is for one rule and one record type")
    first = candidates[0]
    return RecordsDisposed(
        event_id=uuid.uuid4(), occurred_at=now, service=service, schedule_id=schedule.schedule_id,
        rule_id=first.rule.rule_id, record_type=first.record_type, record_ids=[c.record_id for c in candidates],
        subject_ids=sorted({s for c in candidates for s in c.subject_ids}, key=str),
        case_ids=sorted({k for c in candidates for k in c.case_ids}, key=str),
        clock_started_on=min(c.clock_started_on for c in candidates), disposed_at=now, run_id=run_id,
        related_record_ids=related or {})


# The kit's tables as the repositories below see them (created by migrations.create_retention_tables).
metadata = MetaData()
tombstones = Table(
    "disposal_tombstones", metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("run_id", PG_UUID(as_uuid=True), nullable=False),
    Column("record_type", Text, nullable=False),
    Column("record_id", Text, nullable=False),
    Column("subject_ids", ARRAY(PG_UUID(as_uuid=True)), nullable=False),
    Column("subject_digests", ARRAY(Text), nullable=False),
    Column("case_ids", ARRAY(PG_UUID(as_uuid=True)), nullable=False),
    Column("categories", ARRAY(Text), nullable=False),
    Column("schedule_id", Text, nullable=False),
    Column("rule_id", Text, nullable=False),
    Column("clock_started_on", Date),
    Column("due_on", Date),
    Column("reason", Text, nullable=False),
    Column("disposed_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("record_type", "record_id", name="disposal_tombstones_once"),
)
legal_holds = Table(
    "legal_holds", metadata,
    Column("hold_id", PG_UUID(as_uuid=True), primary_key=True),
    Column("scope", Text, nullable=False),
    Column("target_id", Text, nullable=False),
    Column("reason", Text, nullable=False),
    Column("placed_by", Text, nullable=False),
    Column("placed_at", DateTime(timezone=True), nullable=False),
    Column("lifted_by", Text),
    Column("lifted_at", DateTime(timezone=True)),
    Column("lift_reason", Text),
)


class Tombstone(BaseModel):
    record_type: str
    record_id: str
    subject_ids: list[uuid.UUID]
    case_ids: list[uuid.UUID]
    categories: list[str]
    schedule_id: str
    rule_id: str
    clock_started_on: date | None
    due_on: date | None
    reason: str
    disposed_at: datetime
    run_id: uuid.UUID


DISPOSED_RECORD = "disposed_record"  # the DataItem.record_type of a tombstone in a subject access answer


def tombstone_item(service: str, tombstone: Tombstone, subject_id: uuid.UUID,
                   schedule: RetentionSchedule | None = None) -> "DataItem":
    """A tombstone as an item of a service's data-collection answer, so the access pack can say what was
    disposed of and when (the content itself is gone): record type, disposal date, rule and its words."""
    from .contracts.rights import DataItem

    # The rule's words only from the schedule the record was disposed of under (a later schedule may reuse
    # the rule id with other words).
    rule = next((r for r in (schedule.rules if schedule and schedule.schedule_id == tombstone.schedule_id else ())
                 if r.rule_id == tombstone.rule_id), None)
    category = next((c for c in (DataCategory(v) for v in tombstone.categories)), DataCategory.EDUCATION)
    return DataItem(service=service, record_type=DISPOSED_RECORD, record_id=tombstone.record_id,
                    subject_id=subject_id, category=category, source=None, recorded_at=tombstone.disposed_at,
                    data={"disposed_record_type": tombstone.record_type, "disposed_at": tombstone.disposed_at.isoformat(),
                          "schedule_id": tombstone.schedule_id, "rule_id": tombstone.rule_id,
                          "rule": rule.description if rule else None,
                          "clock_started_on": tombstone.clock_started_on.isoformat() if tombstone.clock_started_on else None})


class Tombstones:
    """The tombstones repository (a service's unit of work builds it on its session)."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, candidate: Candidate, *, schedule_id: str, run_id: uuid.UUID, now: datetime,
                  reason: str = "schedule", subject_digests: Sequence[str] = ()) -> bool:
        """One tombstone per record, once (a rerun or a redelivered fan-out adds nothing): True if new."""
        row = {"run_id": run_id, "record_type": candidate.record_type.value, "record_id": candidate.record_id,
               "subject_ids": list(candidate.subject_ids), "subject_digests": list(subject_digests),
               "case_ids": list(candidate.case_ids), "categories": [c.value for c in candidate.categories],
               "schedule_id": schedule_id, "rule_id": candidate.rule.rule_id,
               "clock_started_on": candidate.clock_started_on, "due_on": candidate.due_on, "reason": reason,
               "disposed_at": now}
        done = await self.session.execute(pg_insert(tombstones).values(row).on_conflict_do_nothing(
            constraint="disposal_tombstones_once").returning(tombstones.c.id))
        return done.scalar_one_or_none() is not None

    async def exists(self, record_type: RecordType, record_id: str) -> bool:
        found = await self.session.execute(select(tombstones.c.id).where(
            tombstones.c.record_type == record_type.value, tombstones.c.record_id == record_id))
        return found.first() is not None

    async def about(self, subject_ids: Sequence[uuid.UUID] = (), digests: Sequence[str] = ()) -> list[Tombstone]:
        """The tombstones of records about any of these subjects (for a subject access request)."""
        conditions = []
        if subject_ids:
            conditions.append(tombstones.c.subject_ids.overlap(list(subject_ids)))
        if digests:
            conditions.append(tombstones.c.subject_digests.overlap(list(digests)))
        if not conditions:
            return []
        rows = await self.session.execute(select(tombstones).where(or_(*conditions)).order_by(tombstones.c.id))
        return [Tombstone.model_validate(dict(r)) for r in rows.mappings()]


# pg_advisory_xact_lock key of a service's legal holds ("cmehold" as an integer); each service has its
# own database, so one key per database is one lock per service.
HOLD_LOCK = int.from_bytes(b"cmehold", "big")


def hold_event(service: str, hold: "Hold", change: str, now: datetime) -> "LegalHoldChanged | None":
    """What the other services are told of a hold placed or lifted here; None for a hold on one of this
    service's own records (scope `record`), which no other service holds."""
    from .contracts.retention import LegalHoldChanged

    if hold.scope not in ("subject", "case"):
        return None
    by = hold.placed_by if change == "placed" else (hold.lifted_by or "")
    return LegalHoldChanged(event_id=uuid.uuid4(), occurred_at=now, service=service, hold_id=hold.hold_id,
                            change=change, scope=hold.scope, target_id=hold.target_id, by=by,
                            at=hold.placed_at if change == "placed" else (hold.lifted_at or now))


class Hold(BaseModel):
    hold_id: uuid.UUID
    scope: str
    target_id: str
    reason: str
    placed_by: str
    placed_at: datetime
    lifted_by: str | None = None
    lifted_at: datetime | None = None
    lift_reason: str | None = None


class LegalHolds:
    """Legal holds by subject, case or record (scope): placed and lifted with who, when and why."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def lock(self) -> None:
        """The service's hold lock, to the end of the transaction: placing or lifting a hold and disposing of
        a record take it, so a hold committed while a disposal runs is seen by it (or waits for it)."""
        await self.session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": HOLD_LOCK})

    async def place(self, scope: str, target_id: str, reason: str, placed_by: str, now: datetime,
                    hold_id: uuid.UUID | None = None) -> Hold:
        await self.lock()
        hold = Hold(hold_id=hold_id or uuid.uuid4(), scope=scope, target_id=target_id, reason=reason,
                    placed_by=placed_by, placed_at=now)
        await self.session.execute(insert(legal_holds).values(hold.model_dump()))
        return hold

    async def mirror(self, event: "LegalHoldChanged") -> bool:
        """Keep another service's hold on a subject or a case (same id): placed once, lifted once, whatever
        order or how often the events arrive. True if it changed anything."""
        await self.lock()
        if event.change == "placed":
            done = await self.session.execute(pg_insert(legal_holds).values(
                hold_id=event.hold_id, scope=event.scope, target_id=event.target_id,
                reason=f"placed in {event.service}", placed_by=event.by, placed_at=event.at,
            ).on_conflict_do_nothing(index_elements=["hold_id"]).returning(legal_holds.c.hold_id))
            return done.first() is not None
        if await self.get(event.hold_id) is None:  # lifted before its placing arrived: keep it, lifted
            await self.session.execute(insert(legal_holds).values(
                hold_id=event.hold_id, scope=event.scope, target_id=event.target_id,
                reason=f"placed in {event.service}", placed_by=event.by, placed_at=event.at))
        return await self.lift(event.hold_id, event.by, f"lifted in {event.service}", event.at) is not None

    async def lift(self, hold_id: uuid.UUID, lifted_by: str, reason: str, now: datetime) -> Hold | None:
        """Lift a hold in force; None if there is none of that id (or it was lifted already)."""
        await self.lock()
        row = await self.session.execute(update(legal_holds).where(
            legal_holds.c.hold_id == hold_id, legal_holds.c.lifted_at.is_(None)).values(
            lifted_by=lifted_by, lifted_at=now, lift_reason=reason).returning(*legal_holds.c))
        found = row.mappings().first()
        return Hold.model_validate(dict(found)) if found else None

    async def get(self, hold_id: uuid.UUID) -> Hold | None:
        row = (await self.session.execute(select(legal_holds).where(legal_holds.c.hold_id == hold_id))).mappings().first()
        return Hold.model_validate(dict(row)) if row else None

    async def listed(self, in_force_only: bool = True) -> list[Hold]:
        query = select(legal_holds).order_by(legal_holds.c.placed_at)
        if in_force_only:
            query = query.where(legal_holds.c.lifted_at.is_(None))
        return [Hold.model_validate(dict(r)) for r in (await self.session.execute(query)).mappings()]

    async def in_force(self, targets: Iterable[tuple[str, str]]) -> dict[tuple[str, str], list[uuid.UUID]]:
        """Of these (scope, target_id) pairs, those under a hold in force, with the holds' ids."""
        wanted = list(set(targets))
        if not wanted:
            return {}
        rows = await self.session.execute(select(legal_holds.c.scope, legal_holds.c.target_id, legal_holds.c.hold_id)
                                          .where(legal_holds.c.lifted_at.is_(None),
                                                 or_(*(and_(legal_holds.c.scope == s, legal_holds.c.target_id == t)
                                                       for s, t in wanted))))
        found: dict[tuple[str, str], list[uuid.UUID]] = {}
        for scope, target, hold_id in rows:
            found.setdefault((scope, target), []).append(hold_id)
        return found

    async def apply(self, candidates: Iterable[Candidate]) -> list[Candidate]:
        """The candidates with `held_by` filled in: a hold on the record, on any of its cases or on any of
        its subjects keeps it."""
        listed = list(candidates)

        def targets(c: Candidate) -> list[tuple[str, str]]:
            return ([("record", f"{c.record_type.value}:{c.record_id}")] + [("case", str(k)) for k in c.case_ids]
                    + [("subject", str(s)) for s in c.subject_ids])

        holds = await self.in_force(t for c in listed for t in targets(c))
        out = []
        for c in listed:
            held = tuple(sorted({h for t in targets(c) for h in holds.get(t, [])}, key=str))
            out.append(Candidate(**{**c.__dict__, "held_by": held}))
        return out


@dataclass
class DisposalParts:
    """What a service's disposal job builds its unit of work from (`UnitOfWork(**parts.unit_of_work())`)."""

    sessions: Any
    outbox: Any
    topics: Any
    clock: Any
    engine: Any

    def unit_of_work(self) -> dict[str, Any]:
        return {"sessions": self.sessions, "outbox": self.outbox, "topics": self.topics, "clock": self.clock}


@asynccontextmanager
async def disposal_parts(settings: Any, kit: Any, clock: Any, database_url: str | None = None
                         ) -> AsyncIterator[DisposalParts]:
    """The disposal job's database (CME_DISPOSAL_DATABASE_URL, the `cme_<svc>_disposal` login) and an outbox
    signing with the service's key: events it writes are sent by the running service's relay."""
    from .contracts.topics import TopicNames
    from .db import create_engine, session_factory
    from .messaging.outbox import Outbox

    url = database_url or settings.disposal_url()
    engine = create_engine(url, pool_size=1)
    try:
        yield DisposalParts(sessions=session_factory(engine),
                            outbox=Outbox(kit, signer=settings.message_signer(), namespace=settings.topic_namespace),
                            topics=TopicNames(settings.topic_namespace), clock=clock, engine=engine)
    finally:
        await engine.dispose()
