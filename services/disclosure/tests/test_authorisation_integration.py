"""Who may read the log and the records, who decided, what a refusal tells, and who looked (issue 13;
SEC-21, SEC-23, SEC-29), through the running service on real PostgreSQL and Kafka."""

import base64
import json
import re
import uuid

import pytest
from sqlalchemy import text

from cme_disclosure import verifier
from cme_disclosure.app import create_app
from cme_disclosure.domain.disclosures import Decision
from cme_disclosure.domain.tree_head import SignedTreeHead
from cme_disclosure.service_layer import disclosures
from cme_disclosure.service_layer.disclosures import Actor
from cme_shared.contracts import topics
from cme_shared.contracts.rights import DataCollectionRequest, SubjectRestricted
from cme_shared.refusal import Refusal
from cme_shared.testing.fixtures import running
from cme_shared.testing.kafka import TopicReader, eventually

from .test_disclosures_integration import APPROVE, now, police_request, send

pytestmark = pytest.mark.integration

WESTMINSTER, KC = "westminster", "kensington_and_chelsea"


async def asked(client, token, subject: uuid.UUID, borough: str = WESTMINSTER, sub: str | None = None, **overrides):
    r = await client.post("/disclosures", json=police_request(subject, **overrides),
                          headers=token("officer", sub=sub or f"o-{borough}", borough=borough))
    assert r.status_code == 201, r.text
    return r.json()


async def tree_size(client) -> int:
    return (await client.get("/log/tree-head")).json()["tree_size"]


# SEC-21 -------------------------------------------------------------------------------------------------

async def test_the_log_is_read_by_roles_with_business_there_and_officers_get_receipts_for_their_own(
        client, token):
    mine = await asked(client, token, uuid.uuid4(), WESTMINSTER)
    theirs = await asked(client, token, uuid.uuid4(), KC)
    size = await tree_size(client)
    my_leaf, their_leaf = mine["log"][0]["leaf_index"], theirs["log"][0]["leaf_index"]
    pages = {"start": 0, "end": size}

    # Public: what a verifier or a witness needs, and says nothing of any disclosure (C2SP: gossiped).
    for path in ("/log/tree-head", "/log/public-key", "/log/checkpoint"):
        assert (await client.get(path)).status_code not in (401, 403), path

    # Partners and tokens with no platform role: nothing of the log beyond the public heads.
    strangers = {"partner": token("partner", org_id="MPS"), "no role": token("some-other-apps-role")}
    for who, headers in strangers.items():
        for path, params in (("/log/leaves", pages),
                             ("/log/proofs/inclusion", {"leaf_index": my_leaf, "tree_size": size}),
                             ("/log/proofs/consistency", {"first": 1, "second": size})):
            r = await client.get(path, params=params, headers=headers)
            assert r.status_code in (401, 403), (who, path, r.status_code)

    # Leaves: auditor, DPO, managers; not officers.
    officer = token("officer", borough=WESTMINSTER)
    assert (await client.get("/log/leaves", params=pages, headers=officer)).status_code == 403
    for role in ("auditor", "dpo", "manager"):
        r = await client.get("/log/leaves", params=pages, headers=token(role))
        assert r.status_code == 200 and len(r.json()["leaves"]) == size, role

    # An officer's receipt for their own borough's request: the proof carries the leaf, and verifies
    # offline with the public head and key alone.
    receipt = await client.get("/log/proofs/inclusion", params={"leaf_index": my_leaf, "tree_size": size},
                               headers=officer)
    assert receipt.status_code == 200, receipt.text
    head = SignedTreeHead.from_json((await client.get("/log/tree-head")).json())
    keys = verifier.public_keys((await client.get("/log/public-key")).text)
    verdict = verifier.check_inclusion(head, keys, base64.b64decode(receipt.json()["leaf"]), my_leaf,
                                       [bytes.fromhex(h) for h in receipt.json()["proof"]])
    assert verdict.ok, verdict.problems
    # Another borough's leaf, and a leaf that does not exist, answer alike: nothing to tell them apart.
    other = await client.get("/log/proofs/inclusion", params={"leaf_index": their_leaf, "tree_size": size},
                             headers=officer)
    missing = await client.get("/log/proofs/inclusion", params={"leaf_index": 10_000, "tree_size": size},
                               headers=officer)
    assert other.status_code == missing.status_code == 404
    assert other.json() == missing.json()
    assert (await client.get("/log/proofs/inclusion", params={"leaf_index": their_leaf, "tree_size": size},
                             headers=token("officer", borough=KC))).status_code == 200
    # Consistency proofs are hashes only: an officer carries a receipt forward to a newer head.
    assert (await client.get("/log/proofs/consistency", params={"first": 1, "second": size},
                             headers=officer)).status_code == 200


async def test_the_auditor_sees_the_process_without_free_text_or_names(client, token):
    subject = uuid.uuid4()
    record = await asked(client, token, subject, sub="olive", restriction_exception={
        "ground": "protect_another_person", "reason": "a sibling at risk from Mr Example"})
    did = record["disclosure_id"]
    await client.post(f"/disclosures/{did}/decision", headers=token("manager", sub="maria"),
                      json={**APPROVE, "reason": "the DI's account of Mr Example", "job_title": "Head of CME"})
    full = (await client.get(f"/disclosures/{did}", headers=token("dpo"))).json()
    assert full["view"] == "full" and full["reason"] and full["decision"]["decided_by"] == "maria"

    for audited in ((await client.get(f"/disclosures/{did}", headers=token("auditor"))).json(),
                    (await client.get("/disclosures", params={"subject_id": str(subject)},
                                      headers=token("auditor"))).json()[0]):
        assert audited["view"] == "auditor"
        words = json.dumps(audited)
        for secret in ("olive", "maria", "Mr Example", "DC Example", "CAD 4411/26", "Head of CME",
                       "investigating officer", "witness in a serious assault"):
            assert secret not in words, secret
        # What an audit of the process needs stays.
        assert audited["status"] == "shared" and audited["recipient"]["org_id"] == "MPS"
        assert audited["purpose"] == "crime" and audited["legal_gateway"] == full["legal_gateway"]
        assert audited["categories_released"] == full["categories_released"]
        assert audited["decision"]["decider_role"] == "manager"
        assert audited["decision"]["sign_off"] == {"rank": "inspector", "confirmed_by_role": "manager"}
        assert audited["restriction_exception"] == {"ground": "protect_another_person", "reason": None}
        assert audited["log"] == full["log"]


# SEC-23 -------------------------------------------------------------------------------------------------

async def test_the_decider_is_who_the_token_says_and_the_body_cannot_say_otherwise(client, token):
    did = (await asked(client, token, uuid.uuid4(), sub="alice"))["disclosure_id"]
    size = await tree_size(client)
    path = f"/disclosures/{did}/decision"
    # The name and role are no longer the body's to give.
    typed = await client.post(path, headers=token("manager", sub="bob"), json={
        **APPROVE, "decider_name": "Jane Smith", "decider_role": "DPO"})
    assert typed.status_code == 422
    # The requester's second role does not make them a second person.
    assert (await client.post(path, headers=token("manager", "officer", sub="alice", borough=WESTMINSTER),
                              json=APPROVE)).json()["errors"][0]["code"] == "two_person_rule"

    # Inspector sign-off, when the decider claims it, must be inspector or above: below approves nothing.
    for rank, code in (("Sergeant", "sign_off_rank_too_low"), ("DC", "sign_off_rank_too_low")):
        body = {k: v for k, v in {**APPROVE, "sign_off_rank": rank}.items() if v is not None}
        r = await client.post(path, headers=token("manager", sub="bob"), json=body)
        assert r.status_code == 422 and r.json()["errors"][0] == {
            "loc": ["body", "sign_off_rank"], "code": code, "message": r.json()["errors"][0]["message"]}, rank
    assert await tree_size(client) == size  # nothing recorded
    assert (await client.get(f"/disclosures/{did}", headers=token("dpo"))).json()["status"] == "pending"
    # A refusal needs no sign-off.
    refused = await client.post(path, headers=token("manager", sub="bob"),
                                json={"decision": "refuse", "reason": "not necessary", "job_title": "DPO"})
    decision = refused.json()["decision"]
    assert (decision["decided_by"], decision["decider_name"], decision["decider_role"], decision["decider_title"],
            decision["sign_off"]) == ("bob", "bob", "manager", "DPO", None)

    # CONTRACT section 4's body alone ({decision, reason}) approves: the sign-off rests on the requester's
    # rank, recorded as not confirmed by the decider; with the decider's claim, it is recorded as theirs.
    for claim in (None, "Chief Inspector"):
        other = (await asked(client, token, uuid.uuid4(), sub="alice"))["disclosure_id"]
        body = {"decision": "approve", "reason": "needed", **({"sign_off_rank": claim} if claim else {})}
        approved = await client.post(f"/disclosures/{other}/decision", headers=token("manager", sub="bob"), json=body)
        assert approved.status_code == 200, approved.text
        sign_off = approved.json()["decision"]["sign_off"]
        assert sign_off["rank_as_checked"] == claim
        assert sign_off["confirmed_by"] == ("bob" if claim else None)


async def test_a_home_office_share_is_decided_as_the_dpo_by_a_token_holding_both(client, token):
    body = police_request(uuid.uuid4(), recipient={"type": "home_office", "org_name": "Home Office",
                                                   "requester_name": "HO", "requester_role": "caseworker"},
                          purpose="immigration", legal_gateway="Immigration and Asylum Act 1999 s20",
                          reference=None, categories=["contact"])
    did = (await client.post("/disclosures", json=body, headers=token("officer", borough=WESTMINSTER))).json()[
        "disclosure_id"]
    decided = await client.post(f"/disclosures/{did}/decision", headers=token("manager", "dpo", sub="pat"),
                                json={"decision": "approve", "reason": "s20 request"})
    assert decided.status_code == 200, decided.text
    assert decided.json()["decision"]["decider_role"] == "dpo" and decided.json()["status"] == "shared"


async def test_the_two_person_rule_refuses_an_identity_it_cannot_compare(client, token):
    """The kit refuses a token with an empty `sub`; the rule does not rest on that alone."""
    did = uuid.UUID((await asked(client, token, uuid.uuid4(), sub="alice"))["disclosure_id"])
    app = client._transport.app
    for sub in ("", "   "):
        with pytest.raises(Refusal) as refused:
            async with app.state.runtime.unit_of_work() as uow:
                await disclosures.decide(uow, did, Decision.model_validate(APPROVE),
                                         Actor(sub=sub, role="manager", roles=frozenset({"manager"})))
        assert (refused.value.status, refused.value.code) == (403, "two_person_rule")
    # A request whose requester id is blank (written before the kit refused such tokens) cannot be decided.
    async with app.state.runtime.sessions.begin() as session:
        await session.execute(text("UPDATE disclosures SET requested_by = '' WHERE disclosure_id = :d"), {"d": did})
    r = await client.post(f"/disclosures/{did}/decision", headers=token("manager", sub="bob"), json=APPROVE)
    assert r.status_code == 403 and r.json()["errors"][0]["code"] == "two_person_rule"


# SEC-29 -------------------------------------------------------------------------------------------------

async def test_an_officer_learns_nothing_of_a_restriction_and_the_decider_meets_it(client, token, infra, namespace):
    restricted, free, request_id = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    await send(infra, namespace, topics.RIGHTS_EVENTS, SubjectRestricted(
        event_id=uuid.uuid4(), occurred_at=now(), rights_request_id=request_id, subject_ids=[restricted],
        reason="accuracy contested"), key=str(request_id))
    manager = token("manager", sub="m-asks")

    async def in_force() -> dict | None:
        r = (await client.post("/disclosures", json=police_request(restricted, subject_ids=[str(restricted),
                                                                                             str(uuid.uuid4())]),
                               headers=manager)).json()
        return r if r["status"] == "refused" else None

    # A cross-borough requester is told, without a count or which subject: one restricted child among
    # two subjects reads exactly as one restricted child alone.
    refusal = await eventually(in_force)
    [finding] = refusal["refusal_reasons"]
    alone = (await client.post("/disclosures", json=police_request(restricted), headers=manager)).json()
    assert finding["code"] == "subject_restricted" and alone["refusal_reasons"] == [finding]
    assert str(restricted) not in finding["message"] and "subject(s)" not in finding["message"]

    def shape(record: dict) -> dict:
        return {k: record[k] for k in ("status", "refusal_reasons", "policy_findings", "decision",
                                       "categories_released", "approval_roles")}

    # An officer of another borough gets the same answer about a restricted child as about any other.
    kc = token("officer", sub="k-officer", borough=KC)
    about_restricted = (await client.post("/disclosures", json=police_request(restricted), headers=kc)).json()
    about_free = (await client.post("/disclosures", json=police_request(free), headers=kc)).json()
    assert shape(about_restricted) == shape(about_free)
    assert about_restricted["status"] == "pending" and "subject_restricted" not in json.dumps(about_restricted)

    # The decider (cross-borough) meets the restriction and cannot approve; refusing is recorded.
    did = about_restricted["disclosure_id"]
    blocked = await client.post(f"/disclosures/{did}/decision", headers=token("dpo", sub="d1"), json=APPROVE)
    assert blocked.status_code == 409 and blocked.json()["errors"][0]["code"] == "subject_restricted"
    done = await client.post(f"/disclosures/{did}/decision", headers=token("dpo", sub="d1"),
                             json={"decision": "refuse", "reason": "the data is restricted"})
    assert done.json()["status"] == "refused"
    ok = await client.post(f"/disclosures/{about_free['disclosure_id']}/decision", headers=token("dpo", sub="d1"),
                           json=APPROVE)
    assert ok.json()["status"] == "shared"


async def test_each_person_may_record_only_so_many_requests_an_hour(settings, token):
    async with running(create_app(settings.model_copy(update={"disclosure_requests_per_hour": 3}))) as client:
        for _ in range(3):
            await asked(client, token, uuid.uuid4(), sub="flooder")
        size = await tree_size(client)
        flood = await client.post("/disclosures", json=police_request(uuid.uuid4()),
                                  headers=token("officer", sub="flooder", borough=WESTMINSTER))
        assert flood.status_code == 429 and flood.json()["errors"][0]["code"] == "too_many_requests"
        assert await tree_size(client) == size  # no leaf for a request turned away
        await asked(client, token, uuid.uuid4(), sub="someone-else")  # a count per person


# The access log -----------------------------------------------------------------------------------------

async def test_every_read_of_a_share_is_in_the_access_log_and_the_subjects_access_pack(
        client, token, infra, namespace):
    child, carer = uuid.uuid4(), uuid.uuid4()
    purpose = {"X-CME-Purpose": "checking the police request"}
    record = await asked(client, token, child, subject_ids=[str(child), str(carer)], sub="olive")
    did = record["disclosure_id"]
    await client.post(f"/disclosures/{did}/decision", json=APPROVE, headers=token("manager", sub="maria"))
    assert (await client.get(f"/disclosures/{did}", headers={**token("dpo", sub="dee"), **purpose})).status_code == 200
    assert len((await client.get("/disclosures", params={"subject_id": str(child)},
                                 headers=token("auditor", sub="audrey"))).json()) == 1
    assert (await client.get(f"/subjects/{child}/recipients", headers=token("dpo", sub="dee"))).json()
    # Reads that show nothing record nothing: another borough's officer sees no record of it.
    assert (await client.get("/disclosures", params={"subject_id": str(child)},
                             headers=token("officer", sub="kim", borough=KC))).json() == []
    assert (await client.get(f"/disclosures/{did}", headers=token("officer", sub="kim", borough=KC))).status_code == 404

    log = (await client.get("/access-log", params={"subject_id": str(child)}, headers=token("dpo", sub="dee"))).json()
    seen = [(e["action"], e["actor"], e["role"]) for e in reversed(log["entries"])]
    assert seen == [("disclosure.request", "olive", "officer"), ("disclosure.decide", "maria", "manager"),
                    ("disclosure.read", "dee", "dpo"), ("disclosures.list", "audrey", "auditor"),
                    ("recipients.read", "dee", "dpo")]
    assert {e["purpose"] for e in log["entries"] if e["action"] == "disclosure.read"} == {purpose["X-CME-Purpose"]}
    assert all(e["record_id"] == did for e in log["entries"] if e["action"].startswith("disclosure."))
    # The carer was shown in every one of those records but the child's recipients.
    carers = (await client.get("/access-log", params={"subject_id": str(carer)}, headers=token("dpo"))).json()
    assert [e["action"] for e in reversed(carers["entries"])] == [
        "disclosure.request", "disclosure.decide", "disclosure.read", "disclosures.list"]

    # The child's subject access pack lists them, as recipients within the council, by role.
    collection_id = uuid.uuid4()
    async with TopicReader(infra.kafka, namespace(topics.replies_of("disclosure"))) as replies:
        await send(infra, namespace, topics.DATA_COLLECTION_REQUESTS, DataCollectionRequest(
            event_id=uuid.uuid4(), occurred_at=now(), collection_id=collection_id, rights_request_id=uuid.uuid4(),
            subject_ids=[child]), key=str(collection_id))
        records = await replies.wait_for(lambda rs: any(json.loads(r.value).get("last") for r in rs))
    items = [i for r in records for i in json.loads(r.value)["items"]]
    looked = [i for i in items if i["record_type"] == "access"]
    assert {i["data"]["action"] for i in looked} >= {"disclosure.request", "disclosure.decide", "disclosure.read",
                                                     "disclosures.list", "recipients.read"}
    assert {i["recipient"]["type"] for i in looked} == {"council_staff"}
    assert not {"olive", "maria", "dee", "audrey"} & {w for i in looked for w in re.findall(r"\w+", json.dumps(i))}
    assert [i["record_id"] for i in items if i["record_type"] == "disclosure"] == [did]
