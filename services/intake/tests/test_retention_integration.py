"""Retention and disposal in intake on the real stack (issue 14, item 1): casework's RecordsDisposed over the
broker, intake's disposal job on its own login, tombstones, legal holds, the dry run, the schedule from a file,
and a later subject access request that still finds what was disposed of.

Sources: DOMAIN section 3 (retention; at disposal the content goes, a minimal tombstone stays); UK GDPR
Art 5(1)(e) (storage limitation); LGA 1972 s224 and the FOI Act s46 Code (the record of destruction kept);
SEC-18 (a purge reaches every copy); UK GDPR Art 15 (the pack says what was disposed of and when).
"""

import json
import subprocess
import sys
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg
import pytest
from dateutil.relativedelta import relativedelta

from cme_intake.entrypoints.disposal_job import run_dispose
from cme_shared.clock import SYSTEM_CLOCK
from cme_shared.contracts import topics
from cme_shared.contracts.retention import LegalHoldChanged, RecordsDisposed, RecordType
from cme_shared.contracts.rights import (
    DataCollectionRequest,
    PersonHint,
    RestrictionLifted,
    SubjectLookup,
    SubjectRestricted,
)
from cme_shared.retention import DEFAULT_SCHEDULE
from cme_shared.testing.fixtures import bearer
from cme_shared.testing.kafka import eventually, produce
from cme_shared.testing.signing import TEST_KEYS, signed_headers

pytestmark = pytest.mark.integration

SCHOOL = "accepted-school-deletion-no-destination.json"  # Amira Haddad, 14 Mar 2016, W2 1AA; carer Leila Haddad
CONTENT_TABLES = ("referrals", "third_party_details", "held_referrals", "subject_observations", "subject_addresses",
                  "care_links", "possible_matches", "subjects", "rejected_messages")


def plain(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://")


def dbname(url: str) -> str:
    return urlsplit(url).path.lstrip("/")


@pytest.fixture
def job(make_settings, infra, intake_url):
    """Run intake's disposal job on the disposal login (`overrides`: more settings, e.g. a schedule file)."""
    async def run(as_of: date | None = None, dry_run: bool = False, **overrides):
        settings = make_settings(disposal_database_url=infra.disposal_url("intake", dbname(intake_url)), **overrides)
        return await run_dispose(settings, as_of=as_of or LATER, dry_run=dry_run)
    return run


@pytest.fixture
async def owner(infra, intake_url):
    """The database as its owner, to check what is left."""
    conn = await asyncpg.connect(plain(infra.owner_url("intake", dbname(intake_url))))
    yield conn
    await conn.close()


async def refer(intake, document: dict, org_id: str | None = "101234") -> dict:
    if org_id is None:
        answer = await intake.client.post("/public/referrals", json=document)
    else:
        answer = await intake.client.post("/referrals", json=document, headers=intake.partner(org_id))
    assert answer.status_code == 202, answer.text
    return answer.json()


# The referrals of a test are received today: their case closes today at the earliest (the job refuses a clock
# that starts before intake received the referral), and a run falls due 7 years on.
TODAY = SYSTEM_CLOCK.today()
LATER = TODAY + relativedelta(years=7, days=2)


def case_disposed(*intake_ids: str, subject_ids=(), closed: date | None = None) -> RecordsDisposed:
    """What casework sends when it disposes of a case past retention (its referrals in related_record_ids)."""
    closed = closed or TODAY
    now = datetime.now(UTC)
    case_id = uuid.uuid4()
    return RecordsDisposed(event_id=uuid.uuid4(), occurred_at=now, service="casework", schedule_id="cme-default-2026",
                           rule_id="case.7y", record_type=RecordType.CASE, record_ids=[str(case_id)],
                           subject_ids=list(subject_ids), case_ids=[case_id],
                           related_record_ids={RecordType.REFERRAL: list(intake_ids)}, clock_started_on=closed,
                           disposed_at=now, run_id=uuid.uuid4())


async def send(intake, topic: str, event, signer: str, value: bytes | None = None) -> None:
    value = value or event.model_dump_json().encode()
    await produce(intake.infra.kafka, intake.names(topic), value, key=b"k",
                  headers=signed_headers(topic, value, b"k", [("event_id", str(event.event_id).encode())],
                                         signer=signer))


async def pending(owner, intake_id: str) -> int:
    return await owner.fetchval("SELECT count(*) FROM pending_disposals WHERE intake_id = $1", uuid.UUID(intake_id))


async def counts(owner) -> dict[str, int]:
    return {t: await owner.fetchval(f"SELECT count(*) FROM {t}") for t in
            (*CONTENT_TABLES, "disposal_tombstones", "outbox", "pending_disposals", "legal_holds")}


def envelope() -> dict:
    return {"event_id": uuid.uuid4(), "occurred_at": datetime.now(UTC)}


async def ask(intake, *requests) -> dict[str, list[dict]]:
    """Rights' requests over the broker, and intake's replies by collection id."""
    async with intake.reader(topics.replies_of("intake")) as replies:
        for request in requests:
            await send(intake, topics.DATA_COLLECTION_REQUESTS, request, "rights")
        wanted = {str(r.collection_id) for r in requests}

        def answered(records) -> bool:
            done = {json.loads(r.value)["collection_id"] for r in records
                    if json.loads(r.value).get("last", True)}
            return wanted <= done
        await replies.wait_for(answered)
    by_collection: dict[str, list[dict]] = {}
    for record in replies.records:
        reply = json.loads(record.value)
        by_collection.setdefault(reply["collection_id"], []).append(reply)
    return by_collection


async def test_a_case_disposed_in_casework_reaches_intake_and_the_job_disposes_of_its_referral_and_identity(
        intake, sample, owner, job):
    first = await refer(intake, sample(SCHOOL))
    child = first["child_subject_id"]
    # Another child with the same name and date of birth elsewhere: a possible match naming the first one.
    other = sample(SCHOOL)
    other["referral_id"], other["child"]["upn"], other["child"]["nhs_number"] = "SCH-OTHER-1", None, None
    other["carers"] = []
    other["child"]["address"] = {"line1": "1 Far Road", "postcode": "N1 9GU"}
    second = await refer(intake, other)
    assert second["child_subject_id"] != child
    assert await owner.fetchval("SELECT count(*) FROM possible_matches WHERE candidate_subject_id = $1",
                                uuid.UUID(child)) == 1
    carers = await owner.fetchval("SELECT carer_subject_ids FROM referrals WHERE intake_id = $1",
                                  uuid.UUID(first["intake_id"]))

    event = case_disposed(first["intake_id"], subject_ids=[child])
    await send(intake, topics.RETENTION_DISPOSALS, event, "casework")
    await eventually(lambda: pending(owner, first["intake_id"]))
    # The running service only noted it: the referral is still all there.
    assert await owner.fetchval("SELECT count(*) FROM referrals WHERE intake_id = $1", uuid.UUID(first["intake_id"]))
    # Redelivered (the same record again): nothing changes.
    await send(intake, topics.RETENTION_DISPOSALS, event, "casework")
    await send(intake, topics.RETENTION_DISPOSALS, case_disposed(str(uuid.uuid4())), "casework")  # a marker behind it
    await eventually(lambda: owner.fetchval("SELECT count(*) = 2 FROM pending_disposals"))
    assert await pending(owner, first["intake_id"]) == 1

    async with intake.reader(topics.RETENTION_DISPOSALS) as disposals:
        report = await job()
        ours = await disposals.wait_for(lambda rs: {json.loads(r.value)["record_type"] for r in rs
                                                    if json.loads(r.value)["service"] == "intake"}
                                        >= {"referral", "identity"})
    published = [json.loads(r.value) for r in ours if json.loads(r.value)["service"] == "intake"]
    signers = {dict(r.headers).get("x-cme-signer") for r in ours if json.loads(r.value)["service"] == "intake"}
    assert signers <= {b"intake", None}
    [referral_event] = [e for e in published if e["record_type"] == "referral"]
    assert referral_event["record_ids"] == [first["intake_id"]] and referral_event["rule_id"] == "referral.7y"
    assert referral_event["clock_started_on"] == TODAY.isoformat() and referral_event["case_ids"] == event.model_dump(
        mode="json")["case_ids"]
    [identity_event] = [e for e in published if e["record_type"] == "identity"]
    assert set(identity_event["record_ids"]) == {child, *map(str, carers)}
    assert {r.record_id for r in report.disposed} == {first["intake_id"], child, *map(str, carers)}

    # The content is gone from every table; the second child's referral and identity are untouched.
    gone = uuid.UUID(first["intake_id"])
    for table in ("referrals", "subject_observations", "subject_addresses", "care_links", "third_party_details"):
        assert await owner.fetchval(f"SELECT count(*) FROM {table} WHERE intake_id = $1", gone) == 0, table
    assert await owner.fetchval("SELECT count(*) FROM subjects WHERE subject_id = ANY($1::uuid[])",
                                [uuid.UUID(child), *carers]) == 0
    assert await owner.fetchval("SELECT count(*) FROM possible_matches WHERE candidate_subject_id = $1 "
                                "OR subject_id = $1", uuid.UUID(child)) == 0
    assert await owner.fetchval("SELECT count(*) FROM referrals WHERE intake_id = $1", uuid.UUID(second["intake_id"]))
    # No outbox row names it any more but the disposal events (its outcome, its ReferralAccepted are gone).
    assert await owner.fetchval("SELECT count(*) FROM outbox WHERE position($1::bytea IN payload) > 0 "
                                "AND topic <> $2", first["intake_id"].encode(),
                                intake.names(topics.RETENTION_DISPOSALS)) == 0
    # One tombstone per record, ids and codes only; the child's keep digests, never the identifiers.
    stones = await owner.fetch("SELECT * FROM disposal_tombstones ORDER BY id")
    assert {(s["record_type"], s["record_id"]) for s in stones} == {
        ("referral", first["intake_id"]), ("identity", child), *{("identity", str(c)) for c in carers}}
    referral_stone = next(s for s in stones if s["record_type"] == "referral")
    assert referral_stone["reason"] == "fan_out:casework" and referral_stone["case_ids"] == event.case_ids
    assert referral_stone["subject_digests"] and "haddad" not in json.dumps([dict(s) for s in stones], default=str).lower()
    assert await owner.fetchval("SELECT count(*) FROM pending_disposals WHERE intake_id = $1 AND done_at IS NOT NULL",
                                gone) == 1

    # A rerun disposes of nothing twice.
    before = await counts(owner)
    again = await job()
    assert again.disposed == [] and await counts(owner) == before

    # Rights asks later: the disposed child is still found by name and date of birth (and postcode), by the
    # digest, under the old subject id; the data collection answer says what was disposed of and when.
    by_all = SubjectLookup(**envelope(), collection_id=uuid.uuid4(), person=PersonHint(
        first_name="AMIRA", last_name="haddad", date_of_birth="2016-03-14", postcode="w2 1aa"))
    by_dob = SubjectLookup(**envelope(), collection_id=uuid.uuid4(), person=PersonHint(
        first_name="Amira", last_name="Haddad", date_of_birth="2016-03-14"))
    answers = await ask(intake, by_all, by_dob)
    [full] = answers[str(by_all.collection_id)]
    assert {"subject_id": child, "subject_type": "child", "match": "name_dob_postcode", "boroughs": []} in full["matches"]
    [dob_only] = answers[str(by_dob.collection_id)]
    assert {"subject_id": child, "subject_type": "child", "match": "possible", "boroughs": []} in dob_only["matches"]
    collect = DataCollectionRequest(**envelope(), collection_id=uuid.uuid4(), rights_request_id=uuid.uuid4(),
                                    subject_ids=[uuid.UUID(child)])
    chunks = (await ask(intake, collect))[str(collect.collection_id)]
    items = [i for c in chunks for i in c["items"]]
    assert {i["record_type"] for i in items} == {"disposed_record"}
    assert {(i["data"]["disposed_record_type"], i["data"]["rule_id"]) for i in items} == {
        ("referral", "referral.7y"), ("identity", "identity.7y")}
    assert all(i["data"]["rule"] and i["data"]["disposed_at"] for i in items)
    assert "Amira" not in json.dumps(chunks)


async def test_a_child_with_another_live_referral_keeps_their_identity_and_is_told_of_the_disposed_one(
        intake, sample, owner, job):
    first = await refer(intake, sample(SCHOOL))
    later = sample(SCHOOL)
    later["referral_id"] = "SCH-LATER-1"
    second = await refer(intake, later)
    child = first["child_subject_id"]
    assert second["child_subject_id"] == child
    await send(intake, topics.RETENTION_DISPOSALS, case_disposed(first["intake_id"], subject_ids=[child]), "casework")
    await eventually(lambda: pending(owner, first["intake_id"]))

    report = await job()
    assert [(r.record_type, r.record_id) for r in report.disposed] == [("referral", first["intake_id"])]
    assert await owner.fetchval("SELECT count(*) FROM referrals") == 1
    assert await owner.fetchval("SELECT count(*) FROM subjects WHERE subject_id = $1", uuid.UUID(child)) == 1
    # What the later referral said of the child stays; what the disposed one said is gone.
    assert await owner.fetchval("SELECT array_agg(DISTINCT intake_id) FROM subject_observations WHERE subject_id = $1",
                                uuid.UUID(child)) == [uuid.UUID(second["intake_id"])]

    collect = DataCollectionRequest(**envelope(), collection_id=uuid.uuid4(), rights_request_id=uuid.uuid4(),
                                    subject_ids=[uuid.UUID(child)])
    items = [i for c in (await ask(intake, collect))[str(collect.collection_id)] for i in c["items"]]
    assert {i["record_id"] for i in items if i["record_type"] == "referral"} == {second["intake_id"]}
    [stone] = [i for i in items if i["record_type"] == "disposed_record"]
    assert stone["record_id"] == first["intake_id"] and stone["data"]["disposed_record_type"] == "referral"


async def test_a_legal_hold_keeps_the_referral_the_dry_run_lists_it_and_lifting_it_lets_it_go(
        intake, sample, owner, job):
    first = await refer(intake, sample(SCHOOL))
    child = first["child_subject_id"]
    await send(intake, topics.RETENTION_DISPOSALS, case_disposed(first["intake_id"], subject_ids=[child]), "casework")
    await eventually(lambda: pending(owner, first["intake_id"]))
    officer = bearer(intake.settings, "records_officer", sub="records-officer-1")
    bad = await intake.client.post("/legal-holds", headers=officer, json={
        "scope": "record", "target_id": "case:whatever", "reason": "litigation"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["loc"] == ["body", "target_id"], bad.text
    placed = await intake.client.post("/legal-holds", headers=officer, json={
        "scope": "subject", "target_id": child, "reason": "litigation"})
    assert placed.status_code == 201, placed.text
    hold = uuid.UUID(placed.json()["hold_id"])
    assert placed.json()["placed_by"] == "records_officer:records-officer-1"

    before = await counts(owner)
    dry = await job(dry_run=True)
    assert dry.dry_run and dry.disposed == []
    assert [(r.record_type, r.record_id, r.held_by) for r in dry.held] == [("referral", first["intake_id"], [hold])]
    assert await counts(owner) == before  # the dry run changed nothing
    shown = await intake.client.get(f"/retention/report?as_of={LATER}", headers=officer)  # from the running service
    assert shown.status_code == 200 and [r["record_id"] for r in shown.json()["held"]] == [first["intake_id"]]
    assert shown.json()["disposed"] == [] and await counts(owner) == before
    kept = await job()
    assert kept.disposed == [] and [r.record_id for r in kept.held] == [first["intake_id"]]
    assert await counts(owner) == before

    lifted = await intake.client.post(f"/legal-holds/{hold}/lift", headers=officer, json={"reason": "settled"})
    assert lifted.status_code == 200 and lifted.json()["lift_reason"] == "settled"
    again = await intake.client.post(f"/legal-holds/{hold}/lift", headers=officer, json={"reason": "settled"})
    assert again.status_code == 409
    assert (await intake.client.get("/legal-holds", headers=officer)).json() == []
    before = await counts(owner)
    dry = await job(dry_run=True)  # the report says what the run will do, the identity included
    assert {r.record_type for r in dry.disposed} == {"referral", "identity"} and await counts(owner) == before
    done = await job()
    assert {(r.record_type, r.record_id) for r in done.disposed} == {(r.record_type, r.record_id) for r in dry.disposed}
    assert await owner.fetchval("SELECT count(*) FROM referrals") == 0


async def test_dead_letters_and_public_referrals_no_one_accepted_fall_due_from_receipt_by_the_schedule_in_force(
        intake, sample, owner, job, tmp_path):
    bad = await intake.client.post("/referrals", content=b'{"schema_version": "9"}', headers={
        **intake.partner("101234"), "Content-Type": "application/json"})
    assert bad.status_code == 422
    public = sample("accepted-public-anonymous.json")  # a neighbour who gave their name: sealed (SEC-05)
    public["source"] = {"type": "public", "anonymous": False,
                        "contact": {"name": "Pat Neighbour", "email": "pat@neighbour.example"}}
    held = await refer(intake, public, org_id=None)
    assert await owner.fetchval("SELECT count(*) FROM third_party_details") == 1
    letter = await owner.fetchval("SELECT message_id FROM rejected_messages")
    assert await owner.fetchval("SELECT count(*) FROM outbox WHERE aggregate_type = 'dead_letter'") == 1
    today = SYSTEM_CLOCK.today()

    # The default schedule: a dead letter a year from receipt, an unaccepted referral 7 years.
    assert (await job(today + timedelta(days=364), dry_run=True)).disposed == []
    report = await job(today + timedelta(days=366), dry_run=True)
    assert [(r.record_type, r.record_id, r.rule_id) for r in report.disposed] == [("dead_letter", letter, "dead-letter.1y")]
    seven = await job(today + timedelta(days=7 * 366), dry_run=True)
    assert {(r.record_type, r.rule_id) for r in seven.disposed} == {
        ("dead_letter", "dead-letter.1y"), ("referral", "referral.7y"), ("identity", "identity.7y")}

    # A schedule file (per record type): dead letters 5 days, referrals 10 days: then both fall due on day 11.
    schedule = json.loads(DEFAULT_SCHEDULE.model_dump_json())
    schedule["schedule_id"] = "short-2026"
    for rule in schedule["rules"]:
        if rule["record_type"] == "dead_letter":
            rule.update(rule_id="dead-letter.5d", years=0, days=5)
        if rule["record_type"] in ("referral", "identity"):
            rule.update(rule_id=f"{rule['record_type']}.10d", years=0, days=10)
    path = tmp_path / "schedule.json"
    path.write_text(json.dumps(schedule))
    assert (await job(today + timedelta(days=11), dry_run=True)).disposed == []  # the default: nothing yet
    done = await job(today + timedelta(days=11), retention_schedule_file=path)
    assert done.schedule_id == "short-2026"
    assert {(r.record_type, r.rule_id) for r in done.disposed} == {
        ("dead_letter", "dead-letter.5d"), ("referral", "referral.10d"), ("identity", "identity.10d")}
    for table in CONTENT_TABLES:
        assert await owner.fetchval(f"SELECT count(*) FROM {table}") == 0, table
    assert await owner.fetchval("SELECT count(*) FROM outbox WHERE aggregate_type = 'dead_letter'") == 0
    stones = {(s["record_type"], s["reason"]) for s in await owner.fetch("SELECT * FROM disposal_tombstones")}
    assert ("dead_letter", "schedule") in stones and ("referral", "schedule") in stones
    assert held["status"] == "accepted"


async def test_only_the_disposal_role_may_remove_history_and_nobody_may_truncate_it(intake, sample, infra, intake_url):
    await refer(intake, sample(SCHOOL))
    runtime = await asyncpg.connect(plain(intake_url))
    disposal = await asyncpg.connect(plain(infra.disposal_url("intake", dbname(intake_url))))
    try:
        for statement in ("DELETE FROM referrals", "UPDATE subject_merges SET match_id = NULL",
                          "DELETE FROM disposal_tombstones", "TRUNCATE referrals"):
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await runtime.execute(statement)
        transaction = disposal.transaction()
        await transaction.start()
        try:
            assert await disposal.execute("DELETE FROM subject_addresses") != "DELETE 0"
        finally:
            await transaction.rollback()
        for statement in ("TRUNCATE referrals", "DELETE FROM disposal_tombstones", "DELETE FROM access_log",
                          "DELETE FROM inbox"):
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await disposal.execute(statement)
    finally:
        await runtime.close()
        await disposal.close()


async def test_a_disposal_claimed_for_another_service_or_naming_no_intake_id_is_dead_lettered(intake, sample, owner):
    first = await refer(intake, sample(SCHOOL))
    forged = case_disposed(first["intake_id"])  # says casework, signed by rights
    await send(intake, topics.RETENTION_DISPOSALS, forged, "rights")
    garbled = case_disposed("not-an-id")
    async with intake.reader(topics.dlq(topics.RETENTION_DISPOSALS)) as dlq:
        await send(intake, topics.RETENTION_DISPOSALS, garbled, "casework")
        letters = await dlq.wait_for(lambda rs: len(rs) >= 2)
    reasons = {json.loads(dict(r.headers)["x-dlq-reasons"])[0]["code"] for r in letters}
    assert reasons == {"service_not_signer", "not_an_intake_id"}
    assert await owner.fetchval("SELECT count(*) FROM pending_disposals") == 0


async def test_the_command_prints_the_dry_run_report_as_json(intake, sample, infra, intake_url, make_settings):
    settings = make_settings()
    env = {"PATH": "/usr/bin:/bin", "CME_ENV": "test", "CME_DATABASE_URL": intake_url,
           "CME_TOPIC_NAMESPACE": settings.topic_namespace,
           "CME_DISPOSAL_DATABASE_URL": infra.disposal_url("intake", dbname(intake_url)),
           **infra.kafka_env(), **TEST_KEYS.env_for("intake")}
    done = subprocess.run([sys.executable, "-m", "cme_intake", "dispose", "--dry-run", "--json", "--as-of",
                           "2030-01-01"], env=env, capture_output=True, text=True, timeout=120,
                          cwd=Path(__file__).parents[3])
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.splitlines()[-1])  # after the job's JSON log lines
    assert report["service"] == "intake" and report["dry_run"] is True and report["as_of"] == "2030-01-01"
    refused = subprocess.run([sys.executable, "-m", "cme_intake", "dispose", "--as-of", "2030-13-01"], env=env,
                             capture_output=True, text=True, timeout=120, cwd=Path(__file__).parents[3])
    assert refused.returncode == 2 and "YYYY-MM-DD" in refused.stderr


async def test_merged_subjects_go_together_once_no_referral_names_either_and_their_decisions_go_with_them(
        intake, sample, owner, job):
    first = await refer(intake, sample(SCHOOL))
    moved = sample(SCHOOL)  # the same child at another Westminster address, no identifiers: a possible match
    moved["referral_id"], moved["child"]["upn"], moved["child"]["nhs_number"] = "SCH-MOVED-1", None, None
    moved["child"]["address"] = {"line1": "3 Other Street", "postcode": "W1 1AA"}
    moved["carers"] = []
    second = await refer(intake, moved)
    older, newer = uuid.UUID(first["child_subject_id"]), uuid.UUID(second["child_subject_id"])
    assert older != newer
    [match] = await owner.fetch("SELECT match_id FROM possible_matches WHERE subject_id = $1", newer)
    resolved = await intake.client.post(f"/possible-matches/{match['match_id']}/resolve", headers=intake.officer(),
                                        json={"decision": "merge", "reason": "same child, moved"})
    assert resolved.status_code == 200, resolved.text
    assert await owner.fetchval("SELECT count(*) FROM subject_merges WHERE subject_id = $1", newer) == 1

    # The referral that raised the match goes first: its match and the decision on it go, the merge stays.
    await send(intake, topics.RETENTION_DISPOSALS, case_disposed(second["intake_id"]), "casework")
    await eventually(lambda: pending(owner, second["intake_id"]))
    report = await job()
    assert [(r.record_type, r.record_id) for r in report.disposed] == [("referral", second["intake_id"])]
    assert await owner.fetchval("SELECT count(*) FROM possible_matches") == 0
    assert await owner.fetchval("SELECT count(*) FROM possible_match_decisions") == 0
    assert await owner.fetchval("SELECT match_id FROM subject_merges WHERE subject_id = $1", newer) is None
    assert await owner.fetchval("SELECT count(*) FROM subjects WHERE subject_id = ANY($1::uuid[])", [older, newer]) == 2

    # Then the other: nobody is named any more, so both subjects of the one child go, with their merge.
    await send(intake, topics.RETENTION_DISPOSALS, case_disposed(first["intake_id"]), "casework")
    await eventually(lambda: pending(owner, first["intake_id"]))
    report = await job()
    assert {(r.record_type, r.record_id) for r in report.disposed} >= {
        ("referral", first["intake_id"]), ("identity", str(older)), ("identity", str(newer))}
    assert await owner.fetchval("SELECT count(*) FROM subjects WHERE subject_id = ANY($1::uuid[])", [older, newer]) == 0
    assert await owner.fetchval("SELECT count(*) FROM subject_merges") == 0
    # A lookup by the details the second referral gave still finds the child, under both old ids.
    lookup = SubjectLookup(**envelope(), collection_id=uuid.uuid4(), person=PersonHint(
        first_name="Amira", last_name="Haddad", date_of_birth="2016-03-14", postcode="W1 1AA"))
    [answer] = (await ask(intake, lookup))[str(lookup.collection_id)]
    assert {(m["subject_id"], m["match"]) for m in answer["matches"]} == {
        (str(older), "name_dob_postcode"), (str(newer), "name_dob_postcode")}


async def test_a_run_that_fails_part_way_changes_nothing_and_the_next_run_does_it_all_once(
        intake, sample, owner, job, monkeypatch):
    from cme_intake.adapters.retention_store import RetentionStore

    first = await refer(intake, sample(SCHOOL))
    await send(intake, topics.RETENTION_DISPOSALS, case_disposed(first["intake_id"]), "casework")
    await eventually(lambda: pending(owner, first["intake_id"]))
    before = await counts(owner)
    original = RetentionStore.dispose_identities

    async def crash(self, *args, **kwargs):  # after the referral's rows and tombstone are written
        raise RuntimeError("the job died here")

    monkeypatch.setattr(RetentionStore, "dispose_identities", crash)
    with pytest.raises(RuntimeError):
        await job()
    assert await counts(owner) == before  # one transaction: nothing half done, no event, no tombstone
    monkeypatch.setattr(RetentionStore, "dispose_identities", original)
    done = await job()
    assert {r.record_type for r in done.disposed} == {"referral", "identity"}
    assert await owner.fetchval("SELECT count(*) FROM disposal_tombstones WHERE record_type = 'referral'") == 1
    assert await owner.fetchval("SELECT count(*) FROM outbox WHERE topic = $1",
                                intake.names(topics.RETENTION_DISPOSALS)) == 2  # referral, identity


# ---- after the hostile review (round 2): what the job trusts, shared holds, owners, restrictions

POLICE = "accepted-police-high-risk.json"


async def test_a_pending_disposal_forged_by_the_runtime_login_is_not_disposed_and_the_report_lists_it(
        intake, sample, owner, job, intake_url):
    """C1: the runtime login can INSERT pending disposals; the job disposes only what a signature it verifies
    again with the pinned keys says casework disposed of (a replayed signature naming another referral, or a
    made-up one, disposes nothing)."""
    genuine = await refer(intake, sample(SCHOOL))
    target = await refer(intake, sample(POLICE), "MPS")
    await send(intake, topics.RETENTION_DISPOSALS, case_disposed(genuine["intake_id"]), "casework")
    await eventually(lambda: pending(owner, genuine["intake_id"]))
    runtime = await asyncpg.connect(plain(intake_url))
    try:  # as an attacker holding the service's own login would
        await runtime.execute(
            "INSERT INTO pending_disposals (event_id, intake_id, from_service, from_record_type, from_record_ids,"
            " case_ids, subject_ids, schedule_id, rule_id, clock_started_on, disposed_upstream_at, signed_payload,"
            " signed_key, signed_event_id, signer, signature) SELECT event_id, $1, from_service, from_record_type,"
            " from_record_ids, case_ids, subject_ids, schedule_id, rule_id, clock_started_on, disposed_upstream_at,"
            " signed_payload, signed_key, signed_event_id, signer, signature FROM pending_disposals"
            " WHERE intake_id = $2", uuid.UUID(target["intake_id"]), uuid.UUID(genuine["intake_id"]))
        made_up = case_disposed(target["intake_id"])
        payload = made_up.model_dump_json().encode()
        await runtime.execute(
            "INSERT INTO pending_disposals (event_id, intake_id, from_service, from_record_type, from_record_ids,"
            " case_ids, subject_ids, schedule_id, rule_id, clock_started_on, disposed_upstream_at, signed_payload,"
            " signed_key, signed_event_id, signer, signature) VALUES ($1, $2, 'casework', 'case', '{}', '{}', '{}',"
            " 's', 'r', '2001-01-01', now(), $3, NULL, $4, 'casework', $5)", made_up.event_id,
            uuid.UUID(target["intake_id"]), payload, str(made_up.event_id).encode(), b"bm90IGEgc2lnbmF0dXJl")
    finally:
        await runtime.close()

    report = await job()
    assert {(r.record_type, r.record_id) for r in report.disposed if r.record_type == "referral"} == {
        ("referral", genuine["intake_id"])}
    assert {(r.record_type, r.record_id, r.reason) for r in report.refused} == {
        ("referral", target["intake_id"], "referral_not_named"),
        ("referral", target["intake_id"], "signature_not_verified")}
    assert await owner.fetchval("SELECT count(*) FROM referrals WHERE intake_id = $1", uuid.UUID(target["intake_id"]))
    assert await owner.fetchval("SELECT count(*) FROM disposal_tombstones WHERE record_id = $1",
                                target["intake_id"]) == 0


async def test_a_receipt_time_in_the_future_is_refused_as_a_clock(intake, owner, job, intake_url):
    """C1: a dead letter's clock is its receipt in an append-only table; one dated after now is impossible
    (written by hand, or a clock gone wrong) and is not disposed of, however far ahead the run looks."""
    runtime = await asyncpg.connect(plain(intake_url))
    try:
        await runtime.execute("INSERT INTO rejected_messages (message_id, channel, errors, received_at) VALUES "
                              "('http:forged', 'http', '[]', now() + interval '30 days')")
    finally:
        await runtime.close()
    report = await job(SYSTEM_CLOCK.today() + timedelta(days=800))
    assert report.disposed == []
    assert [(r.record_type, r.record_id, r.reason) for r in report.refused] == [
        ("dead_letter", "http:forged", "date_in_future")]
    assert await owner.fetchval("SELECT count(*) FROM rejected_messages") == 1


async def test_a_hold_placed_in_another_service_reaches_intake_over_the_broker_and_keeps_the_record(
        intake, sample, owner, job):
    first = await refer(intake, sample(SCHOOL))
    child = first["child_subject_id"]
    now = datetime.now(UTC)
    placed = LegalHoldChanged(event_id=uuid.uuid4(), occurred_at=now, service="casework", hold_id=uuid.uuid4(),
                              change="placed", scope="subject", target_id=child, by="records_officer:ro-1", at=now)
    await send(intake, topics.LEGAL_HOLDS, placed, "casework")
    await eventually(lambda: owner.fetchval("SELECT count(*) = 1 FROM legal_holds WHERE hold_id = $1 "
                                            "AND lifted_at IS NULL", placed.hold_id))
    await send(intake, topics.RETENTION_DISPOSALS, case_disposed(first["intake_id"], subject_ids=[child]), "casework")
    await eventually(lambda: pending(owner, first["intake_id"]))
    kept = await job()
    assert kept.disposed == [] and [(r.record_id, r.held_by) for r in kept.held] == [
        (first["intake_id"], [placed.hold_id])]
    assert await owner.fetchval("SELECT count(*) FROM referrals")

    lifted = placed.model_copy(update={"event_id": uuid.uuid4(), "change": "lifted", "at": datetime.now(UTC)})
    await send(intake, topics.LEGAL_HOLDS, lifted, "casework")
    await eventually(lambda: owner.fetchval("SELECT lifted_at IS NOT NULL FROM legal_holds WHERE hold_id = $1",
                                            placed.hold_id))
    done = await job()
    assert {r.record_type for r in done.disposed} == {"referral", "identity"}
    assert await owner.fetchval("SELECT count(*) FROM referrals") == 0


async def test_a_hold_placed_or_lifted_in_intake_is_published_for_the_other_services(intake, sample):
    officer = bearer(intake.settings, "records_officer", sub="records-officer-1")
    case_id = str(uuid.uuid4())
    async with intake.reader(topics.LEGAL_HOLDS) as holds:
        placed = await intake.client.post("/legal-holds", headers=officer, json={
            "scope": "case", "target_id": case_id, "reason": "litigation"})
        assert placed.status_code == 201, placed.text
        record = await intake.client.post("/legal-holds", headers=officer, json={  # stays in intake
            "scope": "record", "target_id": "dead_letter:http:1", "reason": "complaint"})
        assert record.status_code == 201, record.text
        hold_id = placed.json()["hold_id"]
        lifted = await intake.client.post(f"/legal-holds/{hold_id}/lift", headers=officer, json={"reason": "settled"})
        assert lifted.status_code == 200
        records = await holds.wait_for(lambda rs: len(rs) >= 2)
        await holds.settle(0.5)
    events = [json.loads(r.value) for r in holds.records]
    assert [(e["service"], e["hold_id"], e["change"], e["scope"], e["target_id"]) for e in events] == [
        ("intake", hold_id, "placed", "case", case_id), ("intake", hold_id, "lifted", "case", case_id)]
    assert {dict(r.headers).get("x-cme-signer") for r in records} == {b"intake"}
    assert "litigation" not in json.dumps(events)  # the reason stays where it was given


async def test_a_disposal_from_a_service_that_does_not_own_the_record_is_dead_lettered(intake, sample, owner):
    """M2 (contracts.retention.from_owner): only casework's case, record without a case or EHE record may make
    intake's referrals due; rights claiming a case, or disclosure's own record naming a referral, are refused."""
    first = await refer(intake, sample(SCHOOL))
    claimed = case_disposed(first["intake_id"]).model_copy(update={"service": "rights"})
    own_but_naming = case_disposed(first["intake_id"]).model_copy(update={
        "service": "disclosure", "record_type": RecordType.DISCLOSURE})
    async with intake.reader(topics.dlq(topics.RETENTION_DISPOSALS)) as dlq:
        await send(intake, topics.RETENTION_DISPOSALS, claimed, "rights")
        await send(intake, topics.RETENTION_DISPOSALS, own_but_naming, "disclosure")
        letters = await dlq.wait_for(lambda rs: len(rs) >= 2)
    reasons = {json.loads(dict(r.headers)["x-dlq-reasons"])[0]["code"] for r in letters}
    assert reasons == {"not_record_owner", "not_from_casework"}
    assert await owner.fetchval("SELECT count(*) FROM pending_disposals") == 0


async def test_a_restricted_subject_keeps_their_referral_and_identity_and_the_report_lists_them_held(
        intake, sample, owner, job):
    """UK GDPR Art 18(2): a restricted subject's data is only stored: not disposed of while the restriction is
    in force (DOMAIN section 3 holds; the report says why it was kept)."""
    first = await refer(intake, sample(SCHOOL))
    child = uuid.UUID(first["child_subject_id"])
    restricted = SubjectRestricted(**envelope(), rights_request_id=uuid.uuid4(), subject_ids=[child],
                                   reason="accuracy contested")
    await send(intake, topics.RIGHTS_EVENTS, restricted, "rights")
    await eventually(lambda: owner.fetchval("SELECT count(*) FROM restriction_events"))
    await send(intake, topics.RETENTION_DISPOSALS, case_disposed(first["intake_id"], subject_ids=[child]), "casework")
    await eventually(lambda: pending(owner, first["intake_id"]))
    before = await counts(owner)
    kept = await job()
    assert kept.disposed == []
    assert [(r.record_type, r.record_id, r.held_by) for r in kept.held] == [
        ("referral", first["intake_id"], [restricted.rights_request_id])]
    assert await counts(owner) == before
    assert await owner.fetchval("SELECT count(*) FROM subjects WHERE subject_id = $1", child) == 1

    lifted = RestrictionLifted(**envelope(), rights_request_id=restricted.rights_request_id, subject_ids=[child],
                               reason="accuracy verified")
    await send(intake, topics.RIGHTS_EVENTS, lifted, "rights")
    await eventually(lambda: owner.fetchval("SELECT count(*) = 2 FROM restriction_events"))
    done = await job()
    assert {r.record_type for r in done.disposed} == {"referral", "identity"} and done.held == []


async def test_a_signed_disposal_whose_clock_starts_before_intake_received_the_referral_is_refused(
        intake, sample, owner, job):
    """C1: an impossible clock (a case closed before its referral arrived) disposes of nothing."""
    first = await refer(intake, sample(SCHOOL))
    early = case_disposed(first["intake_id"], closed=TODAY - timedelta(days=30))
    await send(intake, topics.RETENTION_DISPOSALS, early, "casework")
    await eventually(lambda: pending(owner, first["intake_id"]))
    report = await job()
    assert report.disposed == [] and [(r.record_id, r.reason) for r in report.refused] == [
        (first["intake_id"], "date_before_record")]
    assert await owner.fetchval("SELECT count(*) FROM referrals") == 1
