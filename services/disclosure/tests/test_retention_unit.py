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
from cme_disclosure.domain.retention import (Disclosure, HoldRequest, MANUAL_RULE, candidates, clock_for,
                                             disposal_leaf, marks_of)
from cme_disclosure.service_layer.collection import on_data_collection
from cme_disclosure.service_layer.disclosures import on_share_made, request_disclosure
from cme_disclosure.service_layer.retention import dispose, on_records_disposed, purge
from cme_shared.clock import FixedClock
from cme_shared.contracts import topics
from cme_shared.contracts.categories import DataCategory
from cme_shared.contracts.retention import RecordsDisposed, RecordType, RetentionRule, RetentionSchedule
from cme_shared.contracts.rights import DataCollectionRequest
from cme_shared.refusal import Refusal
from cme_shared.retention import DEFAULT_SCHEDULE, DISPOSED_RECORD

from .fakes import FakeDisclosureUnitOfWork
from .test_handlers_unit import OFFICER, police_request, school_share

pytestmark = pytest.mark.unit

CLOSED = date(2018, 3, 31)  # the case's closure: 7 years on is 31 March 2025
NOW = datetime(2026, 1, 10, 9, 0, tzinfo=UTC)
CHILD, SIBLING = uuid.UUID(int=1), uuid.UUID(int=2)


def notice(*subjects: uuid.UUID, record_type: RecordType = RecordType.CASE, closed: date | None = CLOSED,
           **more) -> RecordsDisposed:
    return RecordsDisposed(event_id=uuid.uuid4(), occurred_at=NOW, service="casework", schedule_id="cme-default-2026",
                           rule_id="case.7y", record_type=record_type, record_ids=[str(uuid.uuid4())],
                           subject_ids=list(subjects), case_ids=[uuid.uuid4()], clock_started_on=closed,
                           disposed_at=NOW, run_id=uuid.uuid4(), **more)


# The domain: when a disclosure falls due ------------------------------------------------------------

def test_a_share_made_during_a_case_runs_from_the_case_closure_and_one_made_after_it_does_not():
    """DOMAIN 3: "7 years after case closure". A share made on or before the closure is part of that case;
    one made after it belongs to a later case, which is disposed of on its own."""
    marks = {CHILD: [CLOSED]}
    assert clock_for(date(2017, 6, 1), [CHILD], marks) == CLOSED
    assert clock_for(CLOSED, [CHILD], marks) == CLOSED
    assert clock_for(date(2018, 4, 1), [CHILD], marks) is None
    # Two cases disposed of: the first closure on or after the share.
    assert clock_for(date(2017, 6, 1), [CHILD], {CHILD: [date(2019, 1, 1), CLOSED]}) == CLOSED


def test_a_share_about_two_children_is_kept_until_both_cases_are_disposed_of_and_runs_from_the_later():
    """Art 5(1)(e) cuts both ways: no longer than necessary, but no sooner than the longest purpose."""
    assert clock_for(date(2017, 6, 1), [CHILD, SIBLING], {CHILD: [CLOSED]}) is None
    assert clock_for(date(2017, 6, 1), [CHILD, SIBLING], {CHILD: [CLOSED], SIBLING: [date(2019, 7, 1)]}) \
        == date(2019, 7, 1)
    assert clock_for(date(2017, 6, 1), [], {}) is None


def test_only_notices_that_end_a_case_mark_their_subjects():
    """A referral's or a rights request's disposal says nothing of when the case a share was part of
    ended; a case, an EHE record or the child's identity (after their last case) does."""
    assert [m.clock_started_on for m in marks_of(notice(CHILD))] == [CLOSED]
    assert marks_of(notice(CHILD, record_type=RecordType.IDENTITY)) != []
    assert marks_of(notice(CHILD, record_type=RecordType.REFERRAL)) == []
    assert marks_of(notice(CHILD, record_type=RecordType.RIGHTS_REQUEST)) == []
    assert marks_of(notice(CHILD, closed=None)) == []


def share(made_on: date = date(2017, 6, 1), *subjects: uuid.UUID,
          categories: tuple[DataCategory, ...] = (DataCategory.CONTACT,)) -> Disclosure:
    return Disclosure(uuid.uuid4(), made_on, subjects or (CHILD,), categories)


def test_the_default_schedule_keeps_a_disclosure_seven_years_from_the_closure_to_the_day():
    """DOMAIN 3 default, rule disclosure.7y of cme_shared.retention.DEFAULT_SCHEDULE."""
    d = share()
    assert candidates(DEFAULT_SCHEDULE, [d], {CHILD: [CLOSED]}, {}, date(2025, 3, 30)) == []
    [due] = candidates(DEFAULT_SCHEDULE, [d], {CHILD: [CLOSED]}, {}, date(2025, 3, 31))
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
    marks = {CHILD: [CLOSED]}
    assert candidates(longer, [plain, police], marks, {}, date(2026, 1, 1)) == []
    assert [c.rule.rule_id for c in candidates(longer, [plain, police], marks, {}, date(2028, 3, 31))] == ["disclosure.10y"]
    assert [c.rule.rule_id for c in candidates(longer, [police], marks, {}, date(2033, 3, 31))] == ["disclosure-police.15y"]


def test_a_disclosure_a_notice_names_runs_from_that_notice():
    d = share(date(2020, 1, 1))
    [due] = candidates(DEFAULT_SCHEDULE, [d], {}, {d.disclosure_id: CLOSED}, date(2025, 3, 31))
    assert due.clock_started_on == CLOSED


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


async def test_a_disposal_notice_is_one_leaf_once_per_event():
    uow = unit_of_work()
    event = notice(CHILD)
    async with uow:
        await on_records_disposed(uow, event)
        await on_records_disposed(uow, event)  # redelivered
        await uow.commit()
    assert uow.log.kinds() == [LeafKind.DISPOSED.value]
    assert list(uow.retention.notices) == [event.event_id]
    assert uow.retention.notices[event.event_id]["leaf_index"] == 0
    assert uow.outbox.topics() == [topics.TREE_HEADS]  # the new head is published as for any leaf


async def test_the_run_disposes_of_what_is_due_keeps_what_is_held_or_not_due_and_does_nothing_twice():
    uow = unit_of_work()
    due, held, later = (await shared_in_2017(uow, CHILD), await shared_in_2017(uow, SIBLING),
                        await shared_in_2017(uow, uuid.UUID(int=3)))
    async with uow:
        await on_records_disposed(uow, notice(CHILD, SIBLING))
        await on_records_disposed(uow, notice(uuid.UUID(int=3), closed=date(2020, 1, 1)))  # due in 2027
        hold = await uow.holds.place("subject", str(SIBLING), "litigation", "records-1", NOW)
        await uow.commit()
    leaves = len(uow.log.entries)
    async with uow:
        dry = await dispose(uow, date(2026, 1, 10), uuid.uuid4(), dry_run=True)
    assert [r.record_id for r in dry.disposed] == [str(due)] and [r.held_by for r in dry.held] == [[hold.hold_id]]
    assert len(uow.log.entries) == leaves and uow.tombstones.rows == {}  # the dry run changed nothing
    run = uuid.uuid4()
    async with uow:
        done = await dispose(uow, date(2026, 1, 10), run)
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
        again = await dispose(uow, date(2026, 1, 10), uuid.uuid4())
        await uow.commit()
    assert again.disposed == [] and len(uow.outbox.events(topics.RETENTION_DISPOSALS)) == 1


async def test_purge_by_hand_takes_the_same_path_and_a_hold_refuses_it():
    uow = unit_of_work()
    async with uow:
        did = await request_disclosure(uow, police_request(CHILD), OFFICER)
        hold = await uow.holds.place("record", f"disclosure:{did}", "ICO complaint", "dpo-1", NOW)
        await uow.commit()
    with pytest.raises(Refusal) as refused:
        async with uow:
            await purge(uow, did, "made in error")
    assert (refused.value.status, refused.value.code) == (409, "legal_hold")
    assert uow.tombstones.rows == {}
    async with uow:
        await uow.holds.lift(hold.hold_id, "dpo-1", "closed", NOW)
        assert await purge(uow, did, "made in error") == 1
        await uow.commit()
    [tombstone] = uow.tombstones.rows.values()
    assert (tombstone.rule_id, tombstone.reason, tombstone.schedule_id) == (MANUAL_RULE.rule_id, "manual", "manual")
    with pytest.raises(Refusal) as again:
        async with uow:
            await purge(uow, did, "twice")
    assert again.value.code == "already_disposed"


async def test_the_access_pack_says_what_was_disposed_of_when_and_to_whom_it_had_been_shared():
    uow = unit_of_work()
    did = await shared_in_2017(uow, CHILD)
    async with uow:
        await on_records_disposed(uow, notice(CHILD))
        await dispose(uow, date(2026, 1, 10), uuid.uuid4())
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
