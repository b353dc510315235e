"""Who may see and do what with a rights request (issue 13, SEC-06, SEC-12, SEC-16), on the real broker and
database: boroughs, the DPO's own powers, the second person, and the record of who looked.

The three "Done when" lines of issue 13 that concern rights are the first three tests."""

import json
import uuid
from datetime import UTC, datetime

import asyncpg
import pytest

from cme_shared.clock import LONDON
from cme_shared.contracts import topics
from cme_shared.contracts.categories import DataCategory
from cme_shared.contracts.rights import DataItem, SubjectMatch
from cme_shared.testing.kafka import TopicReader, eventually

pytestmark = pytest.mark.integration

AT = datetime(2026, 3, 1, 9, tzinfo=UTC)
KC, W = "kensington_and_chelsea", "westminster"


def child_in(responders, borough: str) -> uuid.UUID:
    """The identity index knows the subject as one child, referred in `borough`; the services hold a record."""
    child = uuid.uuid4()
    responders.subject_matches = [SubjectMatch(subject_id=child, subject_type="child", match="exact_identifier",
                                               boroughs=[borough])]
    for service in ("intake", "casework", "disclosure"):
        responders.items[service] = [DataItem(
            service=service, record_type="note", record_id=f"{service}-1", subject_id=child,
            category=DataCategory.EDUCATION, source="CME officer", recorded_at=AT, data={"text": "seen at home"},
            **({"recipient": {"type": "school", "org_name": "Hallfield Primary School"}}
               if service == "disclosure" else {}))]
    return child


def today() -> str:
    return datetime.now(LONDON).date().isoformat()


def errors(response) -> list[str]:
    return [e["code"] for e in response.json()["errors"]]


async def test_a_westminster_officer_cannot_create_list_read_or_decide_a_request_about_a_kc_child(
    start_rights, responders, infra, namespace
):
    child_in(responders, KC)
    async with start_rights() as rights, TopicReader(infra.kafka, namespace(topics.RIGHTS_EVENTS)) as sent:
        # The Westminster officer records a restriction request about the child; the DPO verifies identity.
        request_id = (await rights.create(type="restriction"))["request_id"]
        view = await rights.reaches(request_id, "awaiting_decision", headers=rights.dpo)
        # The identity index says where the child's records are: the request is Kensington and Chelsea's.
        assert view["borough"] == KC
        assigned = [h for h in view["history"] if h["action"] == "borough_assigned"]
        assert [h["detail"] for h in assigned] == [{"from": W, "to": KC}]

        unknown = await rights.client.get(f"/requests/{uuid.uuid4()}", headers=rights.officer)
        restriction = {"outcome": "restricted", "ground": "accuracy_contested", "reason": "the address is disputed"}
        attempts = {
            "read": await rights.client.get(f"/requests/{request_id}", headers=rights.officer),
            "decide (another officer)": await rights.post(f"/requests/{request_id}/restriction-decision",
                                                          restriction, headers=rights.officer2),
            "decide (the creator)": await rights.post(f"/requests/{request_id}/restriction-decision", restriction),
            "clock": await rights.post(f"/requests/{request_id}/clock",
                                       {"event": "clarification_requested", "on": today()}),
            "collect": await rights.post(f"/requests/{request_id}/collect"),
            "response": await rights.client.get(f"/requests/{request_id}/response", headers=rights.officer),
            "lift": await rights.post(f"/requests/{request_id}/restriction-lift",
                                      {"reason": "r", "requester_informed_on": today()}, headers=rights.officer2),
        }
        for name, response in attempts.items():
            # Exactly the answer for an id that does not exist: nothing says the request is there.
            assert (response.status_code, response.json()) == (404, unknown.json()), name
        worklist = (await rights.client.get("/worklist", headers=rights.officer)).json()
        assert request_id not in [e["request_id"] for e in worklist]

        # Kensington and Chelsea's officers and the DPO have it.
        assert (await rights.get(request_id, headers=rights.kc_officer))["borough"] == KC
        kc_list = (await rights.client.get("/worklist", headers=rights.kc_officer)).json()
        assert [(e["request_id"], e["borough"]) for e in kc_list] == [(request_id, KC)]
        dpo_list = (await rights.client.get("/worklist", headers=rights.dpo)).json()
        assert request_id in [e["request_id"] for e in dpo_list]
        proposed = await rights.post(f"/requests/{request_id}/restriction-decision", restriction,
                                     headers=rights.kc_officer)
        assert proposed.status_code == 200 and proposed.json()["status"] == "awaiting_approval", proposed.text

        # A request about a Westminster child stays Westminster's: the K&C officer cannot see it.
        child_in(responders, W)
        own = (await rights.create(type="restriction"))["request_id"]
        assert (await rights.reaches(own, "awaiting_decision"))["borough"] == W
        assert (await rights.client.get(f"/requests/{own}", headers=rights.kc_officer)).status_code == 404
        assert own not in [e["request_id"] for e in (await rights.client.get("/worklist",
                                                                              headers=rights.kc_officer)).json()]
        await sent.settle(0.5)
        assert sent.records == []  # nobody's attempt restricted anything


async def test_an_officer_cannot_mark_identity_verified(start_rights, request_body):
    rights_request = request_body
    async with start_rights() as rights:
        # CONTRACT section 4 lets an officer send the flag: the request is recorded, identity not verified,
        # and the answer says why; the search waits for the DPO.
        for who in (rights.officer, rights.as_("officer", "dpo", sub="officer-3", borough=W)):  # the narrower role
            taken = await rights.post("/requests", rights_request(identity_verified=True), who)
            assert taken.status_code == 201 and [w["code"] for w in taken.json()["warnings"]] == ["identity_needs_dpo"]
            assert taken.json()["status"] != "collecting"
            assert (await rights.get(taken.json()["request_id"]))["identity_verified"] is False
        by_dpo = await rights.post("/requests", rights_request(identity_verified=True), rights.dpo)
        assert by_dpo.status_code == 201 and by_dpo.json()["warnings"] == []

        request_id = (await rights.create(identity_verified=False))["request_id"]
        clock = f"/requests/{request_id}/clock"
        by_officer = await rights.post(clock, {"event": "identity_received", "on": today()})
        assert by_officer.status_code == 403 and errors(by_officer) == ["identity_needs_dpo"]
        view = await rights.get(request_id)
        assert (view["identity_verified"], view["status"], view["clock"]["history"]) == (False, "received", [])
        assert (await rights.post(clock, {"event": "identity_requested", "on": today()})).status_code == 200

        verified = await rights.post(clock, {"event": "identity_received", "on": today()}, headers=rights.dpo)
        assert verified.status_code == 200 and verified.json()["status"] == "collecting"
        view = await rights.get(request_id)
        assert view["identity_verified"] is True
        assert [(c["event"], c["recorded_by"]) for c in view["clock"]["history"]] == [
            ("identity_requested", "officer-1"), ("identity_received", "dpo-1")]

        # The DPO's own request, identity verified when recorded, belongs to no borough yet: no officer sees it.
        by_dpo = await rights.post("/requests", rights_request(identity_verified=True), rights.dpo)
        assert by_dpo.status_code == 201 and by_dpo.json()["status"] == "collecting"
        assert (await rights.client.get(f"/requests/{by_dpo.json()['request_id']}",
                                        headers=rights.officer)).status_code == 404


async def test_an_officers_rectification_changes_nothing_until_the_dpo_approves_it(
    start_rights, responders, infra, namespace
):
    child = child_in(responders, W)
    correction = {"corrections": [{"subject_id": str(child), "field": "date_of_birth", "new_value": "2016-04-02",
                                   "reason": "birth certificate seen"}], "reason": "one factual error"}
    async with start_rights() as rights, TopicReader(infra.kafka, namespace(topics.RIGHTS_EVENTS)) as sent:
        request_id = (await rights.create(type="rectification"))["request_id"]
        await rights.reaches(request_id, "awaiting_decision")
        decide, approve = f"/requests/{request_id}/rectification-decision", f"/requests/{request_id}/proposal-decision"

        own = await rights.post(decide, correction)  # the officer who recorded the request
        assert own.status_code == 403 and errors(own) == ["same_person"]
        proposed = await rights.post(decide, correction, headers=rights.officer2)
        assert proposed.status_code == 200, proposed.text
        assert proposed.json()["status"] == "awaiting_approval" and proposed.json()["proposed"] is True
        view = await rights.get(request_id)
        assert view["pending_proposal"]["kind"] == "rectification"
        assert view["pending_proposal"]["proposed_by"] == "officer-2"
        assert view["response_ready"] is False  # nothing to review or release yet

        # Nobody but a second person, who is a DPO, makes it take effect.
        assert (await rights.post(approve, {"outcome": "approved"}, headers=rights.officer2)).status_code == 403
        same = await rights.post(approve, {"outcome": "approved"}, headers=rights.as_("dpo", sub="officer-2"))
        assert same.status_code == 403 and errors(same) == ["same_person"]
        again = await rights.post(decide, correction, headers=rights.officer2)
        assert again.status_code == 409 and errors(again) == ["proposal_pending"]
        unreasoned = await rights.post(approve, {"outcome": "rejected"}, headers=rights.dpo)
        assert unreasoned.status_code == 422
        rejected = await rights.post(approve, {"outcome": "rejected", "reason": "the certificate is not legible"},
                                     headers=rights.dpo)
        assert rejected.status_code == 200 and rejected.json()["status"] == "awaiting_decision", rejected.text
        await sent.settle(1.0)
        assert sent.records == []  # proposed, then rejected: no service was told to change anything

        assert (await rights.post(decide, correction, headers=rights.officer2)).status_code == 200
        approved = await rights.post(approve, {"outcome": "approved", "reason": "a legible copy was provided"},
                                     headers=rights.dpo)
        assert approved.status_code == 200 and approved.json()["status"] == "ready_for_review", approved.text
        [record] = await sent.wait_for(lambda rs: len(rs) >= 1)
        event = json.loads(record.value)
        assert (event["kind"], event["subject_id"], event["field"], event["new_value"], event["decided_by"]) == (
            "factual_rectification", str(child), "date_of_birth", "2016-04-02", "dpo-1")

        view = await rights.get(request_id)
        assert view["pending_proposal"] is None
        assert [(d["kind"], d["decided_by"]) for d in view["decisions"]] == [
            ("rectification_proposed", "officer-2"), ("rectification_rejected", "dpo-1"),
            ("rectification_proposed", "officer-2"), ("rectification", "dpo-1")]
        approval = [h for h in view["history"] if h["action"] == "proposal_approved"]
        assert [(h["actor"], h["detail"]) for h in approval] == [
            ("dpo-1", {"kind": "rectification", "proposed_by": "officer-2"})]
        # The letter names no member of staff.
        draft = (await rights.client.get(f"/requests/{request_id}/draft", headers=rights.dpo)).json()
        assert "officer-2" not in json.dumps(draft)


async def test_every_read_of_a_request_is_in_the_access_log_and_in_the_next_pack(start_rights, responders):
    child = child_in(responders, W)
    async with start_rights() as rights:
        await rights.consuming(responders)
        request_id = (await rights.create())["request_id"]
        await rights.reaches(request_id, "ready_for_review", headers=rights.dpo)
        purpose = {"x-cme-purpose": "checking the pack before release"}
        assert (await rights.client.get(f"/requests/{request_id}/draft",
                                        headers=rights.dpo | purpose)).status_code == 200
        assert (await rights.post(f"/requests/{request_id}/approve", headers=rights.dpo)).status_code == 200
        assert (await rights.client.get(f"/requests/{request_id}", headers=rights.officer)).status_code == 200
        pdf = await rights.client.get(f"/requests/{request_id}/response?format=pdf", headers=rights.officer)
        again = await rights.client.get(f"/requests/{request_id}/response?format=pdf", headers=rights.officer)
        assert pdf.content.startswith(b"%PDF-") and again.content == pdf.content  # printed once, then kept

        log = await rights.client.get("/access-log", params={"subject_id": str(child)}, headers=rights.dpo)
        assert log.status_code == 200
        entries = log.json()["entries"]
        seen = {(e["action"], e["role"], e["borough"], e["returned"]) for e in entries}
        assert {("rights_draft.read", "dpo", None, "prepared response pack (draft, json)"),
                ("rights_request.read", "officer", W, "rights request detail (requester, subject, history)"),
                ("rights_response.read", "officer", W, "released response pack (pdf)")} <= seen
        assert sum(e["action"] == "rights_response.read" for e in entries) == 2  # each download is a read
        draft_read = next(e for e in entries if e["action"] == "rights_draft.read")
        assert draft_read["purpose"] == "checking the pack before release" and draft_read["record_id"] == request_id
        assert all(e["subject_id"] == str(child) for e in entries)

        # The child's next subject access pack names who looked, by role and service (Art 15(1)(c)).
        second = (await rights.create())["request_id"]
        await rights.reaches(second, "ready_for_review", headers=rights.dpo)
        pack = (await rights.client.get(f"/requests/{second}/draft", headers=rights.dpo)).json()
        within = {r["org_name"] for r in pack["recipients"] if r["type"] == "council_staff"}
        assert {"council staff (officer), rights service", "council staff (dpo), rights service"} <= within
        assert "officer-1" not in json.dumps(pack)  # by role, never the member of staff's name


async def test_collected_answers_are_deleted_once_the_release_is_old_enough(start_rights, responders):
    """SEC-18: the stored chunks (a copy of every service's data) go `chunk_retention_days` after release."""
    child_in(responders, W)
    async with start_rights(chunk_prune_interval_seconds=0.2, chunk_retention_days=30) as rights:
        await rights.consuming(responders)
        old, recent, unreleased = [(await rights.create())["request_id"] for _ in range(3)]
        for request_id in (old, recent, unreleased):
            await rights.reaches(request_id, "ready_for_review", headers=rights.dpo)
        for request_id in (old, recent):
            assert (await rights.post(f"/requests/{request_id}/approve", headers=rights.dpo)).status_code == 200
        conn = await asyncpg.connect(rights.database_url.replace("postgresql+asyncpg", "postgresql"))
        try:
            async def chunks(request_id: str) -> int:
                return await conn.fetchval(
                    "SELECT count(*) FROM ask_chunks JOIN asks USING (ask_id) WHERE asks.request_id = $1",
                    uuid.UUID(request_id))

            assert [await chunks(r) for r in (old, recent, unreleased)] == [3, 3, 3]
            await conn.execute("UPDATE rights_requests SET approved_at = now() - interval '31 days' "
                               "WHERE request_id = $1", uuid.UUID(old))

            async def pruned() -> bool:
                return await chunks(old) == 0

            await eventually(pruned, timeout=20)
            assert [await chunks(r) for r in (recent, unreleased)] == [3, 3]  # too recent, or not released
        finally:
            await conn.close()
        released = await rights.client.get(f"/requests/{old}/response", headers=rights.officer)
        assert released.status_code == 200 and released.json()["summary"]["records"] >= 3  # the pack stays
