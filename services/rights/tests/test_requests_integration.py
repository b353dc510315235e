"""The clock over HTTP, the DPO's worklist, the audit trail, roles, and the rights answered without gathering."""

import uuid
from datetime import datetime, timedelta

import asyncpg
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.ext.asyncio import create_async_engine

from cme_rights.adapters.tables import metadata
from cme_rights.domain.clock import complaint_acknowledgement_due, one_month_deadline
from cme_shared.clock import LONDON

pytestmark = pytest.mark.integration


def days_ago(n: int) -> str:
    return (datetime.now(LONDON).date() - timedelta(days=n)).isoformat()


async def test_the_clock_stops_for_identity_restarts_on_receipt_and_extends_once_with_reasons(start_rights):
    today = datetime.now(LONDON).date()
    async with start_rights() as rights:
        created = await rights.create(identity_verified=False, received_on=days_ago(3))
        request_id = created["request_id"]
        assert created["status"] == "received"
        assert created["due_date"] == one_month_deadline(today - timedelta(days=3)).isoformat()

        clock = f"/requests/{request_id}/clock"
        asked = await rights.post(clock, {"event": "identity_requested", "on": days_ago(2)})
        assert asked.status_code == 200, asked.text
        assert asked.json() | {"request_id": None} == {"request_id": None, "status": "awaiting_identity",
                                                        "due_date": None, "on_hold": "awaiting_identity",
                                                        "extended": False}
        too_soon = await rights.post(clock, {"event": "extended", "on": days_ago(1), "reason": "complex"})
        assert too_soon.status_code == 409 and too_soon.json()["errors"][0]["code"] == "clock_not_started"

        by_officer = await rights.post(clock, {"event": "identity_received", "on": days_ago(1)})
        assert by_officer.status_code == 403 and by_officer.json()["errors"][0]["code"] == "identity_needs_dpo"
        assert (await rights.get(request_id))["identity_verified"] is False  # and nothing changed
        received = await rights.post(clock, {"event": "identity_received", "on": days_ago(1)}, headers=rights.dpo)
        assert received.json()["status"] == "collecting"  # the search begins once the DPO settles identity
        assert received.json()["due_date"] == one_month_deadline(today - timedelta(days=1)).isoformat()

        no_reason = await rights.post(clock, {"event": "extended", "on": today.isoformat()})
        assert no_reason.status_code == 422 and no_reason.json()["errors"][0]["code"] == "extension_needs_reasons"
        extended = await rights.post(clock, {"event": "extended", "on": today.isoformat(),
                                             "reason": "complex: records in three services and a sibling's file"})
        assert extended.json()["extended"] is True
        first_day = today - timedelta(days=1)
        assert extended.json()["due_date"] > one_month_deadline(first_day).isoformat()
        again = await rights.post(clock, {"event": "extended", "on": today.isoformat(), "reason": "more"})
        assert again.status_code == 409 and again.json()["errors"][0]["code"] == "already_extended"
        late_identity = await rights.post(clock, {"event": "identity_requested", "on": today.isoformat()})
        assert late_identity.status_code == 409 and late_identity.json()["errors"][0]["code"] == "work_started"
        future = await rights.post(clock, {"event": "clarification_requested",
                                           "on": (today + timedelta(days=1)).isoformat()})
        assert future.status_code == 422

        view = await rights.get(request_id)
        assert [(c["event"], c["due_date_after"]) for c in view["clock"]["history"]] == [
            ("identity_requested", None), ("identity_received", received.json()["due_date"]),
            ("extended", extended.json()["due_date"])]
        assert view["clock"]["history"][-1]["reason"].startswith("complex")
        assert view["clock"]["extended"] and view["due_date"] == extended.json()["due_date"]
        assert [(h["from_status"], h["to_status"]) for h in view["history"]] == [
            (None, "received"), ("received", "awaiting_identity"), ("awaiting_identity", "collecting")]


async def test_the_worklist_puts_overdue_requests_first_and_stopped_clocks_last(start_rights):
    async with start_rights() as rights:
        recent = (await rights.create(type="rectification", received_on=days_ago(1)))["request_id"]
        overdue = (await rights.create(type="erasure", received_on=days_ago(45)))["request_id"]
        stopped = (await rights.create(identity_verified=False, received_on=days_ago(2)))["request_id"]
        await rights.post(f"/requests/{stopped}/clock", {"event": "identity_requested", "on": days_ago(1)})
        answered = (await rights.create(type="automated_decision", received_on=days_ago(60)))["request_id"]
        assert (await rights.post(f"/requests/{answered}/approve", headers=rights.dpo)).status_code == 200

        response = await rights.client.get("/worklist", headers=rights.dpo)
        assert response.status_code == 200
        listed = response.json()
        assert [e["request_id"] for e in listed] == [overdue, recent, stopped]  # the answered one is gone
        assert listed[0]["overdue"] is True and listed[0]["days_left"] < 0
        assert listed[1]["overdue"] is False and listed[1]["needs"] == "services: data collection"
        assert listed[2]["due_date"] is None and listed[2]["on_hold"] == "awaiting_identity"
        assert "first_name" not in str(listed)  # a list of ids and dates, not of people


async def test_the_audit_trail_and_clock_history_cannot_be_changed_even_by_the_services_own_role(start_rights):
    async with start_rights() as rights:
        request_id = (await rights.create(identity_verified=False))["request_id"]
        await rights.post(f"/requests/{request_id}/clock", {"event": "identity_requested", "on": days_ago(0)})
        conn = await asyncpg.connect(rights.database_url.replace("postgresql+asyncpg", "postgresql"))
        try:
            for sql in ("UPDATE audit_log SET actor = 'someone-else'", "DELETE FROM audit_log",
                        "UPDATE clock_events SET reason = 'rewritten'", "DELETE FROM clock_events",
                        "TRUNCATE audit_log CASCADE"):
                # Refused twice over: the role holds no such privilege, and a trigger refuses it anyway.
                with pytest.raises(asyncpg.InsufficientPrivilegeError, match="permission denied|append-only"):
                    await conn.execute(sql)
            assert await conn.fetchval("SELECT count(*) FROM audit_log WHERE request_id = $1",
                                       uuid.UUID(request_id)) == 2
            for table in ("audit_log", "clock_events", "decisions"):
                for privilege in ("UPDATE", "DELETE", "TRUNCATE"):
                    assert not await conn.fetchval("SELECT has_table_privilege(current_user, $1, $2)", table, privilege)
                assert await conn.fetchval("SELECT has_table_privilege(current_user, $1, 'INSERT')", table)
        finally:
            await conn.close()


async def test_roles_and_errors_give_nothing_away(start_rights):
    async with start_rights() as rights:
        assert (await rights.client.post("/requests", json={})).status_code == 401
        partner = rights.as_("partner", sub="school-1")
        assert (await rights.post("/requests", {}, headers=partner)).status_code == 403
        bad = await rights.post("/requests", {"type": "access", "received_on": days_ago(0), "channel": "fax",
                                              "requester": {"first_name": "Maryam", "last_name": "Hassan",
                                                            "acting_as": "self"},
                                              "subject": {"first_name": "Maryam", "last_name": "Hassan"}})
        assert bad.status_code == 422 and "Maryam" not in bad.text and "Hassan" not in bad.text
        assert [e["loc"] for e in bad.json()["errors"]] == [["body", "channel"]]
        future = await rights.post("/requests", {**_minimal(), "received_on": "2999-01-01"})
        assert future.status_code == 422 and future.json()["errors"][0]["code"] == "received_in_future"
        missing = await rights.client.get(f"/requests/{uuid.uuid4()}", headers=rights.officer)
        assert missing.status_code == 404 and missing.json()["errors"][0]["code"] == "not_found"


async def test_the_api_and_the_topics_are_documented(start_rights):
    async with start_rights() as rights:
        paths = (await rights.client.get("/openapi.json")).json()["paths"]
        assert {"/requests", "/requests/{request_id}", "/requests/{request_id}/clock", "/requests/{request_id}/approve",
                "/requests/{request_id}/response", "/worklist"} <= set(paths)
        channels = (await rights.client.get("/asyncapi.json")).json()["channels"]
        assert {c["address"] for c in channels.values()} == {
            rights.settings.topic_namespace + t for t in (
                "cme.rights.data-collection-requests.v1", "cme.rights.data-collection-replies.intake.v1",
                "cme.rights.data-collection-replies.casework.v1", "cme.rights.data-collection-replies.disclosure.v1",
                "cme.rights.events.v1", "cme.disclosure.share-events.v1", "cme.retention.disposals.v1",
                "cme.retention.legal-holds.v1")}


def _minimal() -> dict:
    return {"type": "access", "received_on": days_ago(0), "channel": "web",
            "requester": {"first_name": "A", "last_name": "B", "acting_as": "self"},
            "subject": {"first_name": "A", "last_name": "B"}}


async def test_automated_decision_making_is_answered_from_the_register_and_released_by_a_dpo(start_rights):
    async with start_rights() as rights:
        created = await rights.create(type="automated_decision", identity_verified=False)
        assert created["status"] == "ready_for_review"
        officer_draft = await rights.client.get(f"/requests/{created['request_id']}/draft", headers=rights.officer)
        assert officer_draft.status_code == 403  # drafts are for the DPO
        draft = (await rights.client.get(f"/requests/{created['request_id']}/draft", headers=rights.dpo)).json()
        assert "Arts 22A-22D" in draft["statement"] and "We do not profile you" in draft["statement"]
        # only casework's three fixed rules run without an officer, and they say what anyone can do about them
        automatic = [entry for entry in draft["register"] if entry["solely_automated"]]
        assert [entry["name"] for entry in automatic] == [
            "a referral recorded without a case (casework)",
            "a ground (a) deletion with a known destination closed off with no human look (casework)",
            "a school attendance notice left unanswered opens a case (casework)"]
        assert all("contest it" in entry["safeguards"] for entry in automatic)
        assert not any(entry["profiling"] for entry in draft["register"])
        assert (await rights.post(f"/requests/{created['request_id']}/approve", headers=rights.dpo)).status_code == 200
        pdf = await rights.client.get(f"/requests/{created['request_id']}/response?format=pdf", headers=rights.officer)
        assert pdf.content.startswith(b"%PDF-")


async def test_a_complaint_is_acknowledged_within_30_days_investigated_and_answered_with_the_ico_route(start_rights):
    async with start_rights() as rights:
        created = await rights.create(type="complaint", channel="web", received_on=days_ago(3),
                                      requester={"first_name": "Maryam", "last_name": "Hassan", "acting_as": "self"},
                                      details="my request was answered late")
        request_id = created["request_id"]
        received_on = datetime.now(LONDON).date() - timedelta(days=3)
        assert created["status"] == "received"
        assert created["due_date"] == complaint_acknowledgement_due(received_on).isoformat()
        no_clock = await rights.post(f"/requests/{request_id}/clock", {"event": "extended", "on": days_ago(0),
                                                                       "reason": "x"})
        assert no_clock.status_code == 409 and no_clock.json()["errors"][0]["code"] == "complaint_clock"

        ack = await rights.post(f"/requests/{request_id}/complaint-acknowledgement", {"on": days_ago(1)})
        assert ack.status_code == 200 and ack.json()["status"] == "investigating"
        assert ack.json()["decision"]["late"] is False
        assert (await rights.post(f"/requests/{request_id}/complaint-acknowledgement",
                                  {"on": days_ago(0)})).status_code == 409
        body = {"outcome": "upheld", "findings": "the response was sent 4 days late",
                "actions": "weekly worklist review"}
        own = await rights.post(f"/requests/{request_id}/complaint-outcome", body)  # who recorded it
        assert own.status_code == 403 and own.json()["errors"][0]["code"] == "same_person"
        outcome = await rights.post(f"/requests/{request_id}/complaint-outcome", body, headers=rights.officer2)
        assert outcome.json()["status"] == "ready_for_review"
        assert (await rights.post(f"/requests/{request_id}/approve", headers=rights.dpo)).status_code == 200
        answer = (await rights.client.get(f"/requests/{request_id}/response", headers=rights.officer)).json()
        assert answer["outcome"]["outcome"] == "upheld" and answer["acknowledged_on"] == days_ago(1)
        assert answer["if_not_satisfied"]["complaint_to_ico"]["website"].startswith("https://ico.org.uk")
        assert "Art 79" in answer["if_not_satisfied"]["judicial_remedy"]


async def test_a_dpo_may_refuse_a_manifestly_excessive_request_with_written_reasons(start_rights):
    async with start_rights() as rights:
        request_id = (await rights.create(identity_verified=False))["request_id"]
        body = {"basis": "manifestly_excessive", "reason": "the fifth identical request this month"}
        assert (await rights.post(f"/requests/{request_id}/refusal", body)).status_code == 403  # officers may not
        refused = await rights.post(f"/requests/{request_id}/refusal", body, headers=rights.dpo)
        assert refused.json()["status"] == "ready_for_review"
        assert (await rights.post(f"/requests/{request_id}/approve", headers=rights.dpo)).status_code == 200
        answer = (await rights.client.get(f"/requests/{request_id}/response", headers=rights.officer)).json()
        assert answer["decision"]["basis"].startswith("UK GDPR Art 12(5)(b)")
        assert answer["decision"]["reasons"] == body["reason"]
        assert answer["remedies"]["complaint_to_ico"]["name"] == "Information Commissioner's Office"


async def test_the_migrations_build_exactly_the_tables_the_code_uses(rights_db):
    engine = create_async_engine(rights_db)
    try:
        async with engine.connect() as conn:
            differences = await conn.run_sync(
                lambda sync: compare_metadata(MigrationContext.configure(sync, opts={"compare_type": True}), metadata))
    finally:
        await engine.dispose()
    assert differences == []
