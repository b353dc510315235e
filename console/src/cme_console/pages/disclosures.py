"""Disclosures: the request form, the second person's decision, a share's receipt verified in the console,
and casework's queue of proposed shares for a manager's decision.

- `POST /disclosures` (disclosure) from a case's page: the child's subject id, never their name.
- `GET /disclosures/{id}` and `POST /disclosures/{id}/decision` (manager, DPO; never the requester: the
  service refuses it, and the page does not offer it).
- The receipt: for each of the disclosure's leaves, `GET /log/proofs/inclusion` checked against the signed
  checkpoint `GET /log/checkpoint` with the published key `GET /log/public-key` (`receipts`).
- `GET /disclosures/pending` (disclosure; manager, DPO): the queue of requests waiting for this person's
  decision, oldest first: never their own, and only those their roles may decide.
- `GET /shares/pending` (casework) and `POST /cases/{case_id}/shares/{share_id}/decision`: shares an officer
  proposed on a case, for a manager who did not propose them.
"""

import base64
from typing import Any
from uuid import UUID

from fastapi import APIRouter, Request
from fastapi.responses import Response

from .. import forms
from ..receipts import ReceiptInvalid, VerifierKey, verified_checkpoint, verify_receipt
from ..services import ServiceProblem, Services, public_get
from ..web import done, form_errors, posted, render, services
from .cases import CATEGORIES

RECIPIENTS = ("police", "home_office", "dwp", "school", "other_local_authority", "internal")
PURPOSES = ("cme_tracking", "safeguarding", "prevent", "immigration", "crime", "fraud", "serious_harm",
            "statutory_transfer")


async def receipt_checks(request: Request, svc: Services, record: dict[str, Any]) -> dict[str, Any]:
    """Each leaf of the disclosure checked against the log's signed checkpoint, with what failed if any."""
    app = request.app
    try:
        key_text = (await public_get(app.state.http, app.state.settings, "/log/public-key")).json()["note_verifier_key"]
        note = (await public_get(app.state.http, app.state.settings, "/log/checkpoint")).text
        checkpoint = verified_checkpoint(note, VerifierKey.parse(key_text))
    except (ReceiptInvalid, ServiceProblem, KeyError, ValueError) as exc:
        return {"ok": False, "problem": str(exc) if isinstance(exc, ReceiptInvalid) else
                "the log's checkpoint or key could not be fetched", "leaves": []}
    leaves, problem = [], None
    for ref in record.get("log", []):
        if ref["leaf_index"] >= checkpoint.tree_size:
            problem = "a leaf is newer than the latest signed checkpoint: reload in a moment"
            continue
        try:
            proof = await svc.get("disclosure", "/log/proofs/inclusion", purpose="share receipt",
                                  params={"leaf_index": ref["leaf_index"], "tree_size": checkpoint.tree_size})
            leaves.append(verify_receipt(leaf=base64.b64decode(proof["leaf"]), leaf_index=ref["leaf_index"],
                                         kind=ref["kind"], proof=proof["proof"], checkpoint=checkpoint))
        except ReceiptInvalid as exc:
            problem = str(exc)
        except ServiceProblem as exc:
            problem = f"the inclusion proof could not be fetched ({exc.status})"
    return {"ok": problem is None and bool(leaves), "problem": problem, "leaves": leaves, "checkpoint": checkpoint}


def router() -> APIRouter:
    api = APIRouter()

    async def request_form(request: Request, case_id: UUID, status_code: int = 200, errors: list | None = None,
                           values: dict | None = None) -> Response:
        _, svc = services(request, "officer", "manager", "dpo")
        case = await svc.get("casework", f"/cases/{case_id}", purpose="disclosure request form")
        return render(request, "disclosure_request.html", status_code=status_code, case=case, errors=errors or [],
                      values=values or {}, recipients=RECIPIENTS, purposes=PURPOSES, categories=CATEGORIES)

    @api.get("/cases/{case_id}/disclosure-request")
    async def new(request: Request, case_id: UUID) -> Response:
        return await request_form(request, case_id)

    @api.post("/cases/{case_id}/disclosure-request")
    async def create(request: Request, case_id: UUID) -> Response:
        _, svc = services(request, "officer", "manager", "dpo")
        form = await posted(request)
        case = await svc.get("casework", f"/cases/{case_id}", purpose="disclosure request")
        values = {"recipient_type": forms.text(form, "recipient_type"), "org_name": forms.text(form, "org_name"),
                  "requester_name": forms.text(form, "requester_name"),
                  "requester_role": forms.text(form, "requester_role"),
                  "requester_rank": forms.text(form, "requester_rank"), "purpose": forms.text(form, "purpose"),
                  "legal_gateway": forms.text(form, "legal_gateway"), "reference": forms.text(form, "reference"),
                  "reason": forms.text(form, "reason"), "categories": form.getlist("categories")}
        body = {"subject_ids": [case["child_subject_id"]],
                "recipient": {"type": values["recipient_type"], "org_id": forms.text(form, "org_id"),
                              "org_name": values["org_name"], "requester_name": values["requester_name"],
                              "requester_role": values["requester_role"], "requester_rank": values["requester_rank"]},
                "purpose": values["purpose"], "legal_gateway": values["legal_gateway"],
                "reference": values["reference"], "categories": values["categories"], "reason": values["reason"]}
        try:
            record = await svc.post("disclosure", "/disclosures", body, purpose="disclosure request")
        except ServiceProblem as problem:
            if problem.status not in (400, 409, 422):
                raise
            names = {k: k for k in values} | {"type": "recipient_type", "subject_ids": "recipient_type"}
            return await request_form(request, case_id, problem.status, form_errors(problem, names), values)
        return done(request, f"/disclosures/{record['disclosure_id']}",
                    "Request recorded: it waits for a second person's decision" if record["status"] == "pending"
                    else f"Request recorded: {record['status']}")

    async def disclosure_page(request: Request, disclosure_id: UUID, status_code: int = 200,
                              errors: list | None = None) -> Response:
        who, svc = services(request, "officer", "manager", "dpo", "auditor")
        record = await svc.get("disclosure", f"/disclosures/{disclosure_id}", purpose="disclosure page")
        may_decide = (record["status"] == "pending" and who.sub != record.get("requested_by")
                      and any(who.has(r) for r in record.get("approval_roles", [])))
        receipt = await receipt_checks(request, svc, record) if record.get("log") else None
        return render(request, "disclosure.html", status_code=status_code, record=record, may_decide=may_decide,
                      receipt=receipt, errors=errors or [])

    @api.get("/disclosures")
    async def queue(request: Request) -> Response:
        """Requests waiting for this person's decision (the service leaves out their own)."""
        _, svc = services(request, "manager", "dpo")
        pending = await svc.get("disclosure", "/disclosures/pending", params={"limit": 200},
                                purpose="disclosure requests awaiting a decision")
        return render(request, "decisions.html", pending=pending)

    @api.get("/disclosures/{disclosure_id}")
    async def show(request: Request, disclosure_id: UUID) -> Response:
        return await disclosure_page(request, disclosure_id)

    @api.post("/disclosures/{disclosure_id}/decision")
    async def decide(request: Request, disclosure_id: UUID) -> Response:
        _, svc = services(request, "manager", "dpo")
        form = await posted(request)
        (decision, reason), problems = forms.collect(
            lambda: forms.required(form, "decision", "your decision"),
            lambda: forms.required(form, "reason", "the reason for your decision"))
        if problems:
            return await disclosure_page(request, disclosure_id, 400, forms.errors_of(problems))
        body = {"decision": decision, "reason": reason, "job_title": forms.text(form, "job_title"),
                "sign_off_rank": forms.text(form, "sign_off_rank")}
        try:
            await svc.post("disclosure", f"/disclosures/{disclosure_id}/decision", body, purpose="disclosure decision")
        except ServiceProblem as problem:
            if problem.status not in (400, 403, 409, 422):
                raise
            return await disclosure_page(request, disclosure_id, problem.status,
                                         form_errors(problem, {"decision": "decision", "reason": "reason",
                                                               "sign_off_rank": "sign_off_rank"}))
        return done(request, f"/disclosures/{disclosure_id}", "Decision recorded")

    @api.get("/log")
    async def log_head(request: Request) -> Response:
        """The log's public head and key, so anyone signed in can check it."""
        services(request)
        app = request.app
        try:
            key = (await public_get(app.state.http, app.state.settings, "/log/public-key")).json()
            note = (await public_get(app.state.http, app.state.settings, "/log/checkpoint")).text
            checkpoint, problem = verified_checkpoint(note, VerifierKey.parse(key["note_verifier_key"])), None
        except ReceiptInvalid as exc:
            key, note, checkpoint, problem = {}, "", None, str(exc)
        return render(request, "log.html", key=key, note=note, checkpoint=checkpoint, problem=problem)

    async def shares_page(request: Request, status_code: int = 200, errors: list | None = None) -> Response:
        who, svc = services(request, "officer", "manager")
        pending = await svc.get("casework", "/shares/pending", params={"limit": 200}, purpose="shares awaiting a decision")
        return render(request, "shares.html", status_code=status_code, pending=pending, errors=errors or [],
                      can_decide=who.has("manager"))

    @api.get("/shares")
    async def shares(request: Request) -> Response:
        return await shares_page(request)

    @api.post("/cases/{case_id}/shares/{share_id}/decision")
    async def decide_share(request: Request, case_id: UUID, share_id: UUID) -> Response:
        _, svc = services(request, "manager")
        form = await posted(request)
        (decision, reason), problems = forms.collect(
            lambda: forms.required(form, "decision", "your decision"),
            lambda: forms.required(form, "reason", "the reason for your decision"))
        if problems:
            return await shares_page(request, 400, forms.errors_of(problems))
        try:
            await svc.post("casework", f"/cases/{case_id}/shares/{share_id}/decision",
                           {"decision": decision, "reason": reason}, purpose="share decision")
        except ServiceProblem as problem:
            if problem.status not in (400, 403, 409, 422):
                raise
            return await shares_page(request, problem.status, form_errors(problem))
        return done(request, "/shares", "Decision recorded")

    return api
