"""Subject access on the real broker and database: lookup, collection in chunks, retries, redaction,
DPO approval, restart, and a service that never answers."""

import io
import math
import re
import uuid
from datetime import UTC, datetime

import pypdf
import pytest

from cme_rights.domain.clock import one_month_deadline
from cme_shared.clock import LONDON
from cme_shared.contracts.categories import DataCategory
from cme_shared.contracts.rights import (
    DataCollectionRequest,
    DataItem,
    SubjectLookup,
    SubjectMatch,
    ThirdPartyMarker,
    ThirdPartyReason,
)
from cme_shared.testing.kafka import eventually

pytestmark = pytest.mark.integration

CHILD, NAMESAKE, MOTHER, FATHER = (uuid.uuid4() for _ in range(4))
AT = datetime(2026, 3, 1, 9, tzinfo=UTC)
PERSONAL = ("Maryam", "Hassan", "maryam.hassan@example.org", "07700 900456", "W2 5DP", "Porchester", "Pat Neighbour")


def item(service: str, n: int, **extra) -> DataItem:
    return DataItem(service=service, record_type=extra.pop("record_type", "note"),
                    record_id=extra.pop("record_id", f"{service}-{n}"), subject_id=CHILD,
                    category=extra.pop("category", DataCategory.EDUCATION), source=extra.pop("source", "CME officer"),
                    recorded_at=AT, data=extra.pop("data", {"n": n}), **extra)


def public_referral():
    return item("intake", 0, category=DataCategory.CONTACT, record_type="referral", record_id="ref-1",
                source="member of the public", data={
                    "child": {"first_name": "Amira", "last_name": "Hassan"},
                    "referrer": {"name": "Pat Neighbour", "phone": "07700 900999"},
                    "carers": [{"first_name": "Maryam", "subject_id": str(MOTHER)},
                               {"first_name": "Yusuf", "subject_id": str(FATHER)}],
                    "details": "told by the school nurse, acting in her role"},
                third_party=[ThirdPartyMarker(path="referrer", reason=ThirdPartyReason.PUBLIC_REFERRER),
                             ThirdPartyMarker(path="carers.0", reason=ThirdPartyReason.OTHER_CARER, subject_id=MOTHER),
                             ThirdPartyMarker(path="carers.1", reason=ThirdPartyReason.OTHER_CARER, subject_id=FATHER)])


def police_share():
    return item("disclosure", 0, category=DataCategory.POLICE_PROBATION, record_type="disclosure",
                record_id="disc-1", data={"purpose": "crime", "categories": ["contact"]},
                recipient={"type": "police", "org_name": "Metropolitan Police",
                           "requester_role": "Detective Inspector"})


def script(responders, intake_records: int = 1) -> None:
    responders.requester_first_name = "Maryam"
    responders.subject_matches = [SubjectMatch(subject_id=CHILD, subject_type="child", match="exact_identifier"),
                                  SubjectMatch(subject_id=NAMESAKE, subject_type="child", match="possible")]
    responders.requester_matches = [SubjectMatch(subject_id=MOTHER, subject_type="carer", match="name_dob_postcode")]
    responders.items["intake"] = [public_referral()] + [item("intake", n) for n in range(1, intake_records)]
    responders.items["casework"] = [item("casework", 1, category=DataCategory.STATUTORY_SERVICES,
                                         record_type="case", data={"status": "open", "reason": "unknown_destination"})]
    responders.items["disclosure"] = [police_share()]


def pdf_text(content: bytes) -> str:
    return re.sub(r"\s+", " ", " ".join(p.extract_text() for p in pypdf.PdfReader(io.BytesIO(content)).pages))


async def test_a_subject_access_request_is_gathered_redacted_reviewed_and_released(
    start_rights, responders, capfd):
    script(responders, intake_records=430)  # three chunks of at most 200
    responders.silent_for["casework"] = 1  # casework answers only when asked again
    responders.failing_for["disclosure"] = 1  # disclosure's first answer is an error
    async with start_rights(collection_timeout_seconds=4.0, collection_max_attempts=4) as rights:
        await rights.consuming(responders)
        created = await rights.create()
        assert created["status"] == "collecting"
        assert created["due_date"] == one_month_deadline(datetime.now(LONDON).date()).isoformat()
        request_id = created["request_id"]
        ready = await rights.reaches(request_id, "ready_for_review")

        lookups = [a for a in responders.asks if isinstance(a, SubjectLookup)]
        assert {a.person.first_name for a in lookups} == {"Amira", "Maryam"}  # the child, and the parent asking
        collect = [a for a in responders.asks if isinstance(a, DataCollectionRequest)]
        assert collect[0].subject_ids == [CHILD]  # the possible namesake is left out
        assert collect[0].requester_subject_ids == [MOTHER]
        assert collect[0].rights_request_id == uuid.UUID(request_id)
        assert [a.services for a in responders.asked("casework")] == [
            ["intake", "casework", "disclosure"], ["casework"]]
        assert len(responders.asked("intake")) == 1  # a re-ask goes only to the service that is late
        assert [a.services for a in responders.asked("disclosure")][1] == ["disclosure"]  # asked again at once
        gathering = ready["gathering"][-1]
        assert {s["service"]: (s["state"], s["attempts"]) for s in gathering["services"]} == {
            "intake": ("answered", 1), "casework": ("answered", 2), "disclosure": ("answered", 2)}

        before = await rights.client.get(f"/requests/{request_id}/response", headers=rights.officer)
        assert before.status_code == 409 and before.json()["errors"][0]["code"] == "not_approved"
        officer_draft = await rights.client.get(f"/requests/{request_id}/draft", headers=rights.officer)
        assert officer_draft.status_code == 403  # the draft is the DPO's to review
        draft = (await rights.client.get(f"/requests/{request_id}/draft", headers=rights.dpo)).json()
        preview = await rights.client.get(f"/requests/{request_id}/draft?format=html", headers=rights.dpo)
        assert preview.status_code == 200 and preview.headers["content-type"].startswith("text/html")
        assert "This response has not been sent" in preview.text and "Dear Maryam" in preview.text
        assert "default-src 'none'" in preview.headers["content-security-policy"]
        draft_pdf = await rights.client.get(f"/requests/{request_id}/draft?format=pdf", headers=rights.dpo)
        assert draft_pdf.status_code == 200 and "has not been sent" in pdf_text(draft_pdf.content)
        # Besides the services' 432 records: one per read of this request recorded while it was gathered
        # (the test polled it), as recipients within the council (Art 15(1)(c)).
        reads = [r for r in draft["recipients"] if r["type"] == "council_staff"]
        assert draft["summary"]["records"] == 432 + len(reads)
        assert {r["org_name"] for r in reads} <= {"council staff (officer), rights service"}
        exemption = {"service": "casework", "record_id": "casework-1", "exemption": "social_work_serious_harm",
                     "reason": "the social worker advises disclosure now would put the child at serious risk"}
        exempt = f"/requests/{request_id}/exemptions"
        assert (await rights.post(exempt, exemption)).status_code == 403  # the DPO decides exemptions
        unknown = await rights.post(exempt, {**exemption, "record_id": "nope"}, headers=rights.dpo)
        assert unknown.status_code == 422 and unknown.json()["errors"][0]["code"] == "record_not_in_pack"
        assert (await rights.post(exempt, exemption, headers=rights.dpo)).status_code == 200
        assert (await rights.post(f"/requests/{request_id}/approve")).status_code == 403  # an officer
        approved = await rights.post(f"/requests/{request_id}/approve", headers=rights.dpo)
        assert approved.status_code == 200, approved.text

        pack = (await rights.client.get(f"/requests/{request_id}/response", headers=rights.officer)).json()
        assert pack["summary"] == {"records": 432 + len(reads), "redactions": 2, "records_withheld": 1,
                                   "records_disposed": 0,
                                   "services": ["casework", "disclosure", "intake"] + (["rights"] if reads else [])}
        [case] = next(s for s in pack["data"] if s["service"] == "casework")["categories"][0]["records"]
        assert "data" not in case and "Sch 3 Part 3" in case["withheld"]
        assert pack["exemptions"] == [{**exemption, "decided_by": "dpo-1",
                                       "basis": "DPA 2018 Sch 3 Part 3 (social work data: serious harm test)"}]
        intake = next(s for s in pack["data"] if s["service"] == "intake")
        referral = next(r for c in intake["categories"] for r in c["records"] if r["record_id"] == "ref-1")
        assert referral["source"] == "member of the public"
        assert referral["data"]["referrer"] == "[redacted]"
        assert referral["data"]["carers"][0]["first_name"] == "Maryam"  # the requester's own data
        assert referral["data"]["carers"][1] == "[redacted]"  # the other parent's
        assert referral["data"]["details"].startswith("told by the school nurse")  # professionals stay
        assert {(r["path"], r["reason_code"]) for r in pack["redactions"]} == {
            ("referrer", "third_party_public_referrer"), ("carers.1", "third_party_other_carer")}
        assert [r["org_name"] for r in pack["recipients"] if r["type"] != "council_staff"] == ["Metropolitan Police"]
        assert pack["completeness"]["complete"] and pack["completeness"]["possible_matches_not_included"] == 1
        assert pack["requester"]["acting_as"] == "parent" and "parental responsibility" in pack["authority"][0]
        assert "Art 6(1)(e)" in pack["supplementary_information"]["lawful_basis"]
        assert pack["release"]["approved_by"] == "dpo-1"

        printable = await rights.client.get(f"/requests/{request_id}/response?format=pdf", headers=rights.officer)
        assert printable.status_code == 200 and printable.headers["content-type"] == "application/pdf"
        assert printable.content.startswith(b"%PDF-")
        text = pdf_text(printable.content)  # the released pack reads as a letter to the parent who asked
        assert "Dear Maryam" in text and "has not been sent" not in text
        assert "Metropolitan Police" in text and "Information Commissioner's Office (ICO)" in text
        assert "A member of the public who tells us about a child can do so in confidence" in text
        assert "likely to cause serious harm" in text  # the DPO's exemption, in words
        assert "incomplete_return" not in text and "statutory_services" not in text
        page = await rights.client.get(f"/requests/{request_id}/response?format=html", headers=rights.officer)
        assert page.status_code == 200 and "Dear Maryam" in page.text and "<script" not in page.text

        view = await rights.get(request_id)
        assert [(h["from_status"], h["to_status"]) for h in view["history"] if h["to_status"] != h["from_status"]] == [
            (None, "received"), ("received", "collecting"), ("collecting", "ready_for_review"),
            ("ready_for_review", "responded")]
        assert view["history"][-1]["actor"] == "dpo-1"
        assert view["subject_ids"] == [str(CHILD)]

    logs = capfd.readouterr().out
    assert "rights_request_received" in logs and "collection_answered" in logs
    assert not [p for p in PERSONAL if p in logs]  # nobody's personal data in the logs


async def test_a_service_that_never_answers_is_recorded_and_the_pack_is_released_only_as_incomplete(
    start_rights, responders):
    script(responders)
    responders.silent_for["casework"] = math.inf
    async with start_rights(collection_timeout_seconds=3.0, collection_max_attempts=2) as rights:
        await rights.consuming(responders)
        request_id = (await rights.create())["request_id"]
        view = await rights.reaches(request_id, "collection_incomplete")
        casework = next(s for s in view["gathering"][-1]["services"] if s["service"] == "casework")
        assert (casework["state"], casework["attempts"]) == ("no_answer", 2)
        assert len(responders.asked("casework")) == 2
        assert view["history"][-1]["detail"]["services_missing"] == ["casework"]

        refused = await rights.post(f"/requests/{request_id}/approve", headers=rights.dpo)
        assert refused.status_code == 409 and refused.json()["errors"][0]["code"] == "collection_incomplete"
        no_note = await rights.post(f"/requests/{request_id}/approve", {"accept_incomplete": True}, headers=rights.dpo)
        assert no_note.status_code == 422
        accepted = await rights.post(f"/requests/{request_id}/approve", {
            "accept_incomplete": True, "note": "casework is down for a week; its records follow in a second pack"},
            headers=rights.dpo)
        assert accepted.status_code == 200, accepted.text
        pack = (await rights.client.get(f"/requests/{request_id}/response", headers=rights.officer)).json()
        assert pack["completeness"]["services_missing"] == ["casework"]
        assert pack["release"]["incomplete_accepted"]["services_missing"] == ["casework"]
        assert {s["service"] for s in pack["data"]} - {"rights"} == {"intake", "disclosure"}  # rights: the reads


async def test_a_collection_carries_on_after_the_service_restarts(start_rights, responders):
    script(responders)
    responders.held = True  # the services answer while rights is down
    responders.silent_for["casework"] = 1  # and casework only when asked again, after the restart
    async with start_rights() as rights:
        request_id = (await rights.create())["request_id"]
        await eventually(lambda: len(responders.asked("intake")) == 1)
        assert (await rights.get(request_id))["status"] == "collecting"
    await responders.release()

    async with start_rights(collection_timeout_seconds=1.0) as rights:
        view = await rights.reaches(request_id, "ready_for_review")
    casework = next(s for s in view["gathering"][-1]["services"] if s["service"] == "casework")
    assert casework["attempts"] == 2  # the try made before the restart counted
    assert len(responders.asked("casework")) == 2
    assert view["history"][-1]["detail"] == {"services_missing": [], "records": 3}


async def test_when_the_identity_index_never_answers_nothing_is_collected_and_the_gap_is_named(start_rights):
    async with start_rights(collection_timeout_seconds=0.5, collection_max_attempts=2) as rights:
        request_id = (await rights.create())["request_id"]
        view = await rights.reaches(request_id, "collection_incomplete")
    assert [(a["purpose"], a["services"][0]["state"]) for a in view["gathering"]] == [
        ("lookup_subject", "no_answer"), ("lookup_requester", "no_answer")]
    assert view["history"][-1]["detail"] == {"services_missing": ["intake"], "records": 0}
    assert view["subject_ids"] == []
