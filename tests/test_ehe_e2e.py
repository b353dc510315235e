"""Elective home education on the real stack (issue 14, item 2, "Done when"): a school's ground (f) deletion
return on Kafka, through intake, makes an EHE record in casework and no CME case; an assessment "unsuitable"
opens one, linked to the record.

intake and casework run as real processes, on the real broker and their own real databases.
"""

import json
from datetime import datetime
from zoneinfo import ZoneInfo

import httpx
import pytest

from cme_shared.contracts import topics
from cme_shared.testing.infra import SAMPLE_REFERRALS
from cme_shared.testing.kafka import TopicReader, eventually, produce
from cme_shared.testing.processes import ServiceProcess

pytestmark = pytest.mark.e2e


@pytest.fixture
async def services(stack) -> dict[str, ServiceProcess]:
    return await stack("intake", "casework")


def ground_f_return() -> bytes:
    """The sample school deletion return, as a parent's written notice of education otherwise (reg 9(1)(f))."""
    referral = json.loads((SAMPLE_REFERRALS / "accepted-school-deletion-no-destination.json").read_bytes())
    referral["referral_id"] = "SCH-2026-EHE-0001"
    referral["notification"].update({"deletion_ground": "9(1)(f)", "details": "Parent's written notice: home education."})
    return json.dumps(referral).encode()


async def test_a_ground_f_return_makes_an_ehe_record_and_an_unsuitable_assessment_opens_a_cme_case(
        services, infra, namespace, token):
    async with TopicReader(infra.kafka, namespace(topics.REFERRAL_OUTCOMES)) as outcomes:
        await produce(infra.kafka, namespace(topics.REFERRALS), ground_f_return(), key=b"partner-key-1")
        [record] = await outcomes.wait_for(lambda rs: len(rs) >= 1, timeout=60)
    outcome = json.loads(record.value)
    assert outcome["status"] in ("accepted", "accepted_with_warnings"), outcome
    child = outcome["child_subject_id"]
    casework = services["casework"].url
    officer = token("officer-1", "officer", borough="westminster")

    async def ehe_record() -> list:
        response = httpx.get(f"{casework}/ehe-records", params={"child_subject_id": child}, headers=officer)
        assert response.status_code == 200, response.text
        return response.json()

    [ehe] = await eventually(ehe_record, timeout=60)
    assert (ehe["status"], ehe["borough"], ehe["notice_on"], ehe["next_due_kind"]) == (
        "notified", "westminster", "2026-10-30", "enquiry")
    cases = httpx.get(f"{casework}/cases", params={"child_subject_id": child}, headers=officer)
    assert cases.status_code == 200 and cases.json() == []  # not CME until assessed (D4)

    today = datetime.now(ZoneInfo("Europe/London")).date().isoformat()
    steps = f"{casework}/ehe-records/{ehe['ehe_id']}/steps"
    for body in ({"kind": "enquiry_made", "on": today, "method": "letter"},
                 {"kind": "parent_responded", "on": today, "form": "written_report"}):
        assert httpx.post(steps, json=body, headers=officer).status_code == 201
    assessed = httpx.post(steps, headers=officer, json={"kind": "assessment_recorded", "on": today,
                                                         "outcome": "unsuitable", "assessed_by": "EHE adviser"})
    assert assessed.status_code == 201, assessed.text
    case_id = assessed.json()["cme_case_id"]
    [case] = httpx.get(f"{casework}/cases", params={"child_subject_id": child}, headers=officer).json()
    assert (case["case_id"], case["reason"], case["status"]) == (case_id, "ehe_education_unsuitable", "open")
    linked = httpx.get(f"{casework}/ehe-records/{ehe['ehe_id']}", headers=officer).json()
    assert linked["cme_case_ids"] == [case_id] and linked["status"] == "unsuitable"

    # Nothing personal reached either service's log.
    logs = services["intake"].log_text() + services["casework"].log_text()
    for personal in ("Amira", "Haddad", "W2 1AA", "2016-03-14", "07700"):
        assert personal not in logs
