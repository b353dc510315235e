"""Intake's answers to the rights service on the real broker: lookups, data collection in chunks with
third-party marks, and factual rectifications applied as new versions."""

import json
import uuid
from datetime import UTC, datetime

import pytest

from cme_shared.contracts import topics
from cme_shared.contracts.rights import (
    MAX_ITEMS_PER_CHUNK,
    DataCollectionRequest,
    FactualRectification,
    PersonHint,
    SubjectLookup,
    SubjectRestricted,
)
from cme_shared.testing.kafka import produce
from cme_shared.testing.signing import signed_headers

pytestmark = pytest.mark.integration


def envelope() -> dict:
    return {"event_id": uuid.uuid4(), "occurred_at": datetime.now(UTC)}


async def send(intake, topic: str, event) -> None:
    """As rights sends it: signed with its key."""
    value = event.model_dump_json().encode()
    await produce(intake.infra.kafka, intake.names(topic), value, key=b"rights",
                  headers=signed_headers(topic, value, b"rights", [("event_id", str(event.event_id).encode())]))


async def refer(intake, document: dict, org_id: str | None = None) -> dict:
    if org_id is None:
        answer = await intake.client.post("/public/referrals", json=document)
    else:
        answer = await intake.client.post("/referrals", json=document, headers=intake.partner(org_id))
    assert answer.status_code == 202, answer.text
    return answer.json()


async def child_of(intake, outcome: dict) -> uuid.UUID:
    return await intake.scalar("SELECT child_subject_id FROM referrals WHERE intake_id = :i",
                               i=uuid.UUID(outcome["intake_id"]))


async def test_a_lookup_finds_the_child_by_upn_or_by_name_date_of_birth_and_postcode(intake, sample):
    school = await refer(intake, sample("accepted-school-deletion-no-destination.json"), "101234")
    by_upn = SubjectLookup(**envelope(), collection_id=uuid.uuid4(),
                           person=PersonHint(first_name="Someone", last_name="Else", upn="G213200119044"))
    by_name = SubjectLookup(**envelope(), collection_id=uuid.uuid4(), person=PersonHint(
        first_name="amira", last_name="HADDAD", date_of_birth="2016-03-14", postcode="w2 1aa"))
    parent = SubjectLookup(**envelope(), collection_id=uuid.uuid4(), person=PersonHint(
        first_name="Leila", last_name="Haddad", postcode="W2 1AA"))
    nobody = SubjectLookup(**envelope(), collection_id=uuid.uuid4(), person=PersonHint(first_name="No", last_name="One"))
    async with intake.reader(topics.replies_of("intake")) as replies:
        for lookup in (by_upn, by_name, parent, nobody):
            await send(intake, topics.DATA_COLLECTION_REQUESTS, lookup)
        await replies.wait_for(lambda rs: len(rs) >= 4)
    answers = {json.loads(r.value)["collection_id"]: json.loads(r.value) for r in replies.records}
    child = school["child_subject_id"]
    # With the boroughs of the referrals naming the subject, for rights to scope the request by.
    assert answers[str(by_upn.collection_id)]["matches"] == [
        {"subject_id": child, "subject_type": "child", "match": "exact_identifier", "boroughs": ["westminster"]}]
    assert answers[str(by_name.collection_id)]["matches"] == [
        {"subject_id": child, "subject_type": "child", "match": "name_dob_postcode", "boroughs": ["westminster"]}]
    [carer] = answers[str(parent.collection_id)]["matches"]
    assert carer["subject_type"] == "carer" and carer["match"] == "possible" and carer["boroughs"] == ["westminster"]
    assert answers[str(nobody.collection_id)]["matches"] == []
    assert all(a["service"] == "intake" and a["kind"] == "subject_lookup_reply" for a in answers.values())


async def test_data_collection_comes_in_chunks_with_sources_categories_and_third_party_marks(intake, sample):
    school = await refer(intake, sample("accepted-school-deletion-no-destination.json"), "101234")
    child = school["child_subject_id"]
    # A member of the public who gave their name, about the same child (name, DOB, postcode).
    public = sample("accepted-public-anonymous.json")
    public["source"] = {"type": "public", "anonymous": False,
                        "contact": {"name": "Pat Neighbour", "email": "pat@neighbour.example"}}
    public["child"] = {"first_name": "Amira", "last_name": "Haddad", "date_of_birth": "2016-03-14",
                       "address": {"line1": "12 Example Mews", "postcode": "W2 1AA"}}
    await refer(intake, public)
    for n in range(75):  # three items each: enough for more than one chunk
        extra = sample("accepted-school-deletion-no-destination.json")
        extra["referral_id"] = f"SCH-BULK-{n}"
        assert (await refer(intake, extra, "101234"))["child_subject_id"] == child
    request = DataCollectionRequest(**envelope(), collection_id=uuid.uuid4(), rights_request_id=uuid.uuid4(),
                                    subject_ids=[uuid.UUID(child)])
    async with intake.reader(topics.replies_of("intake")) as replies:
        await send(intake, topics.DATA_COLLECTION_REQUESTS, request)
        await replies.wait_for(lambda rs: any(json.loads(r.value)["last"] for r in rs))
        await replies.settle(0.5)
    chunks = sorted((json.loads(r.value) for r in replies.records), key=lambda c: c["chunk"])
    assert [c["chunk"] for c in chunks] == list(range(len(chunks))) and len(chunks) >= 2
    assert [c["last"] for c in chunks] == [False] * (len(chunks) - 1) + [True]
    assert all(len(c["items"]) <= MAX_ITEMS_PER_CHUNK for c in chunks)
    items = [i for c in chunks for i in c["items"]]
    assert chunks[-1]["total_items"] == len(items)
    assert all(i["category"] and i["source"] and i["subject_id"] == child for i in items)
    assert {i["source"] for i in items} >= {"school 101234 (St Example's CE Primary School)", "a member of the public"}

    referrer_marks = [(i, m) for i in items for m in i["third_party"] if m["reason"] == "public_referrer"]
    [(item, mark)] = referrer_marks
    # The referrer is withheld, never unsealed into the reply (SEC-05): the marker says why.
    assert mark["path"] == "referrer" and item["data"]["referrer"] == "withheld (public referrer)"
    assert "Pat Neighbour" not in json.dumps(chunks) and "pat@neighbour.example" not in json.dumps(chunks)
    carer_marks = {m["subject_id"] for i in items for m in i["third_party"] if m["reason"] == "other_carer"}
    [mother] = await intake.rows("SELECT DISTINCT carer_subject_id FROM care_links")
    assert carer_marks == {str(mother.carer_subject_id)}
    identity = [i for i in items if i["record_type"] == "identity_record"]
    assert {i["category"] for i in identity} == {"contact", "demographics", "education"}


async def test_messages_of_other_kinds_or_for_other_services_are_ignored(intake, sample):
    school = await refer(intake, sample("accepted-police-high-risk.json"), "MPS")
    child = uuid.UUID(school["child_subject_id"])
    elsewhere = DataCollectionRequest(**envelope(), collection_id=uuid.uuid4(), rights_request_id=uuid.uuid4(),
                                      subject_ids=[child], services=["casework"])
    restricted = SubjectRestricted(**envelope(), rights_request_id=uuid.uuid4(), subject_ids=[child], reason="Art 18")
    ours = DataCollectionRequest(**envelope(), collection_id=uuid.uuid4(), rights_request_id=uuid.uuid4(),
                                 subject_ids=[child], services=["intake"])
    async with intake.reader(topics.replies_of("intake")) as replies, \
            intake.reader(topics.dlq(topics.DATA_COLLECTION_REQUESTS)) as dead:
        something_new = json.dumps({"kind": "something_new", "x": 1}).encode()
        await produce(intake.infra.kafka, intake.names(topics.DATA_COLLECTION_REQUESTS), something_new,
                      headers=signed_headers(topics.DATA_COLLECTION_REQUESTS, something_new, None))
        await send(intake, topics.DATA_COLLECTION_REQUESTS, elsewhere)
        await send(intake, topics.RIGHTS_EVENTS, restricted)
        await send(intake, topics.DATA_COLLECTION_REQUESTS, ours)
        await replies.wait_for(lambda rs: len(rs) >= 1)
        await replies.settle(1.0)
        await dead.settle(0.2)
    assert {json.loads(r.value)["collection_id"] for r in replies.records} == {str(ours.collection_id)}
    assert dead.records == []


async def test_a_factual_rectification_is_a_new_version_and_the_old_one_stays(intake, sample):
    outcome = await refer(intake, sample("accepted-school-deletion-no-destination.json"), "101234")
    child = uuid.UUID(outcome["child_subject_id"])
    name = FactualRectification(**envelope(), rights_request_id=uuid.uuid4(), subject_id=child, field="last_name",
                                new_value="Haddad-Khalil", decided_by="dpo-1")
    address = FactualRectification(**envelope(), rights_request_id=uuid.uuid4(), subject_id=child, field="address",
                                   new_value={"line1": "4 Corrected Row", "postcode": "W9 3XX"}, decided_by="dpo-1")
    unknown = FactualRectification(**envelope(), rights_request_id=uuid.uuid4(), subject_id=uuid.uuid4(),
                                   field="sex", new_value="female", decided_by="dpo-1")
    unfit = FactualRectification(**envelope(), rights_request_id=uuid.uuid4(), subject_id=child,
                                 field="date_of_birth", new_value="not a date", decided_by="dpo-1")
    async with intake.reader(topics.replies_of("intake")) as replies, \
            intake.reader(topics.dlq(topics.RIGHTS_EVENTS)) as dead:
        for event in (name, address, unknown, unfit):
            await send(intake, topics.RIGHTS_EVENTS, event)
        await replies.wait_for(lambda rs: len(rs) >= 3)
        await dead.wait_for(lambda rs: len(rs) >= 1)
    receipts = {json.loads(r.value)["rights_request_id"]: json.loads(r.value) for r in replies.records}
    assert receipts[str(name.rights_request_id)]["records_changed"] == 1
    assert receipts[str(address.rights_request_id)]["records_changed"] == 1
    assert receipts[str(unknown.rights_request_id)]["records_changed"] == 0
    assert all(r["kind"] == "rectification_applied" and r["service"] == "intake" for r in receipts.values())
    assert dead.records[0].value == unfit.model_dump_json().encode()

    versions = await intake.rows("SELECT kind, last_name, decided_by FROM subject_observations WHERE subject_id = :s "
                                 "ORDER BY observation_id", s=child)
    assert [(v.kind, v.last_name) for v in versions] == [("referral", "Haddad"), ("rectification", "Haddad-Khalil")]
    postcodes = [r.postcode for r in await intake.rows(
        "SELECT postcode FROM subject_addresses WHERE subject_id = :s ORDER BY address_id", s=child)]
    assert postcodes == ["W2 1AA", "W9 3XX"]
    # The referral itself stays as the school sent it: it records what happened.
    view = (await intake.client.get(f"/referrals/{outcome['intake_id']}", headers=intake.officer())).json()
    assert view["referral"]["child"]["last_name"] == "Haddad"
    applied = await intake.rows("SELECT rights_request_id, field, decided_by FROM rectifications ORDER BY applied_at")
    assert [(r.rights_request_id, r.field, r.decided_by) for r in applied] == [
        (name.rights_request_id, "last_name", "dpo-1"), (address.rights_request_id, "address", "dpo-1")]


async def test_a_carer_asking_for_their_own_data_gets_their_details_not_the_childs(intake, sample):
    await refer(intake, sample("accepted-school-deletion-no-destination.json"), "101234")
    [mother] = await intake.rows("SELECT DISTINCT carer_subject_id FROM care_links")
    request = DataCollectionRequest(**envelope(), collection_id=uuid.uuid4(), rights_request_id=uuid.uuid4(),
                                    subject_ids=[mother.carer_subject_id])
    async with intake.reader(topics.replies_of("intake")) as replies:
        await send(intake, topics.DATA_COLLECTION_REQUESTS, request)
        [reply] = await replies.wait_for(lambda rs: len(rs) >= 1)
    answer = json.loads(reply.value)
    assert answer["last"] is True and answer["total_items"] == len(answer["items"]) > 0
    text = json.dumps(answer["items"])
    assert "Leila" in text and "07700900123" in text.replace(" ", "")
    assert "Amira" not in text and "G213200119044" not in text and "2016-03-14" not in text
    assert {i["subject_id"] for i in answer["items"]} == {str(mother.carer_subject_id)}
