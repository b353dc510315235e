"""Retention and disposal of rights requests on the real database and broker (issue 14, item 1).

The disposal job (`python -m cme_rights dispose`, entrypoints/disposal.py) runs as the disposal login
`cme_rights_disposal` against the test's database while the service runs, on a clock years ahead: a request
past its retention and under no legal hold loses its content in every table (checked as the owner), its
tombstone stays, RecordsDisposed reaches the topic through the running service's relay; a legal hold keeps it;
a request not yet due is kept; a rerun disposes of nothing twice; a dry run changes nothing; the schedule file
changes what falls due and what the access pack says. Sources: UK GDPR Art 5(1)(e) and Art 15(1)(d); DOMAIN
section 3; LGA 1972 s224 and the FOI Act 2000 s46 Code (the tombstone)."""

import asyncio
import json
import uuid
from datetime import UTC, date, datetime
from urllib.parse import urlsplit

import asyncpg
import pytest
from dateutil.relativedelta import relativedelta

from typer.testing import CliRunner

from cme_rights.__main__ import cli
from cme_rights.app import collection_policy
from cme_rights.entrypoints import disposal
from cme_shared.clock import LONDON, FixedClock
from cme_shared.contracts import topics
from cme_shared.contracts.categories import DataCategory
from cme_shared.contracts.retention import RecordType
from cme_shared.contracts.rights import DataItem, SubjectMatch
from cme_shared.retention import DEFAULT_SCHEDULE, Tombstone, tombstone_item
from cme_shared.testing.kafka import TopicReader
from cme_shared.testing.signing import TEST_KEYS

pytestmark = pytest.mark.integration

AT = datetime(2026, 3, 1, 9, tzinfo=UTC)
TABLES = ("rights_requests", "asks", "decisions", "clock_events", "audit_log")


def plain(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://")


def database_of(url: str) -> str:
    return urlsplit(url).path.lstrip("/")


def years_ahead(years: int, days: int = 1) -> FixedClock:
    """A clock `years` years and `days` days after London's today (the job's "today")."""
    return FixedClock(datetime.now(UTC) + relativedelta(years=years, days=days))


def script(responders, child: uuid.UUID) -> None:
    """The subject, a casework note, and casework's tombstone of a case it disposed of (a collection reply
    containing a disposed_record item)."""
    responders.subject_matches = [SubjectMatch(subject_id=child, subject_type="child", match="exact_identifier")]
    responders.items["casework"] = [
        DataItem(service="casework", record_type="note", record_id="n-1", subject_id=child,
                 category=DataCategory.EDUCATION, source="CME officer", recorded_at=AT, data={"text": "home visit"}),
        tombstone_item("casework", Tombstone(
            record_type="case", record_id="case-old", subject_ids=[child], case_ids=[uuid.uuid4()],
            categories=["statutory_services"], schedule_id="cme-default-2026", rule_id="case.7y",
            clock_started_on=date(2018, 5, 1), due_on=date(2025, 5, 1), reason="schedule",
            disposed_at=datetime(2025, 5, 2, 1, 0, tzinfo=UTC), run_id=uuid.uuid4()), child, DEFAULT_SCHEDULE)]


async def released(rights, **overrides) -> str:
    """An access request gathered, a record exempted, approved by the DPO and read by an officer (so every
    table it touches has rows: decisions, the access log)."""
    created = await rights.create(**overrides)
    request_id = created["request_id"]
    await rights.reaches(request_id, "ready_for_review")
    exempted = await rights.post(f"/requests/{request_id}/exemptions", {
        "service": "casework", "record_id": "n-1", "exemption": "education_serious_harm",
        "reason": "the teacher's view of the home would be likely to cause serious harm"}, headers=rights.dpo)
    assert exempted.status_code == 200, exempted.text  # a decision row, disposed of with the rest
    approved = await rights.post(f"/requests/{request_id}/approve", headers=rights.dpo)
    assert approved.status_code == 200, approved.text
    assert (await rights.client.get(f"/requests/{request_id}/response", headers=rights.officer)).status_code == 200
    return request_id


async def counts(conn: asyncpg.Connection, request_id: str) -> dict[str, int]:
    rid = uuid.UUID(request_id)
    out = {t: await conn.fetchval(f"SELECT count(*) FROM {t} WHERE request_id = $1", rid) for t in TABLES}
    out["ask_chunks"] = await conn.fetchval("SELECT count(*) FROM ask_chunks WHERE ask_id IN "
                                            "(SELECT ask_id FROM asks WHERE request_id = $1)", rid)
    out["outbox"] = await conn.fetchval("SELECT count(*) FROM outbox WHERE aggregate_type = 'rights_request' "
                                        "AND aggregate_id = $1", request_id)
    out["access_log"] = await conn.fetchval("SELECT count(*) FROM access_log WHERE record_id = $1", request_id)
    out["tombstones"] = await conn.fetchval("SELECT count(*) FROM disposal_tombstones WHERE record_id = $1", request_id)
    return out


async def test_a_request_past_retention_is_disposed_once_with_its_tombstone_and_the_next_pack_says_so(
        start_rights, responders, infra, namespace, rights_db):
    child = uuid.uuid4()
    script(responders, child)
    job_url = infra.disposal_url("rights", database_of(rights_db))
    owner = await asyncpg.connect(plain(infra.owner_url("rights", database_of(rights_db))))
    runtime = await asyncpg.connect(plain(rights_db))
    job = await asyncpg.connect(plain(job_url))
    try:
        async with start_rights() as rights, \
                TopicReader(infra.kafka, namespace(topics.RETENTION_DISPOSALS)) as announced:
            request_id = await released(rights)
            before = await counts(owner, request_id)
            assert min(before[t] for t in (*TABLES, "ask_chunks", "outbox", "access_log")) > 0, before
            policy = collection_policy(rights.settings)

            # Not yet due: completed today, kept 7 years (rights-request.7y).
            early = await disposal.run(rights.settings, policy, clock=years_ahead(6, 360), database_url=job_url)
            assert early.disposed == [] and await counts(owner, request_id) == before

            # The dry run names it and changes nothing.
            dry = await disposal.run(rights.settings, policy, dry_run=True, clock=years_ahead(7),
                                     database_url=job_url)
            assert [r.record_id for r in dry.disposed] == [request_id] and dry.dry_run
            assert dry.disposed[0].rule_id == "rights-request.7y"
            assert dry.disposed[0].clock_started_on == datetime.now(LONDON).date()
            assert await counts(owner, request_id) == before

            # The history tables: the runtime role may not remove a row, nor the owner (the trigger); the
            # disposal role may (shown in a transaction rolled back).
            for conn in (runtime, owner):
                with pytest.raises(asyncpg.InsufficientPrivilegeError):
                    await conn.execute("DELETE FROM decisions WHERE request_id = $1", uuid.UUID(request_id))
                with pytest.raises(asyncpg.InsufficientPrivilegeError):
                    await conn.execute("UPDATE audit_log SET actor = 'x' WHERE request_id = $1", uuid.UUID(request_id))
            tx = job.transaction()
            await tx.start()
            assert await job.execute("DELETE FROM audit_log WHERE request_id = $1", uuid.UUID(request_id)) != "DELETE 0"
            await tx.rollback()
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await job.execute("TRUNCATE audit_log CASCADE")

            # Due and under no hold: disposed of.
            done = await disposal.run(rights.settings, policy, clock=years_ahead(7), database_url=job_url)
            assert [r.record_id for r in done.disposed] == [request_id] and not done.dry_run
            after = await counts(owner, request_id)
            assert {t: after[t] for t in (*TABLES, "ask_chunks", "outbox")} == dict.fromkeys(
                (*TABLES, "ask_chunks", "outbox"), 0)
            assert after["access_log"] == before["access_log"]  # ids and roles only: who looked stays
            stone = await owner.fetchrow("SELECT * FROM disposal_tombstones WHERE record_id = $1", request_id)
            assert stone["record_type"] == "rights_request" and stone["rule_id"] == "rights-request.7y"
            assert stone["schedule_id"] == "cme-default-2026" and list(stone["subject_ids"]) == [child]
            assert "contact" in stone["categories"]
            gone = await rights.client.get(f"/requests/{request_id}", headers=rights.officer)
            assert gone.status_code == 404

            # RecordsDisposed reaches the topic, signed by rights, through the running service's relay.
            def disposed_of(records) -> list[dict]:
                return [json.loads(r.value) for r in records
                        if request_id in json.loads(r.value).get("record_ids", [])]
            records = await announced.wait_for(lambda rs: disposed_of(rs), timeout=30)
            event = disposed_of(records)[0]
            assert event["service"] == "rights" and event["record_type"] == RecordType.RIGHTS_REQUEST.value
            assert event["rule_id"] == "rights-request.7y" and event["subject_ids"] == [str(child)]
            assert event["run_id"] == str(done.run_id)
            record = next(r for r in records if request_id in json.loads(r.value).get("record_ids", []))
            assert dict(record.headers)["x-cme-signer"] == b"rights"

            # A rerun disposes of nothing twice.
            again = await disposal.run(rights.settings, policy, clock=years_ahead(7, 2), database_url=job_url)
            assert again.disposed == [] and (await counts(owner, request_id))["tombstones"] == 1
            assert await owner.fetchval("SELECT count(*) FROM outbox WHERE event_type = 'RecordsDisposed' "
                                        "OR topic LIKE '%retention.disposals%'") == 1

            # The next access request about the child: the pack says what was disposed of and when (rights's
            # own request, casework's case from its reply), apart from the data, and the letter says it too.
            later = (await rights.create())["request_id"]
            await rights.reaches(later, "ready_for_review")
            draft = (await rights.client.get(f"/requests/{later}/draft", headers=rights.dpo)).json()
            gone_records = {(d["service"], d["record_type"]) for d in draft["disposed_records"]}
            assert gone_records == {("rights", "rights_request"), ("casework", "case")}
            ours = next(d for d in draft["disposed_records"] if d["service"] == "rights")
            assert ours["rule"] == DEFAULT_SCHEDULE.rule_for(RecordType.RIGHTS_REQUEST).description
            held = [r["record_type"] for b in draft["data"] for c in b["categories"] for r in c["records"]]
            assert "disposed_record" not in held and "note" in held
            html = (await rights.client.get(f"/requests/{later}/draft?format=html", headers=rights.dpo)).text
            assert "Records we held about you and have disposed of" in html
            assert "A data protection request and our response to it" in html
            assert "A children missing education case and its history" in html
    finally:
        for conn in (owner, runtime, job):
            await conn.close()


async def test_a_legal_hold_keeps_a_request_past_retention_until_it_is_lifted(
        start_rights, responders, infra, rights_db):
    child = uuid.uuid4()
    script(responders, child)
    job_url = infra.disposal_url("rights", database_of(rights_db))
    async with start_rights() as rights:
        records_officer = rights.as_("records_officer", sub="records-1")
        request_id = await released(rights)
        other = await released(rights)
        policy = collection_policy(rights.settings)

        # Who may hold: the records officer and the DPO, never an officer; bad input is refused with its loc.
        body = {"scope": "subject", "target_id": str(child), "reason": "litigation hold: claim 2033/114"}
        assert (await rights.post("/legal-holds", body, headers=rights.officer)).status_code == 403
        bad = await rights.post("/legal-holds", {**body, "scope": "case"}, headers=records_officer)
        assert bad.status_code == 422 and bad.json()["errors"][0]["loc"][-1] == "scope"
        unknown = await rights.post("/legal-holds", {"scope": "request", "target_id": str(uuid.uuid4()),
                                                     "reason": "r"}, headers=records_officer)
        assert unknown.status_code == 404
        placed = await rights.post("/legal-holds", body, headers=records_officer)
        assert placed.status_code == 201, placed.text
        hold = placed.json()
        assert hold["in_force"] and hold["placed_by"] == "records-1" and hold["scope"] == "subject"
        by_request = await rights.post("/legal-holds", {"scope": "request", "target_id": other, "reason": "audit"},
                                       headers=rights.dpo)
        assert by_request.status_code == 201 and by_request.json()["target_id"] == other
        listed = (await rights.client.get("/legal-holds", headers=records_officer)).json()
        assert {h["hold_id"] for h in listed} == {hold["hold_id"], by_request.json()["hold_id"]}

        # The records officer's report: both due in 7 years, both held (both are about the child; the other
        # is held by its own hold too), nothing to dispose of.
        as_of = (datetime.now(LONDON).date() + relativedelta(years=7, days=1)).isoformat()
        report = (await rights.client.get(f"/retention/report?as_of={as_of}", headers=records_officer)).json()
        assert report["disposed"] == [] and report["dry_run"] is True
        assert {r["record_id"]: set(r["held_by"]) for r in report["held"]} == {
            request_id: {hold["hold_id"]}, other: {hold["hold_id"], by_request.json()["hold_id"]}}
        assert (await rights.client.get("/retention/report", headers=rights.officer)).status_code == 403

        # The job keeps both.
        kept = await disposal.run(rights.settings, policy, clock=years_ahead(7), database_url=job_url)
        assert kept.disposed == [] and {r.record_id for r in kept.held} == {request_id, other}
        assert (await rights.client.get(f"/requests/{request_id}", headers=rights.officer)).status_code == 200

        # Lifted (with reasons): the next run disposes of the request the subject hold kept, not the other.
        assert (await rights.post(f"/legal-holds/{hold['hold_id']}/lift", {"reason": ""},
                                  headers=records_officer)).status_code == 422
        lifted = await rights.post(f"/legal-holds/{hold['hold_id']}/lift", {"reason": "claim settled"},
                                   headers=records_officer)
        assert lifted.status_code == 200 and lifted.json()["in_force"] is False
        assert lifted.json()["lifted_by"] == "records-1"
        twice = await rights.post(f"/legal-holds/{hold['hold_id']}/lift", {"reason": "again"}, headers=records_officer)
        assert twice.status_code == 404
        done = await disposal.run(rights.settings, policy, clock=years_ahead(7), database_url=job_url)
        assert [r.record_id for r in done.disposed] == [request_id] and [r.record_id for r in done.held] == [other]
        assert (await rights.client.get(f"/requests/{request_id}", headers=rights.officer)).status_code == 404
        assert (await rights.client.get(f"/requests/{other}", headers=rights.officer)).status_code == 200
        ever = (await rights.client.get("/legal-holds?include_lifted=true", headers=rights.dpo)).json()
        assert len(ever) == 2
        late = await rights.post("/legal-holds", {"scope": "request", "target_id": request_id, "reason": "too late"},
                                 headers=records_officer)
        assert late.status_code == 409 and late.json()["errors"][0]["code"] == "already_disposed"


async def test_the_schedule_file_sets_what_the_pack_says_and_when_a_request_falls_due(
        start_rights, responders, infra, rights_db, tmp_path):
    child = uuid.uuid4()
    script(responders, child)
    rules = [r.model_dump(mode="json") for r in DEFAULT_SCHEDULE.rules if r.record_type is not RecordType.RIGHTS_REQUEST]
    rules.append({"rule_id": "rights-request.2y", "record_type": "rights_request", "starts": "completed", "years": 2,
                  "description": "a data-protection rights request and its response: 2 years after it was answered"})
    path = tmp_path / "schedule.json"
    path.write_text(json.dumps({"schedule_id": "council-2027", "rules": rules}))
    job_url = infra.disposal_url("rights", database_of(rights_db))
    async with start_rights(retention_schedule_file=path) as rights:
        request_id = await released(rights)
        pack = (await rights.client.get(f"/requests/{request_id}/response", headers=rights.officer)).json()
        said = pack["supplementary_information"]["retention"]
        assert "council-2027" in said and "2 years after it was answered" in said
        assert "7 years after it was answered" not in said
        policy = collection_policy(rights.settings)
        default = rights.settings.model_copy(update={"retention_schedule_file": None})
        # The command the CronJob runs, as the records officer's dry run (a date ahead is allowed for a dry run).
        ahead = (datetime.now(LONDON).date() + relativedelta(years=3)).isoformat()
        env = {"CME_ENV": "test", "CME_DATABASE_URL": rights.database_url, "CME_DISPOSAL_DATABASE_URL": job_url,
               "CME_RETENTION_SCHEDULE_FILE": str(path), "CME_TOPIC_NAMESPACE": rights.settings.topic_namespace,
               "CME_SIGNING_KEY": TEST_KEYS.settings_for("rights")["signing_key"],
               "CME_TRUSTED_SIGNERS": json.dumps(TEST_KEYS.settings_for("rights")["trusted_signers"])}
        ran = await asyncio.to_thread(CliRunner().invoke, cli, ["dispose", "--dry-run", "--json", "--as-of", ahead],
                                      env=env)
        assert ran.exit_code == 0, ran.output
        printed = json.loads(ran.output)
        assert printed["dry_run"] is True and [r["record_id"] for r in printed["disposed"]] == [request_id]
        assert printed["schedule_id"] == "council-2027"
        future = await asyncio.to_thread(CliRunner().invoke, cli, ["dispose", "--as-of", ahead], env=env)
        assert future.exit_code == 2 and "later than today" in future.output
        # Three years on: under the default schedule it is kept, under the file's it goes.
        kept = await disposal.run(default, policy, dry_run=True, clock=years_ahead(3), database_url=job_url)
        assert kept.disposed == [] and kept.schedule_id == "cme-default-2026"
        done = await disposal.run(rights.settings, policy, clock=years_ahead(3), database_url=job_url)
        assert [(r.record_id, r.rule_id) for r in done.disposed] == [(request_id, "rights-request.2y")]
        assert done.schedule_id == "council-2027"
