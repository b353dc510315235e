"""The EHE record page's step form read back into casework's step body (console/pages/ehe.py)."""

import pytest
from starlette.datastructures import FormData

from cme_console.labels import LABELS
from cme_console.pages.ehe import KINDS, STATUSES, step_body

pytestmark = pytest.mark.unit

ON = {"on-day": "12", "on-month": "11", "on-year": "2026"}


def test_only_the_chosen_steps_fields_are_sent():
    body, problems = step_body(FormData({**ON, "kind": "assessment_recorded", "outcome": "unsuitable",
                                         "assessed_by": "EHE adviser", "method": "letter", "school_urn": "100001"}))
    assert problems == []
    assert body == {"kind": "assessment_recorded", "on": "2026-11-12", "outcome": "unsuitable",
                    "assessed_by": "EHE adviser"}


def test_answers_and_periods_are_typed_as_casework_expects():
    answer, _ = step_body(FormData({**ON, "kind": "s437_response_recorded", "satisfied": "no"}))
    assert answer["satisfied"] is False
    notice, _ = step_body(FormData({**ON, "kind": "s437_notice_served", "period_days": "21"}))
    assert notice["period_days"] == 21
    _, bad = step_body(FormData({**ON, "kind": "s437_notice_served", "period_days": "three weeks"}))
    assert [p.field for p in bad] == ["period_days"]


def test_a_missing_field_is_named_before_casework_is_asked():
    _, problems = step_body(FormData({"kind": "enquiry_made"}))
    assert {p.field for p in problems} == {"on-day", "method"}


def test_every_status_and_step_has_words():
    # "enquiry_made" keeps the case timeline's words ("Enquiry made"): the labels are shared.
    assert [code for code in (*STATUSES, *KINDS) if code not in LABELS] == ["enquiry_made"]


# --- the pages over a casework that answers as casework does (httpx.MockTransport) ----------------------

EHE_ID = "6f1c1e0a-0000-4000-8000-0000000000e1"
CASE_ID = "6f1c1e0a-0000-4000-8000-0000000000c1"
RECORD = {"ehe_id": EHE_ID, "child_subject_id": "6f1c1e0a-0000-4000-8000-0000000000a1", "borough": "westminster",
          "status": "notified", "notice_on": "2026-11-02", "outcome": None, "cme_case_id": None, "review_due_on": None,
          "next_due_date": "2026-11-16", "next_due_kind": "enquiry", "closed_on": None,
          "opened_at": "2026-11-02T10:00:00+00:00"}


@pytest.fixture
def casework():
    import httpx

    asked: list[tuple[str, str, bytes]] = []

    def answer(request: httpx.Request) -> httpx.Response:
        asked.append((request.method, request.url.path, request.content))
        if request.url.path == "/ehe-records":
            return httpx.Response(200, json=[RECORD])
        if request.url.path == f"/ehe-records/{EHE_ID}" and request.method == "GET":
            return httpx.Response(200, json={**RECORD, "restricted": False, "notices": [], "enquiries": [],
                                             "responses": [], "assessments": [], "s437_notice": None,
                                             "s438_notice": None, "school_attendance_order": None, "revocations": [],
                                             "cme_case_ids": [], "history": [{
                                                 "entry_id": 1, "kind": "notice_received", "actor": "system:intake",
                                                 "reason": "notice of education otherwise", "effective_on": "2026-11-02",
                                                 "recorded_at": "2026-11-02T10:00:00+00:00", "category": "education",
                                                 "source": "school:100001", "detail": {}}]})
        if request.url.path == f"/ehe-records/{EHE_ID}/steps":
            if b"enquiry_first" in request.content or b'"assessment_recorded"' in request.content:
                return httpx.Response(409, json={"errors": [{"loc": [], "code": "enquiry_first",
                                                             "message": "make an informal enquiry first"}]})
            return httpx.Response(201, json={"record": RECORD, "entry_id": 2, "cme_case_id": None})
        return httpx.Response(404, json={"errors": []})

    return asked, httpx.MockTransport(answer)


def test_the_list_and_the_record_page_show_what_casework_answers_and_a_step_is_posted(casework):
    import re

    import httpx
    from fastapi.testclient import TestClient

    from cme_console.app import create_app
    from cme_console.settings import ConsoleSettings

    asked, transport = casework
    settings = ConsoleSettings(env="test", jwt_secret="console-unit-secret-" + "x" * 40,
                               casework_url="http://casework.test", intake_url="http://127.0.0.1:9",
                               disclosure_url="http://127.0.0.1:9", rights_url="http://127.0.0.1:9", log_level="WARNING")
    with TestClient(create_app(settings)) as client:
        client.app.state.http = httpx.AsyncClient(transport=transport)
        token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/sign-in").text).group(1)
        client.post("/sign-in", data={"role": "officer", "borough": "westminster", "user_id": "officer-1",
                                      "csrf_token": token}, follow_redirects=False)
        listed = client.get("/ehe?overdue=true")
        assert listed.status_code == 200 and f"/ehe/{EHE_ID}" in listed.text and "Notice received" in listed.text
        assert ("GET", "/ehe-records", b"") in asked
        page = client.get(f"/ehe/{EHE_ID}")
        assert page.status_code == 200 and "Notice of education otherwise" in page.text
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
        posted = client.post(f"/ehe/{EHE_ID}/steps", follow_redirects=False, data={
            **ON, "kind": "enquiry_made", "method": "letter", "csrf_token": csrf})
        assert posted.status_code == 303 and posted.headers["location"] == f"/ehe/{EHE_ID}"
        refused = client.post(f"/ehe/{EHE_ID}/steps", data={
            **ON, "kind": "assessment_recorded", "outcome": "suitable", "assessed_by": "x", "csrf_token": csrf})
        assert refused.status_code == 409 and "make an informal enquiry first" in refused.text
