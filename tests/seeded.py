"""Records of each kind the services' operations point at, seeded with synthetic people (no real person), for
the tests that call every operation (the OpenAPI fuzz, the authorisation matrix)."""

import uuid
from collections.abc import Awaitable, Callable
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from fastapi import FastAPI

from cme_shared.testing.served import accepted_referral

# Synthetic people (no real person): what the seeded records hold and no error body may quote.
CHILD = {"first_name": "Tamsin", "last_name": "Quillfeather", "date_of_birth": "2015-06-14"}
ADDRESS = {"line1": "41 Larkspur Mews", "town": "London", "postcode": "W2 6QQ"}
REFERRER = {"name": "Orla Pennywhistle", "role": None, "email": "orla.pennywhistle@example.org",
            "phone": "07700 900321"}
REQUESTER = {"first_name": "Ingrid", "last_name": "Vasquez-Holloway", "email": "ingrid.vh@example.net",
             "phone": "07700 900654", "acting_as": "parent", "address": ADDRESS}
NOTE = "Tamsin Quillfeather says her uncle Bastian Crowhurst keeps her at home"
PERSONAL = ("Tamsin", "Quillfeather", "Larkspur Mews", "Pennywhistle", "orla.pennywhistle", "900321",
            "Vasquez-Holloway", "ingrid.vh", "900654", "Bastian Crowhurst", "Crowhurst", "2015-06-14",
            "Oskar Brannigan")


# --- Seeding: a record of each kind the operations' ids point at, holding the synthetic people -------------

Seeder = Callable[[httpx.AsyncClient, FastAPI, dict[str, str]], Awaitable[dict[str, str]]]


async def created(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code in (200, 201, 202), response.text
    return response.json()


async def seed_intake(client: httpx.AsyncClient, _app: FastAPI, _token: dict[str, str]) -> dict[str, str]:
    referral = {
        "schema_version": 1, "referral_id": f"PUB-{uuid.uuid4().hex[:8]}", "submitted_at": "2026-11-02T09:15:00+00:00",
        "source": {"type": "parent", "org_id": None, "org_name": None, "contact": REFERRER, "anonymous": False},
        "borough": "westminster",
        "notification": {"kind": "child_not_in_school_concern", "details": NOTE},
        "child": {**CHILD, "sex": "female", "address": ADDRESS}, "carers": [], "safeguarding": None,
    }
    outcome = await created(await client.post("/public/referrals", json=referral))
    assert outcome["status"] in ("accepted", "accepted_with_warnings"), outcome
    return {"intake_id": outcome["intake_id"]}


async def seed_casework(client: httpx.AsyncClient, app: FastAPI, token: dict[str, str]) -> dict[str, str]:
    from cme_casework.service_layer.referrals import act_on_referral

    event = accepted_referral(date.fromisoformat(CHILD["date_of_birth"]))
    async with app.state.runtime.unit_of_work() as uow:
        case_id = await act_on_referral(uow, event)
        await uow.commit()
    note = await created(await client.post(f"/cases/{case_id}/notes", headers=token, json={
        "kind": "fact", "category": "contact", "text": NOTE, "source": "Bastian Crowhurst"}))
    enquiry = await created(await client.post(f"/cases/{case_id}/enquiries", headers=token, json={
        "whom": "council_tax", "asked_on": "2026-11-17", "purpose": f"where {CHILD['first_name']} lives"}))
    notice = await created(await client.post("/ehe-records/notices", headers=token, json={
        "child_subject_id": str(event.child_subject_id), "borough": "westminster", "notice_on": "2026-11-16"}))
    return {"case_id": str(case_id), "note_id": note["record_id"], "enquiry_id": enquiry["record_id"],
            "ehe_id": notice["record"]["ehe_id"]}


async def seed_disclosure(client: httpx.AsyncClient, _app: FastAPI, token: dict[str, str]) -> dict[str, str]:
    subject = uuid.uuid4()
    record = await created(await client.post("/disclosures", headers=token, json={
        "subject_ids": [str(subject)],
        "recipient": {"type": "police", "org_id": "MPS", "org_name": "Metropolitan Police Service",
                      "requester_name": "DC Oskar Brannigan", "requester_role": "investigating officer"},
        "purpose": "crime", "legal_gateway": "DPA 2018 Sch 2 Part 1 para 2", "categories": ["contact"],
        "reason": f"locating {CHILD['first_name']} {CHILD['last_name']}, a witness"}))
    return {"disclosure_id": record["disclosure_id"], "subject_id": str(subject)}


async def seed_rights(client: httpx.AsyncClient, _app: FastAPI, token: dict[str, str]) -> dict[str, str]:
    request = await created(await client.post("/requests", headers=token, json={
        "type": "access", "received_on": datetime.now(ZoneInfo("Europe/London")).date().isoformat(),
        "channel": "email", "requester": REQUESTER, "subject": {**CHILD, "address": ADDRESS},
        "details": f"all records about {CHILD['first_name']}"}))  # identity: the DPO's to verify (issue 13)
    return {"request_id": request["request_id"]}


SEEDERS: dict[str, Seeder] = {"intake": seed_intake, "casework": seed_casework, "disclosure": seed_disclosure,
                              "rights": seed_rights}
