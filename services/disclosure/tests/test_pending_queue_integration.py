"""The second person's queue, GET /disclosures/pending, through the running service on real PostgreSQL and
Kafka: pending requests a decider may decide, oldest first; never their own; only those the policy row lets
their roles decide; gone once decided; for managers and the DPO only; each child listed in the access log."""

import uuid

import pytest

pytestmark = pytest.mark.integration

WESTMINSTER, KC = "westminster", "kensington_and_chelsea"
APPROVE = {"decision": "approve", "reason": "needed", "sign_off_rank": "Detective Inspector"}


def police_request(subject: uuid.UUID, **overrides) -> dict:
    body = {
        "subject_ids": [str(subject)],
        "recipient": {"type": "police", "org_id": "MPS", "org_name": "Metropolitan Police Service",
                      "requester_name": "DC Example", "requester_role": "investigating officer",
                      "requester_rank": "Detective Inspector"},
        "purpose": "crime", "legal_gateway": "DPA 2018 Sch 2 Part 1 para 2", "reference": "CAD 4411/26",
        "categories": ["contact", "demographics"],
        "reason": "locating a child who is a witness in a serious assault investigation",
    }
    return {**body, **overrides}


def home_office_request(subject: uuid.UUID) -> dict:
    return police_request(subject, recipient={"type": "home_office", "org_name": "Home Office",
                                              "requester_name": "HO", "requester_role": "caseworker"},
                          purpose="immigration", legal_gateway="Immigration and Asylum Act 1999 s20",
                          reference=None, categories=["contact"])


async def queue(client, headers: dict, **params) -> list[dict]:
    answer = await client.get("/disclosures/pending", params=params, headers=headers)
    assert answer.status_code == 200, answer.text
    return answer.json()


async def ask(client, headers: dict, body: dict) -> dict:
    created = await client.post("/disclosures", json=body, headers=headers)
    assert created.status_code == 201, created.text
    return created.json()


async def test_the_queue_holds_what_this_decider_may_decide_oldest_first_and_never_their_own(client, token):
    westminster_child, kc_child, ho_child, own_child = (uuid.uuid4() for _ in range(4))
    first = await ask(client, token("officer", sub="olive", borough=WESTMINSTER), police_request(westminster_child))
    second = await ask(client, token("officer", sub="kit", borough=KC), police_request(kc_child))
    home_office = await ask(client, token("officer", sub="olive", borough=WESTMINSTER), home_office_request(ho_child))
    own = await ask(client, token("manager", sub="maria"), police_request(own_child))
    refused = await ask(client, token("officer", sub="olive", borough=WESTMINSTER),
                        police_request(uuid.uuid4(), purpose="cme_tracking"))  # not in the policy: refused now
    assert [r["status"] for r in (first, second, home_office, own, refused)] == ["pending"] * 4 + ["refused"]

    # A manager: both boroughs' police requests, oldest first; not the Home Office share (the DPO's alone),
    # not their own request, not the refused one.
    maria = await queue(client, token("manager", sub="maria"))
    assert [r["disclosure_id"] for r in maria] == [first["disclosure_id"], second["disclosure_id"]]
    assert maria[0]["subject_ids"] == [str(westminster_child)] and maria[0]["requested_by"] == "olive"

    # Another manager sees the first manager's request too.
    mo = await queue(client, token("manager", sub="mo"))
    assert [r["disclosure_id"] for r in mo] == [first["disclosure_id"], second["disclosure_id"], own["disclosure_id"]]

    # The DPO: everything pending, the Home Office share included.
    dee = await queue(client, token("dpo", sub="dee"))
    assert {r["disclosure_id"] for r in dee} == {first["disclosure_id"], second["disclosure_id"],
                                                 home_office["disclosure_id"], own["disclosure_id"]}
    # A manager who is also the DPO decides the Home Office share as the DPO, so it is in their queue.
    both = await queue(client, token("manager", "dpo", sub="sam"))
    assert home_office["disclosure_id"] in {r["disclosure_id"] for r in both}

    assert len(await queue(client, token("dpo", sub="dee"), limit=1)) == 1

    # Decided: out of every queue.
    decided = await client.post(f"/disclosures/{first['disclosure_id']}/decision", json=APPROVE,
                                headers=token("manager", sub="mo"))
    assert decided.json()["status"] == "shared", decided.text
    assert first["disclosure_id"] not in {r["disclosure_id"] for r in await queue(client, token("manager", sub="maria"))}
    assert first["disclosure_id"] not in {r["disclosure_id"] for r in await queue(client, token("dpo", sub="dee"))}


async def test_only_managers_and_the_dpo_have_a_queue(client, token):
    await ask(client, token("officer", sub="olive", borough=WESTMINSTER), police_request(uuid.uuid4()))
    for headers in (token("officer", sub="olive", borough=WESTMINSTER), token("auditor", sub="audrey"),
                    token("partner", org_id="MPS")):
        answer = await client.get("/disclosures/pending", headers=headers)
        assert answer.status_code == 403, answer.text
    assert (await client.get("/disclosures/pending")).status_code == 401
    assert (await client.get("/disclosures/pending", params={"limit": 0}, headers=token("dpo"))).status_code == 422
    assert (await client.get("/disclosures/pending", params={"limit": 501}, headers=token("dpo"))).status_code == 422


async def test_each_child_in_the_queue_is_recorded_in_the_access_log(client, token):
    child, carer = uuid.uuid4(), uuid.uuid4()
    asked = await ask(client, token("officer", sub="olive", borough=WESTMINSTER),
                      police_request(child, subject_ids=[str(child), str(carer)]))
    purpose = {"X-CME-Purpose": "officer console: decision queue"}
    listed = await queue(client, {**token("manager", sub="maria"), **purpose})
    assert asked["disclosure_id"] in {r["disclosure_id"] for r in listed}

    for subject in (child, carer):
        log = (await client.get("/access-log", params={"subject_id": str(subject)},
                                headers=token("dpo", sub="dee"))).json()
        read = [e for e in log["entries"] if e["action"] == "disclosures.pending"]
        assert [(e["actor"], e["role"], e["purpose"]) for e in read] == [
            ("maria", "manager", purpose["X-CME-Purpose"])]

    # A decided request leaves the queue, and a queue without it names the child no more.
    await client.post(f"/disclosures/{asked['disclosure_id']}/decision",
                      json={"decision": "refuse", "reason": "not necessary"}, headers=token("manager", sub="mo"))
    assert await queue(client, token("manager", sub="maria")) == []
    log = (await client.get("/access-log", params={"subject_id": str(child)}, headers=token("dpo"))).json()
    assert [e["actor"] for e in log["entries"] if e["action"] == "disclosures.pending"] == ["maria"]
