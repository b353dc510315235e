"""Retention in disclosure, without PostgreSQL or Kafka: when a disclosure record falls due, and the
handlers on the in-memory fakes (a disposal notice's leaf, the disposal run, holds, the manual purge, the
access pack's tombstones).

Sources: DOMAIN section 3 (default 7 years after case closure, configurable per category, legal hold; at
disposal the content goes, a minimal tombstone of what, when and why stays); UK GDPR Art 5(1)(e)
(storage limitation); LGA 1972 s224 and the FOI Act s46 Code of Practice (a record of what was destroyed,
when and under what authority is kept); DOMAIN section 4 (every share is recorded; the log is append-only).
"""

import json
import uuid
from datetime import UTC, date, datetime

import pytest
from pydantic import ValidationError

from cme_disclosure.domain.entries import LeafKind
from cme_disclosure.domain.retention import (MANUAL_RULE, Disclosure, HoldLift, HoldRequest, Mark, ReceivedDisposal,
                                             SignedRecord, by_subject, candidates, clock_for, disposal_leaf, marks_of)
from cme_disclosure.service_layer.collection import on_data_collection
from cme_disclosure.service_layer.disclosures import on_share_made, request_disclosure
from cme_disclosure.service_layer.retention import dispose, lift_hold, on_records_disposed, place_hold, purge
from cme_shared.clock import FixedClock
from cme_shared.contracts import topics
from cme_shared.contracts.categories import DataCategory
from cme_shared.contracts.retention import OWNERS, RecordsDisposed, RecordType, RetentionRule, RetentionSchedule
from cme_shared.contracts.rights import DataCollectionRequest
from cme_shared.refusal import Refusal
from cme_shared.messaging.signing import SIGNATURE_HEADER, SIGNER_HEADER, Signer, TrustedSigners
from cme_shared.retention import DEFAULT_SCHEDULE, DISPOSED_RECORD
from cme_shared.testing.signing import FORGER, TEST_KEYS, signed_headers

from .fakes import FakeDisclosureUnitOfWork
from .test_handlers_unit import OFFICER, police_request, school_share

pytestmark = pytest.mark.unit

TRUSTED = TrustedSigners({s: k.public_key() for s, k in TEST_KEYS.private.items()})

CLOSED = date(2018, 3, 31)  # the case's closure: 7 years on is 31 March 2025
NOW = datetime(2026, 1, 10, 9, 0, tzinfo=UTC)
CHILD, SIBLING = uuid.UUID(int=1), uuid.UUID(int=2)


def notice(*subjects: uuid.UUID, record_type: RecordType = RecordType.CASE, closed: date | None = CLOSED,
           service: str | None = None, **more) -> RecordsDisposed:
    return RecordsDisposed(event_id=uuid.uuid4(), occurred_at=NOW, service=service or OWNERS[record_type],
                           schedule_id="cme-default-2026", rule_id=f"{record_type.value}.7y", record_type=record_type,
                           record_ids=[str(uuid.uuid4())], subject_ids=list(subjects),
                           case_ids=more.pop("case_ids", [uuid.uuid4()]), clock_started_on=closed,
                           disposed_at=NOW, run_id=uuid.uuid4(), **more)


def received(event: RecordsDisposed, signer: Signer | None = None) -> ReceivedDisposal:
    """The record as the consumer hands it on: signed by its service (or `signer`), as on the wire."""
    payload, key = event.model_dump_json().encode(), str(event.run_id).encode()
    headers = signed_headers(topics.RETENTION_DISPOSALS, payload, key, [("event_id", str(event.event_id).encode())],
                             signer=signer or event.service)
    found = dict(headers)
    return ReceivedDisposal(event, SignedRecord(key, str(event.event_id), found[SIGNER_HEADER].decode(),
                                                found[SIGNATURE_HEADER].decode(), payload))


def gone(*subjects: uuid.UUID, closed: date = CLOSED, case_ids: list[uuid.UUID] | None = None) -> list[RecordsDisposed]:
    """What casework and intake say once a child's (last) case is disposed of: the case, then their identity."""
    return [notice(*subjects, closed=closed, case_ids=case_ids or [uuid.uuid4()]),
            *(notice(s, record_type=RecordType.IDENTITY, closed=closed, case_ids=[]) for s in subjects)]


def marked(*events: RecordsDisposed) -> dict[uuid.UUID, list[Mark]]:
    return by_subject(m for e in events for m in marks_of(e))


# The domain: when a disclosure falls due ------------------------------------------------------------

def test_a_share_falls_due_only_once_its_subject_has_no_case_left_and_runs_from_the_closure():
    """DOMAIN 3: "7 years after case closure". A case's disposal alone does not end the child's cases (another
    may be open, which disclosure cannot see): the share waits for intake's disposal of the child's identity,
    which comes only after every referral naming them (hence every case) has gone."""
    assert clock_for(date(2017, 6, 1), [CHILD], marked(notice(CHILD))) is None
    assert clock_for(date(2017, 6, 1), [CHILD], marked(*gone(CHILD))) == CLOSED
    assert clock_for(CLOSED, [CHILD], marked(*gone(CHILD))) == CLOSED


def test_a_share_made_after_the_last_closure_runs_from_the_day_it_was_made():
    """H3 / Art 5(1)(e): a share made after the child's last case closed was never covered by a closure: it is
    kept 7 years from the share itself, never disposed of sooner."""
    after = date(2019, 5, 1)
    assert clock_for(after, [CHILD], marked(*gone(CHILD))) == after
    [due] = candidates(DEFAULT_SCHEDULE, [share(after)], marked(*gone(CHILD)), date(2026, 5, 1))
    assert due.due_on == date(2026, 5, 1)
    assert candidates(DEFAULT_SCHEDULE, [share(after)], marked(*gone(CHILD)), date(2026, 4, 30)) == []


def test_a_share_runs_from_the_latest_closure_of_any_of_its_subjects_notices():
    """Conservative (DOMAIN 3, "as long as the case"; disclosure cannot tell which case a share served): an
    earlier case's share runs from the child's latest closure, never from an earlier one."""
    later = date(2021, 9, 1)
    events = [notice(CHILD), *gone(CHILD, closed=later)]
    assert clock_for(date(2017, 6, 1), [CHILD], marked(*events)) == later


def test_a_share_about_two_children_is_kept_until_both_are_gone_and_runs_from_the_later():
    """Art 5(1)(e) cuts both ways: no longer than necessary, but no sooner than the longest purpose."""
    assert clock_for(date(2017, 6, 1), [CHILD, SIBLING], marked(*gone(CHILD))) is None
    assert clock_for(date(2017, 6, 1), [CHILD, SIBLING],
                     marked(*gone(CHILD), *gone(SIBLING, closed=date(2019, 7, 1)))) == date(2019, 7, 1)
    assert clock_for(date(2017, 6, 1), [], {}) is None


def test_a_carer_named_in_a_siblings_disposed_case_keeps_their_shares_while_they_may_have_another_case():
    """H1: a share about only a carer does not fall due with a sibling's case (the carer may have another live
    case); it waits for the carer's own identity to be disposed of (intake: after their last referral)."""
    carer = uuid.UUID(int=9)
    events = [notice(SIBLING, carer), notice(SIBLING, record_type=RecordType.IDENTITY)]
    assert candidates(DEFAULT_SCHEDULE, [share(date(2017, 6, 1), carer)], marked(*events), date(2030, 1, 1)) == []


def test_only_notices_that_end_a_case_mark_their_subjects():
    """A referral's or a rights request's disposal says nothing of when the case a share was part of
    ended; a case, an EHE record or the child's identity (after their last case) does."""
    assert [m.clock_started_on for m in marks_of(notice(CHILD))] == [CLOSED]
    assert marks_of(notice(CHILD, record_type=RecordType.IDENTITY)) != []
    assert marks_of(notice(CHILD, record_type=RecordType.REFERRAL)) == []
    assert marks_of(notice(CHILD, record_type=RecordType.RIGHTS_REQUEST)) == []


def test_a_candidate_carries_the_cases_of_its_subjects_notices():
    """H1: a hold on a case keeps the shares about its subjects (LegalHolds.apply matches case ids)."""
    case = uuid.uuid4()
    [due] = candidates(DEFAULT_SCHEDULE, [share()], marked(*gone(CHILD, case_ids=[case])), date(2026, 1, 1))
    assert due.case_ids == (case,)


def share(made_on: date = date(2017, 6, 1), *subjects: uuid.UUID,
          categories: tuple[DataCategory, ...] = (DataCategory.CONTACT,)) -> Disclosure:
    return Disclosure(uuid.uuid4(), made_on, subjects or (CHILD,), categories)


def test_the_default_schedule_keeps_a_disclosure_seven_years_from_the_closure_to_the_day():
    """DOMAIN 3 default, rule disclosure.7y of cme_shared.retention.DEFAULT_SCHEDULE."""
    d, marks = share(), marked(*gone(CHILD))
    assert candidates(DEFAULT_SCHEDULE, [d], marks, date(2025, 3, 30)) == []
    [due] = candidates(DEFAULT_SCHEDULE, [d], marks, date(2025, 3, 31))
    assert (due.record_id, due.rule.rule_id, due.clock_started_on, due.due_on) == (
        str(d.disclosure_id), "disclosure.7y", CLOSED, date(2025, 3, 31))


def test_a_changed_schedule_changes_what_falls_due_per_category_too():
    """DOMAIN 3: "configurable per category". A record spanning categories is kept for the longest."""
    rules = [r for r in DEFAULT_SCHEDULE.rules if r.record_type is not RecordType.DISCLOSURE]
    longer = RetentionSchedule(schedule_id="council-2027", rules=(*rules, RetentionRule(
        rule_id="disclosure.10y", record_type=RecordType.DISCLOSURE, starts="case_closed", years=10,
        description="a share: 10 years after the case is closed"), RetentionRule(
        rule_id="disclosure-police.15y", record_type=RecordType.DISCLOSURE, category=DataCategory.POLICE_PROBATION,
        starts="case_closed", years=15, description="police and probation data shared: 15 years")))
    plain, police = share(), share(categories=(DataCategory.CONTACT, DataCategory.POLICE_PROBATION))
    marks = marked(*gone(CHILD))
    assert candidates(longer, [plain, police], marks, date(2026, 1, 1)) == []
    assert [c.rule.rule_id for c in candidates(longer, [plain, police], marks, date(2028, 3, 31))] == ["disclosure.10y"]
    assert [c.rule.rule_id for c in candidates(longer, [police], marks, date(2033, 3, 31))] == ["disclosure-police.15y"]


def test_a_disposal_leaf_says_ids_codes_and_dates_and_names_no_subject():
    """The leaf is permanent (DOMAIN 4): the subjects' ids go only into its purgeable payload."""
    event = notice(CHILD, SIBLING, related_record_ids={RecordType.REFERRAL: ["intake-1"]})
    facts, personal = disposal_leaf(event)
    assert str(CHILD) not in json.dumps(facts) and facts["subject_count"] == 2
    assert (facts["record_type"], facts["rule_id"], facts["clock_started_on"]) == ("case", "case.7y", "2018-03-31")
    assert facts["related_record_ids"] == {"referral": ["intake-1"]}
    assert personal == {"subject_ids": sorted([str(CHILD), str(SIBLING)])}


def test_a_hold_names_an_id_and_a_record_is_a_disclosure():
    did = uuid.uuid4()
    assert HoldRequest(scope="record", target_id=str(did), reason="litigation").target() == f"disclosure:{did}"
    assert HoldRequest(scope="record", target_id=f"disclosure:{did}", reason="x").target() == f"disclosure:{did}"
    assert HoldRequest(scope="subject", target_id=str(CHILD), reason="x").target() == str(CHILD)
    with pytest.raises(ValidationError) as bad:
        HoldRequest(scope="case", target_id="CASE-42", reason="x")
    assert bad.value.errors()[0]["loc"] == ("target_id",)
    with pytest.raises(ValidationError):
        HoldRequest(scope="everything", target_id=str(CHILD), reason="x")


# The handlers on the fakes -----------------------------------------------------------------------

def unit_of_work() -> FakeDisclosureUnitOfWork:
    return FakeDisclosureUnitOfWork(FixedClock(NOW))


async def shared_in_2017(uow: FakeDisclosureUnitOfWork, *subjects: uuid.UUID) -> uuid.UUID:
    """A share casework made in 2017, during the case closed in 2018."""
    event = school_share(subjects[0]).model_copy(update={
        "subject_ids": list(subjects), "shared_at": datetime(2017, 6, 1, 10, tzinfo=UTC),
        "share_ref": f"ref-{uuid.uuid4()}"})
    async with uow:
        await on_share_made(uow, event)
        await uow.commit()
    [did] = [d for d, r in uow.disclosures.rows.items() if r["share_ref"] == event.share_ref]
    uow.disclosures.rows[did]["requested_at"] = event.shared_at
    return did


async def told(uow: FakeDisclosureUnitOfWork, *events: RecordsDisposed) -> None:
    async with uow:
        for e in events:
            await on_records_disposed(uow, received(e))
        await uow.commit()


async def test_a_disposal_notice_is_one_leaf_once_per_event_and_keeps_its_signed_record():
    uow = unit_of_work()
    event = notice(CHILD)
    async with uow:
        await on_records_disposed(uow, received(event))
        await on_records_disposed(uow, received(event))  # redelivered
        await uow.commit()
    assert uow.log.kinds() == [LeafKind.DISPOSED.value]
    assert list(uow.retention.notices) == [event.event_id]
    row = uow.retention.notices[event.event_id]
    assert row["leaf_index"] == 0 and row["signer"] == "casework"
    assert RecordsDisposed.model_validate_json(row["payload"]) == event
    assert uow.outbox.topics() == [topics.TREE_HEADS]  # the new head is published as for any leaf


async def test_the_run_disposes_of_what_is_due_keeps_what_is_held_or_not_due_and_does_nothing_twice():
    uow = unit_of_work()
    due, held, later = (await shared_in_2017(uow, CHILD), await shared_in_2017(uow, SIBLING),
                        await shared_in_2017(uow, uuid.UUID(int=3)))
    await told(uow, *gone(CHILD, SIBLING), *gone(uuid.UUID(int=3), closed=date(2020, 1, 1)))  # the last due in 2027
    async with uow:
        hold = await uow.holds.place("subject", str(SIBLING), "litigation", "records-1", NOW)
        await uow.commit()
    leaves = len(uow.log.entries)
    async with uow:
        dry = await dispose(uow, date(2026, 1, 10), uuid.uuid4(), TRUSTED, dry_run=True)
    assert [r.record_id for r in dry.disposed] == [str(due)] and [r.held_by for r in dry.held] == [[hold.hold_id]]
    assert len(uow.log.entries) == leaves and uow.tombstones.rows == {}  # the dry run changed nothing
    assert uow.holds.locked >= 1  # the hold lock is taken before holds are read
    run = uuid.uuid4()
    async with uow:
        done = await dispose(uow, date(2026, 1, 10), run, TRUSTED)
        await uow.commit()
    assert [r.record_id for r in done.disposed] == [str(due)]
    assert uow.disclosures.rows[due]["purged_at"] == NOW and uow.disclosures.rows[due]["decided_by"] is None
    assert uow.disclosures.rows[held]["purged_at"] is None and uow.disclosures.rows[later]["purged_at"] is None
    [tombstone] = uow.tombstones.rows.values()
    assert (tombstone.record_id, tombstone.rule_id, tombstone.reason, tombstone.run_id) == (
        str(due), "disclosure.7y", "schedule", run)
    [event] = uow.outbox.events(topics.RETENTION_DISPOSALS)
    assert (event.service, event.record_type, event.record_ids, event.subject_ids) == (
        "disclosure", RecordType.DISCLOSURE, [str(due)], [CHILD])
    purge_leaf = json.loads(uow.log.entries[-1].leaf)
    assert (purge_leaf["kind"], purge_leaf["facts"]["rule_id"], purge_leaf["facts"]["run_id"]) == (
        "payloads_purged", "disclosure.7y", str(run))
    async with uow:
        again = await dispose(uow, date(2026, 1, 10), uuid.uuid4(), TRUSTED)
        await uow.commit()
    assert again.disposed == [] and len(uow.outbox.events(topics.RETENTION_DISPOSALS)) == 1


async def test_a_hold_on_one_of_its_cases_keeps_a_share():
    """H1: a case hold (placed here or mirrored from casework) keeps the shares about the case's subjects."""
    uow = unit_of_work()
    did = await shared_in_2017(uow, CHILD)
    case = uuid.uuid4()
    await told(uow, *gone(CHILD, case_ids=[case]))
    async with uow:
        hold = await uow.holds.place("case", str(case), "care proceedings", "records-1", NOW)
        await uow.commit()
    async with uow:
        done = await dispose(uow, date(2026, 1, 10), uuid.uuid4(), TRUSTED)
        await uow.commit()
    assert done.disposed == [] and [(r.record_id, r.held_by) for r in done.held] == [(str(did), [hold.hold_id])]
    assert uow.disclosures.rows[did]["purged_at"] is None


async def test_a_notice_the_runtime_login_could_have_forged_makes_nothing_due():
    """C1: a row added to disposal_notices outside the consumer (unsigned, signed by a key nobody pins,
    signed over other bytes, or from a service that does not own the record type) is not believed."""
    uow = unit_of_work()
    did = await shared_in_2017(uow, CHILD)
    case, identity = notice(CHILD), notice(CHILD, record_type=RecordType.IDENTITY)
    forged = [
        received(case, signer=Signer("casework", FORGER.private_key)),  # a key nobody pins
        received(identity.model_copy(update={"service": "casework"}), signer="casework"),  # not intake's
    ]
    genuine = received(identity)
    rewritten = ReceivedDisposal(identity, SignedRecord(  # the genuine signature over a rewritten payload
        genuine.signed.key, genuine.signed.event_id, genuine.signed.signer, genuine.signed.signature,
        identity.model_copy(update={"clock_started_on": date(2010, 1, 1)}).model_dump_json().encode()))
    async with uow:
        for r in [*forged, rewritten]:
            await on_records_disposed(uow, r)
        await uow.commit()
    async with uow:
        done = await dispose(uow, date(2026, 1, 10), uuid.uuid4(), TRUSTED)
        await uow.commit()
    assert done.disposed == [] and uow.disclosures.rows[did]["purged_at"] is None
    # The same notices, genuinely signed by their owners, make it due.
    await told(uow, *gone(CHILD))
    async with uow:
        assert [r.record_id for r in (await dispose(uow, date(2026, 1, 10), uuid.uuid4(), TRUSTED)).disposed] == [str(did)]


async def test_a_restriction_keeps_a_share_from_the_run_and_from_a_purge():
    """UK GDPR Art 18(1)-(2): a restricted subject's data is only stored: not erased while it is in force."""
    uow = unit_of_work()
    did = await shared_in_2017(uow, CHILD)
    await told(uow, *gone(CHILD))
    request = uuid.uuid4()
    async with uow:
        await uow.disclosures.restrict([CHILD], request, NOW)
        await uow.commit()
    async with uow:
        done = await dispose(uow, date(2026, 1, 10), uuid.uuid4(), TRUSTED)
        await uow.commit()
    assert done.disposed == [] and [r.held_by for r in done.held] == [[request]]
    with pytest.raises(Refusal) as refused:
        async with uow:
            await purge(uow, did, "made_in_error", "records-1", "dpo-1")
    assert (refused.value.status, refused.value.code) == (409, "subject_restricted")
    assert uow.disclosures.rows[did]["purged_at"] is None and uow.tombstones.rows == {}


async def test_purge_by_hand_needs_another_persons_approval_keeps_a_code_and_a_hold_refuses_it():
    """M4/M3: two people (the operator and an approving DPO), a reason code in the leaf and tombstone (no
    free text in the permanent log), the same path as the schedule, holds honoured."""
    uow = unit_of_work()
    async with uow:
        did = await request_disclosure(uow, police_request(CHILD), OFFICER)
        hold = await uow.holds.place("record", f"disclosure:{did}", "ICO complaint", "dpo-1", NOW)
        await uow.commit()
    for code, operator, approver, why in [("made_in_error", "records-1", "records-1", "same_person"),
                                          ("made_in_error", "records-1", " ", "approval_required"),
                                          ("because I said so", "records-1", "dpo-1", "bad_reason_code"),
                                          ("schedule", "records-1", "dpo-1", "bad_reason_code")]:
        with pytest.raises(Refusal) as bad:
            async with uow:
                await purge(uow, did, code, operator, approver)
        assert (bad.value.status, bad.value.code) == (422, why)
    with pytest.raises(Refusal) as refused:
        async with uow:
            await purge(uow, did, "made_in_error", "records-1", "dpo-1")
    assert (refused.value.status, refused.value.code) == (409, "legal_hold")
    assert uow.tombstones.rows == {}
    async with uow:
        await uow.holds.lift(hold.hold_id, "dpo-1", "closed", NOW)
        assert await purge(uow, did, "made_in_error", "records-1", "dpo-1") == 1
        await uow.commit()
    [tombstone] = uow.tombstones.rows.values()
    assert (tombstone.rule_id, tombstone.reason, tombstone.schedule_id) == (MANUAL_RULE.rule_id, "made_in_error", "manual")
    leaf = json.loads(uow.log.entries[-1].leaf)
    assert (leaf["kind"], leaf["facts"]["reason"], leaf["facts"]["operator"], leaf["facts"]["approved_by"]) == (
        "payloads_purged", "made_in_error", "records-1", "dpo-1")
    with pytest.raises(Refusal) as again:
        async with uow:
            await purge(uow, did, "duplicate", "records-1", "dpo-1")
    assert again.value.code == "already_disposed"


async def test_a_subject_or_case_hold_placed_here_is_told_to_the_other_services():
    uow = unit_of_work()
    async with uow:
        placed = await place_hold(uow, HoldRequest(scope="case", target_id=str(uuid.uuid4()), reason="x"), "records-1")
        await place_hold(uow, HoldRequest(scope="record", target_id=str(uuid.uuid4()), reason="x"), "records-1")
        await lift_hold(uow, placed.hold_id, HoldLift(reason="done"), "records-1")
        await uow.commit()
    events = uow.outbox.events(topics.LEGAL_HOLDS)
    assert [(e.hold_id, e.change, e.scope, e.service) for e in events] == [
        (placed.hold_id, "placed", "case", "disclosure"), (placed.hold_id, "lifted", "case", "disclosure")]


async def test_the_access_pack_says_what_was_disposed_of_when_and_to_whom_it_had_been_shared():
    uow = unit_of_work()
    did = await shared_in_2017(uow, CHILD)
    await told(uow, *gone(CHILD))
    async with uow:
        await dispose(uow, date(2026, 1, 10), uuid.uuid4(), TRUSTED)
        await on_data_collection(uow, DataCollectionRequest(
            event_id=uuid.uuid4(), occurred_at=NOW, collection_id=uuid.uuid4(), rights_request_id=uuid.uuid4(),
            subject_ids=[CHILD], services=["disclosure"]))
        await uow.commit()
    items = [i for reply in uow.outbox.events(topics.replies_of("disclosure")) for i in reply.items]
    [item] = items
    assert (item.record_type, item.record_id, item.subject_id) == (DISPOSED_RECORD, str(did), CHILD)
    assert item.data["disposed_record_type"] == "disclosure" and item.data["rule_id"] == "disclosure.7y"
    assert item.data["disposed_at"] == NOW.isoformat() and item.data["shared_on"] == "2017-06-01"
    assert item.recipient == {"type": "school", "org_id": "100001", "org_name": "Example Primary"}
    assert "fields_released" not in item.data and "reason" not in item.data


def test_a_production_disposal_run_cannot_be_dated_ahead_of_today(monkeypatch):
    """LGA 1972 s224 / FOI Act s46 Code: records are destroyed under the schedule, not before it: in production
    `dispose --as-of` a future day is refused before anything is opened (a dry run may look ahead)."""
    from typer.testing import CliRunner

    from cme_disclosure.__main__ import cli
    from cme_shared.testing.signing import TEST_KEYS

    for name, value in {"CME_ENV": "production", "CME_JWKS_URL": "https://idp.example/keys",
                        "CME_JWT_SECRET": "production-secret-" + "z" * 40, "CME_JWT_ISSUER": "https://idp.example",
                        "CME_JWT_AUDIENCE": "cme", "CME_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
                        "CME_KAFKA_USERNAME": "disclosure", "CME_KAFKA_PASSWORD": "x",
                        "CME_DATABASE_URL": "postgresql+asyncpg://cme_disclosure:x@127.0.0.1:1/cme_disclosure",
                        "CME_LOG_SIGNING_KEY": "11" * 32, **TEST_KEYS.env_for("disclosure")}.items():
        monkeypatch.setenv(name, value)
    refused = CliRunner().invoke(cli, ["dispose", "--as-of", "2099-01-01"])
    assert refused.exit_code == 2 and "cannot be dated after today in production" in refused.output
