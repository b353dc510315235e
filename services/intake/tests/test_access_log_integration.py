"""The kit's access log in a real service and database (issue 13): a read recorded with who, when, which
subject, why and what; the DPO's list of who looked at a child; the rows as subject access items; and the
log itself append-only for the service's own login."""

import uuid

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from starlette.requests import Request

from cme_shared.access_log import NOT_STATED, PURPOSE_HEADER, access_items, record_access
from cme_shared.auth import Principal, Role

pytestmark = pytest.mark.integration


def request_with(headers: dict[str, str]) -> Request:
    return Request({"type": "http", "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()]})


async def test_a_recorded_read_is_listed_for_the_dpo_and_in_the_subject_access_items(intake):
    runtime = intake.client._transport.app.state.runtime  # type: ignore[attr-defined]
    child, other = uuid.uuid4(), uuid.uuid4()
    officer = Principal(sub="officer-7", roles=frozenset({Role.OFFICER, Role.AUDITOR}), borough="westminster",
                        acting_role=Role.OFFICER)
    async with runtime.sessions.begin() as session:
        written = await record_access(
            session, runtime.kit.access_log, request_with({PURPOSE_HEADER: "enquiry\x00 about attendance"}),
            officer, [child, child, other], action="referral.read", returned="referral detail",
            record_type="referral", record_id="R-1")
    assert written == 2  # one row per distinct subject

    listed = await intake.client.get("/access-log", params={"subject_id": str(child)}, headers=intake.dpo())
    assert listed.status_code == 200
    [entry] = listed.json()["entries"]
    assert (entry["actor"], entry["role"], entry["borough"], entry["action"], entry["purpose"]) == (
        "officer-7", "officer", "westminster", "referral.read", "enquiry about attendance")
    assert entry["record_id"] == "R-1" and entry["returned"] == "referral detail"

    # The DPO's own look is a read of the child's record, and is recorded too.
    again = await intake.client.get("/access-log", params={"subject_id": str(child)}, headers=intake.dpo())
    assert [e["action"] for e in again.json()["entries"]] == ["access_log.read", "referral.read"]
    assert again.json()["entries"][0]["purpose"] == NOT_STATED

    for who in (intake.officer(), intake.manager()):
        refused = await intake.client.get("/access-log", params={"subject_id": str(child)}, headers=who)
        assert refused.status_code == 403

    async with runtime.sessions.begin() as session:
        items = await access_items(session, runtime.kit.access_log, "intake", [child])
    assert [i.data["action"] for i in items] == ["referral.read", "access_log.read", "access_log.read"]
    assert items[0].recipient == {"type": "council_staff", "org_name": "council staff (officer), intake service"}
    assert "officer-7" not in str([i.model_dump() for i in items])  # the member of staff is not named

    async with runtime.sessions.begin() as session:
        with pytest.raises(DBAPIError):
            await session.execute(text("UPDATE access_log SET actor = 'someone else'"))


async def test_the_purpose_a_member_of_staff_typed_stays_out_of_the_subject_access_items(intake):
    runtime = intake.client._transport.app.state.runtime  # type: ignore[attr-defined]
    child = uuid.uuid4()
    officer = Principal(sub="officer-8", roles=frozenset({Role.OFFICER}), borough="westminster",
                        acting_role=Role.OFFICER)
    typed = "checking sibling Amelia Quint, born 03/04/2015"
    async with runtime.sessions.begin() as session:
        await record_access(session, runtime.kit.access_log, request_with({PURPOSE_HEADER: typed}), officer,
                            [child], action="referral.read", returned="referral detail")
        [item] = await access_items(session, runtime.kit.access_log, "intake", [child])
    assert "Amelia" not in item.model_dump_json() and "purpose" not in item.data
    listed = await intake.client.get("/access-log", params={"subject_id": str(child)}, headers=intake.dpo())
    assert listed.json()["entries"][-1]["purpose"] == typed  # the DPO still sees why
