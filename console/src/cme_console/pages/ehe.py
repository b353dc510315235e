"""Elective home education records (casework `GET /ehe-records`, `GET /ehe-records/{id}`,
`POST /ehe-records/{id}/steps`): the list with its filters (status, overdue), one record with its timeline,
and the form an officer records a step with. Everything shown is casework's answer; casework decides the
order of the steps and answers what is wrong, shown as the form's error summary.
"""

from typing import Any
from uuid import UUID

from fastapi import APIRouter, Request
from fastapi.responses import Response

from .. import forms
from ..services import ServiceProblem
from ..web import done, form_errors, posted, render, services

STATUSES = ("notified", "enquiries", "suitable", "unsuitable", "s437_notice", "s438_notice",
            "school_attendance_order", "closed")
KINDS = ("enquiry_made", "parent_responded", "assessment_recorded", "s437_notice_served", "s437_response_recorded",
         "s438_notice_served", "school_attendance_order_made", "school_attendance_order_revoked", "record_closed")
METHODS = ("letter", "email", "phone", "home_visit", "meeting")
RESPONSE_FORMS = ("written_report", "samples_of_work", "meeting", "home_visit", "phone")
OUTCOMES = ("suitable", "unsuitable", "no_education_evident")
REVOCATION_GROUNDS = ("education_otherwise", "registered_at_school", "other")
CLOSURE_GROUNDS = ("registered_at_school", "moved_out_of_area", "over_compulsory_school_age", "deceased", "other")
# What each step sends beyond its date and note: (form field, JSON field, required).
STEP_FIELDS: dict[str, list[tuple[str, str, bool]]] = {
    "enquiry_made": [("method", "method", True)],
    "parent_responded": [("form", "form", True), ("education_described", "education_described", False)],
    "assessment_recorded": [("outcome", "outcome", True), ("assessed_by", "assessed_by", True)],
    "s437_notice_served": [("period_days", "period_days", False)],
    "s437_response_recorded": [("satisfied", "satisfied", True)],
    "s438_notice_served": [("school_urn", "school_urn", True)],
    "school_attendance_order_made": [("school_urn", "school_urn", True)],
    "school_attendance_order_revoked": [("revocation_ground", "ground", True)],
    "record_closed": [("closure_ground", "ground", True)],
}
NAMES = {"kind": "kind", "on": "on-day", "method": "method", "form": "form", "outcome": "outcome",
         "assessed_by": "assessed_by", "period_days": "period_days", "satisfied": "satisfied",
         "school_urn": "school_urn", "ground": "closure_ground", "note": "note"}


def step_body(form: Any) -> tuple[dict[str, Any], list[forms.FieldError]]:
    """The form as casework's step body: only the fields of the chosen kind."""
    (kind, on), problems = forms.collect(lambda: forms.required(form, "kind", "which step this is"),
                                         lambda: forms.day(form, "on", "the date it happened"))
    body: dict[str, Any] = {"kind": kind, "on": on}
    for field, key, needed in STEP_FIELDS.get(kind or "", []):
        value = forms.text(form, field)
        if value is None:
            if needed:
                problems.append(forms.FieldError(field, f"Enter the {field.replace('_', ' ')}"))
            continue
        if key == "satisfied":
            body[key] = value == "yes"
        elif key == "period_days":
            try:
                body[key] = int(value)
            except ValueError:
                problems.append(forms.FieldError(field, "The period must be a whole number of days"))
        else:
            body[key] = value
    if note := forms.text(form, "note"):
        body["note"] = note
    return body, problems


def router() -> APIRouter:
    api = APIRouter()

    @api.get("/ehe")
    async def ehe_list(request: Request) -> Response:
        _, svc = services(request, "officer", "manager", "dpo")
        status = request.query_params.get("status") or None
        overdue = request.query_params.get("overdue") == "true"
        params: dict[str, Any] = {"limit": 500}
        if status in STATUSES:
            params["status"] = status
        if overdue:
            params["overdue"] = "true"
        records = await svc.get("casework", "/ehe-records", params=params, purpose="EHE records")
        return render(request, "ehe_list.html", records=records, statuses=STATUSES, status=status, overdue=overdue)

    async def record_page(request: Request, ehe_id: UUID, *, status_code: int = 200, errors: list | None = None,
                          values: dict | None = None) -> Response:
        who, svc = services(request, "officer", "manager", "dpo")
        record = await svc.get("casework", f"/ehe-records/{ehe_id}", purpose="EHE record page")
        history = sorted(record.get("history", []), key=lambda e: e["recorded_at"], reverse=True)
        return render(request, "ehe_record.html", status_code=status_code, record=record, history=history,
                      errors=errors or [], values=values or {}, can_act=who.has("officer", "manager"), kinds=KINDS,
                      methods=METHODS, response_forms=RESPONSE_FORMS, outcomes=OUTCOMES,
                      revocation_grounds=REVOCATION_GROUNDS, closure_grounds=CLOSURE_GROUNDS)

    @api.get("/ehe/{ehe_id}")
    async def ehe_record(request: Request, ehe_id: UUID) -> Response:
        return await record_page(request, ehe_id)

    @api.post("/ehe/{ehe_id}/steps")
    async def ehe_step(request: Request, ehe_id: UUID) -> Response:
        _, svc = services(request, "officer", "manager")
        form = await posted(request)
        body, problems = step_body(form)
        if problems:
            return await record_page(request, ehe_id, status_code=400, errors=forms.errors_of(problems),
                                     values=dict(form))
        try:
            answer = await svc.post("casework", f"/ehe-records/{ehe_id}/steps", body, purpose="EHE record: a step")
        except ServiceProblem as problem:
            if problem.status not in (400, 409, 422):
                raise
            return await record_page(request, ehe_id, status_code=problem.status,
                                     errors=form_errors(problem, NAMES), values=dict(form))
        opened = " A CME case is open for the child." if answer and answer.get("cme_case_id") else ""
        return done(request, f"/ehe/{ehe_id}", "Step recorded." + opened)

    return api
