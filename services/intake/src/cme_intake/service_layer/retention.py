"""Retention and disposal in intake (issue 14, item 1): what is due (domain/retention.py), one disposal path.

- `on_records_disposed(uow, event)`: the running service hears that casework disposed of a case (or a record
  without a case) and notes the referrals it drew on (`related_record_ids.referral`) as pending. It does not
  hold the disposal login, so it never removes anything itself.
- `dispose(uow, ...)`: the disposal job (`python -m cme_intake dispose`, on the disposal login). It finds what
  is due: the pending referrals, the public form's referrals no officer accepted, dead letters, then every
  child or carer no remaining referral names; lets legal holds keep what they hold; removes the content of
  the rest from every table (adapters/retention_store.py); writes one tombstone per record (children's with
  digests of the identifiers a subject access request is matched on); and writes `RecordsDisposed` (service
  "intake") to the outbox, all in one transaction: a crash loses nothing and a rerun doubles nothing. A dry
  run finds and reports the same, and writes nothing.
- What the job trusts (C1 of the retention review): a pending disposal only with the signed record it came in,
  verified again with the pinned keys and from casework (the record type's owner); dead letters and unaccepted
  referrals from their receipt time in append-only tables, never a time in the future. A row failing that is
  not disposed and the report lists it as refused.
- An Art 18 restriction in force (rights' SubjectRestricted, kept in `restriction_events`) keeps the subject's
  referrals and identity, as a legal hold does: the report lists them as held by the restriction's request id.
- Legal holds on a subject or a case are shared: placing or lifting one here publishes LegalHoldChanged, and
  `on_legal_hold_changed` keeps another service's (the kit's `mirror`).
- `tombstone_matches`, `tombstone_items`: a later subject access request still finds a disposed person, and
  intake's answer says what was disposed of, when and under which rule.
"""

import uuid
from collections import defaultdict
from dataclasses import dataclass
from collections.abc import Iterable, Sequence
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any
from uuid import UUID

from dateutil.relativedelta import relativedelta
from pydantic import BaseModel, ValidationError

from cme_shared.clock import LONDON, london_date
from cme_shared.contracts import topics
from cme_shared.contracts.retention import (
    LegalHoldChanged,
    RecordsDisposed,
    RecordType,
    RetentionRule,
    RetentionSchedule,
    from_owner,
)
from cme_shared.contracts.rights import DataItem, RestrictionLifted, SubjectMatch, SubjectRestricted
from cme_shared.logging import get_logger
from cme_shared.messaging.signing import SIGNATURE_HEADER, SIGNER_HEADER, SignatureRefused, TrustedSigners
from cme_shared.refusal import Refusal
from cme_shared.retention import Candidate, DisposalReport, Hold, disposed_event, hold_event, tombstone_item

from ..domain import retention as rules
from ..domain.subject_access import SERVICE

if TYPE_CHECKING:
    from ..adapters.unit_of_work import IntakeUnitOfWork

log = get_logger(__name__)


# ---- the running service: a disposal elsewhere that reaches intake's records

# The records of casework whose disposal carries their referrals with them (contracts.retention.OWNERS).
FAN_OUT_FROM = frozenset({RecordType.CASE, RecordType.RECORD_WITHOUT_CASE, RecordType.EHE_RECORD})


@dataclass(frozen=True)
class ReceivedDisposal:
    """A RecordsDisposed with the signed record exactly as it came (payload bytes, key, the signed event_id
    header, signer and signature): kept with each pending disposal, for the job to verify again."""

    event: RecordsDisposed
    payload: bytes
    key: bytes | None
    event_id_header: bytes | None
    signer: str
    signature: bytes


def fans_out_to_intake(event: RecordsDisposed) -> bool:
    """Only casework's disposed case, record without a case or EHE record makes intake's referrals due."""
    return from_owner(event) and event.service == "casework" and event.record_type in FAN_OUT_FROM


async def on_records_disposed(uow: "IntakeUnitOfWork", received: ReceivedDisposal) -> None:
    """Note the referrals a disposed record drew on, for the next disposal run (idempotent on the event)."""
    event = received.event
    if event.service == SERVICE or not fans_out_to_intake(event):
        return  # intake's own, read back; or another owner's disposal that names no referral of ours
    intake_ids = [UUID(i) for i in event.related_record_ids.get(RecordType.REFERRAL, [])]
    added = await uow.retention.record_pending(received, intake_ids)
    log.info("disposal_noted", from_service=event.service, record_type=event.record_type.value,
             referrals=added, event_id=str(event.event_id))


async def on_legal_hold_changed(uow: "IntakeUnitOfWork", event: LegalHoldChanged) -> None:
    """A hold on a subject or a case placed or lifted in another service: intake keeps the same hold."""
    if event.service == SERVICE:
        return  # our own, read back
    changed = await uow.holds.mirror(event)
    log.info("legal_hold_mirrored", from_service=event.service, hold_id=str(event.hold_id), change=event.change,
             changed=changed)


async def on_restriction(uow: "IntakeUnitOfWork", event: SubjectRestricted | RestrictionLifted) -> None:
    """Art 18: a restricted subject's records are kept (stored, not otherwise processed): none is disposed of
    while the restriction is in force (idempotent on the event)."""
    change = "restricted" if isinstance(event, SubjectRestricted) else "lifted"
    await uow.retention.record_restriction(event.event_id, event.rights_request_id, event.subject_ids, change)
    log.info("restriction_noted", change=change, rights_request_id=str(event.rights_request_id))


# ---- the disposal job


class RefusedRow(BaseModel):
    """A pending disposal the job would not carry out: ids and a reason code only."""

    record_type: str
    record_id: str
    reason: str


class IntakeDisposalReport(DisposalReport):
    refused: list[RefusedRow] = []  # rows that failed verification (forged, or an impossible date)


async def dispose(uow: "IntakeUnitOfWork", *, as_of: date, dry_run: bool, signers: TrustedSigners,
                  run_id: UUID | None = None, schedule: RetentionSchedule | None = None) -> IntakeDisposalReport:
    """One disposal run as of `as_of` (the caller commits, or for a dry run does not)."""
    schedule = schedule or uow.schedule
    run_id = run_id or uuid.uuid4()
    refused: list[RefusedRow] = []
    if not dry_run:
        await uow.holds.lock()  # a hold committed while this runs is seen by it, or waits for it
        await uow.identity.lock()  # no referral is recorded against a subject while it is being disposed of
    referrals, fanned_out, gone = await _referrals_due(uow, schedule, as_of, signers, refused)
    dead_letters = await _dead_letters_due(uow, schedule, as_of, refused)
    judged = await _restricted(uow, await uow.holds.apply([*referrals, *dead_letters]))
    free_referrals = [c for c in judged if not c.held_by and c.record_type is RecordType.REFERRAL]
    free_letters = [c for c in judged if not c.held_by and c.record_type is RecordType.DEAD_LETTER]
    now = uow.clock.now()
    if not dry_run:
        await uow.retention.mark_done(gone, run_id=run_id, now=now)  # nothing of them left here
        await _dispose_referrals(uow, free_referrals, fanned_out, schedule, run_id, now)
        await _dispose_dead_letters(uow, free_letters, schedule, run_id, now)
    excluding = [UUID(c.record_id) for c in free_referrals] if dry_run else []
    identities = await _restricted(uow, await uow.holds.apply(
        await _identities_due(uow, schedule, as_of, excluding, free_referrals)))
    free_identities = [c for c in identities if not c.held_by]
    if not dry_run:
        await _dispose_identities(uow, free_identities, schedule, run_id, now)
    report = IntakeDisposalReport(**DisposalReport.of(SERVICE, run_id, schedule, as_of, dry_run,
                                                      [*judged, *identities]).model_dump(), refused=refused)
    log.info("disposal_run", run_id=str(run_id), dry_run=dry_run, disposed=len(report.disposed),
             held=len(report.held), refused=len(refused))
    for row in refused:  # ids and reason codes only
        log.warning("disposal_refused", record_type=row.record_type, record_id=row.record_id, reason=row.reason)
    return report


async def _restricted(uow: "IntakeUnitOfWork", candidates: list[Candidate]) -> list[Candidate]:
    """Art 18 (UK GDPR): a subject under a restriction in force keeps their records, as a legal hold keeps
    them (an identity: a restriction on anyone merged with the person too); `held_by` names the restriction's
    rights request."""
    about: dict[int, set[UUID]] = {}
    for n, c in enumerate(candidates):
        about[n] = set(c.subject_ids)
        if c.record_type is RecordType.IDENTITY:
            about[n] |= set(await uow.identity.cluster(c.subject_ids[0]))
    subjects = sorted({s for ids in about.values() for s in ids}, key=str)
    restricted = await uow.retention.restrictions_in_force(subjects) if subjects else {}
    out = []
    for n, c in enumerate(candidates):
        by = {r for s in about[n] for r in restricted.get(s, ())}
        out.append(Candidate(**{**c.__dict__, "held_by": tuple(sorted({*c.held_by, *by}, key=str))}) if by else c)
    return out


def verified_disposal(signers: TrustedSigners, row: Any, today: date, now: datetime) -> RecordsDisposed | str:
    """The RecordsDisposed a pending row came with, verified again with the pinned keys, or why not (a code):
    the runtime login can INSERT pending rows, so only a signature that verifies makes a row evidence."""
    headers = [("event_id", row.signed_event_id), (SIGNER_HEADER, row.signer.encode()),
               (SIGNATURE_HEADER, row.signature)]
    try:
        signer = signers.verify(topics.RETENTION_DISPOSALS, topics.SIGNERS[topics.RETENTION_DISPOSALS],
                                row.signed_key, headers, bytes(row.signed_payload))
        event = RecordsDisposed.model_validate_json(bytes(row.signed_payload))
    except SignatureRefused:
        return "signature_not_verified"
    except ValidationError:
        return "payload_not_readable"
    if signer != event.service or event.event_id != row.event_id:
        return "not_the_signed_event"
    if not fans_out_to_intake(event):
        return "not_from_casework"
    if str(row.intake_id) not in event.related_record_ids.get(RecordType.REFERRAL, []):
        return "referral_not_named"
    if (event.clock_started_on is not None and event.clock_started_on > today) or event.disposed_at > now:
        return "date_in_future"
    received = getattr(row, "received_at", None)  # None: intake holds no such referral (nothing to dispose of)
    if received is not None and ((event.clock_started_on is not None
                                  and event.clock_started_on < london_date(received)) or event.disposed_at < received):
        return "date_before_record"  # a case cannot close on a referral before intake received it
    return event


def _before(rule: RetentionRule, as_of: date) -> datetime:
    """A bound on the receipt time of anything the rule can make due by `as_of` (checked exactly after)."""
    latest = as_of - relativedelta(years=rule.years, days=rule.days) + timedelta(days=2)
    return datetime.combine(latest, time(), tzinfo=LONDON)


def _latest_start(rules_: Iterable[RetentionRule], as_of: date) -> datetime:
    return max(_before(rule, as_of) for rule in rules_)


async def _referrals_due(uow: "IntakeUnitOfWork", schedule: RetentionSchedule, as_of: date,
                         signers: TrustedSigners, refused: list[RefusedRow]
                         ) -> tuple[list[Candidate], dict[str, str], list[UUID]]:
    """Referrals due: those a disposal elsewhere names (from that record's clock, as its signed event says),
    and the public form's that no officer accepted (from receipt). Also which came by fan-out (from which
    service) and the pending ones intake holds nothing of. Rows that fail verification go to `refused`."""
    today, now = uow.clock.today(), uow.clock.now()
    pending: dict[UUID, list[tuple[Any, RecordsDisposed]]] = defaultdict(list)
    for row in await uow.retention.waiting():
        verified = verified_disposal(signers, row, today, now)
        if isinstance(verified, str):
            refused.append(RefusedRow(record_type=RecordType.REFERRAL.value, record_id=str(row.intake_id),
                                      reason=verified))
            continue
        pending[row.intake_id].append((row, verified))
    gone = [intake_id for intake_id, rows in pending.items() if rows[0][0].child_subject_id is None]
    candidates: list[Candidate] = []
    fanned_out: dict[str, str] = {}
    for intake_id, rows in pending.items():
        first = rows[0][0]
        if first.child_subject_id is None:
            continue
        started = max(e.clock_started_on or london_date(e.disposed_at) for _, e in rows)
        candidate = rules.referral_candidate(
            schedule, intake_id=intake_id, source_type=first.source_type, clock_started_on=started,
            child_subject_id=first.child_subject_id, carer_subject_ids=first.carer_subject_ids,
            case_ids=sorted({k for _, e in rows for k in e.case_ids}, key=str))
        fanned_out[candidate.record_id] = rows[0][1].service
        if rules.is_due(candidate, as_of):  # intake's own referral rule has run too
            candidates.append(candidate)
    referral_rules = [r for r in schedule.rules if r.record_type is RecordType.REFERRAL]
    for row in await uow.retention.unaccepted_held(_latest_start(referral_rules, as_of)):
        if row.received_at > now:  # an impossible receipt time: never a clock to dispose by
            refused.append(RefusedRow(record_type=RecordType.REFERRAL.value, record_id=str(row.intake_id),
                                      reason="date_in_future"))
            continue
        candidate = rules.referral_candidate(
            schedule, intake_id=row.intake_id, source_type=row.source_type,
            clock_started_on=london_date(row.received_at), child_subject_id=row.child_subject_id,
            carer_subject_ids=row.carer_subject_ids)
        if candidate.record_id not in fanned_out and rules.is_due(candidate, as_of):
            candidates.append(candidate)
    return candidates, fanned_out, gone


async def _dead_letters_due(uow: "IntakeUnitOfWork", schedule: RetentionSchedule, as_of: date,
                            refused: list[RefusedRow]) -> list[Candidate]:
    rule = schedule.rule_for(RecordType.DEAD_LETTER)
    now = uow.clock.now()
    letters = []
    for row in await uow.retention.dead_letters(_before(rule, as_of)):
        if row.received_at > now:  # an impossible receipt time: never a clock to dispose by
            refused.append(RefusedRow(record_type=RecordType.DEAD_LETTER.value, record_id=row.message_id,
                                      reason="date_in_future"))
            continue
        letters.append(rules.dead_letter_candidate(schedule, message_id=row.message_id,
                                                   received_on=london_date(row.received_at)))
    return [c for c in letters if rules.is_due(c, as_of)]


async def _identities_due(uow: "IntakeUnitOfWork", schedule: RetentionSchedule, as_of: date,
                          excluding: Sequence[UUID], disposing: Sequence[Candidate]) -> list[Candidate]:
    """Children and carers no referral names any more (a dry run: once the referrals it would dispose of are
    gone), with everyone merged with them, once the identity rule has run from their last referral's clock."""
    candidates: list[Candidate] = []
    seen: set[UUID] = set()
    for subject_id in await uow.retention.orphans(excluding):
        if subject_id in seen:
            continue
        members = sorted(await uow.identity.cluster(subject_id), key=str)
        seen |= set(members)
        left = await uow.retention.referrals_naming(members, excluding)
        clocks = [c.clock_started_on for c in disposing if set(c.subject_ids) & set(members)]
        last = await uow.retention.last_referral_clock(members)
        started = max([*clocks, *([last] if last else [])], default=as_of)
        for member in members:
            candidate = rules.identity_candidate(schedule, subject_id=member, last_clock_started_on=started)
            if rules.identity_falls_due(left, candidate, as_of):
                candidates.append(candidate)
    return candidates


async def _dispose_referrals(uow: "IntakeUnitOfWork", candidates: list[Candidate], fanned_out: dict[str, str],
                             schedule: RetentionSchedule, run_id: UUID, now: datetime) -> None:
    if not candidates:
        return
    for candidate in candidates:  # the child's identifiers as this referral gave them, before they go
        known = await uow.retention.referral_child_identifiers(UUID(candidate.record_id), candidate.subject_ids[0])
        source = fanned_out.get(candidate.record_id)
        await uow.tombstones.add(candidate, schedule_id=schedule.schedule_id, run_id=run_id, now=now,
                                 reason=f"fan_out:{source}" if source else "schedule",
                                 subject_digests=rules.digests(uow.digest_key, rules.child_parts(known)))
    ids = [UUID(c.record_id) for c in candidates]
    await uow.retention.dispose_referrals(ids, keep_topic=uow.topics(topics.RETENTION_DISPOSALS))
    await uow.retention.mark_done(ids, run_id=run_id, now=now)
    await _announce(uow, candidates, schedule, run_id, now)


async def _dispose_dead_letters(uow: "IntakeUnitOfWork", candidates: list[Candidate], schedule: RetentionSchedule,
                                run_id: UUID, now: datetime) -> None:
    if not candidates:
        return
    for candidate in candidates:
        await uow.tombstones.add(candidate, schedule_id=schedule.schedule_id, run_id=run_id, now=now)
    await uow.retention.dispose_dead_letters([c.record_id for c in candidates])
    await _announce(uow, candidates, schedule, run_id, now)


async def _dispose_identities(uow: "IntakeUnitOfWork", candidates: list[Candidate], schedule: RetentionSchedule,
                              run_id: UUID, now: datetime) -> None:
    if not candidates:
        return
    by_person: dict[frozenset[UUID], list[Candidate]] = defaultdict(list)
    for candidate in candidates:
        by_person[frozenset(await uow.identity.cluster(candidate.subject_ids[0]))].append(candidate)
    for members, person in by_person.items():
        subject_type, known = await uow.retention.subject_identifiers(sorted(members, key=str))
        if subject_type == "carer":
            digests = rules.digests(uow.digest_key, rules.carer_parts(known.name_keys, known.postcodes))
        else:  # and whatever their referrals disposed of earlier said of them
            earlier = await uow.retention.child_referral_digests(sorted(members, key=str))
            digests = sorted(set(rules.digests(uow.digest_key, rules.child_parts(known))) | earlier)
        for candidate in person:
            await uow.tombstones.add(candidate, schedule_id=schedule.schedule_id, run_id=run_id, now=now,
                                     subject_digests=digests)
    await uow.retention.dispose_identities([c.subject_ids[0] for c in candidates],
                                           keep_topic=uow.topics(topics.RETENTION_DISPOSALS))
    await _announce(uow, candidates, schedule, run_id, now)


async def _announce(uow: "IntakeUnitOfWork", candidates: list[Candidate], schedule: RetentionSchedule,
                    run_id: UUID, now: datetime) -> None:
    """One RecordsDisposed per rule and record type, in this transaction (disclosure logs a leaf for each)."""
    groups: dict[tuple[RecordType, str], list[Candidate]] = defaultdict(list)
    for candidate in candidates:
        groups[(candidate.record_type, candidate.rule.rule_id)].append(candidate)
    for group in groups.values():
        event = disposed_event(SERVICE, schedule, run_id, now, group)
        await uow.outbox.add(topics.RETENTION_DISPOSALS, event, aggregate_type="disposal_run",
                             aggregate_id=str(run_id))


# ---- subject access after disposal


async def tombstone_matches(uow: "IntakeUnitOfWork", *, name_keys: Iterable[str], date_of_birth: date | None,
                            postcode: str | None, upn: str | None) -> list[SubjectMatch]:
    """The people a requester's details match among intake's tombstones: the old subject id (or, for a
    disposed referral of a child still in the index, the child as they now stand)."""
    asked = rules.lookup_digests(uow.digest_key, rules.lookup_parts(name_keys, date_of_birth, postcode, upn))
    found: dict[UUID, SubjectMatch] = {}
    for row in await uow.retention.tombstones_matching(list(asked)):
        proved = rules.best_match(row.subject_digests, asked)
        if proved is None or not row.subject_ids:
            continue
        subject_type, match = proved
        subject_id = row.subject_ids[0]
        if await uow.retention.live_subject_type(subject_id) is not None:
            subject_id = await uow.identity.canonical(subject_id)
        known = found.get(subject_id)
        if known is None or rules.STRENGTH[match] > rules.STRENGTH[known.match]:
            found[subject_id] = SubjectMatch(subject_id=subject_id, subject_type=subject_type, match=match)
    return list(found.values())


async def tombstone_items(uow: "IntakeUnitOfWork", subject_id: UUID) -> list[DataItem]:
    """What intake disposed of about this subject (and anyone merged with them): "a referral about you was
    disposed of on ... under rule ...", the content itself being gone."""
    members = sorted(await uow.identity.cluster(subject_id), key=str)
    return [tombstone_item(SERVICE, tombstone, subject_id, uow.schedule)
            for tombstone in await uow.tombstones.about(subject_ids=members)]


# ---- legal holds and the report (the records officer's routes, entrypoints/retention_routes.py)

# What a hold by record names: `<record type>:<id>`, as the kit's LegalHolds.apply looks them up.
HOLDABLE = {RecordType.REFERRAL, RecordType.DEAD_LETTER, RecordType.IDENTITY}


class BadHoldTarget(Refusal):
    def __init__(self, message: str) -> None:
        super().__init__(422, "bad_target", message, ["body", "target_id"])


class HoldNotFound(Refusal):
    def __init__(self) -> None:
        super().__init__(404, "hold_not_found", "no such legal hold", ["path", "hold_id"])


class HoldAlreadyLifted(Refusal):
    def __init__(self) -> None:
        super().__init__(409, "hold_already_lifted", "this legal hold was lifted already", ["path", "hold_id"])


def hold_target(scope: str, target_id: str) -> str:
    """The target as holds are looked up: a subject's or a case's id, or `referral:<intake id>`,
    `dead_letter:<message id>`, `identity:<subject id>` for one record. Else a Refusal (422, with loc)."""
    if scope in ("subject", "case"):
        try:
            return str(UUID(target_id))
        except ValueError:
            raise BadHoldTarget(f"a {scope} is named by its id (a UUID)") from None
    record_type, _, record_id = target_id.partition(":")
    if record_type not in {t.value for t in HOLDABLE} or not record_id:
        raise BadHoldTarget("a record is named <referral|dead_letter|identity>:<its id>")
    if record_type != RecordType.DEAD_LETTER.value:
        try:
            record_id = str(UUID(record_id))
        except ValueError:
            raise BadHoldTarget(f"a {record_type} is named by its id (a UUID)") from None
    return f"{record_type}:{record_id}"


async def place_hold(uow: "IntakeUnitOfWork", scope: str, target_id: str, reason: str, placed_by: str) -> Hold:
    """A legal hold: a subject (every referral naming them, and their identity), a case (the referrals a
    disposed case drew on stay here while it holds) or one record. It may precede any record of it (a claim
    can come before the referral)."""
    now = uow.clock.now()
    hold = await uow.holds.place(scope, hold_target(scope, target_id), reason, placed_by, now)
    await _tell_others(uow, hold, "placed", now)
    return hold


async def _tell_others(uow: "IntakeUnitOfWork", hold: Hold, change: str, now: datetime) -> None:
    """A hold on a subject or a case is kept by every service (LegalHoldChanged, same unit of work)."""
    event = hold_event(SERVICE, hold, change, now)
    if event is not None:
        await uow.outbox.add(topics.LEGAL_HOLDS, event, aggregate_type="legal_hold", aggregate_id=str(hold.hold_id))


async def lift_hold(uow: "IntakeUnitOfWork", hold_id: UUID, reason: str, lifted_by: str) -> Hold:
    now = uow.clock.now()
    lifted = await uow.holds.lift(hold_id, lifted_by, reason, now)
    if lifted is not None:
        await _tell_others(uow, lifted, "lifted", now)
        return lifted
    if await uow.holds.get(hold_id) is None:
        raise HoldNotFound()
    raise HoldAlreadyLifted()


async def report(uow: "IntakeUnitOfWork", as_of: date, signers: TrustedSigners) -> DisposalReport:
    """The records officer's dry run from the running service: what a run on `as_of` would do."""
    return await dispose(uow, as_of=as_of, dry_run=True, signers=signers)
