"""The case page and the forms an officer records work with: an enquiry, a note, an escalation's outcome,
a closure with its evidence, the case's allocation to an officer.

Everything shown comes from casework's `GET /cases/{id}` (the case as its history adds up to now) and,
for the child's name, intake's `GET /referrals/{intake_id}` of the referral that opened it; the child's
shares from disclosure's `GET /disclosures?subject_id=`; what a closure still lacks from casework's
`GET /cases/{id}/closure-readiness` (the console works none of it out itself). Each form posts to the
console (CSRF-checked), which posts the JSON to casework; a refusal comes back as the error summary on the
same page.

Allocation (`POST /cases/{id}/allocation`): a manager gives the case to any officer, named by the user id
they sign in with; an officer can only take an unallocated case for themselves (the console sends their
own user id, whatever the form holds; casework decides either way).
"""

from typing import Any
from uuid import UUID

from fastapi import APIRouter, Request
from fastapi.responses import Response

from .. import forms
from ..labels import label
from ..services import ServiceProblem, Services
from ..web import done, form_errors, long_date, posted, render, services

AGENCIES = ("school", "other_local_authority", "health", "housing", "council_tax", "parking", "fraud_team", "dwp",
            "home_office", "police")
OUTCOMES = ("found_in_education", "found_not_in_education", "information_provided", "not_known", "no_reply",
            "declined")
FACT_FIELDS = ("address", "school_on_roll", "left_england", "last_in_education_on", "household", "other")
CATEGORIES = ("contact", "demographics", "education", "statutory_services", "benefits", "council_tax",
              "home_office", "police_probation")
ESCALATION_OUTCOMES = ("accepted_for_assessment", "strategy_discussion", "section_47_enquiry", "already_allocated",
                       "referred_to_early_help", "no_further_action")
# What each closure reason needs (casework README, "Closure needs a reason and its evidence"): the form
# asks for exactly these; casework checks them and answers what is wrong.
DATE, TEXT = "date", "text"
CLOSURE_EVIDENCE: dict[str, list[tuple[str, str, str]]] = {
    "on_roll_elsewhere": [("school_urn", TEXT, "School URN (6 digits)"), ("start_date", DATE, "Start date")],
    "elective_home_education_suitable": [("assessed_on", DATE, "Assessed on"), ("assessed_by", TEXT, "Assessed by")],
    "left_england": [("kind", TEXT, "Evidence (home_office_border_force, overseas_school_letter or "
                                    "parent_written_confirmation)"), ("received_on", DATE, "Received on"),
                     ("reference", TEXT, "Border Force reference (if that is the evidence)"),
                     ("overseas_school", TEXT, "Overseas school (if a school's letter is the evidence)")],
    "transferred_to_another_la": [("la_code", TEXT, "Council code (3 digits)"), ("la_name", TEXT, "Council name"),
                                  ("accepted_on", DATE, "Accepted by that council on")],
    "alternative_provision": [("provider", TEXT, "Provider"), ("start_date", DATE, "Start date"),
                              ("provider_urn", TEXT, "Provider URN (optional)")],
    "over_compulsory_school_age": [("date_of_birth", DATE, "Date of birth")],
    "deceased": [("date_of_death", DATE, "Date of death")],
    "in_custody": [("establishment", TEXT, "Establishment"), ("since", DATE, "Since")],
    "duplicate_or_not_cme": [("duplicate_of_case_id", TEXT, "Case it duplicates (case id)"),
                             ("not_cme_explanation", TEXT, "Or: why this is not a CME case")],
    "untraced_enquiries_exhausted": [("lost_pupil_reference", TEXT, "Lost Pupil Database reference"),
                                     ("uploaded_on", DATE, "Uploaded on"), ("recheck_on", DATE, "Re-check on")],
}
EVIDENCE_WORDS = {name: what for fields in CLOSURE_EVIDENCE.values() for name, _, what in fields}
EVIDENCE_WORDS["confirmed_by"] = "Who confirmed it"
BLOCKERS = {"case_closed": "The case is closed: reopen it first."}


async def child_of(api: Services, case: dict[str, Any]) -> dict[str, Any]:
    """The child as the first referral on the case names them (intake holds names; casework does not)."""
    for entry in case.get("history", []):
        detail = entry.get("detail") or {}
        intake_id = (detail.get("referral") or {}).get("intake_id") or detail.get("intake_id")
        if intake_id:
            try:
                referral = await api.get("intake", f"/referrals/{intake_id}", purpose="case page: the child")
            except ServiceProblem:
                return {}
            child = (referral.get("referral") or {}).get("child") or {}
            return {"first_name": child.get("first_name"), "last_name": child.get("last_name"),
                    "date_of_birth": child.get("date_of_birth"), "intake_id": intake_id}
    return {}


def evidence_words(name: str) -> str:
    """An evidence field as the closure form names it, without what follows a bracket ("School URN")."""
    words = EVIDENCE_WORDS.get(name, name.replace("_", " ").capitalize()).split(" (")[0].removeprefix("Or: ")
    return words[:1].upper() + words[1:]


def lack_words(lack: dict[str, Any]) -> str:
    """One thing casework's closure readiness says is still lacking, as an officer reads it."""
    loc, code, message = [str(p) for p in lack.get("loc", [])], lack.get("code"), str(lack.get("message", ""))
    if code == "missing" and len(loc) > 1:
        return evidence_words(loc[-1])
    if code == "one_of_missing" and message.startswith("give one of "):
        names = [n.strip() for n in message.removeprefix("give one of ").split(",")]
        return "One of: " + "; ".join(evidence_words(n) for n in names)
    return message[:1].upper() + message[1:]


def blocker_words(blocker: dict[str, Any]) -> str:
    if blocker.get("code") == "escalation_outcome_required":
        due = f", due {long_date(blocker['due_on'])}" if blocker.get("due_on") else ""
        return f"The outcome of the escalation to {label(blocker.get('to') or 'MASH')}{due}."
    return BLOCKERS.get(str(blocker.get("code")), str(blocker.get("message", "")).capitalize())


def closure_view(readiness: dict[str, Any] | None) -> dict[str, Any] | None:
    """Casework's closure readiness as the case page shows it: what blocks every closure (`blocked_by`), and
    for each reason what it still lacks, what the case already holds, and where the form would send it."""
    if readiness is None:
        return None
    return {
        "blocked_by": [blocker_words(b) for b in readiness.get("blocked_by", [])],
        "can_close": readiness.get("can_close", False),
        "restricted": readiness.get("restricted", False),
        "agencies_asked": readiness.get("agencies_asked", []),
        "min_agencies": readiness.get("min_agencies_for_untraced"),
        "reasons": [{"reason": r["reason"], "ready": r.get("ready", False), "submit": r.get("submit", "closure"),
                     "lacks": [lack_words(lack) for lack in r.get("lacks", [])],
                     "on_file": [evidence_words(n) for n in r.get("evidence_on_file", [])],
                     "on_file_names": list(r.get("evidence_on_file", []))}
                    for r in readiness.get("reasons", [])],
    }


async def readiness_of(svc: Services, case_id: UUID, purpose: str) -> dict[str, Any] | None:
    try:
        return await svc.get("casework", f"/cases/{case_id}/closure-readiness", purpose=purpose)
    except ServiceProblem as problem:
        if problem.status not in (403, 404):
            raise
        return None


def router() -> APIRouter:
    api = APIRouter()

    async def case_page(request: Request, case_id: UUID, *, status_code: int = 200, errors: list | None = None,
                        values: dict | None = None, form: str | None = None) -> Response:
        who, svc = services(request, "officer", "manager", "dpo")
        case = await svc.get("casework", f"/cases/{case_id}", purpose="case page")
        child = await child_of(svc, case)
        shares: list[dict[str, Any]] = []
        try:
            shares = await svc.get("disclosure", "/disclosures", params={"subject_id": case["child_subject_id"]},
                                   purpose="case page: shares")
        except ServiceProblem as problem:
            if problem.status not in (403, 404):
                raise
        history = sorted(case.get("history", []), key=lambda e: e["recorded_at"], reverse=True)
        can_act = who.has("officer", "manager")
        # Only those who may close it ask what a closure lacks (each ask is a logged read of the child).
        closure = closure_view(await readiness_of(svc, case_id, "case page: closure readiness")) if can_act else None
        return render(request, "case.html", status_code=status_code, case=case, child=child, history=history,
                      shares=shares, closure=closure, errors=errors or [], values=values or {}, form=form,
                      agencies=AGENCIES, outcomes=OUTCOMES, fact_fields=FACT_FIELDS, categories=CATEGORIES,
                      escalation_outcomes=ESCALATION_OUTCOMES, closure_evidence=CLOSURE_EVIDENCE,
                      can_act=can_act, allocates_any=who.role == "manager")

    @api.get("/cases/{case_id}")
    async def show(request: Request, case_id: UUID) -> Response:
        return await case_page(request, case_id)

    async def submit(request: Request, case_id: UUID, form_name: str, path: str, body: dict[str, Any],
                     problems: list[forms.FieldError], values: dict, message: str,
                     names: dict[str, str] | None = None, refusals: tuple[int, ...] = (400, 409, 422)) -> Response:
        """Send the form's JSON to casework, or show the page again with what was wrong (`refusals`: the
        statuses that are the person's to put right, shown on the form)."""
        if problems:
            return await case_page(request, case_id, status_code=400, errors=forms.errors_of(problems),
                                   values=values, form=form_name)
        _, svc = services(request, "officer", "manager")
        try:
            await svc.post("casework", f"/cases/{case_id}{path}", body, purpose=f"case page: {form_name}")
        except ServiceProblem as problem:
            if problem.status not in refusals:
                raise
            return await case_page(request, case_id, status_code=problem.status,
                                   errors=form_errors(problem, names), values=values, form=form_name)
        return done(request, f"/cases/{case_id}", message)

    @api.post("/cases/{case_id}/enquiries")
    async def record_enquiry(request: Request, case_id: UUID) -> Response:
        services(request, "officer", "manager")
        form = await posted(request)
        (whom, asked_on, purpose, answered_on), problems = forms.collect(
            lambda: forms.required(form, "whom", "whom you asked"),
            lambda: forms.day(form, "asked_on", "the date you asked"),
            lambda: forms.required(form, "purpose", "why you asked"),
            lambda: forms.day(form, "answered_on", "the date of the answer", optional=True))
        body: dict[str, Any] = {"whom": whom, "asked_on": asked_on, "purpose": purpose,
                                "organisation": forms.text(form, "organisation")}
        outcome = forms.text(form, "outcome")
        if answered_on or outcome:
            body.update(answered_on=answered_on, outcome=outcome)
            if forms.text(form, "fact_field") and forms.text(form, "fact_value"):
                body["facts"] = [{"field": form["fact_field"], "value": forms.text(form, "fact_value"),
                                  "confirmed_by": whom}]
        return await submit(request, case_id, "enquiry", "/enquiries", body, problems, dict(form),
                            "Enquiry recorded", {"whom": "whom", "asked_on": "asked_on-day", "purpose": "purpose",
                                                 "answered_on": "answered_on-day", "outcome": "outcome"})

    @api.post("/cases/{case_id}/notes")
    async def record_note(request: Request, case_id: UUID) -> Response:
        services(request, "officer", "manager")
        form = await posted(request)
        (kind, category, text), problems = forms.collect(
            lambda: forms.required(form, "kind", "whether this is a fact or an opinion"),
            lambda: forms.required(form, "category", "what kind of information this is"),
            lambda: forms.required(form, "text", "the note"))
        body = {"kind": kind, "category": category, "text": text, "source": forms.text(form, "source")}
        return await submit(request, case_id, "note", "/notes", body, problems, dict(form), "Note recorded",
                            {"kind": "kind", "category": "category", "text": "text"})

    @api.post("/cases/{case_id}/escalations/{escalation_id}/outcome")
    async def record_escalation_outcome(request: Request, case_id: UUID, escalation_id: UUID) -> Response:
        services(request, "officer", "manager")
        form = await posted(request)
        (outcome, outcome_on), problems = forms.collect(
            lambda: forms.required(form, "outcome", "the outcome"),
            lambda: forms.day(form, "outcome_on", "the date of the outcome"))
        body = {"outcome": outcome, "outcome_on": outcome_on, "summary": forms.text(form, "summary")}
        return await submit(request, case_id, "escalation", f"/escalations/{escalation_id}/outcome", body, problems,
                            dict(form), "Escalation outcome recorded", {"outcome": "outcome",
                                                                        "outcome_on": "outcome_on-day"})

    @api.post("/cases/{case_id}/closure")
    async def close(request: Request, case_id: UUID) -> Response:
        """Close on a reason with its evidence: `POST .../closure`, or, where casework's readiness says the
        reason is a pending proposal's (`submit` is `closure_proposal_confirm`), `POST .../closure-proposal/confirm`
        with the evidence the officer adds to the proposal's."""
        _, svc = services(request, "officer", "manager")
        form = await posted(request)
        reason = forms.text(form, "reason")
        problems: list[forms.FieldError] = []
        evidence: dict[str, Any] = {}
        if reason not in CLOSURE_EVIDENCE:
            problems.append(forms.FieldError("reason", "Select why the case can close"))
        else:
            for name, kind, what in CLOSURE_EVIDENCE[reason]:
                field = f"{reason}.{name}"
                try:
                    value = forms.day(form, field, what.lower(), optional=True) if kind == DATE else forms.text(form, field)
                except forms.FieldError as problem:
                    problems.append(problem)
                    continue
                if value is not None:
                    evidence[name] = value
        readiness = closure_view(await readiness_of(svc, case_id, "case page: closure")) if not problems else None
        chosen = next((r for r in (readiness or {}).get("reasons", []) if r["reason"] == reason), None)
        confirm = chosen is not None and chosen["submit"] == "closure_proposal_confirm"
        confirmed_by = forms.text(form, "confirmed_by")
        if confirmed_by:
            evidence["confirmed_by"] = confirmed_by
        elif not (confirm and "confirmed_by" in chosen["on_file_names"]):
            problems.append(forms.FieldError("confirmed_by", "Enter who confirmed it"))
        names = {"reason": "reason", "confirmed_by": "confirmed_by"}
        if confirm:
            return await submit(request, case_id, "closure", "/closure-proposal/confirm", {"evidence": evidence},
                                problems, dict(form), "Closure confirmed: case closed", names)
        body = {"reason": reason, "evidence": evidence, "note": forms.text(form, "note")}
        return await submit(request, case_id, "closure", "/closure", body, problems, dict(form), "Case closed", names)

    @api.post("/cases/{case_id}/allocation")
    async def allocate(request: Request, case_id: UUID) -> Response:
        """A manager allocates the case to the officer named; an officer takes it for themselves."""
        who, _ = services(request, "officer", "manager")
        form = await posted(request)
        problems: list[forms.FieldError] = []
        if who.role == "manager":
            officer = forms.text(form, "officer")
            if officer is None:
                problems.append(forms.FieldError("officer", "Enter the user id of the officer to give the case to"))
        else:
            officer = who.sub  # an officer takes a case for themselves only
        body = {"officer": officer, "reason": forms.text(form, "allocation_reason")}
        message = "Case allocated to you" if officer == who.sub else f"Case allocated to {officer}"
        return await submit(request, case_id, "allocation", "/allocation", body, problems, dict(form), message,
                            {"officer": "officer", "reason": "allocation_reason"}, refusals=(400, 403, 409, 422))

    return api
