"""Casework's disposal after the hostile review (issue 14, item 1, round 2), on real PostgreSQL and the broker.

- C1: the job decides what is due only from the append-only history; a closure forged in the `cases`
  projection, or a backdated closure entry written as the running service's login, is never disposed of,
  and the report lists it as held (MISMATCH_HOLD). recorded_at is the database's clock (migration 0009).
- M3: a case's disposal removes every outbox row about it: unsent, published or quarantined, the
  data-collection replies included (SEC-18: a purge reaches the other copies; an unsent one would be sent
  after the disposal).
- A record without a case that gets entries after its tombstone: they go under the same tombstone.
- Holds are shared: one placed in casework is sent on cme.retention.legal-holds.v1; one placed in another
  service reaches casework over the broker and keeps the record; its lifting lets it go.
Sources: DOMAIN section 3 (retention, legal hold, tombstone); UK GDPR Art 5(1)(e); LGA 1972 s224 / FOI Act
s46 Code (records as they happened; a record of what was destroyed).
"""

import json
import uuid
from datetime import UTC, date, datetime

import asyncpg
import pytest
from dateutil.relativedelta import relativedelta

from cme_casework.domain.retention import MISMATCH_HOLD
from cme_shared.contracts import topics
from cme_shared.contracts.retention import LegalHoldChanged
from cme_shared.testing.kafka import TopicReader, eventually, produce
from cme_shared.testing.signing import signed_headers

from .test_retention_integration import (
    as_owner,
    closed_case,
    dispose,
    plain,
    records_officer,
    rows_about,
    tombstones,
)

pytestmark = pytest.mark.integration


async def open_case(stack, make_referral) -> tuple[uuid.UUID, uuid.UUID]:
    event = make_referral(received_on=date(2026, 11, 16))
    return await stack.referral(event), event.child_subject_id


async def test_a_closure_forged_in_the_projection_is_not_disposed_of_and_is_reported_held(stack, infra, make_referral):
    case_id, _ = await open_case(stack, make_referral)
    other_id, _, _ = await closed_case(stack, make_referral)
    runtime = await asyncpg.connect(plain(stack.database_url))  # the running service's login, as an attacker
    try:
        await runtime.execute("UPDATE cases SET status = 'closed', closed_on = '2018-01-02' WHERE case_id = $1", case_id)
        # and a genuinely closed case whose projected closure day is moved back
        await runtime.execute("UPDATE cases SET closed_on = '2018-01-02' WHERE case_id = $1", uuid.UUID(other_id))
    finally:
        await runtime.close()
    report = await dispose(stack, infra, as_of=date(2026, 12, 1))
    assert report.disposed == []
    assert sorted((r.record_id, r.held_by) for r in report.held) == sorted(
        [(str(case_id), [MISMATCH_HOLD]), (other_id, [MISMATCH_HOLD])])
    async with as_owner(stack, infra) as conn:
        assert (await rows_about(conn, str(case_id)))["case_history"] > 0
        assert (await rows_about(conn, other_id))["case_history"] > 0
        assert await conn.fetchval("SELECT count(*) FROM disposal_tombstones") == 0


async def test_a_backdated_closure_written_into_the_history_by_the_runtime_login_is_not_disposed_of(
        stack, infra, make_referral):
    case_id, child = await open_case(stack, make_referral)
    runtime = await asyncpg.connect(plain(stack.database_url))
    try:
        # A closure dated before the case opened, claiming to have been written in 2018 too.
        await runtime.execute(
            "INSERT INTO case_history (case_id, child_subject_id, kind, actor, reason, effective_on, category, source, "
            "detail, recorded_at) VALUES ($1, $2, 'case_closed', 'officer:x', 'x', '2018-01-02', 'education', 'x', "
            "$3::jsonb, '2018-01-02T12:00:00Z')", case_id, child,
            json.dumps({"closure_reason": "on_roll_elsewhere", "evidence": {}}))
        await runtime.execute("UPDATE cases SET status = 'closed', closed_on = '2018-01-02' WHERE case_id = $1", case_id)
        # The database, not the writer, says when an entry was written.
        written = await runtime.fetchval("SELECT max(recorded_at) FROM case_history WHERE case_id = $1", case_id)
    finally:
        await runtime.close()
    assert written.date() >= stack.runtime.clock.today() - relativedelta(days=1)
    report = await dispose(stack, infra, as_of=date(2026, 12, 1))
    assert report.disposed == [] and [(r.record_id, r.held_by) for r in report.held] == [(str(case_id), [MISMATCH_HOLD])]
    async with as_owner(stack, infra) as conn:
        assert (await rows_about(conn, str(case_id)))["cases"] == 1


async def test_disposal_removes_every_outbox_row_about_the_case_sent_or_not_quarantined_or_not(
        stack, infra, make_referral):
    case_id, child, intake_id = await closed_case(stack, make_referral)
    reply_topic = stack.topics(topics.replies_of("casework"))
    async with as_owner(stack, infra) as conn:
        insert = ("INSERT INTO outbox (event_id, topic, key, payload, aggregate_type, aggregate_id, event_type, "
                  "published_at, quarantined_at, quarantine_reason) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)")
        now = datetime.now(UTC)
        about = json.dumps({"items": [{"record_id": case_id, "subject_id": child}]}).encode()
        # a published data-collection reply, an unsent one (quarantined so the relay leaves it), a
        # quarantined case event, and a reply about someone else
        await conn.execute(insert, uuid.uuid4(), reply_topic, b"k", about, "rights_reply", str(uuid.uuid4()),
                           "DataCollectionReply", now, None, None)
        await conn.execute(insert, uuid.uuid4(), reply_topic, b"k", about, "rights_reply", str(uuid.uuid4()),
                           "DataCollectionReply", None, now, "too_large")
        await conn.execute(insert, uuid.uuid4(), stack.topics(topics.CASE_EVENTS), b"k",
                           json.dumps({"intake_id": intake_id}).encode(), "dead_letter", "p-1", "CaseChanged",
                           None, now, "refused:x")
        stranger = uuid.uuid4()
        await conn.execute(insert, stranger, reply_topic, b"k", json.dumps({"record_id": str(uuid.uuid4())}).encode(),
                           "rights_reply", str(uuid.uuid4()), "DataCollectionReply", now, None, None)
        assert await conn.fetchval("SELECT count(*) FROM outbox WHERE payload LIKE $1",
                                   f"%{case_id}%".encode()) >= 2
    report = await dispose(stack, infra)
    assert [r.record_id for r in report.disposed] == [case_id]
    async with as_owner(stack, infra) as conn:
        for needle in (case_id, child, intake_id):
            left = await conn.fetch("SELECT topic FROM outbox WHERE payload LIKE $1", f"%{needle}%".encode())
            # only casework's own RecordsDisposed names them (ids, codes and dates), for the others to act on
            assert all(r["topic"].endswith(topics.RETENTION_DISPOSALS) for r in left), left
        assert await conn.fetchval("SELECT count(*) FROM outbox WHERE event_id = $1", stranger) == 1
        assert await conn.fetchval("SELECT count(*) FROM outbox WHERE aggregate_type IN ('case', 'share')") == 0


async def test_entries_a_record_without_a_case_gets_after_its_tombstone_go_under_the_same_tombstone(
        stack, infra, make_referral):
    event = make_referral(kind="new_pupil_registered", received_on=date(2026, 11, 16))
    assert await stack.referral(event) is None
    due = stack.runtime.clock.today() + relativedelta(years=7)
    assert [r.record_id for r in (await dispose(stack, infra, as_of=due)).disposed] == [str(event.intake_id)]
    # The same referral arrives again later (a replay, a released hold): recorded again, with no case.
    assert await stack.referral(event) is None
    async with as_owner(stack, infra) as conn:
        assert await conn.fetchval("SELECT count(*) FROM case_history WHERE child_subject_id = $1",
                                   event.child_subject_id) > 0
    # Its later entries fall due on their own day (here the same: recorded today again), and go.
    report = await dispose(stack, infra, as_of=due)
    assert [r.record_id for r in report.disposed] == [str(event.intake_id)]
    async with as_owner(stack, infra) as conn:
        assert await conn.fetchval("SELECT count(*) FROM case_history WHERE child_subject_id = $1",
                                   event.child_subject_id) == 0
        assert len(await tombstones(conn, str(event.intake_id))) == 1
        assert await conn.fetchval("SELECT count(*) FROM outbox WHERE topic LIKE '%retention.disposals%'") == 1
    assert (await dispose(stack, infra, as_of=due)).disposed == []


async def test_a_hold_placed_in_casework_is_sent_to_the_other_services_and_its_lifting_too(stack, infra, make_referral):
    case_id, _, _ = await closed_case(stack, make_referral)
    async with TopicReader(stack.settings.kafka_connection(), stack.topics(topics.LEGAL_HOLDS)) as holds:
        placed = await stack.client.post("/legal-holds", headers=records_officer(stack), json={
            "scope": "case", "target_id": case_id, "reason": "a claim (synthetic)"})
        assert placed.status_code == 201, placed.text
        hold_id = placed.json()["hold_id"]
        lifted = await stack.client.post(f"/legal-holds/{hold_id}/lift", headers=records_officer(stack),
                                         json={"reason": "settled"})
        assert lifted.status_code == 200, lifted.text
        records = await holds.wait_for(lambda rs: len(rs) >= 2, timeout=30)
    events = [json.loads(r.value) for r in records]
    assert [(e["service"], e["hold_id"], e["change"], e["scope"], e["target_id"]) for e in events] == [
        ("casework", hold_id, "placed", "case", case_id), ("casework", hold_id, "lifted", "case", case_id)]
    assert all(b"synthetic" not in r.value and b"settled" not in r.value for r in records)  # the reason stays here
    # casework's own events came back to it and changed nothing: the hold is lifted, once
    everything = (await stack.client.get("/legal-holds", params={"in_force": "false"},
                                         headers=records_officer(stack))).json()
    assert [(h["hold_id"], h["lift_reason"]) for h in everything] == [(hold_id, "settled")]


async def send_hold(stack, event: LegalHoldChanged, signer: str) -> None:
    value, key = event.model_dump_json().encode(), str(event.hold_id).encode()
    await produce(stack.settings.kafka_connection(), stack.topics(topics.LEGAL_HOLDS), value, key=key,
                  headers=signed_headers(topics.LEGAL_HOLDS, value, key, [("event_id", str(event.event_id).encode())],
                                         signer=signer))


async def test_a_hold_placed_in_another_service_reaches_casework_over_the_broker_and_keeps_the_record(
        stack, infra, make_referral):
    case_id, child, _ = await closed_case(stack, make_referral)
    hold_id, now = uuid.uuid4(), datetime.now(UTC)
    placed = LegalHoldChanged(event_id=uuid.uuid4(), occurred_at=now, service="rights", hold_id=hold_id,
                              change="placed", scope="subject", target_id=child, by="dpo:dpo-9", at=now)
    await send_hold(stack, placed, "rights")

    async def mirrored(in_force: bool) -> bool:
        listed = (await stack.client.get("/legal-holds", params={"in_force": "false"},
                                         headers=records_officer(stack))).json()
        return [(h["hold_id"], h["lifted_at"] is None) for h in listed] == [(str(hold_id), in_force)]

    await eventually(lambda: mirrored(True))
    report = await dispose(stack, infra)
    assert report.disposed == [] and [(r.record_id, r.held_by) for r in report.held] == [(case_id, [hold_id])]

    lifted = placed.model_copy(update={"event_id": uuid.uuid4(), "change": "lifted", "at": datetime.now(UTC)})
    await send_hold(stack, lifted, "rights")
    await eventually(lambda: mirrored(False))
    assert [r.record_id for r in (await dispose(stack, infra)).disposed] == [case_id]


async def test_an_ehe_record_closed_only_in_its_projection_is_not_disposed_of_and_is_reported_held(stack, infra):
    """C1 for elective home education records: the closure is the history's (ehe.fold), not the row's."""
    officer = stack.headers("officer", sub="officer-ana", borough="westminster")
    made = await stack.client.post("/ehe-records/notices", headers=officer, json={
        "child_subject_id": str(uuid.uuid4()), "borough": "westminster", "notice_on": "2026-11-02"})
    assert made.status_code == 201, made.text
    ehe_id = made.json()["record"]["ehe_id"]
    runtime = await asyncpg.connect(plain(stack.database_url))
    try:
        await runtime.execute("UPDATE ehe_records SET status = 'closed', closed_on = '2018-01-02' WHERE ehe_id = $1",
                              uuid.UUID(ehe_id))
    finally:
        await runtime.close()
    report = await dispose(stack, infra, as_of=date(2026, 12, 1))
    assert report.disposed == [] and [(r.record_id, r.held_by) for r in report.held] == [(ehe_id, [MISMATCH_HOLD])]
    async with as_owner(stack, infra) as conn:
        assert await conn.fetchval("SELECT count(*) FROM ehe_history WHERE ehe_id = $1", uuid.UUID(ehe_id)) > 0
