"""Retention on the real stack (issue 14, item 1, "Done when"): a closed case past its retention with no
legal hold is disposed of by the job (content gone, tombstone kept); the same kind of case under a legal
hold is kept.

All four services run as processes, in one topic namespace, each on its own database. Two children are
referred by a school over Kafka; casework opens a case for each; a manager closes both; the records officer
places a legal hold on the second case; then casework's disposal job (`python -m cme_casework dispose`, as
the cme_casework_disposal login, as its CronJob runs it) runs as of the day the first case falls due, and
the running casework service's relay sends its `RecordsDisposed` to the broker.

The scenario runs once per module (`disposed`); each concern is its own test on its outcome. Casework's
part is asserted here. The other services' parts go in tests of their own in this module, on the same
scenario: intake disposes of the case's referrals named in `related_record_ids` (its disposal job, run
from a test on `disposed.services["intake"]`); disclosure appends a log leaf per disposal and verify-log
still passes; rights' access pack for the child says what was disposed of and when.
"""

import asyncio
import json
import secrets
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import date
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import httpx
import pytest
import pytest_asyncio
from dateutil.relativedelta import relativedelta

from cme_shared.contracts import topics
from cme_shared.contracts.topics import TopicNames
from cme_shared.ops import delete_namespace, ensure_topics
from cme_shared.testing.fixtures import Databases
from cme_shared.testing.infra import SAMPLE_REFERRALS
from cme_shared.testing.kafka import TopicReader, eventually, produce
from cme_shared.testing.processes import ServiceProcess
from cme_shared.testing.signing import TEST_KEYS

from conftest import SECRET, bearer, migrations_of

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="module")]

SERVICES = ("intake", "casework", "disclosure", "rights")


@dataclass
class Child:
    referral: dict[str, Any]
    child_id: str = ""
    intake_id: str = ""
    case_id: str = ""


@dataclass
class Disposed:
    """What the scenario did, for each concern's test."""

    services: dict[str, ServiceProcess]
    infra: Any
    names: TopicNames
    disposed: Child  # closed, past its retention, no hold: disposed of
    held: Child  # closed, past its retention, under a legal hold: kept
    hold: dict[str, Any]
    closed_on: date
    as_of: date
    report: dict[str, Any]  # the disposal job's --json output
    events: list[dict[str, Any]] = field(default_factory=list)  # RecordsDisposed on the broker

    def database(self, service: str) -> str:
        return urlsplit(self.services[service].database_url).path.lstrip("/")  # type: ignore[attr-defined]

    def owner_url(self, service: str) -> str:
        return self.infra.owner_url(service, self.database(service)).replace("postgresql+asyncpg://", "postgresql://")

    def disposal_env(self, service: str) -> dict[str, str]:
        """The environment of `python -m cme_<service> dispose`: the service's own, and its disposal login."""
        return {**self.services[service].env,
                "CME_DISPOSAL_DATABASE_URL": self.infra.disposal_url(service, self.database(service))}


def school_referral(n: int) -> dict[str, Any]:
    referral = json.loads((SAMPLE_REFERRALS / "accepted-school-deletion-no-destination.json").read_bytes())
    referral["referral_id"] = f"SCH-RET-{n}-{secrets.token_hex(3)}"
    if n:  # another child of the same school: synthetic, no identifiers to match on
        referral["child"] |= {"first_name": f"Synthetic{n}", "last_name": "Retention", "date_of_birth": "2015-05-05",
                              "upn": None, "nhs_number": None}
        referral["carers"] = []
    return referral


async def dispose_command(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(subprocess.run, [sys.executable, "-m", "cme_casework", "dispose", *args],
                                   env=env, capture_output=True, text=True, timeout=120)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def disposed(infra, tmp_path_factory) -> AsyncIterator[Disposed]:
    tmp = tmp_path_factory.mktemp("retention")
    databases = Databases(infra)
    names = TopicNames(f"t{secrets.token_hex(4)}.")
    await ensure_topics(infra.kafka, names.all_with_dlqs())
    signing = TEST_KEYS.write(tmp / "signing")
    services: dict[str, ServiceProcess] = {}
    try:
        for service in SERVICES:
            url = await databases.create(service, migrations_of(service))
            services[service] = ServiceProcess(service, {
                "CME_DATABASE_URL": url, **infra.kafka_env(), "CME_TOPIC_NAMESPACE": names.namespace,
                "CME_JWT_SECRET": SECRET, "CME_OUTBOX_POLL_SECONDS": "0.05",
                "CME_LOG_SIGNING_KEY_FILE": str(tmp / "log-key.pem"),
                "CME_SIGNING_KEY_FILE": str(signing / f"{service}.pem"), "CME_TRUSTED_SIGNERS_DIR": str(signing),
            }, tmp)
            services[service].database_url = url  # type: ignore[attr-defined]
            services[service].start()
        yield await scenario(services, infra, names)
    finally:
        for process in services.values():
            process.stop()
        await databases.drop_all()
        await delete_namespace(infra.kafka, names.namespace)


async def scenario(services: dict[str, ServiceProcess], infra: Any, names: TopicNames) -> Disposed:
    casework = services["casework"].url
    manager, records_officer = bearer("manager-1", "manager"), bearer("ro-1", "records_officer")
    first, second = Child(school_referral(0)), Child(school_referral(1))
    async with TopicReader(infra.kafka, names(topics.REFERRAL_OUTCOMES)) as outcomes:
        for child in (first, second):
            await produce(infra.kafka, names(topics.REFERRALS), json.dumps(child.referral).encode())
        records = await outcomes.wait_for(lambda rs: len(rs) >= 2, timeout=90)
    by_referral = {json.loads(r.value)["referral_id"]: json.loads(r.value) for r in records}
    for child in (first, second):
        outcome = by_referral[child.referral["referral_id"]]
        assert outcome.get("status", "accepted") == "accepted", outcome
        child.child_id, child.intake_id = outcome["child_subject_id"], outcome["intake_id"]

    async with httpx.AsyncClient(timeout=30) as client:
        for child in (first, second):
            async def case(child: Child = child) -> list:
                return (await client.get(f"{casework}/cases", params={"child_subject_id": child.child_id},
                                         headers=manager)).json()

            [found] = await eventually(case, timeout=60)
            child.case_id = found["case_id"]
        today = date.fromisoformat((await client.get(f"{casework}/retention/report", headers=records_officer)
                                    ).json()["as_of"])  # London's today, as the service counts it
        for child in (first, second):
            closed = await client.post(f"{casework}/cases/{child.case_id}/closure", headers=manager, json={
                "reason": "on_roll_elsewhere", "closed_on": today.isoformat(),
                "evidence": {"school_urn": "100002", "start_date": today.isoformat(), "confirmed_by": "admissions"}})
            assert closed.status_code in (200, 201), closed.text
        placed = await client.post(f"{casework}/legal-holds", headers=records_officer, json={
            "scope": "case", "target_id": second.case_id, "reason": "a claim against the council (synthetic)"})
        assert placed.status_code == 201, placed.text

    as_of = today + relativedelta(years=7)  # DEFAULT_SCHEDULE case.7y
    env = {**services["casework"].env,
           "CME_DISPOSAL_DATABASE_URL": infra.disposal_url("casework", urlsplit(
               services["casework"].database_url).path.lstrip("/"))}  # type: ignore[attr-defined]
    async with TopicReader(infra.kafka, names(topics.RETENTION_DISPOSALS)) as disposals:
        ran = await dispose_command(env, "--as-of", as_of.isoformat(), "--json")
        assert ran.returncode == 0, ran.stderr
        sent = await disposals.wait_for(
            lambda rs: any(json.loads(r.value)["service"] == "casework" for r in rs), timeout=60)
    return Disposed(services=services, infra=infra, names=names, disposed=first, held=second,
                    hold=placed.json(), closed_on=today, as_of=as_of, report=json.loads(ran.stdout),
                    events=[json.loads(r.value) for r in sent if json.loads(r.value)["service"] == "casework"])


async def test_the_job_disposes_of_the_case_past_retention_and_reports_the_held_one(disposed):
    report = disposed.report
    assert (report["service"], report["dry_run"], report["as_of"]) == ("casework", False, disposed.as_of.isoformat())
    assert [(r["record_type"], r["record_id"], r["rule_id"]) for r in report["disposed"]] == [
        ("case", disposed.disposed.case_id, "case.7y")]
    assert [(r["record_id"], r["held_by"]) for r in report["held"]] == [
        (disposed.held.case_id, [disposed.hold["hold_id"]])]


async def test_casework_keeps_nothing_of_the_disposed_case_but_its_tombstone(disposed):
    conn = await asyncpg.connect(disposed.owner_url("casework"))
    try:
        case_id, child_id = uuid.UUID(disposed.disposed.case_id), uuid.UUID(disposed.disposed.child_id)
        assert await conn.fetchval("SELECT count(*) FROM cases WHERE case_id = $1", case_id) == 0
        assert await conn.fetchval("SELECT count(*) FROM case_history WHERE child_subject_id = $1", child_id) == 0
        assert await conn.fetchval("SELECT count(*) FROM outbox WHERE aggregate_type = 'case' AND aggregate_id = $1",
                                   str(case_id)) == 0
        [stone] = await conn.fetch("SELECT * FROM disposal_tombstones")
        assert (stone["record_type"], stone["record_id"], stone["rule_id"], stone["clock_started_on"]) == (
            "case", str(case_id), "case.7y", disposed.closed_on)
        assert child_id in stone["subject_ids"]
        # The content is gone from every row casework keeps (the tombstone holds ids, codes and dates only).
        for text in ("Amira", "Haddad", "G213200119044", "Example Mews"):
            assert not await conn.fetchval("SELECT count(*) FROM case_history WHERE detail::text LIKE $1",
                                           f"%{text}%")
    finally:
        await conn.close()


async def test_the_case_under_a_legal_hold_is_kept_whole(disposed):
    conn = await asyncpg.connect(disposed.owner_url("casework"))
    try:
        case_id = uuid.UUID(disposed.held.case_id)
        assert await conn.fetchval("SELECT status FROM cases WHERE case_id = $1", case_id) == "closed"
        kinds = [r["kind"] for r in await conn.fetch(
            "SELECT kind FROM case_history WHERE case_id = $1 ORDER BY entry_id", case_id)]
        assert kinds[0] == "case_opened" and kinds[-1] == "case_closed"
        assert await conn.fetchval("SELECT count(*) FROM disposal_tombstones WHERE record_id = $1", str(case_id)) == 0
    finally:
        await conn.close()
    async with httpx.AsyncClient(timeout=30) as client:
        case = await client.get(f"{disposed.services['casework'].url}/cases/{case_id}", headers=bearer("m", "manager"))
    assert case.status_code == 200 and case.json()["status"] == "closed"


async def test_records_disposed_reaches_the_broker_naming_the_referrals_for_intake(disposed):
    [event] = disposed.events
    assert (event["kind"], event["record_type"], event["record_ids"], event["rule_id"]) == (
        "records_disposed", "case", [disposed.disposed.case_id], "case.7y")
    assert event["related_record_ids"] == {"referral": [disposed.disposed.intake_id]}
    assert event["case_ids"] == [disposed.disposed.case_id]
    assert disposed.disposed.child_id in event["subject_ids"]
    assert event["clock_started_on"] == disposed.closed_on.isoformat()
    assert event["run_id"] == disposed.report["run_id"]


async def test_a_rerun_disposes_of_nothing_more(disposed):
    again = await dispose_command(disposed.disposal_env("casework"), "--as-of", disposed.as_of.isoformat(), "--json")
    assert again.returncode == 0, again.stderr
    report = json.loads(again.stdout)
    assert report["disposed"] == [] and [r["record_id"] for r in report["held"]] == [disposed.held.case_id]


async def test_intake_disposes_of_the_referral_and_identity_of_the_disposed_case_and_keeps_the_held_ones(disposed):
    # Intake's part (its running service noted casework's RecordsDisposed; its own job, as its disposal login).
    conn = await asyncpg.connect(disposed.owner_url("intake"))
    try:
        gone, kept = uuid.UUID(disposed.disposed.intake_id), uuid.UUID(disposed.held.intake_id)
        await eventually(lambda: conn.fetchval("SELECT count(*) FROM pending_disposals WHERE intake_id = $1", gone),
                         timeout=60)
        async with TopicReader(disposed.infra.kafka, disposed.names(topics.RETENTION_DISPOSALS)) as disposals:
            ran = await asyncio.to_thread(
                subprocess.run, [sys.executable, "-m", "cme_intake", "dispose", "--as-of", disposed.as_of.isoformat(),
                                 "--json"], env=disposed.disposal_env("intake"), capture_output=True, text=True,
                timeout=120)
            assert ran.returncode == 0, ran.stderr
            sent = await disposals.wait_for(lambda rs: {json.loads(r.value)["record_type"] for r in rs
                                                        if json.loads(r.value)["service"] == "intake"}
                                            >= {"referral", "identity"}, timeout=60)
        report = json.loads(ran.stdout.splitlines()[-1])
        assert ("referral", str(gone)) in {(r["record_type"], r["record_id"]) for r in report["disposed"]}
        assert disposed.disposed.child_id in {r["record_id"] for r in report["disposed"] if r["record_type"] == "identity"}
        ours = [json.loads(r.value) for r in sent if json.loads(r.value)["service"] == "intake"]
        assert [e["record_ids"] for e in ours if e["record_type"] == "referral"] == [[str(gone)]]
        assert await conn.fetchval("SELECT count(*) FROM referrals WHERE intake_id = $1", gone) == 0
        assert await conn.fetchval("SELECT count(*) FROM subjects WHERE subject_id = $1",
                                   uuid.UUID(disposed.disposed.child_id)) == 0
        for text in ("Amira", "Haddad", "G213200119044", "Example Mews"):
            assert not await conn.fetchval("SELECT count(*) FROM subject_observations WHERE first_name = $1 "
                                           "OR last_name = $1 OR upn = $1", text)
        # The held case's child: casework kept the case, so intake keeps its referral and identity.
        assert await conn.fetchval("SELECT count(*) FROM referrals WHERE intake_id = $1", kept) == 1
        assert await conn.fetchval("SELECT count(*) FROM subjects WHERE subject_id = $1",
                                   uuid.UUID(disposed.held.child_id)) == 1
        stones = {(s["record_type"], s["reason"]) for s in await conn.fetch("SELECT * FROM disposal_tombstones")}
        assert ("referral", "fan_out:casework") in stones and ("identity", "schedule") in stones
    finally:
        await conn.close()


async def test_disclosure_logs_each_disposal_disposes_of_the_case_s_shares_and_its_log_still_verifies(disposed):
    # Disclosure's part: casework's RecordsDisposed is one records_disposed leaf; a share about the disposed
    # child (made while the case was open, today) falls due with the case and goes at disclosure's own job
    # (as its disposal login); a share about the held child stays; verify-log still passes.
    url, env = disposed.services["disclosure"].url, disposed.services["disclosure"].env
    police = {"recipient": {"type": "police", "org_id": "MPS", "org_name": "Metropolitan Police Service",
                            "requester_name": "DC Example", "requester_role": "investigating officer",
                            "requester_rank": "Detective Inspector"},
              "purpose": "crime", "legal_gateway": "DPA 2018 Sch 2 Part 1 para 2", "reference": "CAD 1/26",
              "categories": ["contact"], "reason": "locating a child (synthetic)"}
    shares = {}
    async with httpx.AsyncClient(timeout=30) as client:
        for child in (disposed.disposed, disposed.held):
            made = await client.post(f"{url}/disclosures", headers=bearer("dpo-1", "dpo"),
                                     json={**police, "subject_ids": [child.child_id]})
            assert made.status_code == 201, made.text
            shares[child.child_id] = made.json()["disclosure_id"]
            decided = await client.post(f"{url}/disclosures/{shares[child.child_id]}/decision",
                                        headers=bearer("manager-2", "manager"),
                                        json={"decision": "approve", "reason": "needed",
                                              "sign_off_rank": "Detective Inspector"})
            assert decided.json()["status"] == "shared", decided.text
    conn = await asyncpg.connect(disposed.owner_url("disclosure"))
    try:
        [casework_event] = disposed.events
        notice = await eventually(lambda: conn.fetchrow(  # a row: its leaf may well be leaf 0
            "SELECT leaf_index FROM disposal_notices WHERE event_id = $1", uuid.UUID(casework_event["event_id"])),
            timeout=60)
        leaf = json.loads(await conn.fetchval("SELECT leaf FROM log_leaves WHERE leaf_index = $1",
                                              notice["leaf_index"]))
        assert (leaf["kind"], leaf["facts"]["service"], leaf["facts"]["record_ids"]) == (
            "records_disposed", "casework", [disposed.disposed.case_id])
        ran = await asyncio.to_thread(
            subprocess.run, [sys.executable, "-m", "cme_disclosure", "dispose", "--as-of", disposed.as_of.isoformat(),
                             "--json"], env=disposed.disposal_env("disclosure"), capture_output=True, text=True,
            timeout=120)
        assert ran.returncode == 0, ran.stderr
        report = json.loads(ran.stdout)
        assert [(r["record_id"], r["rule_id"]) for r in report["disposed"]] == [
            (shares[disposed.disposed.child_id], "disclosure.7y")]
        gone, kept = (uuid.UUID(shares[c.child_id]) for c in (disposed.disposed, disposed.held))
        assert await conn.fetchval("SELECT count(*) FROM disclosure_subjects WHERE disclosure_id = $1", gone) == 0
        assert await conn.fetchval("SELECT reason FROM disclosures WHERE disclosure_id = $1", gone) is None
        assert await conn.fetchval("SELECT reason FROM disclosures WHERE disclosure_id = $1", kept) is not None
        assert await conn.fetchval("SELECT count(*) FROM disposal_tombstones WHERE record_id = $1", str(gone)) == 1

        async def verified() -> subprocess.CompletedProcess[str] | None:
            done = await asyncio.to_thread(subprocess.run, [sys.executable, "-m", "cme_disclosure", "verify-log",
                                                            "--publish-grace", "0"],
                                           env=env, capture_output=True, text=True, timeout=120)
            return done if done.returncode == 0 else None
        ok = await eventually(verified, timeout=60, interval=2)  # once the relay has sent the job's heads
        assert "disclosure log OK" in ok.stdout
    finally:
        await conn.close()


async def test_the_childs_access_pack_says_what_was_disposed_of_and_when(disposed):
    # Rights' part: a parent's subject access request for the disposed child after the disposals. Every service's
    # answer carries its tombstones (record type disposed_record); the pack lists them apart from the data, with
    # the day and the rule in words, and the letter says so; nothing of the disposed case is in the data.
    rights, dpo = disposed.services["rights"].url, bearer("dpo-1", "dpo")
    async with httpx.AsyncClient(timeout=30) as client:
        created = await client.post(f"{rights}/requests", headers=dpo, json={
            "type": "access", "received_on": disposed.closed_on.isoformat(), "channel": "email",
            "requester": {"first_name": "Leila", "last_name": "Haddad", "acting_as": "parent",
                          "address": {"line1": "12 Example Mews", "town": "London", "postcode": "W2 1AA"}},
            "subject": {"first_name": "Amira", "last_name": "Haddad", "date_of_birth": "2016-03-14",
                        "upn": "G213200119044",
                        "address": {"line1": "12 Example Mews", "town": "London", "postcode": "W2 1AA"}},
            "identity_verified": True, "details": "everything about my daughter (synthetic)"})
        assert created.status_code == 201, created.text
        request_id = created.json()["request_id"]

        async def prepared() -> dict[str, Any] | None:
            found = (await client.get(f"{rights}/requests/{request_id}", headers=dpo)).json()
            return found if found["status"] in ("ready_for_review", "collection_incomplete") else None

        state = await eventually(prepared, timeout=120)
        assert state["status"] == "ready_for_review" and disposed.disposed.child_id in state["subject_ids"]
        pack = (await client.get(f"{rights}/requests/{request_id}/draft", headers=dpo)).json()
        letter = (await client.get(f"{rights}/requests/{request_id}/draft?format=html", headers=dpo)).text
    case = [d for d in pack["disposed_records"] if (d["service"], d["record_type"]) == ("casework", "case")]
    assert len(case) == 1 and case[0]["rule_id"] == "case.7y"
    assert case[0]["clock_started_on"] == disposed.closed_on.isoformat()
    assert case[0]["disposed_at"][:4].isdigit() and case[0]["rule"]
    held = {(b["service"], r["record_id"]) for b in pack["data"] for c in b["categories"] for r in c["records"]}
    assert not any(record_id == disposed.disposed.case_id for _, record_id in held)
    assert pack["summary"]["records_disposed"] == len(pack["disposed_records"])
    assert "Records we held about you and have disposed of" in letter
    assert "A children missing education case and its history" in letter
    assert disposed.disposed.case_id not in letter
    said = pack["supplementary_information"]["retention"]
    assert "cme-default-2026" in said and "7 years after the case is closed" in said
