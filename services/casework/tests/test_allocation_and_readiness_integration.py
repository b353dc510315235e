"""Allocating cases to officers and what a closure still lacks (issue 15), over HTTP on the real database.

A manager allocates any case of their boroughs; an officer takes an unallocated case of their own borough for
themselves; another borough's officer is answered 404; each allocation is a history entry; the caseload filters
on `allocated_to`. The closure readiness says, reason by reason, what POST .../closure would still refuse.
"""

import uuid
from datetime import date

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]

WESTMINSTER = {"borough": "westminster"}


def officer(stack, sub="officer-ana", borough="westminster"):
    return stack.headers("officer", sub=sub, borough=borough)


def manager(stack, sub="manager-mo"):
    return stack.headers("manager", sub=sub)


async def allocate(stack, case_id, body, headers):
    return await stack.client.post(f"/cases/{case_id}/allocation", json=body, headers=headers)


async def case_of(stack, case_id):
    response = await stack.client.get(f"/cases/{case_id}", headers=manager(stack))
    assert response.status_code == 200, response.text
    return response.json()


async def caseload(stack, headers, allocated_to):
    response = await stack.client.get("/cases", params={"allocated_to": allocated_to, "limit": 500}, headers=headers)
    assert response.status_code == 200, response.text
    return {c["case_id"] for c in response.json()}


async def test_a_manager_allocates_a_case_and_the_history_says_who_to_whom_and_when(shared_stack, make_referral):
    case_id = str(await shared_stack.referral(make_referral(received_on=date(2026, 11, 2))))
    response = await allocate(shared_stack, case_id, {"officer": "officer-bea", "reason": "bea covers this school"},
                              manager(shared_stack))
    assert response.status_code == 200, response.text
    assert response.json()["case"]["allocated_to"] == "officer-bea"

    case = await case_of(shared_stack, case_id)
    assert case["allocated_to"] == "officer-bea"
    allocated = case["history"][-1]
    assert (allocated["kind"], allocated["actor"], allocated["reason"], allocated["detail"]["allocated_to"],
            allocated["detail"]["previous"]) == ("case_allocated", "manager:manager-mo", "bea covers this school",
                                                 "officer-bea", None)
    assert allocated["recorded_at"] and allocated["effective_on"]

    # Reallocating keeps the first entry and adds one; the same officer again changes nothing (409).
    assert (await allocate(shared_stack, case_id, {"officer": "officer-cy"}, manager(shared_stack))).status_code == 200
    same = await allocate(shared_stack, case_id, {"officer": "officer-cy"}, manager(shared_stack))
    assert same.status_code == 409 and same.json()["errors"][0]["code"] == "allocation_unchanged"
    entries = [h for h in (await case_of(shared_stack, case_id))["history"] if h["kind"] == "case_allocated"]
    assert [(e["detail"]["allocated_to"], e["detail"]["previous"]) for e in entries] == [
        ("officer-bea", None), ("officer-cy", "officer-bea")]


async def test_an_officer_takes_an_unallocated_case_for_themselves_only(shared_stack, make_referral):
    case_id = str(await shared_stack.referral(make_referral(received_on=date(2026, 11, 2))))
    for_another = await allocate(shared_stack, case_id, {"officer": "officer-bea"}, officer(shared_stack))
    assert for_another.status_code == 403 and for_another.json()["errors"][0]["code"] == "self_allocation_only"

    taken = await allocate(shared_stack, case_id, {"officer": "officer-ana"}, officer(shared_stack))
    assert taken.status_code == 200, taken.text
    entry = (await case_of(shared_stack, case_id))["history"][-1]
    assert (entry["kind"], entry["actor"], entry["detail"]["allocated_to"]) == (
        "case_allocated", "officer:officer-ana", "officer-ana")

    # Held by Ana now: Bea cannot take it from her; a manager reallocates.
    grab = await allocate(shared_stack, case_id, {"officer": "officer-bea"}, officer(shared_stack, "officer-bea"))
    assert grab.status_code == 403 and grab.json()["errors"][0]["code"] == "allocated_to_another"
    assert (await case_of(shared_stack, case_id))["allocated_to"] == "officer-ana"


async def test_another_boroughs_officer_is_answered_404_and_a_triage_case_needs_its_borough(shared_stack,
                                                                                           make_referral):
    case_id = str(await shared_stack.referral(make_referral(received_on=date(2026, 11, 2))))
    kc = officer(shared_stack, "officer-kc", "kensington_and_chelsea")
    refused = await allocate(shared_stack, case_id, {"officer": "officer-kc"}, kc)
    assert refused.status_code == 404 and refused.json()["errors"][0]["code"] == "case_not_found"
    assert (await shared_stack.client.get(f"/cases/{case_id}/closure-readiness", headers=kc)).status_code == 404
    assert (await case_of(shared_stack, case_id))["allocated_to"] is None
    # The DPO reads cases but allocates none.
    dpo = shared_stack.headers("dpo", sub="dpo-1")
    assert (await allocate(shared_stack, case_id, {"officer": "dpo-1"}, dpo)).status_code == 403

    triage = str(await shared_stack.referral(make_referral(received_on=date(2026, 11, 2), borough=None)))
    unplaced = await allocate(shared_stack, triage, {"officer": "officer-ana"}, manager(shared_stack))
    assert unplaced.status_code == 409 and unplaced.json()["errors"][0]["code"] == "borough_needed"


async def test_the_caseload_filters_on_the_officer_a_case_is_allocated_to(shared_stack, make_referral):
    dee = f"officer-dee-{uuid.uuid4().hex[:6]}"
    mine, theirs, nobodys = [str(await shared_stack.referral(make_referral(received_on=date(2026, 11, 2))))
                             for _ in range(3)]
    assert (await allocate(shared_stack, mine, {"officer": dee}, manager(shared_stack))).status_code == 200
    assert (await allocate(shared_stack, theirs, {"officer": "officer-eli"}, manager(shared_stack))).status_code == 200

    assert await caseload(shared_stack, manager(shared_stack), dee) == {mine}
    assert await caseload(shared_stack, officer(shared_stack, dee), "me") == {mine}
    elis = await caseload(shared_stack, manager(shared_stack), "officer-eli")
    assert theirs in elis and mine not in elis and nobodys not in elis
    # The filter narrows the borough scope, never widens it: K&C's officer sees none of Westminster's.
    assert await caseload(shared_stack, officer(shared_stack, "officer-kc", "kensington_and_chelsea"), dee) == set()
    listed = (await shared_stack.client.get("/cases", params={"allocated_to": dee},
                                            headers=manager(shared_stack))).json()
    assert [c["allocated_to"] for c in listed] == [dee]


async def readiness(stack, case_id, headers=None):
    response = await stack.client.get(f"/cases/{case_id}/closure-readiness", headers=headers or officer(stack))
    assert response.status_code == 200, response.text
    body = response.json()
    return body, {r["reason"]: r for r in body["reasons"]}


def lacks(reason):
    return {(tuple(p["loc"]), p["code"]) for p in reason["lacks"]}


async def test_readiness_of_a_high_risk_case_missing_evidence(shared_stack, make_referral):
    case_id = await shared_stack.referral(make_referral(received_on=date(2026, 11, 2), flags={"child_in_need": True}))
    body, reasons = await readiness(shared_stack, case_id)
    assert (body["status"], body["risk"], body["can_close"]) == ("escalated", "high", False)
    [blocker] = body["blocked_by"]
    assert (blocker["code"], blocker["to"]) == ("escalation_outcome_required", "childrens_social_care")
    assert len(reasons) == 10 and not any(r["ready"] for r in reasons.values())
    assert lacks(reasons["on_roll_elsewhere"]) == {(("evidence", "confirmed_by"), "missing"),
                                                   (("evidence", "school_urn"), "missing"),
                                                   (("evidence", "start_date"), "missing")}
    # Untraced needs enquiries of 3 agencies whatever evidence is given; the case has asked none.
    assert (("evidence",), "enquiries_not_exhausted") in lacks(reasons["untraced_enquiries_exhausted"])
    assert body["agencies_asked"] == [] and body["min_agencies_for_untraced"] == 3
    # The child (born 2014) is of compulsory school age: the case's own date of birth is on file, and says so.
    over_age = reasons["over_compulsory_school_age"]
    assert over_age["evidence_on_file"] == ["date_of_birth"]
    assert lacks(over_age) == {(("evidence", "confirmed_by"), "missing"),
                               (("evidence", "date_of_birth"), "still_of_compulsory_school_age")}
    assert (("evidence",), "one_of_missing") in lacks(reasons["duplicate_or_not_cme"])

    # The outcome recorded, the case no longer blocks; the evidence is still to give.
    officer_headers = officer(shared_stack)
    outcome = await shared_stack.client.post(
        f"/cases/{case_id}/escalations/{blocker['escalation_id']}/outcome", headers=officer_headers,
        json={"outcome": "already_allocated", "outcome_on": "2026-11-03"})
    assert outcome.status_code == 200, outcome.text
    for whom in ("school", "health", "council_tax"):
        made = await shared_stack.client.post(f"/cases/{case_id}/enquiries", headers=officer_headers, json={
            "whom": whom, "asked_on": "2026-11-04", "purpose": "where is the child"})
        assert made.status_code == 201, made.text
    body, reasons = await readiness(shared_stack, case_id)
    assert (body["can_close"], body["blocked_by"], body["agencies_asked"]) == (
        True, [], ["council_tax", "health", "school"])
    assert (("evidence",), "enquiries_not_exhausted") not in lacks(reasons["untraced_enquiries_exhausted"])
    assert not reasons["on_roll_elsewhere"]["ready"]


async def test_readiness_of_a_case_ready_to_close_on_a_new_pupil_return(shared_stack, make_referral):
    child = uuid.uuid4()
    case_id = await shared_stack.referral(make_referral(child=child, received_on=date(2026, 11, 2)))
    await shared_stack.referral(make_referral(child=child, kind="new_pupil_registered",
                                              received_on=date(2026, 11, 20)))
    body, reasons = await readiness(shared_stack, case_id, manager(shared_stack))
    assert (body["status"], body["can_close"], body["blocked_by"]) == ("closure_proposed", True, [])
    on_roll = reasons["on_roll_elsewhere"]
    assert (on_roll["ready"], on_roll["submit"], on_roll["lacks"]) == (True, "closure_proposal_confirm", [])
    assert set(on_roll["evidence_on_file"]) == {"school_urn", "start_date", "confirmed_by"}
    assert [name for name, r in reasons.items() if r["ready"]] == ["on_roll_elsewhere"]

    # What it said is what the closure does: the proposal confirmed with nothing more closes the case.
    confirmed = await shared_stack.client.post(f"/cases/{case_id}/closure-proposal/confirm", json={},
                                               headers=officer(shared_stack))
    assert confirmed.status_code == 200, confirmed.text
    body, _ = await readiness(shared_stack, case_id)
    assert [b["code"] for b in body["blocked_by"]] == ["case_closed"]


async def test_the_readiness_read_is_in_the_access_log_like_the_case_page(shared_stack, make_referral):
    child, carer = uuid.uuid4(), uuid.uuid4()
    case_id = await shared_stack.referral(make_referral(child=child, carers=[carer], received_on=date(2026, 11, 2)))
    await readiness(shared_stack, case_id, {**officer(shared_stack), "X-CME-Purpose": "officer console: case"})
    for subject in (child, carer):
        response = await shared_stack.client.get(f"/access-log?subject_id={subject}",
                                                 headers=shared_stack.headers("dpo", sub="dpo-1"))
        [read] = [e for e in response.json()["entries"] if e["action"] == "case.closure_readiness"]
        assert (read["actor"], read["role"], read["record_id"], read["purpose"]) == (
            "officer-ana", "officer", str(case_id), "officer console: case")
