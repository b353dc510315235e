"""Complaints the public can make (DPA 2018 s164A), over HTTP on the real database: no token, acknowledged
within 30 days of receipt, throttled per client network, progress and outcome recorded, the DPO's alone."""

from datetime import datetime

import pytest

from cme_rights.domain.clock import complaint_acknowledgement_due
from cme_shared.clock import LONDON

pytestmark = pytest.mark.integration

COMPLAINT = {
    "complainant": {"first_name": "Maryam", "last_name": "Hassan", "email": "maryam.hassan@example.org"},
    "about": "my daughter's records were shared with the wrong school",
    "child": {"first_name": "Amira", "last_name": "Hassan", "date_of_birth": "2016-04-02"},
}


async def test_a_member_of_the_public_complains_without_a_token_and_learns_the_acknowledgement_due_date(
        start_rights, capsys):
    async with start_rights() as rights:
        sent = await rights.client.post("/public/complaints", json=COMPLAINT)
        assert sent.status_code == 202, sent.text
        answer = sent.json()
        assert set(answer) == {"reference", "acknowledgement_due"}
        received_on = datetime.now(LONDON).date()
        assert answer["acknowledgement_due"] == complaint_acknowledgement_due(received_on).isoformat()
        reference = answer["reference"]

        # It is the DPO's: on the DPO's worklist, needing an acknowledgement; no officer can read it.
        listed = (await rights.client.get("/worklist", headers=rights.dpo)).json()
        entry = next(e for e in listed if e["request_id"] == reference)
        assert entry["type"] == "complaint" and entry["status"] == "received" and "acknowledge" in entry["needs"]
        assert (await rights.client.get(f"/requests/{reference}", headers=rights.kc_officer)).status_code == 404
        assert reference not in [e["request_id"] for e in (await rights.client.get(
            "/worklist", headers=rights.kc_officer)).json()]
        detail = await rights.get(reference, headers=rights.dpo)
        assert detail["type"] == "complaint" and detail["channel"] == "web"
        assert detail["received_on"] == received_on.isoformat()

        progress = await rights.post(f"/requests/{reference}/progress",
                                     {"on": received_on.isoformat(), "text": "we have asked the school"},
                                     headers=rights.dpo)
        assert progress.status_code == 200, progress.text
        ack = await rights.post(f"/requests/{reference}/complaint-acknowledgement", {"on": received_on.isoformat()},
                                headers=rights.dpo)
        assert ack.status_code == 200 and ack.json()["status"] == "investigating"
        outcome = await rights.post(f"/requests/{reference}/complaint-outcome",
                                    {"outcome": "upheld", "findings": "the records went to the wrong school"},
                                    headers=rights.dpo)
        assert outcome.status_code == 200, outcome.text
        detail = await rights.get(reference, headers=rights.dpo)
        kinds = [d["kind"] for d in detail["decisions"]]
        assert {"complaint_progress", "complaint_acknowledged", "complaint_outcome"} <= set(kinds)
        assert (await rights.post(f"/requests/{reference}/approve", headers=rights.dpo2)).status_code == 200
        released = (await rights.client.get(f"/requests/{reference}/response", headers=rights.dpo)).json()
        assert released["outcome"]["findings"] == "the records went to the wrong school"
        assert released["if_not_satisfied"]["complaint_to_ico"]["helpline"] == "0303 123 1113"
    logs = capsys.readouterr()
    assert "Hassan" not in logs.out + logs.err and "example.org" not in logs.out + logs.err


async def test_the_public_form_refuses_a_token_less_mistake_in_the_one_error_shape_without_echo(start_rights):
    async with start_rights() as rights:
        unknown = await rights.client.post("/public/complaints", json={**COMPLAINT, "priority": "Hassan-urgent"})
        assert unknown.status_code == 422 and "Hassan" not in unknown.text
        assert set(unknown.json()) == {"errors"}
        no_contact = await rights.client.post("/public/complaints", json={
            **COMPLAINT, "complainant": {"first_name": "Maryam", "last_name": "Hassan"}})
        assert no_contact.status_code == 422 and "Hassan" not in no_contact.text
        big = await rights.client.post("/public/complaints", json={**COMPLAINT, "about": "x" * 2_000_000})
        assert big.status_code == 413 and big.json()["errors"][0]["code"] == "body_too_large"
        # An officer's route still needs its token.
        assert (await rights.client.post("/requests/00000000-0000-0000-0000-000000000000/progress",
                                         json={"on": "2026-12-01", "text": "x"})).status_code == 401


async def test_too_many_complaints_from_one_network_answer_429_in_the_one_error_shape(start_rights):
    async with start_rights(public_complaint_burst=2, public_complaint_per_minute=0.01) as rights:
        answers = [await rights.client.post("/public/complaints", json=COMPLAINT) for _ in range(3)]
        assert [a.status_code for a in answers] == [202, 202, 429]
        refused = answers[2].json()
        assert refused == {"errors": [{"loc": [], "code": "rate_limited", "message": refused["errors"][0]["message"]}]}
        assert int(answers[2].headers["retry-after"]) >= 1  # and says when to try again
        assert "Hassan" not in answers[2].text


async def test_the_dpo_gives_a_public_complaint_its_borough_and_that_boroughs_officers_can_then_act_on_it(
        start_rights):
    """A complaint from the public form names no borough, so at first only the DPO sees it; once the DPO says
    which borough it concerns, its officers may investigate it (and the other borough still cannot see it)."""
    async with start_rights() as rights:
        reference = (await rights.client.post("/public/complaints", json=COMPLAINT)).json()["reference"]
        assert (await rights.client.get(f"/requests/{reference}", headers=rights.officer)).status_code == 404
        refused = await rights.post(f"/requests/{reference}/borough", {"borough": "westminster", "reason": "r"},
                                    headers=rights.officer)
        assert refused.status_code in (403, 404)
        bad = await rights.post(f"/requests/{reference}/borough", {"borough": "camden", "reason": "r"},
                                headers=rights.dpo)
        assert bad.status_code == 422 and bad.json()["errors"][0]["loc"][-1] == "borough"
        given = await rights.post(f"/requests/{reference}/borough",
                                  {"borough": "westminster", "reason": "the school named is in Westminster"},
                                  headers=rights.dpo)
        assert given.status_code == 200, given.text
        assert given.json()["borough"] == "westminster"
        assert (await rights.client.get(f"/requests/{reference}", headers=rights.officer)).status_code == 200
        assert (await rights.client.get(f"/requests/{reference}", headers=rights.kc_officer)).status_code == 404
        assert reference in [e["request_id"] for e in (await rights.client.get(
            "/worklist", headers=rights.officer)).json()]
        again = await rights.post(f"/requests/{reference}/borough", {"borough": "kensington_and_chelsea", "reason": "r"},
                                  headers=rights.dpo)
        assert again.status_code == 409 and again.json()["errors"][0]["code"] == "borough_already_set"
        detail = await rights.get(reference, headers=rights.dpo)
        assert "borough_assigned" in [d["kind"] for d in detail["decisions"]]
