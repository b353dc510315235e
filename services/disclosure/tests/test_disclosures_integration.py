"""Disclosures through the running service on real PostgreSQL and Kafka."""

import base64
import json
import uuid
from datetime import UTC, date, datetime, timedelta

from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, text, update

from cme_disclosure import verifier
from cme_disclosure.adapters.tables import leaf_payloads, restrictions, sar_withholdings
from cme_disclosure.domain.tree_head import SignedTreeHead, load_public_key
from cme_disclosure.service_layer.audit import verify_log
from cme_disclosure.entrypoints.disposal_job import run_purge
from cme_shared.contracts import topics
from cme_shared.contracts.rights import (
    DataCollectionRequest,
    FactualRectification,
    PersonHint,
    RestrictionLifted,
    SubjectLookup,
    SubjectRestricted,
)
from cme_shared.contracts.shares import Recipient, ShareMade
from cme_shared.db import create_engine, session_factory
from cme_shared.testing.kafka import TopicReader, eventually, produce
from cme_shared.testing.signing import signed_headers

pytestmark = pytest.mark.integration


# A police request's approval: the decider confirms the rank that signed it off (SEC-23).
APPROVE = {"decision": "approve", "reason": "needed", "sign_off_rank": "Detective Inspector"}


def police_request(subject: uuid.UUID, **overrides) -> dict:
    body = {
        "subject_ids": [str(subject)],
        "recipient": {"type": "police", "org_id": "MPS", "org_name": "Metropolitan Police Service",
                      "requester_name": "DC Example", "requester_role": "investigating officer",
                      "requester_rank": "Detective Inspector"},
        "purpose": "crime",
        "legal_gateway": "DPA 2018 Sch 2 Part 1 para 2",
        "reference": "CAD 4411/26",
        "categories": ["contact", "demographics", "benefits"],
        "reason": "locating a child who is a witness in a serious assault investigation",
    }
    body.update(overrides)
    return body


async def send(infra, namespace, topic: str, event, key: str = "k", signer: str | None = None) -> None:
    """As the topic's writer (or `signer`) sends it: signed with that service's key."""
    value = event.model_dump_json().encode()
    await produce(infra.kafka, namespace(topic), value, key=key.encode(),
                  headers=signed_headers(topic, value, key.encode(), [("event_id", str(event.event_id).encode())],
                                         signer=signer))


def now() -> datetime:
    return datetime.now(UTC)


def london_today() -> date:
    return datetime.now(ZoneInfo("Europe/London")).date()


async def shared_request(client, token, subject: uuid.UUID, borough: str = "westminster", **overrides) -> str:
    did = (await client.post("/disclosures", json=police_request(subject, **overrides),
                             headers=token("officer", sub=f"o-{borough}", borough=borough))).json()["disclosure_id"]
    r = await client.post(f"/disclosures/{did}/decision", json=APPROVE, headers=token("manager", sub="m1"))
    assert r.json()["status"] == "shared", r.text
    return did


async def leaves_and_payloads(db_url: str, indices: list[int]) -> list[tuple[dict, bytes]]:
    engine = create_engine(db_url)
    try:
        async with engine.connect() as conn:
            rows = (await conn.execute(select(leaf_payloads.c.leaf_index, leaf_payloads.c.payload)
                                       .where(leaf_payloads.c.leaf_index.in_(indices))
                                       .order_by(leaf_payloads.c.leaf_index))).all()
            leaves = dict((await conn.exec_driver_sql("SELECT leaf_index, leaf FROM log_leaves")).all())
    finally:
        await engine.dispose()
    return [(json.loads(bytes(leaves[r.leaf_index])), bytes(r.payload)) for r in rows]


async def test_a_police_share_needs_a_second_person_and_is_proven_in_the_log(client, token, infra, namespace):
    subject = uuid.uuid4()
    created = await client.post("/disclosures", json=police_request(subject),
                                headers=token("manager", sub="alice", borough=None))
    assert created.status_code == 201, created.text
    record = created.json()
    assert record["status"] == "pending"
    assert record["categories_released"] == ["contact", "demographics"]
    assert record["categories_not_released"] == ["benefits"]
    did = record["disclosure_id"]
    first_head = (await client.get("/log/tree-head")).json()
    assert first_head["tree_size"] == 1

    # Two-person rule: alice asked, so alice may not decide, whatever her role.
    own = await client.post(f"/disclosures/{did}/decision", json={"decision": "approve", "reason": "ok"},
                            headers=token("manager", sub="alice"))
    assert own.status_code == 403 and own.json()["errors"][0]["code"] == "two_person_rule"
    officer = await client.post(f"/disclosures/{did}/decision", json={"decision": "approve", "reason": "ok"},
                                headers=token("officer", sub="olly", borough="westminster"))
    assert officer.status_code == 403

    decided = await client.post(f"/disclosures/{did}/decision", headers=token("manager", sub="bob"), json={
        "decision": "approve", "reason": "necessary and proportionate for the investigation",
        "job_title": "CME team manager", "sign_off_rank": "DI"})
    assert decided.status_code == 200, decided.text
    shared = decided.json()
    assert shared["status"] == "shared"
    assert shared["decision"]["decided_by"] == "bob"
    assert shared["decision"]["decider_name"] == "bob"  # the token's, never the body's (SEC-23)
    assert shared["decision"]["decider_role"] == "manager"
    assert shared["decision"]["decider_title"] == "CME team manager"
    assert shared["decision"]["sign_off"] == {"rank": "inspector", "rank_as_checked": "DI",
                                              "rank_as_requested": "Detective Inspector", "confirmed_by": "bob",
                                              "confirmed_by_role": "manager"}
    assert "child.address" in shared["fields_released"]
    assert not any(f.startswith("household.") for f in shared["fields_released"])  # minimisation
    assert [leaf["kind"] for leaf in shared["log"]] == ["disclosure_requested", "disclosure_decided",
                                                        "disclosure_shared"]
    again = await client.post(f"/disclosures/{did}/decision", json={"decision": "refuse", "reason": "x"},
                              headers=token("dpo", sub="dora"))
    assert again.status_code == 409

    listed = await client.get("/disclosures", params={"subject_id": str(subject)}, headers=token("auditor"))
    assert [r["disclosure_id"] for r in listed.json()] == [did]

    # The proof: public tree head and key, authenticated leaf and inclusion proof, verified offline.
    head_body = (await client.get("/log/tree-head")).json()
    key_body = (await client.get("/log/public-key")).json()
    shared_leaf = shared["log"][-1]["leaf_index"]
    leaves = (await client.get("/log/leaves", params={"start": 0, "end": head_body["tree_size"]},
                               headers=token("auditor"))).json()["leaves"]
    proof = (await client.get("/log/proofs/inclusion", params={"leaf_index": shared_leaf,
                                                               "tree_size": head_body["tree_size"]},
                              headers=token("auditor"))).json()["proof"]
    leaf = base64.b64decode(leaves[shared_leaf]["leaf"])
    assert "DC Example" not in leaf.decode() and str(subject) not in leaf.decode()  # no personal data in leaves
    verdict = verifier.check_inclusion(SignedTreeHead.from_json(head_body), verifier.public_keys(json.dumps(key_body)),
                                       leaf, shared_leaf, [bytes.fromhex(h) for h in proof])
    assert verdict.ok, verdict.problems
    consistency = (await client.get("/log/proofs/consistency", params={"first": 1, "second": head_body["tree_size"]},
                                    headers=token("officer", borough="westminster"))).json()["proof"]
    verdict = verifier.check_consistency(SignedTreeHead.from_json(first_head), SignedTreeHead.from_json(head_body),
                                         verifier.public_keys(json.dumps(key_body)),
                                         [bytes.fromhex(h) for h in consistency])
    assert verdict.ok, verdict.problems

    # Every append's signed head goes out on the tree-heads topic.
    async with TopicReader(infra.kafka, namespace(topics.TREE_HEADS)) as heads:
        records = await heads.wait_for(lambda rs: any(json.loads(r.value)["tree_size"] == 3 for r in rs))
    published = json.loads(records[-1].value)
    assert published["root_hash"] == head_body["root_hash"] and published["signature"] == head_body["signature"]


async def test_a_refusal_by_policy_is_recorded_and_logged(client, token):
    subject = uuid.uuid4()
    body = police_request(subject, recipient={"type": "home_office", "org_name": "Home Office",
                                              "requester_name": "HO Caseworker", "requester_role": "caseworker"},
                          purpose="immigration", legal_gateway="DPA 2018 Sch 2 para 4", reference=None,
                          categories=["contact"])
    created = await client.post("/disclosures", json=body, headers=token("officer", borough="westminster"))
    assert created.status_code == 201
    record = created.json()
    assert record["status"] == "refused"
    assert [r["code"] for r in record["refusal_reasons"]] == ["immigration_exemption_not_available",
                                                              "gateway_not_accepted"]
    assert record["decision"]["decided_by"] == "policy"
    assert [leaf["kind"] for leaf in record["log"]] == ["disclosure_requested", "disclosure_decided"]

    not_in_table = police_request(subject, purpose="cme_tracking")
    refused = (await client.post("/disclosures", json=not_in_table, headers=token("officer", borough="westminster"))).json()
    assert refused["status"] == "refused"
    assert "not_in_policy" in [r["code"] for r in refused["refusal_reasons"]]


async def test_home_office_shares_are_decided_by_the_dpo_only(client, token):
    body = police_request(uuid.uuid4(), recipient={"type": "home_office", "org_name": "Home Office",
                                                   "requester_name": "HO", "requester_role": "caseworker"},
                          purpose="immigration", legal_gateway="Immigration and Asylum Act 1999 s20",
                          reference=None, categories=["contact"])
    did = (await client.post("/disclosures", json=body, headers=token("officer", borough="westminster"))).json()[
        "disclosure_id"]
    manager = await client.post(f"/disclosures/{did}/decision", json={"decision": "approve", "reason": "r"},
                                headers=token("manager", sub="m2"))
    assert manager.status_code == 403 and manager.json()["errors"][0]["code"] == "approval_role_required"
    dpo = await client.post(f"/disclosures/{did}/decision", json={"decision": "refuse", "reason": "not necessary"},
                            headers=token("dpo", sub="d2"))
    assert dpo.json()["status"] == "refused"
    assert dpo.json()["decision"]["decider_role"] == "dpo"


async def test_roles_and_tokens(client, token):
    body = police_request(uuid.uuid4())
    assert (await client.post("/disclosures", json=body, headers=token("auditor"))).status_code == 403
    assert (await client.post("/disclosures", json=body)).status_code == 401
    assert (await client.get("/disclosures", params={"subject_id": str(uuid.uuid4())},
                             headers=token("partner", org_id="MPS"))).status_code == 403
    assert (await client.get("/log/tree-head")).status_code == 200  # public by design
    assert (await client.get("/log/public-key")).status_code == 200
    assert (await client.get("/log/leaves", params={"start": 0, "end": 1})).status_code == 401
    assert (await client.get("/log/leaves", params={"start": 0, "end": 1},
                             headers=token("partner", org_id="MPS"))).status_code == 403
    too_far = await client.get("/log/proofs/inclusion", params={"leaf_index": 0, "tree_size": 5},
                               headers=token("auditor"))
    assert too_far.status_code == 400 and too_far.json()["errors"][0]["code"] == "out_of_range"
    bad = await client.post("/disclosures", json={**body, "categories": ["gossip"]},
                            headers=token("officer", borough="westminster"))
    assert bad.status_code == 422
    openapi = (await client.get("/openapi.json")).json()
    assert {"/disclosures", "/log/tree-head", "/log/proofs/inclusion", "/reports/shares"} <= set(openapi["paths"])
    asyncapi = (await client.get("/asyncapi.json")).json()
    assert "TreeHeadPublished" in asyncapi["components"]["schemas"]


async def test_officers_see_only_their_boroughs_requests(client, token):
    subject = uuid.uuid4()
    await client.post("/disclosures", json=police_request(subject), headers=token("officer", sub="w", borough="westminster"))
    kc = await client.get("/disclosures", params={"subject_id": str(subject)},
                          headers=token("officer", borough="kensington_and_chelsea"))
    assert kc.json() == []
    wm = await client.get("/disclosures", params={"subject_id": str(subject)},
                          headers=token("officer", borough="westminster"))
    assert len(wm.json()) == 1


async def test_a_restricted_subject_is_not_shared_without_a_recorded_exception(client, token, infra, namespace, settings):
    subject, request_id = uuid.uuid4(), uuid.uuid4()
    # Other kinds on the rights topic are not disclosure's business: acknowledged, not dead-lettered.
    await send(infra, namespace, topics.RIGHTS_EVENTS, FactualRectification(
        event_id=uuid.uuid4(), occurred_at=now(), rights_request_id=request_id, subject_id=subject,
        field="last_name", new_value="x", decided_by="dpo"), key=str(request_id))
    await send(infra, namespace, topics.RIGHTS_EVENTS, SubjectRestricted(
        event_id=uuid.uuid4(), occurred_at=now(), rights_request_id=request_id, subject_ids=[subject],
        reason="accuracy contested"), key=str(request_id))
    engine = create_engine(settings.database_url.get_secret_value())
    try:
        async def restricted() -> bool:
            async with engine.connect() as conn:
                return bool((await conn.execute(select(restrictions.c.lifted_at).where(
                    restrictions.c.subject_id == subject))).first())

        await eventually(restricted)
    finally:
        await engine.dispose()
    manager = token("manager", sub="m-asks")
    plain = (await client.post("/disclosures", json=police_request(subject), headers=manager)).json()
    assert plain["status"] == "refused"
    assert [r["code"] for r in plain["refusal_reasons"]] == ["subject_restricted"]

    excepted = (await client.post("/disclosures", headers=manager, json=police_request(
        subject, restriction_exception={"ground": "protect_another_person",
                                        "reason": "another child at risk of serious harm"}))).json()
    assert excepted["status"] == "pending"
    assert excepted["restriction_exception"]["ground"] == "protect_another_person"
    # An officer is told nothing (SEC-29); the decider meets the restriction.
    asked = (await client.post("/disclosures", json=police_request(subject),
                               headers=token("officer", borough="westminster"))).json()
    assert asked["status"] == "pending" and asked["policy_findings"] == []
    approve = await client.post(f"/disclosures/{asked['disclosure_id']}/decision", json=APPROVE,
                                headers=token("dpo", sub="d-decides"))
    assert approve.status_code == 409 and approve.json()["errors"][0]["code"] == "subject_restricted"

    await send(infra, namespace, topics.RIGHTS_EVENTS, RestrictionLifted(
        event_id=uuid.uuid4(), occurred_at=now(), rights_request_id=request_id, subject_ids=[subject],
        reason="accuracy confirmed"), key=str(request_id))

    async def lifted() -> bool:
        r = (await client.post("/disclosures", json=police_request(subject), headers=manager)).json()
        return r["status"] == "pending"

    await eventually(lifted)
    async with TopicReader(infra.kafka, namespace(topics.dlq(topics.RIGHTS_EVENTS))) as dlq:
        assert await dlq.settle(0.5) == []


async def test_shares_from_other_services_are_logged_once(client, token, infra, namespace):
    subject = uuid.uuid4()
    share = ShareMade(
        event_id=uuid.uuid4(), occurred_at=now(), share_ref="case-77/school-notice", service="casework",
        subject_ids=[subject], recipient=Recipient(type="school", org_id="100001", org_name="Example Primary"),
        purpose="cme_tracking", legal_gateway="Education Act 1996 s436A", categories=["contact", "education"],
        fields_released=["child.first_name", "child.last_name", "child.upn"], reason="new school told of arrival",
        decided_by="officer-9", shared_at=now(),
    )
    await send(infra, namespace, topics.SHARE_EVENTS, share)
    await send(infra, namespace, topics.SHARE_EVENTS, share)  # redelivered: same event id
    await send(infra, namespace, topics.SHARE_EVENTS, share.model_copy(update={"event_id": uuid.uuid4()}))
    # A sentinel on the same partition (same key), after the duplicates: once it is logged, both
    # duplicates have been handled, so "one record" below is not just "not yet two".
    sentinel_subject = uuid.uuid4()
    await send(infra, namespace, topics.SHARE_EVENTS, share.model_copy(update={
        "event_id": uuid.uuid4(), "share_ref": "case-78/school-notice", "subject_ids": [sentinel_subject]}))

    async def listed(subject_id: uuid.UUID):
        body = (await client.get("/disclosures", params={"subject_id": str(subject_id)}, headers=token("dpo"))).json()
        return body if body else None

    [sentinel] = await eventually(lambda: listed(sentinel_subject))
    assert sentinel["share_ref"] == "case-78/school-notice"
    [record] = await listed(subject)
    assert record["share_ref"] == "case-77/school-notice"
    assert (await client.get("/log/tree-head")).json()["tree_size"] == 2  # one leaf each, no more
    assert record["origin"] == "casework" and record["status"] == "shared"
    assert record["fields_released"] == ["child.first_name", "child.last_name", "child.upn"]
    assert [leaf["kind"] for leaf in record["log"]] == ["share_made"]
    recipients = (await client.get(f"/subjects/{subject}/recipients", headers=token("dpo"))).json()
    assert [(r["recipient_type"], r["org_name"]) for r in recipients] == [("school", "Example Primary")]


async def _tree_size_at_least(client, n: int) -> bool:
    return (await client.get("/log/tree-head")).json()["tree_size"] >= n


async def test_access_requests_get_the_recipients_but_not_a_withheld_share(client, token, infra, namespace, db_url):
    subject = uuid.uuid4()

    async def shared_with_police(reference: str) -> str:
        did = (await client.post("/disclosures", json=police_request(subject, reference=reference),
                                 headers=token("officer", sub="o1", borough="westminster"))).json()["disclosure_id"]
        r = await client.post(f"/disclosures/{did}/decision", json=APPROVE, headers=token("manager", sub="m1"))
        assert r.json()["status"] == "shared"
        return did

    visible, withheld, reviewed = (await shared_with_police("A"), await shared_with_police("B"),
                                   await shared_with_police("C"))
    future = (london_today() + timedelta(days=60)).isoformat()
    for did in (withheld, reviewed):
        w = await client.post(f"/disclosures/{did}/withholding", headers=token("dpo", sub="dpo-1"), json={
            "exemption": "DPA 2018 Sch 2 Part 1 para 2", "reason": "telling would prejudice the investigation",
            "review_date": future})
        assert w.status_code == 200 and w.json()["withheld_from_sar"]["review_date"] == future
    # Time passes for one of them: its review date has come.
    engine = create_engine(db_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(update(sar_withholdings).where(sar_withholdings.c.disclosure_id == uuid.UUID(reviewed))
                               .values(review_date=london_today() - timedelta(days=1)))
    finally:
        await engine.dispose()
    not_dpo = await client.post(f"/disclosures/{visible}/withholding", headers=token("manager"), json={
        "exemption": "x", "reason": "y", "review_date": future})
    assert not_dpo.status_code == 403

    collection_id = uuid.uuid4()
    # rights' identity lookup travels on the same topic: not ours, ignored.
    await send(infra, namespace, topics.DATA_COLLECTION_REQUESTS, SubjectLookup(
        event_id=uuid.uuid4(), occurred_at=now(), collection_id=collection_id,
        person=PersonHint(first_name="A", last_name="B")), key=str(collection_id))
    await send(infra, namespace, topics.DATA_COLLECTION_REQUESTS, DataCollectionRequest(
        event_id=uuid.uuid4(), occurred_at=now(), collection_id=collection_id, rights_request_id=uuid.uuid4(),
        subject_ids=[subject]), key=str(collection_id))
    # A re-ask that names only other services is not for disclosure.
    await send(infra, namespace, topics.DATA_COLLECTION_REQUESTS, DataCollectionRequest(
        event_id=uuid.uuid4(), occurred_at=now(), collection_id=uuid.uuid4(), rights_request_id=uuid.uuid4(),
        subject_ids=[subject], services=["casework"]), key=str(collection_id))
    async with TopicReader(infra.kafka, namespace(topics.replies_of("disclosure"))) as replies:
        await replies.wait_for(lambda rs: any(json.loads(r.value).get("last") for r in rs))
        records = await replies.settle(0.5)
    [reply] = [json.loads(r.value) for r in records]
    assert reply["collection_id"] == str(collection_id)
    assert reply["service"] == "disclosure"
    shares = [i for i in reply["items"] if i["record_type"] == "disclosure"]
    assert {i["record_id"] for i in shares} == {visible, reviewed}  # withheld one left out until review
    assert all(i["recipient"] == {"type": "police", "org_id": "MPS", "org_name": "Metropolitan Police Service"}
               for i in shares)
    # And who within the council looked at them: the access log (three requests, three decisions, two
    # withholdings), by role, never by name.
    looked = [i for i in reply["items"] if i["record_type"] == "access"]
    assert sorted(i["data"]["action"] for i in looked) == sorted(
        ["disclosure.request"] * 3 + ["disclosure.decide"] * 3 + ["disclosure.withhold"] * 2)
    assert reply["total_items"] == len(shares) + len(looked)
    assert "o1" not in json.dumps(looked) and "m1" not in json.dumps(looked)


async def test_reports_count_shares_by_recipient_purpose_and_month(client, token):
    subject = uuid.uuid4()
    did = (await client.post("/disclosures", json=police_request(subject),
                             headers=token("officer", sub="o", borough="westminster"))).json()["disclosure_id"]
    await client.post(f"/disclosures/{did}/decision", json=APPROVE, headers=token("manager", sub="m"))
    await client.post("/disclosures", json=police_request(subject, reference=None),
                      headers=token("officer", sub="o", borough="westminster"))
    report = (await client.get("/reports/shares", headers=token("auditor"))).json()
    month = datetime.now(UTC).strftime("%Y-%m")
    assert report == [{"month": month, "recipient_type": "police", "purpose": "crime", "shared": 1, "refused": 1,
                       "pending": 0}]
    assert (await client.get("/reports/shares", headers=token("officer"))).status_code == 403


async def test_a_purged_disclosure_leaves_a_log_that_still_verifies(client, token, settings, db_url, infra):
    subject = uuid.uuid4()
    did = (await client.post("/disclosures", json=police_request(subject),
                             headers=token("officer", sub="o", borough="westminster"))).json()["disclosure_id"]
    await client.post(f"/disclosures/{did}/decision", json=APPROVE, headers=token("manager", sub="m"))
    engine = create_engine(db_url)
    try:
        # purge-disclosure: the disposal job's path, on its own login (the service's may not empty a payload).
        disposal = infra.disposal_url("disclosure", urlsplit(db_url).path.lstrip("/"))
        assert await run_purge(settings, uuid.UUID(did), "other", operator="rita", approved_by="dee",
                               database_url=disposal) == 3
        async with session_factory(engine).begin() as session:
            # Its own leaf names the three payloads it removed.
            purge_leaf = json.loads((await session.execute(text(
                "SELECT leaf FROM log_leaves WHERE convert_from(leaf, 'UTF8')::jsonb->>'kind' = 'payloads_purged'"
            ))).scalar_one())
            assert purge_leaf["kind"] == "payloads_purged" and len(purge_leaf["facts"]["purged_leaves"]) == 3
        async with engine.connect() as conn:
            report = await verify_log(conn, keys=[load_public_key(pem) for pem in settings.pinned_public_keys()])
    finally:
        await engine.dispose()
    assert report.ok, report.problems
    assert report.payloads_purged == 3
    record = (await client.get(f"/disclosures/{did}", headers=token("dpo"))).json()
    assert record["purged_at"] is not None and record["subject_ids"] == [] and record["reason"] is None
    assert "requester_name" not in record["recipient"]
    assert (await client.get("/disclosures", params={"subject_id": str(subject)}, headers=token("dpo"))).json() == []


async def test_a_withholding_needs_a_review_date_after_today_and_within_the_window(client, token):
    did = await shared_request(client, token, uuid.uuid4())
    today = london_today()

    async def withhold(review: date):
        return await client.post(f"/disclosures/{did}/withholding", headers=token("dpo", sub="dpo-1"), json={
            "exemption": "DPA 2018 Sch 2 Part 1 para 2", "reason": "telling would prejudice the investigation",
            "review_date": review.isoformat()})

    for review in (today - timedelta(days=1), today, today + timedelta(days=366), date(9999, 12, 31)):
        refused = await withhold(review)
        assert refused.status_code == 422, review
        assert refused.json()["errors"] == [{"loc": ["body", "review_date"], "code": "review_date_out_of_range",
                                             "message": refused.json()["errors"][0]["message"]}]
    record = (await client.get(f"/disclosures/{did}", headers=token("dpo"))).json()
    assert record["withheld_from_sar"] is None and [leaf["kind"] for leaf in record["log"]][-1] == "disclosure_shared"
    for review in (today + timedelta(days=1), today + timedelta(days=365)):
        assert (await withhold(review)).status_code == 200, review


async def test_officers_are_told_only_of_recipients_of_their_boroughs_shares(client, token):
    subject = uuid.uuid4()
    await shared_request(client, token, subject, borough="westminster")
    path = f"/subjects/{subject}/recipients"
    assert (await client.get(path, headers=token("officer", borough="kensington_and_chelsea"))).json() == []
    nowhere = await client.get(path, headers=token("officer"))  # an officer token with no borough is refused
    assert (nowhere.status_code, nowhere.json()["errors"][0]["code"]) == (403, "officer_borough_missing")
    westminster = (await client.get(path, headers=token("officer", borough="westminster"))).json()
    assert [r["org_id"] for r in westminster] == ["MPS"]
    assert [r["org_id"] for r in (await client.get(path, headers=token("dpo"))).json()] == ["MPS"]


async def test_the_permanent_leaves_name_the_tokens_role_and_the_typed_words_stay_purgeable(client, token, db_url):
    subject = uuid.uuid4()
    did = (await client.post("/disclosures", json=police_request(subject),
                             headers=token("officer", sub="o1", borough="westminster"))).json()["disclosure_id"]
    typed_role = "Acting head of CME while Jane Smith is on leave"
    decided = await client.post(f"/disclosures/{did}/decision", headers=token("manager", sub="m1"), json={
        **APPROVE, "job_title": typed_role})
    decision = decided.json()["decision"]
    # The record's role is the token's; the words typed are kept beside it, as the decider's (SEC-23).
    assert (decision["decider_role"], decision["decider_title"]) == ("manager", typed_role)
    typed_dpo_role = "DPO (covering for Sam Jones)"
    withheld = await client.post(f"/disclosures/{did}/withholding", headers=token("dpo", sub="d1"), json={
        "exemption": "DPA 2018 Sch 2 Part 1 para 2", "reason": "prejudice",
        "review_date": (london_today() + timedelta(days=30)).isoformat(), "job_title": typed_dpo_role})
    assert withheld.status_code == 200, withheld.text
    withholding = withheld.json()["withheld_from_sar"]
    assert (withholding["decided_by"], withholding["decider_name"], withholding["decider_role"],
            withholding["decider_title"]) == ("d1", "d1", "dpo", typed_dpo_role)
    log = {leaf["kind"]: leaf["leaf_index"] for leaf in withheld.json()["log"]}
    [(decision_leaf, decision_payload), (withheld_leaf, withheld_payload)] = await leaves_and_payloads(
        db_url, [log["disclosure_decided"], log["withheld_from_sar"]])
    assert decision_leaf["facts"]["decider_role"] == "manager"
    assert decision_leaf["facts"]["sign_off"] == {"rank": "inspector", "confirmed_by_role": "manager"}
    assert withheld_leaf["facts"]["decider_role"] == "dpo"
    for leaf in (decision_leaf, withheld_leaf):
        assert "Jane" not in json.dumps(leaf) and "Sam" not in json.dumps(leaf)
    assert json.loads(decision_payload)["decider_title"] == typed_role
    assert json.loads(decision_payload)["decider_role"] == "manager"
    assert json.loads(withheld_payload)["decider_title"] == typed_dpo_role


async def test_restricted_again_under_the_same_request_after_a_lift_is_in_force(client, token, infra, namespace):
    subject, request_id = uuid.uuid4(), uuid.uuid4()
    asker = token("manager", sub="m-asks")  # officers are never told of a restriction (SEC-29)

    async def rights_event(cls, subjects, reason):
        await send(infra, namespace, topics.RIGHTS_EVENTS, cls(
            event_id=uuid.uuid4(), occurred_at=now(), rights_request_id=request_id, subject_ids=subjects,
            reason=reason), key=str(request_id))

    async def status() -> str:
        return (await client.post("/disclosures", json=police_request(subject), headers=asker)).json()["status"]

    await rights_event(SubjectRestricted, [subject], "accuracy contested")
    await eventually(lambda: _status_is(status, "refused"))
    await rights_event(RestrictionLifted, [subject], "accuracy confirmed")
    await eventually(lambda: _status_is(status, "pending"))
    await rights_event(SubjectRestricted, [subject], "contested again")
    # A sentinel behind it on the same partition: once the sentinel is in force, so is the re-restriction.
    sentinel = uuid.uuid4()
    await rights_event(SubjectRestricted, [sentinel], "sentinel")

    async def sentinel_refused() -> bool:
        r = (await client.post("/disclosures", json=police_request(sentinel), headers=asker)).json()
        return r["status"] == "refused"

    await eventually(sentinel_refused)
    refused = (await client.post("/disclosures", json=police_request(subject), headers=asker)).json()
    assert refused["status"] == "refused"
    assert [r["code"] for r in refused["refusal_reasons"]] == ["subject_restricted"]


async def _status_is(status, expected: str) -> bool:
    return await status() == expected


async def test_the_date_received_is_recorded_and_logged(client, token, db_url):
    subject = uuid.uuid4()
    officer = token("officer", borough="westminster")
    received = london_today() - timedelta(days=3)
    created = await client.post("/disclosures", json=police_request(subject, received_on=received.isoformat()),
                                headers=officer)
    assert created.status_code == 201, created.text
    record = created.json()
    assert record["received_on"] == received.isoformat()
    [(leaf, _payload)] = await leaves_and_payloads(db_url, [record["log"][0]["leaf_index"]])
    assert leaf["kind"] == "disclosure_requested" and leaf["facts"]["received_on"] == received.isoformat()

    today = (await client.post("/disclosures", json=police_request(subject), headers=officer)).json()
    assert today["received_on"] == london_today().isoformat()  # default: received today
    fetched = (await client.get(f"/disclosures/{record['disclosure_id']}", headers=token("dpo"))).json()
    assert fetched["received_on"] == received.isoformat()

    future = await client.post("/disclosures", headers=officer, json=police_request(
        subject, received_on=(london_today() + timedelta(days=2)).isoformat()))
    assert future.status_code == 422 and future.json()["errors"][0]["code"] == "received_on_in_future"
