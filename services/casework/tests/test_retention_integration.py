"""Retention and disposal in casework on real PostgreSQL and the real broker (issue 14, item 1).

The disposal job runs as `cme_casework_disposal` (the only login the history trigger lets delete), the
running service as `cme_casework`; the tables are read back as the owner, which sees everything. Sources:
DOMAIN section 3 (7 years after closure, legal hold, tombstone); UK GDPR Art 5(1)(e); LGA 1972 s224 / FOI
Act s46 Code (the tombstone: what, when, why).
"""

import asyncio
import json
import uuid
from contextlib import asynccontextmanager
from datetime import date, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg
import pytest
from dateutil.relativedelta import relativedelta
from typer.testing import CliRunner

from cme_casework.adapters.tables import kit
from cme_casework.adapters.unit_of_work import CaseworkUnitOfWork
from cme_casework.app import clock_policy
from cme_casework.service_layer.retention import run_disposal
from cme_casework.service_layer.rights import collect
from cme_shared.contracts import topics
from cme_shared.contracts.retention import ClockStart, RecordType, RetentionRule, RetentionSchedule
from cme_shared.retention import DEFAULT_SCHEDULE, DISPOSED_RECORD, disposal_parts
from cme_shared.testing.kafka import TopicReader
from cme_shared.testing.signing import TEST_KEYS

pytestmark = pytest.mark.integration

CLOSED_ON = date(2026, 11, 20)
DUE = date(2033, 11, 20)  # 7 years after the closure (DEFAULT_SCHEDULE case.7y)


def plain(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://")


def database(stack) -> str:
    return urlsplit(stack.database_url).path.lstrip("/")


def records_officer(stack, sub: str = "ro-1") -> dict[str, str]:
    return stack.headers("records_officer", sub=sub)


@asynccontextmanager
async def disposal_job(stack, infra):
    """The disposal job's unit of work, on the disposal login (as `python -m cme_casework dispose`)."""
    url = infra.disposal_url("casework", database(stack))
    policy = clock_policy(stack.settings)
    async with disposal_parts(stack.settings, kit, stack.runtime.clock, database_url=url) as parts:
        yield lambda: CaseworkUnitOfWork(**parts.unit_of_work(), policy=policy)


async def dispose(stack, infra, as_of: date = DUE, schedule: RetentionSchedule = DEFAULT_SCHEDULE, dry_run=False):
    async with disposal_job(stack, infra) as unit_of_work:
        return await run_disposal(unit_of_work, schedule, as_of, dry_run=dry_run)


@asynccontextmanager
async def as_owner(stack, infra):
    conn = await asyncpg.connect(plain(infra.owner_url("casework", database(stack))))
    try:
        yield conn
    finally:
        await conn.close()


async def closed_case(stack, make_referral, *, carers=(), closed_on: date = CLOSED_ON, **referral) -> tuple[str, str, str]:
    """A Westminster case opened by a referral and closed with its evidence: (case id, child id, intake id)."""
    event = make_referral(received_on=date(2026, 11, 16), carers=list(carers), **referral)
    case_id = await stack.referral(event)
    officer = stack.headers("officer", sub="officer-ana", borough="westminster")
    # An enquiry and a note, so that the case holds more than its opening and its closure.
    made = await stack.client.post(f"/cases/{case_id}/enquiries", headers=officer, json={
        "whom": "council_tax", "asked_on": "2026-11-17", "purpose": "proof of address"})
    assert made.status_code == 201, made.text
    note = await stack.client.post(f"/cases/{case_id}/notes", headers=officer, json={
        "kind": "fact", "category": "education", "text": "synthetic note", "source": "school"})
    assert note.status_code == 201, note.text
    closure = await stack.client.post(f"/cases/{case_id}/closure", headers=officer, json={
        "reason": "on_roll_elsewhere", "evidence": {"school_urn": "123456", "start_date": "2026-11-19", "confirmed_by": "admissions"},
        "closed_on": closed_on.isoformat()})
    assert closure.status_code in (200, 201), closure.text
    return str(case_id), str(event.child_subject_id), str(event.intake_id)


async def rows_about(conn, case_id: str) -> dict[str, int]:
    return {
        "cases": await conn.fetchval("SELECT count(*) FROM cases WHERE case_id = $1", uuid.UUID(case_id)),
        "case_history": await conn.fetchval("SELECT count(*) FROM case_history WHERE case_id = $1", uuid.UUID(case_id)),
        "outbox": await conn.fetchval("SELECT count(*) FROM outbox WHERE aggregate_type = 'case' AND aggregate_id = $1",
                                      case_id),
    }


async def tombstones(conn, record_id: str) -> list[asyncpg.Record]:
    return await conn.fetch("SELECT * FROM disposal_tombstones WHERE record_id = $1", record_id)


async def test_a_closed_case_past_retention_is_disposed_of_and_only_its_tombstone_stays(stack, infra, make_referral):
    carer = uuid.uuid4()
    case_id, child, intake_id = await closed_case(stack, make_referral, carers=[carer])
    async with as_owner(stack, infra) as conn:
        before = await rows_about(conn, case_id)
    assert before["cases"] == 1 and before["case_history"] >= 4

    async with TopicReader(stack.settings.kafka_connection(), stack.topics(topics.RETENTION_DISPOSALS)) as disposals:
        report = await dispose(stack, infra)
        [record] = await disposals.wait_for(lambda rs: len(rs) >= 1, timeout=30)  # sent by the service's relay
    assert [(r.record_type, r.record_id, r.rule_id) for r in report.disposed] == [("case", case_id, "case.7y")]
    assert report.held == [] and report.dry_run is False

    async with as_owner(stack, infra) as conn:
        assert await rows_about(conn, case_id) == {"cases": 0, "case_history": 0, "outbox": 0}
        assert await conn.fetchval("SELECT count(*) FROM case_history WHERE child_subject_id = $1",
                                   uuid.UUID(child)) == 0
        [stone] = await tombstones(conn, case_id)
    assert (stone["record_type"], stone["rule_id"], stone["schedule_id"], stone["reason"]) == (
        "case", "case.7y", "cme-default-2026", "schedule")
    assert (stone["clock_started_on"], stone["due_on"]) == (CLOSED_ON, DUE)
    assert set(stone["subject_ids"]) == {uuid.UUID(child), carer} and stone["case_ids"] == [uuid.UUID(case_id)]
    assert "education" in stone["categories"] and "council_tax" in stone["categories"]

    event = json.loads(record.value)
    assert (event["kind"], event["service"], event["record_type"], event["record_ids"]) == (
        "records_disposed", "casework", "case", [case_id])
    assert event["related_record_ids"] == {"referral": [intake_id]}  # intake disposes of its copy (SEC-18)
    assert event["case_ids"] == [case_id] and event["clock_started_on"] == CLOSED_ON.isoformat()
    assert dict(record.headers)["event_type"] == b"RecordsDisposed"
    # Ids, codes and dates only: nothing of the case's content travels.
    assert b"synthetic note" not in record.value and b"council_tax" not in record.value


async def test_a_case_not_yet_due_is_kept(stack, infra, make_referral):
    case_id, _, _ = await closed_case(stack, make_referral)
    report = await dispose(stack, infra, as_of=date(2033, 11, 19))
    assert report.disposed == []
    async with as_owner(stack, infra) as conn:
        assert (await rows_about(conn, case_id))["cases"] == 1
        assert await tombstones(conn, case_id) == []


async def test_a_legal_hold_on_the_case_keeps_it_until_lifted_and_the_report_says_so(stack, infra, make_referral):
    case_id, _, _ = await closed_case(stack, make_referral)
    placed = await stack.client.post("/legal-holds", headers=records_officer(stack), json={
        "scope": "case", "target_id": case_id, "reason": "a claim against the council (synthetic)"})
    assert placed.status_code == 201, placed.text
    hold = placed.json()
    assert (hold["placed_by"], hold["scope"], hold["target_id"], hold["lifted_at"]) == (
        "records_officer:ro-1", "case", case_id, None)

    dry = await stack.client.get("/retention/report", params={"as_of": DUE.isoformat()}, headers=records_officer(stack))
    assert dry.status_code == 200, dry.text
    assert dry.json()["disposed"] == [] and [(r["record_id"], r["held_by"]) for r in dry.json()["held"]] == [
        (case_id, [hold["hold_id"]])]

    report = await dispose(stack, infra)
    assert report.disposed == [] and [r.record_id for r in report.held] == [case_id]
    async with as_owner(stack, infra) as conn:
        assert (await rows_about(conn, case_id))["case_history"] > 0
        assert await tombstones(conn, case_id) == []

    lifted = await stack.client.post(f"/legal-holds/{hold['hold_id']}/lift", headers=stack.headers("dpo", sub="dpo-1"),
                                     json={"reason": "the claim was settled"})
    assert lifted.status_code == 200, lifted.text
    assert (lifted.json()["lifted_by"], lifted.json()["lift_reason"]) == ("dpo:dpo-1", "the claim was settled")
    again = await stack.client.post(f"/legal-holds/{hold['hold_id']}/lift", headers=records_officer(stack),
                                    json={"reason": "twice"})
    assert again.status_code == 409 and again.json()["errors"][0]["code"] == "hold_already_lifted"
    in_force = await stack.client.get("/legal-holds", headers=records_officer(stack))
    everything = await stack.client.get("/legal-holds", params={"in_force": "false"}, headers=records_officer(stack))
    assert in_force.json() == [] and [h["hold_id"] for h in everything.json()] == [hold["hold_id"]]

    assert [r.record_id for r in (await dispose(stack, infra)).disposed] == [case_id]


async def test_a_hold_on_a_carer_keeps_every_case_naming_them(stack, infra, make_referral):
    carer = uuid.uuid4()
    held_case, _, _ = await closed_case(stack, make_referral, carers=[carer])
    free_case, _, _ = await closed_case(stack, make_referral)
    placed = await stack.client.post("/legal-holds", headers=records_officer(stack), json={
        "scope": "subject", "target_id": str(carer), "reason": "an ICO complaint under investigation"})
    assert placed.status_code == 201, placed.text
    report = await dispose(stack, infra)
    assert [r.record_id for r in report.disposed] == [free_case]
    assert [r.record_id for r in report.held] == [held_case]


async def test_a_rerun_disposes_of_nothing_twice_and_a_dry_run_changes_nothing(stack, infra, make_referral):
    case_id, _, _ = await closed_case(stack, make_referral)
    dry = await dispose(stack, infra, dry_run=True)
    assert dry.dry_run and [r.record_id for r in dry.disposed] == [case_id]
    async with as_owner(stack, infra) as conn:
        assert (await rows_about(conn, case_id))["cases"] == 1
        assert await conn.fetchval("SELECT count(*) FROM disposal_tombstones") == 0
        assert await conn.fetchval("SELECT count(*) FROM outbox WHERE topic LIKE '%retention%'") == 0

    first, second = await dispose(stack, infra), await dispose(stack, infra)
    assert [r.record_id for r in first.disposed] == [case_id] and second.disposed == []
    async with as_owner(stack, infra) as conn:
        assert len(await tombstones(conn, case_id)) == 1
        assert await conn.fetchval("SELECT count(*) FROM outbox WHERE topic LIKE '%retention.disposals%'") == 1


async def test_a_referral_recorded_without_a_case_is_disposed_of_seven_years_after_it_was_recorded(
        stack, infra, make_referral):
    event = make_referral(kind="new_pupil_registered", received_on=date(2026, 11, 16))
    assert await stack.referral(event) is None  # recorded, no case
    due = stack.runtime.clock.today() + relativedelta(years=7)  # recorded today (London): 7 years on
    assert (await dispose(stack, infra, as_of=due - timedelta(days=1))).disposed == []
    report = await dispose(stack, infra, as_of=due)
    assert [(r.record_type, r.record_id) for r in report.disposed] == [("record_without_case", str(event.intake_id))]
    async with as_owner(stack, infra) as conn:
        assert await conn.fetchval("SELECT count(*) FROM case_history WHERE child_subject_id = $1",
                                   event.child_subject_id) == 0
        [stone] = await tombstones(conn, str(event.intake_id))
    assert stone["record_type"] == "record_without_case" and stone["rule_id"] == "record-without-case.7y"


async def test_a_schedule_changed_by_a_file_changes_what_falls_due(stack, infra, make_referral, tmp_path):
    case_id, _, _ = await closed_case(stack, make_referral)
    three_years = date(2029, 11, 20)
    assert (await dispose(stack, infra, as_of=three_years)).disposed == []  # the default: 7 years
    shorter = RetentionSchedule(schedule_id="council-2027", rules=tuple(
        RetentionRule(rule_id="case.3y", record_type=RecordType.CASE, starts=ClockStart.CASE_CLOSED, years=3,
                      description="a case: 3 years after closure") if r.record_type is RecordType.CASE else r
        for r in DEFAULT_SCHEDULE.rules))
    path = tmp_path / "schedule.json"
    path.write_text(shorter.model_dump_json())
    schedule = stack.settings.model_copy(update={"retention_schedule_file": path}).retention_schedule()
    report = await dispose(stack, infra, as_of=three_years, schedule=schedule)
    assert [(r.record_id, r.rule_id) for r in report.disposed] == [(case_id, "case.3y")]
    async with as_owner(stack, infra) as conn:
        [stone] = await tombstones(conn, case_id)
    assert (stone["schedule_id"], stone["rule_id"]) == ("council-2027", "case.3y")


async def test_a_restricted_subjects_case_is_kept_as_a_held_one(stack, infra, make_referral):
    from cme_casework.service_layer.rights import on_restriction
    from cme_shared.contracts.rights import SubjectRestricted

    case_id, child, _ = await closed_case(stack, make_referral)
    request_id = uuid.uuid4()
    async with stack.unit_of_work() as uow:
        await on_restriction(uow, SubjectRestricted(
            event_id=uuid.uuid4(), occurred_at=stack.runtime.clock.now(), rights_request_id=request_id,
            subject_ids=[uuid.UUID(child)], reason="accuracy contested"))
        await uow.commit()
    report = await dispose(stack, infra)
    assert report.disposed == [] and [(r.record_id, r.held_by) for r in report.held] == [(case_id, [request_id])]


async def test_after_disposal_a_subject_access_answer_says_what_was_disposed_of_and_when(stack, infra, make_referral):
    case_id, child, _ = await closed_case(stack, make_referral)
    await dispose(stack, infra)
    async with stack.unit_of_work() as uow:
        items = await collect(uow, [uuid.UUID(child)])
    disposed = [i for i in items if i.record_type == DISPOSED_RECORD]
    assert [i for i in items if i.record_type != DISPOSED_RECORD and i.record_type != "access_log"] == []
    [item] = disposed
    assert (item.record_id, item.data["disposed_record_type"], item.data["rule_id"]) == (case_id, "case", "case.7y")
    assert item.data["rule"] == "a case and its history: 7 years after the case is closed"
    assert item.data["clock_started_on"] == CLOSED_ON.isoformat() and item.data["disposed_at"]


async def test_only_the_disposal_role_may_remove_history_and_the_runtime_role_still_cannot(stack, infra, make_referral):
    case_id, _, _ = await closed_case(stack, make_referral)
    runtime = await asyncpg.connect(plain(stack.database_url))
    disposal = await asyncpg.connect(plain(infra.disposal_url("casework", database(stack))))
    try:
        for statement in ("DELETE FROM case_history WHERE case_id = $1", "UPDATE case_history SET reason = 'x' WHERE case_id = $1"):
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await runtime.execute(statement, uuid.UUID(case_id))
        with pytest.raises(asyncpg.PostgresError, match="append-only|permission denied"):
            await disposal.execute("UPDATE case_history SET reason = 'x' WHERE case_id = $1", uuid.UUID(case_id))
        with pytest.raises(asyncpg.PostgresError):
            await disposal.execute("TRUNCATE case_history")
        for table in ("access_log", "restriction_events", "disposal_tombstones"):
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await disposal.execute(f"DELETE FROM {table}")
        with pytest.raises(RolledBack):
            async with disposal.transaction():
                deleted = await disposal.execute("DELETE FROM case_history WHERE case_id = $1", uuid.UUID(case_id))
                assert deleted != "DELETE 0"
                raise RolledBack  # the job does this with the case row, in one transaction
    finally:
        await runtime.close()
        await disposal.close()


class RolledBack(Exception):
    pass


async def test_legal_hold_input_is_refused_with_where_and_why(stack, infra, make_referral):
    ro = records_officer(stack)
    for body, loc in (({"scope": "borough", "target_id": str(uuid.uuid4()), "reason": "x"}, ["body", "scope"]),
                      ({"scope": "case", "target_id": "not-an-id", "reason": "x"}, ["body", "target_id"]),
                      ({"scope": "subject", "target_id": str(uuid.uuid4()), "reason": ""}, ["body", "reason"]),
                      ({"scope": "subject", "target_id": str(uuid.uuid4())}, ["body", "reason"])):
        refused = await stack.client.post("/legal-holds", headers=ro, json=body)
        assert refused.status_code == 422, refused.text
        assert loc in [e["loc"] for e in refused.json()["errors"]], refused.json()
    unknown = await stack.client.post("/legal-holds", headers=ro, json={
        "scope": "case", "target_id": str(uuid.uuid4()), "reason": "a claim"})
    assert unknown.status_code == 404 and unknown.json()["errors"][0]["loc"] == ["body", "target_id"]
    lift = await stack.client.post(f"/legal-holds/{uuid.uuid4()}/lift", headers=ro, json={"reason": "none"})
    assert lift.status_code == 404
    officer = await stack.client.post("/legal-holds", headers=stack.headers("officer", borough="westminster"), json={
        "scope": "subject", "target_id": str(uuid.uuid4()), "reason": "a claim"})
    assert officer.status_code == 403
    bad_day = await stack.client.get("/retention/report", params={"as_of": "2033-02-30"}, headers=ro)
    assert bad_day.status_code == 422 and ["query", "as_of"] in [e["loc"] for e in bad_day.json()["errors"]]
    case_id, _, _ = await closed_case(stack, make_referral)
    await dispose(stack, infra)
    disposed = await stack.client.post("/legal-holds", headers=ro, json={
        "scope": "case", "target_id": case_id, "reason": "too late"})
    assert disposed.status_code == 409 and disposed.json()["errors"][0]["code"] == "already_disposed"


async def test_the_dispose_command_reports_and_disposes(stack, infra, make_referral, monkeypatch):
    from cme_casework.__main__ import cli

    case_id, _, _ = await closed_case(stack, make_referral)
    env = {"CME_DATABASE_URL": stack.database_url, "CME_TOPIC_NAMESPACE": stack.settings.topic_namespace,
           "CME_DISPOSAL_DATABASE_URL": infra.disposal_url("casework", database(stack)), **TEST_KEYS.env_for("casework")}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    runner = CliRunner()
    dry = await asyncio.to_thread(runner.invoke, cli, ["dispose", "--dry-run", "--as-of", DUE.isoformat(), "--json"])
    assert dry.exit_code == 0, dry.output
    assert [r["record_id"] for r in json.loads(dry.output)["disposed"]] == [case_id]
    done = await asyncio.to_thread(runner.invoke, cli, ["dispose", "--as-of", DUE.isoformat()])
    assert done.exit_code == 0, done.output
    assert f"disposed of 1 records as of {DUE}" in done.output
    bad = await asyncio.to_thread(runner.invoke, cli, ["dispose", "--as-of", "soon"])
    assert bad.exit_code == 2
    monkeypatch.delenv("CME_DISPOSAL_DATABASE_URL")
    refused = await asyncio.to_thread(runner.invoke, cli, ["dispose"])
    assert refused.exit_code == 2 and "CME_DISPOSAL_DATABASE_URL" in refused.output


async def test_the_migration_goes_down_and_up_again(databases, infra):
    """Downgrade undoes 0009: no retention tables, case_history closed to every role again, the disposal
    role with nothing; upgrade brings them back."""
    from alembic import command

    import cme_casework
    from cme_shared.migrations import alembic_config

    owner_url = await databases.create_empty("casework")
    config = alembic_config(Path(cme_casework.__file__).parent / "migrations", owner_url, "cme_casework")
    await asyncio.to_thread(command.upgrade, config, "head")
    owner = await asyncpg.connect(plain(owner_url))
    try:
        guard = "SELECT tgfoid::regproc::text FROM pg_trigger WHERE tgname = 'case_history_append_only'"
        assert await owner.fetchval(guard) == "refuse_history_change_but_disposal"
        await asyncio.to_thread(command.downgrade, config, "0008")
        assert await owner.fetchval("SELECT to_regclass('disposal_tombstones')") is None
        assert await owner.fetchval("SELECT to_regclass('legal_holds')") is None
        assert await owner.fetchval(guard) == "refuse_history_change"
        assert not await owner.fetchval("SELECT has_table_privilege('cme_casework_disposal', 'case_history', 'SELECT')")
        await asyncio.to_thread(command.upgrade, config, "head")
        assert await owner.fetchval(guard) == "refuse_history_change_but_disposal"
        assert await owner.fetchval("SELECT has_table_privilege('cme_casework_disposal', 'case_history', 'DELETE')")
    finally:
        await owner.close()


async def test_a_closed_ehe_record_is_disposed_of_seven_years_after_its_closure(stack, infra):
    """DEFAULT_SCHEDULE ehe.7y: the record, its history and its register versions go; one tombstone stays."""
    officer = stack.headers("officer", sub="officer-ana", borough="westminster")
    child = uuid.uuid4()
    made = await stack.client.post("/ehe-records/notices", headers=officer, json={
        "child_subject_id": str(child), "borough": "westminster", "notice_on": "2026-11-02"})
    assert made.status_code == 201, made.text
    ehe_id = made.json()["record"]["ehe_id"]
    closed = await stack.client.post(f"/ehe-records/{ehe_id}/steps", headers=officer, json={
        "kind": "record_closed", "on": "2026-11-20", "ground": "moved_out_of_area"})
    assert closed.status_code == 201, closed.text
    assert (await dispose(stack, infra, as_of=date(2033, 11, 19))).disposed == []
    report = await dispose(stack, infra, as_of=DUE)
    assert [(r.record_type, r.record_id, r.rule_id) for r in report.disposed] == [("ehe_record", ehe_id, "ehe.7y")]
    async with as_owner(stack, infra) as conn:
        assert await conn.fetchval("SELECT count(*) FROM ehe_records WHERE child_subject_id = $1", child) == 0
        assert await conn.fetchval("SELECT count(*) FROM ehe_history WHERE child_subject_id = $1", child) == 0
        [stone] = await tombstones(conn, ehe_id)
    assert (stone["record_type"], stone["clock_started_on"]) == ("ehe_record", CLOSED_ON)
