"""Retention in disclosure on the real broker and PostgreSQL (issue 14, item 1): a disposal notice from
another service becomes one leaf; the disposal job, on its own login, disposes of the disclosures that fell
due with a case (content gone, tombstone kept, the log still verifies and an earlier proof still holds);
legal holds keep records; the access pack says what was disposed of and when.

Sources: DOMAIN section 3 (retention, legal hold, tombstone); UK GDPR Art 5(1)(e); LGA 1972 s224 and the
FOI Act s46 Code (what was destroyed, when, under what authority); DOMAIN section 4 (the log is
append-only and a direct edit in the database must be detected).
"""

import base64
import json
import uuid
from datetime import UTC, date, datetime
from urllib.parse import urlsplit

import asyncpg
import pytest

from cme_disclosure import verifier
from cme_disclosure.__main__ import check_log
from cme_disclosure.domain.tree_head import SignedTreeHead
from cme_disclosure.entrypoints.disposal_job import run_dispose, run_purge
from cme_shared.contracts import topics
from cme_shared.contracts.retention import LegalHoldChanged, RecordsDisposed, RecordType
from cme_shared.contracts.rights import DataCollectionReply, DataCollectionRequest, SubjectRestricted
from cme_shared.refusal import Refusal
from cme_shared.retention import DEFAULT_SCHEDULE
from cme_shared.testing.kafka import TopicReader, eventually

from .conftest import plain_dsn
from .test_disclosures_integration import APPROVE, police_request, send

pytestmark = pytest.mark.integration

CLOSED = date(2026, 12, 31)  # the cases close at the end of the month the shares are made in
DUE = date(2033, 12, 31)  # 7 years on (rule disclosure.7y)
# When the upstream services disposed of the cases (the tests run their jobs dated then): never before the closure.
DISPOSED_AT = datetime(2033, 12, 31, 23, 0, tzinfo=UTC)


def notice(*subjects: uuid.UUID, closed: date = CLOSED, service: str = "casework",
           record_type: RecordType = RecordType.CASE) -> RecordsDisposed:
    return RecordsDisposed(event_id=uuid.uuid4(), occurred_at=datetime.now(UTC), service=service,
                           schedule_id="cme-default-2026", rule_id="case.7y", record_type=record_type,
                           record_ids=[str(uuid.uuid4())], subject_ids=list(subjects), case_ids=[uuid.uuid4()],
                           related_record_ids={RecordType.REFERRAL: ["intake-ref-1"]}, clock_started_on=closed,
                           disposed_at=DISPOSED_AT, run_id=uuid.uuid4())


def gone(*subjects: uuid.UUID, closed: date = CLOSED, case_id: uuid.UUID | None = None) -> list[RecordsDisposed]:
    """What casework and intake send once the subjects' last case is disposed of: the case, then each identity
    (intake's, after every referral naming them): only then do their shares fall due."""
    case = notice(*subjects, closed=closed)
    if case_id is not None:
        case = case.model_copy(update={"case_ids": [case_id]})
    return [case, *(notice(s, closed=closed, service="intake", record_type=RecordType.IDENTITY) for s in subjects)]


async def tell(infra, namespace, superuser, events: list[RecordsDisposed]) -> None:
    for e in events:
        await send(infra, namespace, topics.RETENTION_DISPOSALS, e, key=str(e.run_id), signer=e.service)
    await eventually(lambda: _both(superuser, *(e.event_id for e in events)))


def disposal_url(infra, db_url: str) -> str:
    return infra.disposal_url("disclosure", urlsplit(db_url).path.lstrip("/"))


async def shared(client, token, subject: uuid.UUID) -> str:
    did = (await client.post("/disclosures", json=police_request(subject),
                             headers=token("officer", sub="olu", borough="westminster"))).json()["disclosure_id"]
    decided = await client.post(f"/disclosures/{did}/decision", json=APPROVE, headers=token("manager", sub="mo"))
    assert decided.json()["status"] == "shared"
    return did


async def notices(superuser) -> dict[uuid.UUID, int]:
    return {r["event_id"]: r["leaf_index"] for r in await superuser.fetch("SELECT event_id, leaf_index FROM disposal_notices")}


async def log_ok(settings):
    """verify-log as `make verify-log` runs it (the heads published on Kafka too), once the relay has sent
    every head (the disposal job's are sent by the running service's relay)."""
    async def ok():
        report = await check_log(settings, kafka=True, kafka_timeout=10, publish_grace=0)
        return report if report.ok else None
    return await eventually(ok, timeout=30, interval=1)


async def test_a_disposal_notice_is_one_leaf_once_and_verify_log_checks_it(client, token, settings, infra, namespace,
                                                                         superuser):
    child = uuid.uuid4()
    await shared(client, token, child)
    event = notice(child)
    await send(infra, namespace, topics.RETENTION_DISPOSALS, event, key=str(event.run_id), signer="casework")
    await send(infra, namespace, topics.RETENTION_DISPOSALS, event, key=str(event.run_id), signer="casework")
    # A service speaking of another's disposal (intake's key, casework's name) is not taken.
    forged = notice(child)
    await send(infra, namespace, topics.RETENTION_DISPOSALS, forged, key="k", signer="intake")
    later = notice(uuid.uuid4(), service="intake", record_type=RecordType.IDENTITY)
    await send(infra, namespace, topics.RETENTION_DISPOSALS, later, key="k", signer="intake")
    found = await eventually(lambda: _both(superuser, event.event_id, later.event_id))
    assert forged.event_id not in found and len(found) == 2
    leaf = json.loads(await superuser.fetchval("SELECT leaf FROM log_leaves WHERE leaf_index = $1", found[event.event_id]))
    assert leaf["kind"] == "records_disposed" and leaf["record_id"] == str(event.event_id)
    assert (leaf["facts"]["service"], leaf["facts"]["record_type"], leaf["facts"]["clock_started_on"]) == (
        "casework", "case", CLOSED.isoformat())
    assert str(child) not in json.dumps(leaf)  # the subject is only in the purgeable payload
    report = await log_ok(settings)
    assert report.disposal_leaves == 2

    # A notice changed in the database (an earlier closure, to make records fall due early) is found...
    async with superuser.transaction():
        await superuser.execute("SET LOCAL session_replication_role = replica")  # past the append-only trigger
        await superuser.execute("UPDATE disposal_notices SET clock_started_on = '2001-01-01' WHERE event_id = $1",
                                event.event_id)
    report = await check_log(settings, kafka=False)
    assert [str(p) for p in report.problems] == [
        f"leaf {found[event.event_id]}: disposal notice {event.event_id}: its row's clock_started_on is not what the "
        "leaf records"]
    # ...and so is the leaf itself rewritten to match.
    async with superuser.transaction():
        await superuser.execute("SET LOCAL session_replication_role = replica")
        await superuser.execute("UPDATE log_leaves SET leaf = convert_to(replace(convert_from(leaf, 'UTF8'), $2, '2001-01-01'), 'UTF8') "
                                "WHERE leaf_index = $1", found[event.event_id], CLOSED.isoformat())
    report = await check_log(settings, kafka=False)
    assert report.first_bad_leaf == found[event.event_id]
    assert any("do not hash to the node stored" in str(p) for p in report.problems)


async def _both(superuser, *event_ids: uuid.UUID) -> dict[uuid.UUID, int] | None:
    found = await notices(superuser)
    return found if set(event_ids) <= set(found) else None


async def test_the_disposal_job_disposes_of_what_fell_due_with_the_case_and_keeps_what_a_hold_or_time_keeps(
        client, token, settings, infra, namespace, superuser, db_url):
    due_child, held_child, later_child = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    due, held, later = [await shared(client, token, s) for s in (due_child, held_child, later_child)]
    records_officer = token("records_officer", sub="rita")
    hold = (await client.post("/legal-holds", json={"scope": "subject", "target_id": str(held_child),
                                                    "reason": "claim against the council"}, headers=records_officer))
    assert hold.status_code == 201 and hold.json()["placed_by"] == "rita"
    # A receipt fetched before the disposal: the share's leaf, its proof and the head it proves to.
    head_before = (await client.get("/log/tree-head")).json()
    key_body = (await client.get("/log/public-key")).json()
    receipt_leaf = (await client.get(f"/disclosures/{due}", headers=token("dpo"))).json()["log"][-1]["leaf_index"]
    receipt = (await client.get("/log/proofs/inclusion", params={"leaf_index": receipt_leaf,
                                                                 "tree_size": head_before["tree_size"]},
                                headers=token("auditor"))).json()

    await tell(infra, namespace, superuser, [*gone(due_child, held_child), *gone(later_child, closed=date(2028, 8, 31))])

    report = (await client.get("/retention/report", params={"as_of": "2034-01-01"}, headers=records_officer)).json()
    assert [(r["record_id"], r["rule_id"], r["due_on"]) for r in report["disposed"]] == [(due, "disclosure.7y", DUE.isoformat())]
    assert [(r["record_id"], r["held_by"]) for r in report["held"]] == [(held, [hold.json()["hold_id"]])]
    assert (await client.get("/retention/report", params={"as_of": "2033-12-30"}, headers=records_officer)).json()["disposed"] == []

    # An access request answered before the disposal: the published reply quoting the share is kept by the
    # outbox (SEC-18) until the share is disposed of.
    before = await _collect(infra, namespace, due_child)
    assert [i.record_id for i in before.items if i.record_type == "disclosure"] == [due]
    quoting = ("SELECT count(*) FROM outbox WHERE aggregate_type = 'rights_reply' AND published_at IS NOT NULL "
               "AND position(convert_to($1, 'UTF8') IN payload) > 0")
    assert await eventually(lambda: superuser.fetchval(quoting, due)) == 1

    url = disposal_url(infra, db_url)
    counts = await _counts(superuser)
    dry = await run_dispose(settings, as_of=date(2034, 1, 1), dry_run=True, database_url=url)
    assert [r.record_id for r in dry.disposed] == [due] and await _counts(superuser) == counts  # nothing changed

    run = await run_dispose(settings, as_of=date(2034, 1, 1), database_url=url)
    assert [r.record_id for r in run.disposed] == [due] and [r.record_id for r in run.held] == [held]
    # The content is gone, as the owner of the tables sees it; the tombstone stays.
    did = uuid.UUID(due)
    assert await superuser.fetchval("SELECT count(*) FROM leaf_payloads p JOIN disclosure_leaves l USING (leaf_index) "
                                    "WHERE l.disclosure_id = $1 AND l.kind <> 'payloads_purged' "
                                    "AND p.payload IS NOT NULL", did) == 0
    row = await superuser.fetchrow("SELECT * FROM disclosures WHERE disclosure_id = $1", did)
    assert (row["reason"], row["reference"], row["requested_by"], row["decided_by"], row["decider_name"]) == (None,) * 5
    assert json.loads(row["recipient"]) == {"type": "police", "org_id": "MPS", "org_name": "Metropolitan Police Service"}
    assert await superuser.fetchval("SELECT count(*) FROM disclosure_subjects WHERE disclosure_id = $1", did) == 0
    assert await superuser.fetchval(quoting, due) == 0  # the published copy went with it
    tomb = await superuser.fetchrow("SELECT * FROM disposal_tombstones")
    assert (tomb["record_type"], tomb["record_id"], tomb["rule_id"], tomb["clock_started_on"], tomb["due_on"],
            tomb["reason"], tomb["subject_ids"]) == ("disclosure", due, "disclosure.7y", CLOSED, DUE, "schedule",
                                                     [due_child])
    for kept in (held, later):
        assert await superuser.fetchval("SELECT requested_by FROM disclosures WHERE disclosure_id = $1",
                                        uuid.UUID(kept)) == "olu"
    assert await superuser.fetchval("SELECT count(*) FROM leaf_payloads WHERE payload IS NULL") == 3

    # A rerun disposes of nothing twice.
    assert (await run_dispose(settings, as_of=date(2034, 1, 1), database_url=url)).disposed == []
    assert await superuser.fetchval("SELECT count(*) FROM disposal_tombstones") == 1

    # The log still verifies (published heads included), the receipt from before still holds, and the
    # new head is consistent with the old one.
    await log_ok(settings)
    head_after = (await client.get("/log/tree-head")).json()
    keys = verifier.public_keys(json.dumps(key_body))
    verdict = verifier.check_inclusion(SignedTreeHead.from_json(head_before), keys, base64.b64decode(receipt["leaf"]),
                                       receipt_leaf, [bytes.fromhex(h) for h in receipt["proof"]])
    assert verdict.ok, verdict.problems
    consistency = (await client.get("/log/proofs/consistency", params={
        "first": head_before["tree_size"], "second": head_after["tree_size"]}, headers=token("auditor"))).json()
    verdict = verifier.check_consistency(SignedTreeHead.from_json(head_before), SignedTreeHead.from_json(head_after),
                                         keys, [bytes.fromhex(h) for h in consistency["proof"]])
    assert verdict.ok, verdict.problems

    # Disclosure tells the others (its own RecordsDisposed, sent by the running service's relay) and logs it.
    async def own_notice():
        rows = await superuser.fetch("SELECT record_ids FROM disposal_notices WHERE service = 'disclosure'")
        return rows or None
    assert [r["record_ids"] for r in await eventually(own_notice)] == [[due]]

    # The access pack: what was disposed of, when, under which rule, and to whom it had been shared.
    answer = await _collect(infra, namespace, due_child)
    [item] = [i for i in answer.items if i.record_type == "disposed_record"]
    assert (item.record_id, item.data["rule_id"], item.data["disposed_record_type"]) == (due, "disclosure.7y", "disclosure")
    assert item.data["rule"] == DEFAULT_SCHEDULE.rule_for(RecordType.DISCLOSURE).description
    assert item.recipient == {"type": "police", "org_id": "MPS", "org_name": "Metropolitan Police Service"}
    assert not [i for i in answer.items if i.record_type == "disclosure"]  # the share itself is gone

    # The hold lifted, the held record goes at the next run; purge-disclosure honours holds the same way.
    lifted = await client.post(f"/legal-holds/{hold.json()['hold_id']}/lift", json={"reason": "claim settled"},
                               headers=token("dpo", sub="dee"))
    assert lifted.status_code == 200 and lifted.json()["lifted_by"] == "dee"
    assert (await client.post(f"/legal-holds/{hold.json()['hold_id']}/lift", json={"reason": "again"},
                              headers=records_officer)).status_code == 409
    assert [r.record_id for r in (await run_dispose(settings, as_of=date(2034, 1, 1), database_url=url)).disposed] == [held]
    record_hold = await client.post("/legal-holds", json={"scope": "record", "target_id": later, "reason": "FOI review"},
                                    headers=records_officer)
    assert record_hold.json()["target_id"] == f"disclosure:{later}"
    with pytest.raises(Refusal) as refused:
        await run_purge(settings, uuid.UUID(later), "made_in_error", operator="rita", approved_by="dee", database_url=url)
    assert refused.value.code == "legal_hold"
    assert await superuser.fetchval("SELECT purged_at FROM disclosures WHERE disclosure_id = $1", uuid.UUID(later)) is None
    assert [h["hold_id"] for h in (await client.get("/legal-holds", headers=records_officer)).json()] == [
        record_hold.json()["hold_id"]]
    assert len((await client.get("/legal-holds", params={"lifted": "true"}, headers=records_officer)).json()) == 2
    await log_ok(settings)


async def _collect(infra, namespace, subject: uuid.UUID) -> DataCollectionReply:
    """Disclosure's answer to an access request's data collection for `subject` (one chunk here)."""
    collection_id = uuid.uuid4()
    async with TopicReader(infra.kafka, namespace(topics.replies_of("disclosure"))) as replies:
        await send(infra, namespace, topics.DATA_COLLECTION_REQUESTS, DataCollectionRequest(
            event_id=uuid.uuid4(), occurred_at=datetime.now(UTC), collection_id=collection_id,
            rights_request_id=uuid.uuid4(), subject_ids=[subject]), key=str(collection_id))
        records = await replies.wait_for(lambda rs: any(
            DataCollectionReply.model_validate_json(r.value).collection_id == collection_id for r in rs))
    [answer] = [DataCollectionReply.model_validate_json(r.value) for r in records
                if DataCollectionReply.model_validate_json(r.value).collection_id == collection_id]
    return answer


async def _counts(superuser) -> tuple:
    return tuple([await superuser.fetchval(f"SELECT count(*) FROM {t}") for t in
                  ("log_leaves", "disposal_tombstones", "outbox")]
                 + [await superuser.fetchval("SELECT count(*) FROM leaf_payloads WHERE payload IS NULL")])


async def test_a_schedule_file_changes_what_falls_due(client, token, settings, infra, namespace, superuser, db_url,
                                                      tmp_path):
    child = uuid.uuid4()
    did = await shared(client, token, child)
    await tell(infra, namespace, superuser, gone(child))
    rules = [r.model_dump(mode="json") for r in DEFAULT_SCHEDULE.rules if r.record_type is not RecordType.DISCLOSURE]
    rules.append({"rule_id": "disclosure.10y", "record_type": "disclosure", "starts": "case_closed", "years": 10,
                  "description": "a share: 10 years after the case is closed"})
    path = tmp_path / "schedule.json"
    path.write_text(json.dumps({"schedule_id": "council-2027", "rules": rules}))
    longer = settings.model_copy(update={"retention_schedule_file": path})
    url = disposal_url(infra, db_url)
    assert (await run_dispose(longer, as_of=date(2034, 1, 1), database_url=url)).disposed == []
    run = await run_dispose(longer, as_of=date(2036, 12, 31), database_url=url)
    assert [(r.record_id, r.rule_id) for r in run.disposed] == [(did, "disclosure.10y")] and run.schedule_id == "council-2027"
    assert await superuser.fetchval("SELECT schedule_id FROM disposal_tombstones") == "council-2027"


async def test_only_the_disposal_login_may_empty_a_payload(client, token, infra, db_url, superuser):
    await shared(client, token, uuid.uuid4())
    runtime = await asyncpg.connect(plain_dsn(db_url))
    disposal = await asyncpg.connect(plain_dsn(disposal_url(infra, db_url)))
    try:
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await runtime.execute("UPDATE leaf_payloads SET payload = NULL")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await runtime.execute("DELETE FROM leaf_payloads")
        tried = disposal.transaction()
        await tried.start()
        assert await disposal.execute("UPDATE leaf_payloads SET payload = NULL") == "UPDATE 3"
        await tried.rollback()
        # ...the disposal login removes content, never the log itself, nor a tombstone.
        for statement in ("DELETE FROM log_leaves", "UPDATE log_leaves SET leaf = leaf", "DELETE FROM tree_heads",
                          "DELETE FROM disposal_tombstones", "DELETE FROM disclosures", "TRUNCATE leaf_payloads"):
            with pytest.raises(asyncpg.PostgresError):
                await disposal.execute(statement)
    finally:
        await runtime.close()
        await disposal.close()


def reasons(record) -> list[str]:
    return [p["code"] for p in json.loads(dict(record.headers)["x-dlq-reasons"])]


async def test_a_disposal_from_a_service_that_does_not_own_the_record_type_is_dead_lettered(
        client, token, infra, namespace, superuser):
    """M2: intake may announce its own disposals (referrals, identities), never a case's, nor a disclosure's."""
    child = uuid.uuid4()
    async with TopicReader(infra.kafka, namespace(topics.dlq(topics.RETENTION_DISPOSALS))) as dead:
        for record_type in (RecordType.CASE, RecordType.DISCLOSURE):
            wrong = notice(child, service="intake", record_type=record_type)
            await send(infra, namespace, topics.RETENTION_DISPOSALS, wrong, key="k", signer="intake")
        letters = await dead.wait_for(lambda rs: len(rs) >= 2)
    assert [reasons(r) for r in letters] == [["not_owner"], ["not_owner"]]
    assert await notices(superuser) == {}


async def test_a_forged_notice_a_case_hold_from_casework_and_a_restriction_each_keep_a_share(
        client, token, settings, infra, namespace, superuser, db_url):
    """C1: rows the runtime login adds to disposal_notices (it can: the table is append-only, not closed to it)
    make nothing due, since the job verifies each record's signature again with the pinned keys. H1: a hold on a
    case placed in casework reaches disclosure over the broker and keeps the shares about its subjects. Art 18:
    a restriction keeps a share as a hold does, and the report lists it as held."""
    forged_child, held_child, restricted_child = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    forged, held, restricted = [await shared(client, token, s) for s in (forged_child, held_child, restricted_child)]
    runtime = await asyncpg.connect(plain_dsn(db_url))
    try:
        for i, e in enumerate(gone(forged_child)):
            payload = e.model_dump_json().encode()
            await runtime.execute(
                "INSERT INTO disposal_notices (event_id, service, record_type, schedule_id, rule_id, run_id, record_ids,"
                " subject_ids, case_ids, clock_started_on, disposed_at, leaf_index, received_at, record_key,"
                " signed_event_id, signer, signature, payload) VALUES ($1, $2, $3, 's', 'r', $4, '{}', $5, '{}', $6,"
                " now(), $7, now(), NULL, $8, $2, $9, $10)",
                e.event_id, e.service, e.record_type.value, e.run_id, [forged_child], CLOSED, 10_000 + i,
                str(e.event_id), base64.b64encode(b"x" * 64).decode(), payload)
    finally:
        await runtime.close()
    case = uuid.uuid4()
    hold = LegalHoldChanged(event_id=uuid.uuid4(), occurred_at=datetime.now(UTC), service="casework",
                            hold_id=uuid.uuid4(), change="placed", scope="case", target_id=str(case),
                            by="carol", at=datetime.now(UTC))
    await send(infra, namespace, topics.LEGAL_HOLDS, hold, key=str(hold.hold_id), signer="casework")
    await eventually(lambda: superuser.fetchval("SELECT hold_id FROM legal_holds WHERE hold_id = $1", hold.hold_id))
    request = uuid.uuid4()
    await send(infra, namespace, topics.RIGHTS_EVENTS, SubjectRestricted(
        event_id=uuid.uuid4(), occurred_at=datetime.now(UTC), rights_request_id=request,
        subject_ids=[restricted_child], reason="accuracy contested (synthetic)"), key=str(request))
    await eventually(lambda: superuser.fetchval("SELECT subject_id FROM restrictions WHERE subject_id = $1",
                                                restricted_child))
    await tell(infra, namespace, superuser, [*gone(held_child, case_id=case), *gone(restricted_child)])

    run = await run_dispose(settings, as_of=date(2034, 1, 1), database_url=disposal_url(infra, db_url))
    assert run.disposed == []
    assert sorted((r.record_id, tuple(r.held_by)) for r in run.held) == sorted(
        [(held, (hold.hold_id,)), (restricted, (request,))])
    for kept in (forged, held, restricted):
        assert await superuser.fetchval("SELECT purged_at FROM disclosures WHERE disclosure_id = $1",
                                        uuid.UUID(kept)) is None
    with pytest.raises(Refusal) as refused:
        await run_purge(settings, uuid.UUID(restricted), "made_in_error", operator="rita", approved_by="dee",
                        database_url=disposal_url(infra, db_url))
    assert refused.value.code == "subject_restricted"
