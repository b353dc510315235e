"""Casework over HTTP on the real database and broker: enquiries, escalation, closure, notes, shares."""

import json
import uuid
from datetime import date

import asyncpg
import pytest

from cme_casework.domain.clocks import next_due
from cme_casework.service_layer.rights import on_restriction
from cme_shared.contracts import topics
from cme_shared.contracts.rights import SubjectRestricted
from cme_shared.testing.kafka import TopicReader

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]

OFFICER = ("officer",)
CONTRACT_FIELDS = {"case_id", "child_subject_id", "status", "borough", "opened_at", "reason", "next_due_date"}
WESTMINSTER = {"borough": "westminster"}


def officer(stack):
    return stack.headers(*OFFICER, sub="officer-ana", **WESTMINSTER)


async def detail(stack, case_id):
    response = await stack.client.get(f"/cases/{case_id}", headers=stack.headers("manager"))
    assert response.status_code == 200, response.text
    return response.json()


async def post(stack, path, body, status=(200, 201), headers=None):
    response = await stack.client.post(path, json=body, headers=headers or officer(stack))
    assert response.status_code in ((status,) if isinstance(status, int) else status), response.text
    return response.json()


async def test_an_enquiry_records_whom_was_asked_and_which_source_confirmed_what(shared_stack, make_referral):
    case_id = await shared_stack.referral(make_referral(received_on=date(2026, 11, 2)))
    made = await post(shared_stack, f"/cases/{case_id}/enquiries", {
        "whom": "council_tax", "organisation": "Westminster council tax", "asked_on": "2026-11-03",
        "purpose": "proof of address"}, 201)
    assert made["case"]["status"] == "enquiries"
    assert made["case"]["next_due_kind"] == "review"
    await post(shared_stack, f"/cases/{case_id}/enquiries/{made['record_id']}/answer", {
        "answered_on": "2026-11-05", "outcome": "information_provided",
        "facts": [{"field": "address", "value": "Flat 3, 10 Example Street", "confirmed_by": "council_tax"},
                  {"field": "household", "value": "mother and two children", "confirmed_by": "housing"}]})
    case = await detail(shared_stack, case_id)
    [enquiry] = case["enquiries"]
    assert (enquiry["whom"], enquiry["asked_on"], enquiry["answered_on"], enquiry["outcome"]) == (
        "council_tax", "2026-11-03", "2026-11-05", "information_provided")
    assert [(f["field"], f["confirmed_by"]) for f in case["facts"]] == [("address", "council_tax"),
                                                                        ("household", "housing")]
    answered = case["history"][-1]
    assert (answered["kind"], answered["category"], answered["source"], answered["actor"]) == (
        "enquiry_answered", "council_tax", "council_tax:Westminster council tax", "officer:officer-ana")
    again = await shared_stack.client.post(f"/cases/{case_id}/enquiries/{made['record_id']}/answer",
                                           json={"answered_on": "2026-11-06", "outcome": "not_known"},
                                           headers=officer(shared_stack))
    assert again.status_code == 409 and again.json()["errors"][0]["code"] == "enquiry_already_answered"


async def test_a_high_risk_case_cannot_close_until_the_escalation_outcome_is_recorded(shared_stack, make_referral):
    case_id = await shared_stack.referral(make_referral(received_on=date(2026, 11, 2), flags={"child_in_need": True}))
    case = await detail(shared_stack, case_id)
    assert (case["status"], case["risk"], case["next_due_kind"], case["next_due_date"]) == (
        "escalated", "high", "escalation", "2026-11-02")
    closure = {"reason": "on_roll_elsewhere", "closed_on": "2026-11-20",
               "evidence": {"school_urn": "123456", "start_date": "2026-11-16", "confirmed_by": "admissions"}}
    refused = await shared_stack.client.post(f"/cases/{case_id}/closure", json=closure, headers=officer(shared_stack))
    assert refused.status_code == 409
    assert refused.json()["errors"][0]["code"] == "escalation_outcome_required"
    escalation_id = case["escalations"][0]["escalation_id"]
    await post(shared_stack, f"/cases/{case_id}/escalations/{escalation_id}/outcome",
               {"outcome": "already_allocated", "outcome_on": "2026-11-03", "summary": "social worker informed"})
    closed = await post(shared_stack, f"/cases/{case_id}/closure", closure)
    assert (closed["case"]["status"], closed["case"]["next_due_date"], closed["case"]["closure_reason"]) == (
        "closed", None, "on_roll_elsewhere")


async def test_a_closure_without_its_evidence_says_what_is_missing(shared_stack, make_referral):
    case_id = await shared_stack.referral(make_referral(received_on=date(2026, 11, 2)))
    response = await shared_stack.client.post(f"/cases/{case_id}/closure", headers=officer(shared_stack), json={
        "reason": "left_england", "evidence": {"kind": "home_office_border_force", "confirmed_by": "officer"}})
    assert response.status_code == 422
    assert {(tuple(e["loc"]), e["code"]) for e in response.json()["errors"]} == {
        (("body", "evidence", "received_on"), "missing")}
    assert (await detail(shared_stack, case_id))["status"] == "open"


async def test_a_note_is_corrected_by_a_new_version_and_the_dpo_attaches_an_addendum(shared_stack, make_referral):
    case_id = await shared_stack.referral(make_referral(received_on=date(2026, 11, 2)))
    note = await post(shared_stack, f"/cases/{case_id}/notes", {
        "kind": "professional_opinion", "category": "education", "text": "the home education offered is unsuitable"})
    await post(shared_stack, f"/cases/{case_id}/notes/{note['record_id']}/corrections",
               {"text": "the home education offered is not yet shown to be suitable", "reason": "fairer wording"})
    await post(shared_stack, f"/cases/{case_id}/notes/{note['record_id']}/addenda",
               {"text": "We follow a full curriculum; see attached timetable.", "rights_request_id": str(uuid.uuid4())},
               headers=shared_stack.headers("dpo", sub="dpo-1"))
    case = await detail(shared_stack, case_id)
    [shown] = case["notes"]
    assert shown["version"] == 2 and shown["text"].startswith("the home education offered is not yet")
    assert [v["text"] for v in shown["versions"]] == ["the home education offered is unsuitable",
                                                      "the home education offered is not yet shown to be suitable"]
    assert [a["actor"] for a in shown["addenda"]] == ["dpo:dpo-1"]
    added, corrected = case["history"][-3], case["history"][-2]
    assert corrected["supersedes"] == added["entry_id"]


async def test_the_history_cannot_be_changed_by_the_services_own_role(shared_stack, make_referral):
    case_id = await shared_stack.referral(make_referral(received_on=date(2026, 11, 2)))
    conn = await asyncpg.connect(shared_stack.database_url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        assert await conn.fetchval("SELECT current_user") == "cme_casework"
        for statement in ("UPDATE case_history SET reason = 'rewritten' WHERE case_id = $1",
                          "DELETE FROM case_history WHERE case_id = $1"):
            with pytest.raises(asyncpg.InsufficientPrivilegeError, match="permission denied"):
                await conn.execute(statement, case_id)
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="permission denied"):
            await conn.execute("TRUNCATE case_history")
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="permission denied"):
            await conn.execute("DELETE FROM restriction_events")
        # The role owns nothing, so granting itself the right back gives it nothing (PostgreSQL only warns);
        # the owner role would still meet the trigger (tests/test_database_roles_integration.py).
        await conn.execute("GRANT UPDATE, DELETE ON case_history TO CURRENT_USER")
        assert not await conn.fetchval("SELECT has_table_privilege('case_history', 'UPDATE')")
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="permission denied"):
            await conn.execute("UPDATE case_history SET reason = 'rewritten' WHERE case_id = $1", case_id)
        with pytest.raises(asyncpg.ForeignKeyViolationError):
            await conn.execute(
                "INSERT INTO case_history (case_id, child_subject_id, kind, actor, reason, effective_on, category, "
                "source, detail, supersedes) VALUES ($1, $2, 'note_corrected', 'x', 'x', now(), 'education', 'x', "
                "'{}', 999999)", case_id, uuid.uuid4())
        assert await conn.fetchval("SELECT count(*) FROM case_history WHERE reason = 'rewritten'") == 0
    finally:
        await conn.close()


async def test_the_projection_is_what_the_history_adds_up_to(shared_stack, make_referral):
    case_id = await shared_stack.referral(make_referral(received_on=date(2026, 11, 2), concern=True))
    case = await detail(shared_stack, case_id)
    await post(shared_stack, f"/cases/{case_id}/escalations/{case['escalations'][0]['escalation_id']}/sent",
               {"sent_on": "2026-11-02", "reference": "MASH-77"})
    await post(shared_stack, f"/cases/{case_id}/reviews", {"summary": "MASH has it", "reviewed_on": "2026-11-20"})
    async with shared_stack.unit_of_work() as uow:
        row, state = await uow.cases.row(case_id), await uow.cases.state(case_id)
    due = next_due(state, uow.policy)
    assert (row["status"], row["risk"], row["next_due_date"], row["next_due_kind"], row["last_entry_id"]) == (
        state.status.value, state.risk.value, due.on, due.kind.value, state.last_entry_id)
    assert (row["status"], row["next_due_kind"]) == ("escalated", "first_enquiries")


async def test_the_overdue_list_shows_passed_deadlines_for_the_officers_borough(shared_stack, make_referral):
    late = await shared_stack.referral(make_referral(received_on=date(2026, 9, 7)))  # first enquiries due 21 Sep
    other_borough = await shared_stack.referral(make_referral(received_on=date(2026, 9, 7),
                                                              borough="kensington_and_chelsea"))
    on_time = await shared_stack.referral(make_referral(received_on=date(2026, 9, 7)))
    await post(shared_stack, f"/cases/{on_time}/enquiries",
               {"whom": "school", "asked_on": "2026-09-08", "purpose": "p"})
    await post(shared_stack, f"/cases/{on_time}/reviews", {"summary": "s", "reviewed_on": "2026-10-02"})
    response = await shared_stack.client.get("/cases/overdue?as_of=2026-10-05", headers=officer(shared_stack))
    listed = {c["case_id"]: c for c in response.json()}
    assert str(late) in listed and str(on_time) not in listed and str(other_borough) not in listed
    assert (listed[str(late)]["next_due_date"], listed[str(late)]["next_due_kind"]) == ("2026-09-21", "first_enquiries")
    dates = [c["next_due_date"] for c in response.json()]
    assert dates == sorted(dates)
    manager = await shared_stack.client.get("/cases/overdue?as_of=2026-10-05", headers=shared_stack.headers("manager"))
    assert str(other_borough) in {c["case_id"] for c in manager.json()}


async def test_cases_are_found_by_upn_child_and_status(shared_stack, make_referral):
    upn = f"A{uuid.uuid4().int % 10**12:012d}"
    child = uuid.uuid4()
    case_id = await shared_stack.referral(make_referral(child=child, upn=upn, received_on=date(2026, 11, 2)))
    for query in (f"upn={upn}", f"child_subject_id={child}", f"upn={upn}&status=open"):
        response = await shared_stack.client.get(f"/cases?{query}", headers=officer(shared_stack))
        [found] = response.json()
        assert found["case_id"] == str(case_id)
        assert set(found) >= CONTRACT_FIELDS
    closed = await shared_stack.client.get(f"/cases?upn={upn}&status=closed", headers=officer(shared_stack))
    assert closed.json() == []
    bad = await shared_stack.client.get("/cases?status=lost", headers=officer(shared_stack))
    assert bad.status_code == 422


def share_events(records, ref: str) -> list[dict]:
    return [json.loads(r.value) for r in records if json.loads(r.value)["share_ref"] == ref]


async def test_an_officers_share_is_made_only_when_a_manager_who_did_not_propose_it_approves(shared_stack,
                                                                                             make_referral):
    child = uuid.uuid4()
    case_id = await shared_stack.referral(make_referral(child=child, received_on=date(2026, 11, 2)))
    share = {"recipient": {"type": "other_local_authority", "org_id": "202", "org_name": "Camden"},
             "purpose": "statutory_transfer", "legal_gateway": "Education Act 1996 s436A; SI 2024/208 reg 13",
             "categories": ["contact", "education"], "fields_released": ["child.first_name", "child.address"],
             "reason": "the family now lives in Camden"}
    manager_mo = shared_stack.headers("manager", sub="manager-mo")
    share_topic = shared_stack.topics(topics.SHARE_EVENTS)
    async with TopicReader(shared_stack.settings.kafka_connection(), share_topic) as shares:
        proposed = await post(shared_stack, f"/cases/{case_id}/shares", share, 201)
        share_id, ref = proposed["record_id"], f"casework:{proposed['record_id']}"
        decision = f"/cases/{case_id}/shares/{share_id}/decision"
        case = await detail(shared_stack, case_id)
        assert case["shares"] == [] and [p["share_id"] for p in case["pending_shares"]] == [share_id]
        pending = (await shared_stack.client.get("/shares/pending", headers=manager_mo)).json()
        assert share_id in [p["share_id"] for p in pending]

        # The officer cannot decide (not a manager); nor can the proposer with a manager's token too.
        approve = {"decision": "approve", "reason": "a statutory transfer, routine"}
        as_officer = await shared_stack.client.post(decision, json=approve, headers=officer(shared_stack))
        assert as_officer.status_code == 403 and as_officer.json()["errors"][0]["code"] == "forbidden_role"
        proposer_as_manager = shared_stack.headers("officer", "manager", sub="officer-ana", **WESTMINSTER)
        own = await shared_stack.client.post(decision, json=approve, headers=proposer_as_manager)
        assert own.status_code == 403 and own.json()["errors"][0]["code"] == "two_person_rule"
        assert "share_made" not in [h["kind"] for h in (await detail(shared_stack, case_id))["history"]]

        made = await post(shared_stack, decision, approve, 200, headers=manager_mo)
        assert made["record_id"] == share_id
        records = await shares.wait_for(lambda rs: bool(share_events(rs, ref)))
        again = await shared_stack.client.post(decision, json=approve,
                                               headers=shared_stack.headers("manager", sub="manager-2"))
        assert again.status_code == 409 and again.json()["errors"][0]["code"] == "share_already_decided"
    [event] = share_events(records, ref)  # nothing was sent for the proposal, one event for the approval
    assert (event["service"], event["subject_ids"], event["purpose"], event["recipient"]["org_name"]) == (
        "casework", [str(child)], "statutory_transfer", "Camden")
    assert (event["proposed_by"], event["decided_by"], event["approval_roles"]) == (
        "officer:officer-ana", "manager:manager-mo", ["manager"])
    assert event["fields_released"] == ["child.first_name", "child.address"]
    assert event["reason"] == "the family now lives in Camden"
    case = await detail(shared_stack, case_id)
    assert [s["share_id"] for s in case["shares"]] == [share_id] and case["pending_shares"] == []
    assert [h["kind"] for h in case["history"]][-2:] == ["share_proposed", "share_made"]
    assert share_id not in [p["share_id"] for p in (await shared_stack.client.get(
        "/shares/pending", headers=manager_mo)).json()]


async def test_a_refused_share_sends_nothing_and_a_restricted_subject_needs_an_exception(shared_stack,
                                                                                        make_referral):
    child = uuid.uuid4()
    case_id = await shared_stack.referral(make_referral(child=child, received_on=date(2026, 11, 2)))
    share = {"recipient": {"type": "school", "org_id": "100002", "org_name": "St Mary's"}, "purpose": "cme_tracking",
             "legal_gateway": "Education Act 1996 s436A", "categories": ["contact", "education"],
             "fields_released": ["child.first_name", "child.upn"], "reason": "the school is asked to admit"}
    manager = shared_stack.headers("manager", sub="manager-mo")
    refused_one = (await post(shared_stack, f"/cases/{case_id}/shares", share, 201))["record_id"]
    waiting = (await post(shared_stack, f"/cases/{case_id}/shares", share, 201))["record_id"]
    async with shared_stack.unit_of_work() as uow:
        await on_restriction(uow, SubjectRestricted(
            event_id=uuid.uuid4(), occurred_at="2026-11-20T10:00:00Z", rights_request_id=uuid.uuid4(),
            subject_ids=[child], reason="accuracy contested"))
        await uow.commit()
    share_topic = shared_stack.topics(topics.SHARE_EVENTS)
    async with TopicReader(shared_stack.settings.kafka_connection(), share_topic) as shares:
        # Refusing shares nothing, so a restriction does not stand in its way.
        await post(shared_stack, f"/cases/{case_id}/shares/{refused_one}/decision",
                   {"decision": "refuse", "reason": "the school is not the right one"}, 200, headers=manager)
        approve = {"decision": "approve", "reason": "routine"}
        blocked = await shared_stack.client.post(f"/cases/{case_id}/shares/{waiting}/decision", json=approve,
                                                 headers=manager)
        assert blocked.status_code == 409 and blocked.json()["errors"][0]["code"] == "subject_restricted"
        exception = {"ground": "protection_of_another_person", "reason": "the child must be tracked for safeguarding"}
        await post(shared_stack, f"/cases/{case_id}/shares/{waiting}/decision",
                   {**approve, "restriction_exception": exception}, 200, headers=manager)
        records = await shares.wait_for(lambda rs: bool(share_events(rs, f"casework:{waiting}")))
    assert share_events(records, f"casework:{refused_one}") == []
    case = await detail(shared_stack, case_id)
    assert [s["share_id"] for s in case["refused_shares"]] == [refused_one]
    assert case["history"][-1]["detail"]["restriction_exception"] == exception


async def test_a_manager_assigns_a_case_to_the_other_borough(shared_stack, make_referral):
    case_id = await shared_stack.referral(make_referral(received_on=date(2026, 11, 2), borough=None))
    assert (await shared_stack.client.get(f"/cases/{case_id}", headers=officer(shared_stack))).status_code == 404
    await post(shared_stack, f"/cases/{case_id}/borough", {"borough": "westminster", "reason": "address confirmed"},
               headers=shared_stack.headers("manager"))
    assert (await shared_stack.client.get(f"/cases/{case_id}", headers=officer(shared_stack))).status_code == 200


async def test_the_projection_is_rebuilt_from_the_history_after_a_change_of_term_dates(shared_stack, make_referral):
    from dataclasses import replace as changed

    from cme_casework.adapters.tables import cases
    from cme_casework.service_layer.rebuild import rebuild_cases

    case_id = await shared_stack.referral(make_referral(received_on=date(2026, 11, 16)))
    sessions = shared_stack.runtime.sessions
    async with sessions.begin() as session:  # the projection damaged (history cannot be)
        await session.execute(cases.update().where(cases.c.case_id == case_id)
                              .values(status="closed", next_due_date=None))
    async with shared_stack.unit_of_work() as uow:
        assert await rebuild_cases(uow, changed(uow.policy, first_enquiries_school_days=5)) >= 1
        await uow.commit()
    async with shared_stack.unit_of_work() as uow:
        row = await uow.cases.row(case_id)
    assert (row["status"], row["next_due_date"], row["next_due_kind"]) == (
        "open", date(2026, 11, 23), "first_enquiries")


async def test_a_share_casework_may_not_make_itself_points_the_officer_to_a_disclosure_request(shared_stack,
                                                                                             make_referral):
    case_id = await shared_stack.referral(make_referral(received_on=date(2026, 11, 2)))
    routine = {"recipient": {"type": "school", "org_id": "100002", "org_name": "St Mary's"}, "purpose": "cme_tracking",
               "legal_gateway": "Education Act 1996 s436A", "categories": ["contact", "education"],
               "fields_released": ["child.first_name", "child.upn"], "reason": "the school is asked to admit"}
    not_ours = [
        {"recipient": {"type": "police", "org_name": "Metropolitan Police"}, "purpose": "crime",
         "legal_gateway": "DPA 2018 Sch 2 Part 1 para 2"},
        {"recipient": {"type": "home_office", "org_name": "Home Office"},
         "legal_gateway": "DPA 2018 Schedule 2 paragraph 4"},
        {"purpose": "safeguarding"},
        {"categories": ["contact", "statutory_services"], "fields_released": ["child.first_name", "child.flags"]},
    ]
    for change in not_ours:
        response = await shared_stack.client.post(f"/cases/{case_id}/shares", json={**routine, **change},
                                                  headers=officer(shared_stack))
        assert response.status_code == 422, response.text
        errors = response.json()["errors"]
        assert errors and all(e["code"] == "share_needs_disclosure_request" for e in errors)
        assert "POST /disclosures" in errors[0]["message"]
    history = (await detail(shared_stack, case_id))["history"]
    assert "share_proposed" not in [h["kind"] for h in history]
    await post(shared_stack, f"/cases/{case_id}/shares", routine, 201)


async def test_triage_cases_are_seen_by_managers_and_the_dpo_until_a_manager_assigns_a_borough(shared_stack,
                                                                                              make_referral):
    case_id = str(await shared_stack.referral(make_referral(received_on=date(2026, 9, 7), borough=None,
                                                            flags={"looked_after": True})))
    manager, dpo = shared_stack.headers("manager", sub="manager-1"), shared_stack.headers("dpo")
    for path in ("/cases?limit=500", "/cases/overdue?as_of=2026-10-05", "/cases/triage"):
        for headers in (manager, dpo):
            response = await shared_stack.client.get(path, headers=headers)
            assert response.status_code == 200 and case_id in response.text, (path, response.text)
    triage = (await shared_stack.client.get("/cases/triage", headers=manager)).json()
    assert next(c for c in triage if c["case_id"] == case_id)["risk"] == "high"
    for path in ("/cases?limit=500", "/cases/overdue?as_of=2026-10-05"):  # it belongs to no officer's borough yet
        assert case_id not in (await shared_stack.client.get(path, headers=officer(shared_stack))).text
    assert (await shared_stack.client.get("/cases/triage", headers=officer(shared_stack))).status_code == 403

    await post(shared_stack, f"/cases/{case_id}/borough", {"borough": "westminster", "reason": "address confirmed"},
               headers=manager)
    assert case_id not in (await shared_stack.client.get("/cases/triage", headers=manager)).text
    assert case_id in (await shared_stack.client.get("/cases?limit=500", headers=officer(shared_stack))).text
    assigned = (await detail(shared_stack, case_id))["history"][-1]
    assert (assigned["kind"], assigned["actor"], assigned["detail"]) == (
        "borough_assigned", "manager:manager-1", {"borough": "westminster", "previous": None})


async def restrict(stack, *subjects) -> None:
    async with stack.unit_of_work() as uow:
        await on_restriction(uow, SubjectRestricted(
            event_id=uuid.uuid4(), occurred_at="2026-11-20T10:00:00Z", rights_request_id=uuid.uuid4(),
            subject_ids=list(subjects), reason="accuracy contested"))
        await uow.commit()


async def test_a_high_risk_referral_about_a_restricted_child_is_acted_on_under_the_safeguarding_exception(
        shared_stack, make_referral):
    child = uuid.uuid4()
    await restrict(shared_stack, child)
    case_id = await shared_stack.referral(make_referral(child=child, kind="child_not_in_school_concern",
                                                        source="police", concern=True, received_on=date(2026, 11, 2)))
    assert case_id is not None
    case = await detail(shared_stack, case_id)
    assert (case["status"], case["risk"], case["next_due_kind"], case["next_due_date"], case["restricted"]) == (
        "escalated", "high", "escalation", "2026-11-02", True)
    automatic = {"ground": "protection_of_another_person", "actor": "system:casework"}
    assert [h["kind"] for h in case["history"]] == ["case_opened", "risk_raised", "escalation_required"]
    for entry in case["history"]:
        exception = entry["detail"]["restriction_exception"]
        assert {k: exception[k] for k in automatic} == automatic and "Art 18(2)" in exception["reason"]
    held = (await shared_stack.client.get("/referrals/held", headers=shared_stack.headers("manager"))).json()
    assert str(child) not in {h["child_subject_id"] for h in held}


async def test_a_held_referral_is_listed_by_borough_and_released_under_an_officers_exception(shared_stack,
                                                                                           make_referral):
    child, unplaced = uuid.uuid4(), uuid.uuid4()
    case_id = await shared_stack.referral(make_referral(child=child, received_on=date(2026, 11, 2)))
    await restrict(shared_stack, child, unplaced)
    assert await shared_stack.referral(make_referral(child=child, kind="child_not_in_school_concern", source="nhs",
                                                     received_on=date(2026, 11, 9))) == case_id
    await shared_stack.referral(make_referral(child=unplaced, kind="failed_to_start", borough=None))
    assert "referral_joined" not in [h["kind"] for h in (await detail(shared_stack, case_id))["history"]]

    def held_for(listing, subject):
        return [h for h in listing.json() if h["child_subject_id"] == str(subject)]

    mine = await shared_stack.client.get("/referrals/held", headers=officer(shared_stack))
    [held] = held_for(mine, child)
    assert (held["case_id"], held["borough"], held["notification_kind"], held["decision"]) == (
        str(case_id), "westminster", "child_not_in_school_concern", "concern_reported")
    assert held_for(mine, unplaced) == []  # no borough yet: a manager's
    rbkc = shared_stack.headers("officer", borough="kensington_and_chelsea")
    assert held_for(await shared_stack.client.get("/referrals/held", headers=rbkc), child) == []
    managers = await shared_stack.client.get("/referrals/held", headers=shared_stack.headers("manager"))
    [unplaced_held] = held_for(managers, unplaced)
    assert unplaced_held["borough"] is None and unplaced_held["case_id"] is None

    exception = {"ground": "protection_of_another_person", "reason": "a sibling is at risk: the child must be traced"}
    release = f"/referrals/held/{held['entry_id']}/release"
    assert (await shared_stack.client.post(release, json=exception, headers=rbkc)).status_code == 404
    assert (await shared_stack.client.post(release, json={"ground": "because"},
                                           headers=officer(shared_stack))).status_code == 422
    released = await post(shared_stack, release, exception, 200)
    assert released["case_id"] == str(case_id)
    history = (await detail(shared_stack, case_id))["history"]
    assert [h["kind"] for h in history[-2:]] == ["referral_released", "referral_joined"]
    recorded = {**exception, "actor": "officer:officer-ana"}
    assert history[-2]["supersedes"] == held["entry_id"] and history[-2]["actor"] == "officer:officer-ana"
    assert history[-2]["detail"]["restriction_exception"] == recorded
    assert history[-1]["detail"]["restriction_exception"] == recorded
    again = await shared_stack.client.post(release, json=exception, headers=officer(shared_stack))
    assert again.status_code == 409 and again.json()["errors"][0]["code"] == "referral_already_released"
    assert held_for(await shared_stack.client.get("/referrals/held", headers=officer(shared_stack)), child) == []

    opened = await post(shared_stack, f"/referrals/held/{unplaced_held['entry_id']}/release", exception, 200,
                        headers=shared_stack.headers("manager", sub="manager-1"))
    assert (await detail(shared_stack, opened["case_id"]))["status"] == "open"  # as it would have been: opened


async def test_an_officer_whose_token_also_says_auditor_sees_only_their_own_borough(shared_stack, make_referral):
    """SEC-14: the auditor role (cross-borough) widens nothing an officer does; the rule follows the role that
    let the request in, so neither the other borough's cases nor the triage cases are in reach."""
    received = {"received_on": date(2026, 9, 7)}
    mine = str(await shared_stack.referral(make_referral(borough="westminster", **received)))
    theirs = str(await shared_stack.referral(make_referral(borough="kensington_and_chelsea", **received)))
    unplaced = str(await shared_stack.referral(make_referral(borough=None, **received)))
    both = shared_stack.headers("officer", "auditor", sub="officer-aud", **WESTMINSTER)

    assert (await shared_stack.client.get(f"/cases/{mine}", headers=both)).status_code == 200
    for other in (theirs, unplaced):
        assert (await shared_stack.client.get(f"/cases/{other}", headers=both)).status_code == 404
        note = await shared_stack.client.post(f"/cases/{other}/notes", headers=both,
                                              json={"kind": "fact", "category": "education", "text": "seen"})
        assert note.status_code == 404
    for path in ("/cases?limit=500", "/cases/overdue?as_of=2027-06-01&limit=1000"):
        listed = (await shared_stack.client.get(path, headers=both)).json()
        ids = {c["case_id"] for c in listed}
        assert mine in ids and not {theirs, unplaced} & ids
        assert {c["borough"] for c in listed} == {"westminster"}
    census = await shared_stack.client.get("/returns/cme-census?census_date=2026-10-01", headers=both)
    assert {row.split(",")[1] for row in census.text.splitlines()[1:]} == {"westminster"}
    other_census = await shared_stack.client.get(
        "/returns/cme-census?census_date=2026-10-01&borough=kensington_and_chelsea", headers=both)
    assert other_census.status_code == 404
    assert (await shared_stack.client.get("/cases/triage", headers=both)).status_code == 403
    # The manager sees all three: the rule reaches further for that role, not for a token with more roles.
    manager = {c["case_id"] for c in (await shared_stack.client.get(
        "/cases?limit=500", headers=shared_stack.headers("manager"))).json()}
    assert {mine, theirs, unplaced} <= manager
