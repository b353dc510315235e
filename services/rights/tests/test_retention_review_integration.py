"""Retention of rights requests after the hostile review (issue 14, item 1), on the real database and broker.

- C1: the job believes only the append-only history (its times are the database's, migration 0008): a request
  the running service's login marks released years ago (the row, and a backdated audit line) is not disposed
  of, and the report names it. UK GDPR Art 5(1)(e) and (f); DOMAIN section 3.
- M6: a request never completed (here stuck awaiting identity) falls due under the rights request rule from
  its last recorded activity, not never (Art 5(1)(e)).
- Holds shared between services: a hold on a subject placed in another service reaches rights over the broker
  (LegalHoldChanged, signed) and keeps the request; its lifting lets it go; rights' own subject hold is
  announced, a hold on one request is not (it is rights' alone).
- M5: a subject under an Art 18 restriction decided in rights keeps the subject's other requests (Art 18(2)).
"""

import uuid
from datetime import UTC, datetime

import asyncpg
import pytest

from cme_rights.app import collection_policy
from cme_rights.entrypoints import disposal
from cme_shared.clock import LONDON
from cme_shared.contracts import topics
from cme_shared.contracts.retention import LegalHoldChanged
from cme_shared.testing.kafka import TopicReader, eventually, produce
from cme_shared.testing.signing import signed_headers

from .test_retention_integration import counts, database_of, plain, released, script, years_ahead

pytestmark = pytest.mark.integration


async def test_a_release_forged_by_the_runtime_login_disposes_of_nothing_and_an_abandoned_request_goes(
        start_rights, responders, infra, rights_db):
    child = uuid.uuid4()
    script(responders, child)
    job_url = infra.disposal_url("rights", database_of(rights_db))
    owner = await asyncpg.connect(plain(infra.owner_url("rights", database_of(rights_db))))
    runtime = await asyncpg.connect(plain(rights_db))
    try:
        async with start_rights() as rights:
            policy = collection_policy(rights.settings)
            stuck = [(await rights.create(identity_verified=False))["request_id"] for _ in range(3)]
            for request_id in stuck:  # no identity evidence: it waits for it, never worked
                assert (await rights.get(request_id))["status"] in ("received", "awaiting_identity")
            forged_row, forged_line, abandoned = (uuid.UUID(r) for r in stuck)
            # What an attacker with the service's login can write: the row says released 8 years ago ...
            for rid in (forged_row, forged_line):
                await runtime.execute("UPDATE rights_requests SET status = 'responded', approved_at = now() - "
                                      "interval '8 years' WHERE request_id = $1", rid)
            # ... and an audit line of a release, backdated: the database stamps it with its own time.
            await runtime.execute(
                "INSERT INTO audit_log (request_id, action, from_status, to_status, actor, at) VALUES "
                "($1, 'approved_and_released', 'received', 'responded', 'dpo-1', now() - interval '8 years')",
                forged_line)
            stamped = await owner.fetchval("SELECT at FROM audit_log WHERE request_id = $1 AND action = "
                                           "'approved_and_released'", forged_line)
            assert abs((stamped - datetime.now(UTC)).total_seconds()) < 600
            before = {r: await counts(owner, r) for r in stuck}

            # Tomorrow: nothing is due; the forged two are reported, never disposed of.
            run = await disposal.run(rights.settings, policy, clock=years_ahead(0, 1), database_url=job_url)
            assert run.disposed == [] and run.held == []
            assert {(a.record_id, a.code) for a in run.anomalies} == {
                (str(forged_row), "released_without_history"), (str(forged_line), "release_times_disagree")}
            assert {r: await counts(owner, r) for r in stuck} == before

            # Seven years after its last activity the abandoned request goes (the rights request rule); the
            # forged ones still do not.
            dry = await disposal.run(rights.settings, policy, dry_run=True, clock=years_ahead(6, 360),
                                     database_url=job_url)
            assert dry.disposed == []
            done = await disposal.run(rights.settings, policy, clock=years_ahead(7), database_url=job_url)
            assert [(r.record_id, r.rule_id, r.clock_started_on) for r in done.disposed] == [
                (str(abandoned), "rights-request.7y", datetime.now(LONDON).date())]
            assert {a.record_id for a in done.anomalies} == {str(forged_row), str(forged_line)}
            gone = await counts(owner, str(abandoned))
            assert gone["tombstones"] == 1 and gone["rights_requests"] == gone["audit_log"] == 0
            for rid in (forged_row, forged_line):
                assert (await counts(owner, str(rid)))["rights_requests"] == 1
    finally:
        for conn in (owner, runtime):
            await conn.close()


def hold_changed(service: str, hold_id: uuid.UUID, change: str, child: uuid.UUID) -> LegalHoldChanged:
    return LegalHoldChanged(event_id=uuid.uuid4(), occurred_at=datetime.now(UTC), service=service, hold_id=hold_id,
                            change=change, scope="subject", target_id=str(child), by="records-9",
                            at=datetime.now(UTC))


async def test_a_hold_placed_in_another_service_reaches_rights_over_the_broker_and_keeps_the_request(
        start_rights, responders, infra, namespace, rights_db):
    child = uuid.uuid4()
    script(responders, child)
    job_url = infra.disposal_url("rights", database_of(rights_db))
    owner = await asyncpg.connect(plain(infra.owner_url("rights", database_of(rights_db))))
    try:
        async with start_rights() as rights, \
                TopicReader(infra.kafka, namespace(topics.LEGAL_HOLDS)) as announced:
            policy = collection_policy(rights.settings)
            request_id = await released(rights)
            hold_id = uuid.uuid4()

            async def send(event: LegalHoldChanged) -> None:
                value, key = event.model_dump_json().encode(), str(event.hold_id).encode()
                await produce(infra.kafka, namespace(topics.LEGAL_HOLDS), value, key=key,
                              headers=signed_headers(topics.LEGAL_HOLDS, value, key, signer="casework"))

            # Lifted before its placing arrives, then placed, then placed again: kept once, lifted.
            await send(hold_changed("casework", hold_id, "placed", child))

            async def mirrored(lifted: bool) -> bool:
                row = await owner.fetchrow("SELECT lifted_at, placed_by FROM legal_holds WHERE hold_id = $1", hold_id)
                return row is not None and (row["lifted_at"] is not None) == lifted

            await eventually(lambda: mirrored(False), timeout=40)
            kept = await disposal.run(rights.settings, policy, clock=years_ahead(7), database_url=job_url)
            assert kept.disposed == [] and [(r.record_id, r.held_by) for r in kept.held] == [(request_id, [hold_id])]
            assert (await counts(owner, request_id))["rights_requests"] == 1

            await send(hold_changed("casework", hold_id, "lifted", child))
            await eventually(lambda: mirrored(True), timeout=40)
            done = await disposal.run(rights.settings, policy, clock=years_ahead(7), database_url=job_url)
            assert [r.record_id for r in done.disposed] == [request_id]

            # Rights' own hold on a subject is every service's; a hold on one request stays in rights.
            other_child = uuid.uuid4()
            officer = rights.as_("records_officer", sub="records-1")
            placed = await rights.post("/legal-holds", {"scope": "subject", "target_id": str(other_child),
                                                        "reason": "litigation hold"}, headers=officer)
            assert placed.status_code == 201, placed.text
            lifted = await rights.post(f"/legal-holds/{placed.json()['hold_id']}/lift", {"reason": "settled"},
                                       headers=officer)
            assert lifted.status_code == 200, lifted.text
            records = await announced.wait_for(lambda rs: sum(
                1 for r in rs if LegalHoldChanged.model_validate_json(r.value).service == "rights") >= 2)
            ours = [LegalHoldChanged.model_validate_json(r.value) for r in records]
            ours = [e for e in ours if e.service == "rights"]
            assert [(str(e.hold_id), e.change, e.scope, e.target_id, e.by) for e in ours] == [
                (placed.json()["hold_id"], "placed", "subject", str(other_child), "records-1"),
                (placed.json()["hold_id"], "lifted", "subject", str(other_child), "records-1")]
            assert "litigation" not in records[-1].value.decode()  # the reason stays in rights
    finally:
        await owner.close()


async def test_a_subject_restricted_in_rights_keeps_the_subjects_other_requests(
        start_rights, responders, infra, rights_db):
    child = uuid.uuid4()
    script(responders, child)
    job_url = infra.disposal_url("rights", database_of(rights_db))
    async with start_rights() as rights:
        policy = collection_policy(rights.settings)
        access = await released(rights)
        restriction = (await rights.create(type="restriction", requester={
            "first_name": "Amira", "last_name": "Hassan", "acting_as": "self"}))["request_id"]
        await rights.reaches(restriction, "awaiting_decision")
        decided = await rights.post(f"/requests/{restriction}/restriction-decision", {
            "outcome": "restricted", "ground": "accuracy_contested", "reason": "the address is disputed"},
            headers=rights.dpo)
        assert decided.status_code == 200, decided.text

        kept = await disposal.run(rights.settings, policy, clock=years_ahead(7), database_url=job_url)
        assert kept.disposed == []
        assert [(r.record_id, [str(h) for h in r.held_by]) for r in kept.held] == [(access, [restriction])]
        assert (await rights.client.get(f"/requests/{access}", headers=rights.officer)).status_code == 200
