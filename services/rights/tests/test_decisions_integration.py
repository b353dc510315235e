"""Rectification, erasure, restriction, objection and transfer: recorded decisions and the events they send."""

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from cme_shared.clock import LONDON
from cme_shared.contracts import topics
from cme_shared.contracts.categories import DataCategory
from cme_shared.contracts.rights import (
    DataItem,
    RectificationApplied,
    SubjectMatch,
    ThirdPartyMarker,
    ThirdPartyReason,
)
from cme_shared.testing.kafka import TopicReader, eventually

pytestmark = pytest.mark.integration

CHILD = uuid.uuid4()
AT = datetime(2026, 2, 1, 9, tzinfo=UTC)


def script(responders) -> None:
    responders.subject_matches = [SubjectMatch(subject_id=CHILD, subject_type="child", match="exact_identifier")]
    responders.items["intake"] = [DataItem(
        service="intake", record_type="referral", record_id="ref-9", subject_id=CHILD, category=DataCategory.CONTACT,
        source="member of the public", recorded_at=AT,
        data={"child": {"first_name": "Amira", "date_of_birth": "2016-04-20"}, "referrer": {"name": "Pat"}},
        third_party=[ThirdPartyMarker(path="referrer", reason=ThirdPartyReason.PUBLIC_REFERRER)])]
    responders.items["casework"] = [DataItem(
        service="casework", record_type="case", record_id="case-3", subject_id=CHILD,
        category=DataCategory.STATUTORY_SERVICES, source="CME officer", recorded_at=AT,
        data={"status": "open", "assessment": "family appears to have moved abroad"})]
    responders.items["disclosure"] = [DataItem(
        service="disclosure", record_type="disclosure", record_id="disc-4", subject_id=CHILD,
        category=DataCategory.EDUCATION, source="CME officer", recorded_at=AT + timedelta(days=2),
        data={"purpose": "cme_tracking"}, recipient={"type": "school", "org_id": "100001",
                                                     "org_name": "Hallfield Primary School"})]


def events(records) -> list[dict]:
    return [json.loads(r.value) for r in records]


async def test_restriction_rectification_erasure_and_objection_are_decided_recorded_and_announced(
    start_rights, responders, infra, namespace
):
    script(responders)
    async with start_rights() as rights, TopicReader(infra.kafka, namespace(topics.RIGHTS_EVENTS)) as sent:
        ids = {kind: (await rights.create(type=kind, requester={
            "first_name": "Amira", "last_name": "Hassan", "acting_as": "self"}))["request_id"]
            for kind in ("restriction", "rectification", "erasure", "objection")}
        for request_id in ids.values():
            ready = await rights.reaches(request_id, "awaiting_decision")
            assert ready["subject_ids"] == [str(CHILD)]
        # these rights only need the recipients: the disclosure log alone was asked
        assert all(a.services == ["disclosure"] for a in responders.asked("disclosure"))
        assert responders.asked("casework") == []

        # restriction (Art 18) -> SubjectRestricted once the DPO approves the officer's decision; lifted only
        # after telling the requester (Art 18(3)), again with the DPO's approval
        restriction = {"outcome": "restricted", "ground": "accuracy_contested", "reason": "the address is disputed"}
        own = await rights.post(f"/requests/{ids['restriction']}/restriction-decision", restriction)
        assert own.status_code == 403 and own.json()["errors"][0]["code"] == "same_person"  # who recorded it
        restricted = await rights.post(f"/requests/{ids['restriction']}/restriction-decision", restriction,
                                       headers=rights.officer2)
        assert restricted.status_code == 200, restricted.text
        assert restricted.json()["status"] == "awaiting_approval" and restricted.json()["proposed"] is True
        approved = await rights.post(f"/requests/{ids['restriction']}/proposal-decision", {"outcome": "approved"},
                                     headers=rights.dpo)
        assert approved.status_code == 200 and approved.json()["status"] == "ready_for_review", approved.text
        draft = (await rights.client.get(f"/requests/{ids['restriction']}/draft", headers=rights.dpo)).json()
        assert [r["org_name"] for r in draft["recipients_to_notify"]] == ["Hallfield Primary School"]

        # rectification: facts for the subject only; disputed opinions get an addendum decision, no event
        stranger = await rights.post(f"/requests/{ids['rectification']}/rectification-decision", {
            "corrections": [{"subject_id": str(uuid.uuid4()), "field": "last_name", "new_value": "X",
                             "reason": "typo"}], "reason": "r"}, headers=rights.officer2)
        assert stranger.status_code == 422 and stranger.json()["errors"][0]["code"] == "not_the_subject"
        bad_date = await rights.post(f"/requests/{ids['rectification']}/rectification-decision", {
            "corrections": [{"subject_id": str(CHILD), "field": "date_of_birth", "new_value": "20 April",
                             "reason": "birth certificate"}], "reason": "r"}, headers=rights.officer2)
        assert bad_date.status_code == 422
        rectified = await rights.post(f"/requests/{ids['rectification']}/rectification-decision", {
            "corrections": [
                {"subject_id": str(CHILD), "field": "date_of_birth", "new_value": "2016-04-02",
                 "reason": "birth certificate seen"},
                {"subject_id": str(CHILD), "field": "last_name", "new_value": "Hasan", "accepted": False,
                 "reason": "the passport spells it Hassan"}],
            "opinion_disputes": [{"record_ref": "casework/case/case-3", "addendum": "accept",
                                  "addendum_text": "we were visiting family, not moving abroad",
                                  "reason": "the family's account is added beside the officer's assessment"}],
            "reason": "one factual error corrected"}, headers=rights.officer2)
        assert rectified.status_code == 200 and rectified.json()["status"] == "awaiting_approval", rectified.text
        approved = await rights.post(f"/requests/{ids['rectification']}/proposal-decision",
                                     {"outcome": "approved", "reason": "birth certificate checked"},
                                     headers=rights.dpo)
        assert approved.status_code == 200, approved.text

        # erasure: a DPO decision; refused under Art 17(3)(b) with the ICO and judicial remedy
        assert (await rights.post(f"/requests/{ids['erasure']}/erasure-decision",
                                  {"outcome": "refused"})).status_code == 403
        refused = await rights.post(f"/requests/{ids['erasure']}/erasure-decision", {"outcome": "refused"},
                                    headers=rights.dpo)
        assert refused.status_code == 200, refused.text

        # objection: the DPO records whether compelling legitimate grounds override it
        objection = await rights.post(f"/requests/{ids['objection']}/objection-decision", {
            "compelling_grounds": True, "reason": "the s436A duty continues while the child's education is unknown"},
            headers=rights.dpo)
        assert objection.json()["decision"]["outcome"] == "not_upheld"

        for request_id in ids.values():
            assert (await rights.post(f"/requests/{request_id}/approve", headers=rights.dpo)).status_code == 200
        erasure = (await rights.client.get(f"/requests/{ids['erasure']}/response", headers=rights.officer)).json()
        assert "Art 17(3)(b)" in erasure["explanation"] and erasure["decision"]["outcome"] == "refused"
        assert erasure["remedies"]["complaint_to_ico"]["website"].startswith("https://ico.org.uk")
        assert "Art 79" in erasure["remedies"]["judicial_remedy"]
        rectification = (await rights.client.get(f"/requests/{ids['rectification']}/response",
                                                 headers=rights.officer)).json()
        assert rectification["decision"]["opinion_disputes"][0]["addendum"] == "accept"
        assert rectification["recipients_to_notify"][0]["org_name"] == "Hallfield Primary School"

        lift = f"/requests/{ids['restriction']}/restriction-lift"
        lifted = await rights.post(lift, {"reason": "the address is confirmed",
                                          "requester_informed_on": datetime.now(LONDON).date().isoformat()},
                                   headers=rights.officer2)
        assert lifted.status_code == 200 and lifted.json()["proposed"] is True, lifted.text
        pending = await rights.post(lift, {"reason": "again", "requester_informed_on": "2026-01-01"},
                                    headers=rights.officer2)
        assert pending.status_code == 409 and pending.json()["errors"][0]["code"] == "proposal_pending"
        listed = (await rights.client.get("/worklist", headers=rights.dpo)).json()
        assert {e["request_id"]: e["needs"] for e in listed}[ids["restriction"]].startswith("DPO: approve")
        assert (await rights.post(f"/requests/{ids['restriction']}/proposal-decision", {"outcome": "approved"},
                                  headers=rights.dpo)).status_code == 200
        again = await rights.post(lift, {"reason": "again", "requester_informed_on": "2026-01-01"},
                                  headers=rights.officer2)
        assert again.status_code == 409 and again.json()["errors"][0]["code"] == "already_lifted"

        records = await sent.wait_for(lambda rs: len(rs) >= 3)
        await sent.settle(0.5)
        kinds = [(e["kind"], e.get("field"), e.get("new_value")) for e in events(sent.records)]
        assert kinds == [("subject_restricted", None, None), ("factual_rectification", "date_of_birth", "2016-04-02"),
                         ("restriction_lifted", None, None)]  # the refused correction sent nothing
        restricted_event = events(records)[0]
        assert restricted_event["subject_ids"] == [str(CHILD)] and "18(1)" in restricted_event["reason"]
        assert {r.key for r in sent.records} == {ids["restriction"].encode(), ids["rectification"].encode()}

        # each service confirms what it changed
        await responders.send(RectificationApplied(
            event_id=uuid.uuid4(), occurred_at=datetime.now(UTC), rights_request_id=uuid.UUID(ids["rectification"]),
            service="intake", subject_id=CHILD, records_changed=2))

        async def applied() -> bool:
            view = await rights.get(ids["rectification"])
            return any(h["action"] == "rectification_applied" and h["actor"] == "service:intake"
                       for h in view["history"])
        await eventually(applied)
        view = await rights.get(ids["rectification"])
        assert [(d["kind"], d["decided_by"], d["decided_role"]) for d in view["decisions"]] == [
            ("rectification_proposed", "officer-2", "officer"), ("rectification", "dpo-1", "dpo")]
        assert view["decisions"][1]["decision"]["proposed_by"] == "officer-2"
        assert any(h["action"] == "proposal_approved" and h["actor"] == "dpo-1" for h in view["history"])


async def test_an_erasure_granted_exceptionally_by_the_dpo_stops_processing(start_rights, responders, infra, namespace):
    script(responders)
    async with start_rights() as rights, TopicReader(infra.kafka, namespace(topics.RIGHTS_EVENTS)) as sent:
        request_id = (await rights.create(type="erasure"))["request_id"]
        await rights.reaches(request_id, "awaiting_decision")
        unreasoned = await rights.post(f"/requests/{request_id}/erasure-decision", {"outcome": "granted"},
                                       headers=rights.dpo)
        assert unreasoned.status_code == 422
        granted = await rights.post(f"/requests/{request_id}/erasure-decision", {
            "outcome": "granted", "reason": "the referral was about a different family: recorded in error"},
            headers=rights.dpo)
        assert granted.status_code == 200
        [record] = await sent.wait_for(lambda rs: len(rs) >= 1)
    assert json.loads(record.value)["kind"] == "subject_restricted"


async def test_a_transfer_is_sent_as_a_statutory_share_only_when_the_dpo_approves(
    start_rights, responders, infra, namespace
):
    script(responders)
    async with start_rights() as rights, TopicReader(infra.kafka, namespace(topics.SHARE_EVENTS)) as shares:
        request_id = (await rights.create(type="transfer", details="the family moved to Camden"))["request_id"]
        await rights.reaches(request_id, "awaiting_decision")
        assert {len(responders.asked(s)) for s in ("intake", "casework", "disclosure")} == {1}  # the whole record
        prepared = await rights.post(f"/requests/{request_id}/transfer-decision", {
            "recipient": {"org_id": "202", "org_name": "London Borough of Camden"},
            "reason": "the child now lives in Camden, whose CME duty it becomes"}, headers=rights.officer2)
        assert prepared.status_code == 200, prepared.text
        await shares.settle(1.0)
        assert shares.records == []  # nothing leaves before approval

        assert (await rights.post(f"/requests/{request_id}/approve", headers=rights.dpo)).status_code == 200
        [record] = await shares.wait_for(lambda rs: len(rs) >= 1)
        record_json = (await rights.client.get(f"/requests/{request_id}/response", headers=rights.officer)).json()

    share = json.loads(record.value)
    assert share["purpose"] == "statutory_transfer" and share["service"] == "rights"
    assert share["recipient"] == {"type": "other_local_authority", "org_id": "202",
                                  "org_name": "London Borough of Camden"}
    assert share["subject_ids"] == [str(CHILD)] and share["decided_by"] == "dpo-1"
    assert set(share["categories"]) == {"contact", "statutory_services", "education"}
    assert "referral.child" in share["fields_released"] and "referral.referrer" not in share["fields_released"]
    assert share["share_ref"] == f"rights:{request_id}"
    assert record.key == request_id.encode()
    assert record_json["format"] == "cme-statutory-transfer/1" and len(record_json["records"]) == 3
    referral = next(r for r in record_json["records"] if r["record_type"] == "referral")
    assert referral["data"]["referrer"] == "[redacted]"  # the member of the public stays with this council
