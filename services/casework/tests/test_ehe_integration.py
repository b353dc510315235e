"""Elective home education and the children-not-in-school register on the real database (issue 14, items 2, 3).

EHE records over HTTP (scoped as cases; 422 with loc; another borough's record 404), the CME census not counting
them and the EHE count that does, the history append-only for the service's own role, and the register: with
its flag off every route 404 and nothing written; with it on, an EHE child in the export with only s436C fields.
"""

import csv
import io
import uuid
from datetime import date

import asyncpg
import pytest
import pytest_asyncio

from cme_casework.domain import cnis_register
from cme_shared.testing.fixtures import Databases

from .conftest import casework_stack

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]

WESTMINSTER = {"borough": "westminster"}


def officer(stack, borough="westminster"):
    return stack.headers("officer", sub="officer-ana", borough=borough)


def ground_f(make_referral, child, on=date(2026, 11, 2), **kw):
    return make_referral(child=child, ground="9(1)(f)", received_on=on, deletion_date=on, **kw)


async def record_of(stack, child):
    response = await stack.client.get("/ehe-records", params={"child_subject_id": str(child)},
                                      headers=stack.headers("manager"))
    assert response.status_code == 200, response.text
    return response.json()


async def step(stack, ehe_id, body, status=201, headers=None):
    response = await stack.client.post(f"/ehe-records/{ehe_id}/steps", json=body, headers=headers or officer(stack))
    assert response.status_code == status, response.text
    return response.json()


async def test_a_ground_f_return_makes_an_ehe_record_that_an_unsuitable_assessment_turns_into_a_cme_case(
        shared_stack, make_referral):
    child = uuid.uuid4()
    assert await shared_stack.referral(ground_f(make_referral, child)) is None
    [record] = await record_of(shared_stack, child)
    assert (record["status"], record["next_due_kind"], record["cme_case_id"]) == ("notified", "enquiry", None)
    cases = await shared_stack.client.get("/cases", params={"child_subject_id": str(child)},
                                          headers=shared_stack.headers("manager"))
    assert cases.json() == []
    ehe_id = record["ehe_id"]
    await step(shared_stack, ehe_id, {"kind": "enquiry_made", "on": "2026-11-03", "method": "letter"})
    await step(shared_stack, ehe_id, {"kind": "parent_responded", "on": "2026-11-09", "form": "written_report"})
    done = await step(shared_stack, ehe_id, {"kind": "assessment_recorded", "on": "2026-11-12",
                                             "outcome": "unsuitable", "assessed_by": "EHE adviser"})
    case_id = done["cme_case_id"]
    assert done["record"]["status"] == "unsuitable" and done["record"]["next_due_kind"] == "s437_notice"
    case = await shared_stack.client.get(f"/cases/{case_id}", headers=officer(shared_stack))
    assert case.status_code == 200
    assert case.json()["reason"] == "ehe_education_unsuitable"
    assert case.json()["history"][0]["detail"]["ehe_id"] == ehe_id
    detail = await shared_stack.client.get(f"/ehe-records/{ehe_id}", headers=officer(shared_stack))
    assert detail.status_code == 200
    assert [e["kind"] for e in detail.json()["history"]] == [
        "notice_received", "enquiry_made", "parent_responded", "assessment_recorded", "cme_case_linked"]
    assert detail.json()["cme_case_ids"] == [case_id]


async def test_an_s437_period_ended_unanswered_opens_the_cme_case_by_the_daily_sweep(shared_stack, make_referral):
    from cme_casework.service_layer.ehe import lapse_unanswered_s437_notices

    child = uuid.uuid4()
    await shared_stack.referral(ground_f(make_referral, child))
    [record] = await record_of(shared_stack, child)
    await step(shared_stack, record["ehe_id"], {"kind": "enquiry_made", "on": "2026-11-03", "method": "letter",
                                                "response_due_on": "2026-11-05"})
    await step(shared_stack, record["ehe_id"], {"kind": "s437_notice_served", "on": "2026-11-06", "period_days": 15})
    async with shared_stack.unit_of_work() as uow:  # run as `python -m cme_casework ehe-lapsed-notices` does
        lapsed, _ = await lapse_unanswered_s437_notices(uow)
        await uow.commit()
    assert lapsed >= 1
    [after] = await record_of(shared_stack, child)
    assert after["cme_case_id"] is not None and after["next_due_kind"] == "s438_notice"
    case = (await shared_stack.client.get(f"/cases/{after['cme_case_id']}", headers=officer(shared_stack))).json()
    assert (case["reason"], case["periods"][0]["opened_on"]) == ("ehe_education_unsuitable", "2026-11-21")


async def test_bad_steps_are_refused_with_where_and_why_and_lose_nothing(shared_stack, make_referral):
    child = uuid.uuid4()
    await shared_stack.referral(ground_f(make_referral, child))
    [record] = await record_of(shared_stack, child)
    ehe_id = record["ehe_id"]
    bad = await shared_stack.client.post(f"/ehe-records/{ehe_id}/steps", headers=officer(shared_stack),
                                         json={"kind": "enquiry_made", "on": "2026-11-03", "method": "pigeon"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["loc"][:2] == ["body", "enquiry_made"]
    early = await shared_stack.client.post(f"/ehe-records/{ehe_id}/steps", headers=officer(shared_stack), json={
        "kind": "assessment_recorded", "on": "2026-11-03", "outcome": "suitable", "assessed_by": "adviser"})
    assert early.status_code == 409 and early.json()["errors"][0]["code"] == "enquiry_first"
    await step(shared_stack, ehe_id, {"kind": "enquiry_made", "on": "2026-11-03", "method": "letter",
                                      "response_due_on": "2026-11-05"})
    short = await shared_stack.client.post(f"/ehe-records/{ehe_id}/steps", headers=officer(shared_stack), json={
        "kind": "s437_notice_served", "on": "2026-11-10", "period_days": 10})
    assert short.status_code == 422
    assert [(e["loc"], e["code"]) for e in short.json()["errors"]] == [(["body", "period_days"], "s437_period_too_short")]
    other = await shared_stack.client.post(f"/ehe-records/{ehe_id}/steps", headers=officer(shared_stack, "kensington_and_chelsea"),
                                           json={"kind": "enquiry_made", "on": "2026-11-03", "method": "letter"})
    assert other.status_code == 404
    assert (await shared_stack.client.get(f"/ehe-records/{ehe_id}", headers=officer(
        shared_stack, "kensington_and_chelsea"))).status_code == 404
    detail = (await shared_stack.client.get(f"/ehe-records/{ehe_id}", headers=officer(shared_stack))).json()
    assert [e["kind"] for e in detail["history"]] == ["notice_received", "enquiry_made"]


async def test_a_parents_notice_is_recorded_once_per_child_and_overdue_records_are_listed(shared_stack):
    child = uuid.uuid4()
    made = await shared_stack.client.post("/ehe-records/notices", headers=officer(shared_stack), json={
        "child_subject_id": str(child), "borough": "westminster", "notice_on": "2026-10-01"})
    assert made.status_code == 201, made.text
    again = await shared_stack.client.post("/ehe-records/notices", headers=officer(shared_stack), json={
        "child_subject_id": str(child), "borough": "westminster", "notice_on": "2026-10-05"})
    assert again.json()["record"]["ehe_id"] == made.json()["record"]["ehe_id"]
    elsewhere = await shared_stack.client.post("/ehe-records/notices", headers=officer(shared_stack), json={
        "child_subject_id": str(uuid.uuid4()), "borough": "kensington_and_chelsea", "notice_on": "2026-10-05"})
    assert elsewhere.status_code == 404
    overdue = await shared_stack.client.get("/ehe-records", params={"overdue": "true", "as_of": "2026-11-30"},
                                            headers=officer(shared_stack))
    assert made.json()["record"]["ehe_id"] in [r["ehe_id"] for r in overdue.json()]
    assert all(r["next_due_date"] < "2026-11-30" for r in overdue.json())


async def test_the_census_never_counts_ehe_children_and_the_ehe_count_does(stack, make_referral):
    """The census fixture (statutory review 2026-12, D4): 2 CME children, 3 EHE children (one in K&C)."""
    cme = [uuid.uuid4(), uuid.uuid4()]
    for child in cme:
        await stack.referral(make_referral(child=child, received_on=date(2026, 11, 2)))
    for borough in ("westminster", "westminster", "kensington_and_chelsea"):
        await stack.referral(ground_f(make_referral, uuid.uuid4(), borough=borough))
    manager = stack.headers("manager")
    census = await stack.client.get("/returns/cme-census", params={"census_date": "2026-11-19"}, headers=manager)
    assert census.status_code == 200
    rows = list(csv.DictReader(io.StringIO(census.text)))
    assert sum(int(r["count"]) for r in rows) == 2 and {r["reason"] for r in rows} == {"unexplained_absence_20_days"}
    count = await stack.client.get("/returns/ehe-count", params={"census_date": "2026-11-19"}, headers=manager)
    assert count.status_code == 200, count.text
    assert [(r["borough"], r["ehe_records_open"]) for r in csv.DictReader(io.StringIO(count.text))] == [
        ("kensington_and_chelsea", "1"), ("westminster", "2")]
    mine = await stack.client.get("/returns/ehe-count", params={"census_date": "2026-11-19"}, headers=officer(stack))
    assert [r["borough"] for r in csv.DictReader(io.StringIO(mine.text))] == ["westminster"]


async def test_the_ehe_history_cannot_be_changed_by_the_services_own_role(shared_stack, make_referral):
    await shared_stack.referral(ground_f(make_referral, uuid.uuid4()))
    conn = await asyncpg.connect(shared_stack.database_url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        for table in ("ehe_history", "cnis_register_entries"):
            for statement in (f"UPDATE {table} SET borough = 'x'" if table != "ehe_history"
                              else "UPDATE ehe_history SET reason = 'rewritten'", f"DELETE FROM {table}"):
                with pytest.raises(asyncpg.InsufficientPrivilegeError):
                    await conn.execute(statement)
    finally:
        await conn.close()


async def test_with_the_register_off_nothing_of_it_is_reachable_or_written(shared_stack, make_referral):
    child = uuid.uuid4()
    await shared_stack.referral(ground_f(make_referral, child))
    manager = shared_stack.headers("manager")
    for method, path in (("GET", "/cnis-register/export"), ("GET", f"/cnis-register/{child}"),
                         ("PUT", f"/cnis-register/{child}")):
        response = await shared_stack.client.request(method, path, headers=manager, json={"reason": "test"})
        assert response.status_code == 404, (method, path)
    conn = await asyncpg.connect(shared_stack.database_url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        assert await conn.fetchval("SELECT count(*) FROM cnis_register_entries") == 0
    finally:
        await conn.close()


@pytest_asyncio.fixture(loop_scope="module")
async def register_stack(infra, namespace):
    databases = Databases(infra)
    try:
        async with casework_stack(infra, databases, namespace, casework_cnis_register=True) as running_stack:
            yield running_stack
    finally:
        await databases.drop_all()


async def test_with_the_register_on_an_ehe_child_is_exported_with_only_s436c_fields(register_stack, make_referral):
    child = uuid.uuid4()
    await register_stack.referral(ground_f(make_referral, child, upn="A123456789012"))
    seeded = await register_stack.client.get(f"/cnis-register/{child}", headers=officer(register_stack))
    assert seeded.status_code == 200 and seeded.json()["fields"]["child_date_of_birth"] == "2014-03-10"
    entry = {"child_name": "Ada Example", "child_address": "1 Example Row, London W2", "reason": "home visit",
             "parents": [{"name": "Bea Example", "address": "1 Example Row, London W2"}],
             "education_by_parent": [{"parent_name": "Bea Example", "share_of_time": "all of the time"}],
             "other_providers": [{"name": "Tutor Co", "address": "2 Tutor St", "type": "tutor", "place": "home",
                                  "hours_per_week": 4}]}
    refused = await register_stack.client.put(f"/cnis-register/{child}", headers=officer(register_stack),
                                              json={**entry, "nhs_number": "9434765919"})
    assert refused.status_code == 422 and refused.json()["errors"][0]["code"] == "extra_forbidden"
    put = await register_stack.client.put(f"/cnis-register/{child}", headers=officer(register_stack), json=entry)
    assert put.status_code == 200, put.text
    assert (await register_stack.client.get("/cnis-register/export", headers=officer(register_stack))).status_code == 403
    exported = await register_stack.client.get("/cnis-register/export", params={"format": "json"},
                                               headers=register_stack.headers("manager", sub="manager-1"))
    assert exported.status_code == 200
    [mine] = [e for e in exported.json()["entries"] if e["child_subject_id"] == str(child)]
    assert set(mine) == set(cnis_register.EXPORT_COLUMNS)
    assert (mine["child_name"], mine["child_date_of_birth"]) == ("Ada Example", "2014-03-10")
    assert "upn" not in mine and "A123456789012" not in exported.text
    as_csv = await register_stack.client.get("/cnis-register/export", headers=register_stack.headers("dpo"))
    assert tuple(next(csv.reader(io.StringIO(as_csv.text)))) == cnis_register.EXPORT_COLUMNS
    log = await register_stack.client.get(f"/access-log?subject_id={child}", headers=register_stack.headers("dpo"))
    assert log.status_code == 200, log.text
    assert "cnis_register.export" in {row["action"] for row in log.json()["entries"]}
