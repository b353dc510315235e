"""The statutory review's corrections (Dec 2026) over HTTP on the real broker and database: the clarification
pause counted with both ends (D1) and for access only (D2), and the new subject access exemptions (item 9)."""

import uuid
from datetime import datetime, timedelta

import pytest

from cme_rights.domain.clock import add_months, next_working_day
from cme_shared.clock import LONDON
from cme_shared.contracts.categories import DataCategory
from cme_shared.contracts.rights import DataItem, SubjectMatch

pytestmark = pytest.mark.integration

CHILD = uuid.uuid4()


def day(n: int):
    return datetime.now(LONDON).date() - timedelta(days=n)


async def test_the_pause_counts_the_day_of_asking_and_of_receipt_and_only_an_access_request_pauses(start_rights):
    async with start_rights() as rights:
        access = (await rights.create(identity_verified=False, received_on=day(10).isoformat()))["request_id"]
        clock = f"/requests/{access}/clock"
        asked = await rights.post(clock, {"event": "clarification_requested", "on": day(8).isoformat()})
        assert asked.status_code == 200 and asked.json()["due_date"] is None
        assert asked.json()["on_hold"] == "awaiting_clarification"
        answered = await rights.post(clock, {"event": "clarification_received", "on": day(3).isoformat()})
        # Art 12A: the period beginning with the day of asking and ending with the day of receipt: 6 days
        expected = next_working_day(add_months(day(10), 1) + timedelta(days=6))
        assert answered.json()["due_date"] == expected.isoformat()
        view = await rights.get(access)
        assert view["clock"]["paused_days"] == 6 and view["due_date"] == expected.isoformat()

        rectification = await rights.create(type="rectification", identity_verified=False,
                                            received_on=day(5).isoformat())
        refused = await rights.post(f"/requests/{rectification['request_id']}/clock",
                                    {"event": "clarification_requested", "on": day(1).isoformat()})
        assert refused.status_code == 409
        assert refused.json()["errors"][0]["code"] == "clarification_access_only"
        assert "Amira" not in refused.text
        view = await rights.get(rectification["request_id"])
        assert view["clock"]["history"] == [] and view["due_date"] == rectification["due_date"]  # the month runs on


async def test_the_dpo_withholds_records_under_the_new_exemptions_with_their_conditions(start_rights, responders):
    responders.subject_matches = [SubjectMatch(subject_id=CHILD, subject_type="child", match="exact_identifier")]
    responders.items["casework"] = [
        responders_item("casework", "cw-abuse", DataCategory.STATUTORY_SERVICES),
        responders_item("casework", "cw-health", DataCategory.STATUTORY_SERVICES),
        responders_item("casework", "cw-sen", DataCategory.EDUCATION)]
    async with start_rights() as rights:
        await rights.consuming(responders)
        request_id = (await rights.create())["request_id"]  # a parent asks for their child's data
        await rights.reaches(request_id, "ready_for_review")
        exempt = f"/requests/{request_id}/exemptions"

        def body(record_id: str, exemption: str, **extra):
            return {"service": "casework", "record_id": record_id, "exemption": exemption,
                    "reason": "the DPO's reasons", **extra}

        abuse = await rights.post(exempt, body("cw-abuse", "child_abuse_data"), headers=rights.dpo)
        assert abuse.status_code == 200, abuse.text
        no_opinion = await rights.post(exempt, body("cw-health", "health_serious_harm"), headers=rights.dpo)
        assert no_opinion.status_code == 422
        assert no_opinion.json()["errors"][0]["code"] == "health_opinion_required"
        assert no_opinion.json()["errors"][0]["loc"] == ["body", "health_professional_opinion_on"]
        stale = await rights.post(exempt, body("cw-health", "health_serious_harm", health_professional="GP",
                                               health_professional_opinion_on=day(200).isoformat()),
                                  headers=rights.dpo)
        assert stale.status_code == 409 and stale.json()["errors"][0]["code"] == "health_opinion_too_old"
        health = await rights.post(exempt, body("cw-health", "health_serious_harm",
                                                health_professional="the child's paediatrician",
                                                health_professional_opinion_on=day(20).isoformat()),
                                   headers=rights.dpo)
        assert health.status_code == 200, health.text
        sen = await rights.post(exempt, body("cw-sen", "special_educational_needs_records"), headers=rights.dpo)
        assert sen.status_code == 200, sen.text

        draft = (await rights.client.get(f"/requests/{request_id}/draft", headers=rights.dpo)).json()
        assert [(e["record_id"], e["basis"].split(" (")[0]) for e in draft["exemptions"]] == [
            ("cw-abuse", "DPA 2018 Sch 3 Part 5 para 21"), ("cw-health", "DPA 2018 Sch 3 Part 2"),
            ("cw-sen", "DPA 2018 Sch 4 para 4")]
        assert draft["summary"]["records_withheld"] == 3
        view = await rights.get(request_id, headers=rights.dpo)
        recorded = [d["decision"] for d in view["decisions"] if d["kind"] == "exemption"]
        assert recorded[1]["health_professional"] == "the child's paediatrician"
        assert recorded[1]["health_professional_opinion_on"] == day(20).isoformat()


def responders_item(service: str, record_id: str, category: DataCategory) -> DataItem:
    return DataItem(service=service, record_type="note", record_id=record_id, subject_id=CHILD, category=category,
                    source="CME officer", recorded_at=datetime.now(LONDON), data={"text": "reviewed by the DPO"})
