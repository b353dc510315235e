"""Casework on the real broker: ReferralAccepted events from intake's topic, and the rights service's requests."""

import json
import uuid
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import func, select

from cme_casework.adapters.tables import case_history, kit
from cme_casework.domain import commands
from cme_casework.service_layer.case_writes import append_entries
from cme_shared.contracts import topics
from cme_shared.contracts.categories import DataCategory
from cme_shared.contracts.rights import (
    MAX_ITEMS_PER_CHUNK,
    DataCollectionRequest,
    FactualRectification,
    PersonHint,
    RestrictionLifted,
    SubjectLookup,
    SubjectRestricted,
)
from cme_shared.testing.kafka import TopicReader, eventually, produce
from cme_shared.testing.signing import signed_headers

pytestmark = pytest.mark.integration


def now() -> datetime:
    return datetime.now(UTC)


async def send(stack, topic: str, event, key: str) -> None:
    """As the topic's writer sends it: signed with that service's key."""
    value = event.model_dump_json().encode()
    await produce(stack.settings.kafka_connection(), stack.topics(topic), value, key=key.encode(),
                  headers=signed_headers(topic, value, key.encode(), [("event_id", str(event.event_id).encode())]))


async def cases_of(stack, child) -> list[dict]:
    response = await stack.client.get(f"/cases?child_subject_id={child}", headers=stack.headers("manager"))
    return response.json()


async def history_kinds(stack, case_id) -> list[str]:
    response = await stack.client.get(f"/cases/{case_id}", headers=stack.headers("manager"))
    return [h["kind"] for h in response.json()["history"]]


async def kinds_for_child(stack, child) -> list[str]:
    async with stack.runtime.sessions() as session:
        query = (select(case_history.c.kind).where(case_history.c.child_subject_id == child)
                 .order_by(case_history.c.entry_id))
        return list((await session.execute(query)).scalars())


async def test_referrals_from_intake_open_join_propose_closure_and_reopen_one_case(stack, make_referral):
    child = uuid.uuid4()
    referral = lambda **kw: make_referral(child=child, **kw)  # noqa: E731
    async with TopicReader(stack.settings.kafka_connection(), stack.topics(topics.CASE_EVENTS)) as case_events:
        await send(stack, topics.REFERRAL_ACCEPTED, referral(ground="9(1)(h)", received_on=date(2026, 11, 2)),
                   str(child))
        [case] = await eventually(lambda: cases_of(stack, child))
        assert (case["status"], case["reason"], case["borough"], case["next_due_date"], case["next_due_kind"]) == (
            "open", "not_returned_after_leave", "westminster", "2026-11-16", "first_enquiries")

        # A further referral joins the open case, however often it is delivered.
        further = referral(kind="child_not_in_school_concern", source="nhs", received_on=date(2026, 11, 5))
        await send(stack, topics.REFERRAL_ACCEPTED, further, str(child))
        await send(stack, topics.REFERRAL_ACCEPTED, further, str(child))
        # A new pupil return from a school proposes closing it; an officer confirms.
        new_pupil = referral(kind="new_pupil_registered", received_on=date(2026, 11, 20))
        await send(stack, topics.REFERRAL_ACCEPTED, new_pupil, str(child))
        await eventually(lambda: _status(stack, child, "closure_proposed"))
        assert (await history_kinds(stack, case["case_id"])).count("referral_joined") == 2  # the NHS one, the return
        confirmed = await stack.client.post(f"/cases/{case['case_id']}/closure-proposal/confirm",
                                            json={"closed_on": "2026-11-23"},
                                            headers=stack.headers("officer", borough="westminster"))
        assert confirmed.status_code == 200, confirmed.text
        assert confirmed.json()["case"]["closure_reason"] == "on_roll_elsewhere"

        # A new referral about the child reopens the closed case instead of opening a second one.
        await send(stack, topics.REFERRAL_ACCEPTED, referral(kind="moved_no_forwarding_address",
                                                            received_on=date(2026, 11, 25)), str(child))
        await eventually(lambda: _status(stack, child, "open"))
        [reopened] = await cases_of(stack, child)
        assert (reopened["case_id"], reopened["reason"]) == (case["case_id"], "moved_no_forwarding_address")
        kinds = await history_kinds(stack, case["case_id"])
        assert kinds == ["case_opened", "referral_joined", "referral_joined", "closure_proposed", "case_closed",
                         "case_reopened"]

        changes = await case_events.wait_for(lambda rs: len(rs) >= 4)
    assert [json.loads(r.value)["change"] for r in changes] == ["case_opened", "closure_proposed", "case_closed",
                                                                "case_reopened"]
    assert all(r.key == case["case_id"].encode() for r in changes)
    assert "date_of_birth" not in changes[0].value.decode()  # ids and codes only


async def _status(stack, child, status) -> bool:
    found = await cases_of(stack, child)
    return bool(found) and found[0]["status"] == status


async def test_a_ground_a_move_is_recorded_and_a_high_risk_child_is_escalated(stack, make_referral):
    moved, at_risk = uuid.uuid4(), uuid.uuid4()
    await send(stack, topics.REFERRAL_ACCEPTED, make_referral(child=moved, ground="9(1)(a)",
                                                              destination=("123456", date(2026, 11, 9))), str(moved))
    await send(stack, topics.REFERRAL_ACCEPTED, make_referral(child=at_risk, kind="child_not_in_school_concern",
                                                              source="police", concern=True,
                                                              received_on=date(2026, 11, 28)), str(at_risk))
    [case] = await eventually(lambda: cases_of(stack, at_risk))
    assert (case["status"], case["risk"], case["next_due_kind"], case["next_due_date"]) == (
        "escalated", "high", "escalation", "2026-11-30")  # a Saturday referral: due Monday
    assert await eventually(lambda: kinds_for_child(stack, moved)) == ["referral_recorded"]
    assert await cases_of(stack, moved) == []


async def test_restriction_rectification_and_subject_access_from_the_rights_service(stack, make_referral):
    child, carer, rights_request = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    case_id = await stack.referral(make_referral(child=child, carers=[carer], sex="unknown",
                                                 received_on=date(2026, 11, 2)))
    officer = stack.headers("officer", borough="westminster")
    note = {"kind": "fact", "category": "contact", "text": "letter sent to the last known address"}

    # Another kind on the shared topic is left alone; a restriction of the carer restricts the case.
    other_kind = json.dumps({"kind": "erasure_refused", "anything": 1}).encode()
    await produce(stack.settings.kafka_connection(), stack.topics(topics.RIGHTS_EVENTS), other_kind,
                  headers=signed_headers(topics.RIGHTS_EVENTS, other_kind, None))
    await send(stack, topics.RIGHTS_EVENTS, SubjectRestricted(
        event_id=uuid.uuid4(), occurred_at=now(), rights_request_id=rights_request, subject_ids=[carer],
        reason="the carer contests accuracy"), str(rights_request))
    await eventually(lambda: _restricted(stack, case_id))
    refused = await stack.client.post(f"/cases/{case_id}/notes", json=note, headers=officer)
    assert refused.status_code == 409 and refused.json()["errors"][0]["code"] == "subject_restricted"
    excepted = await stack.client.post(f"/cases/{case_id}/notes", headers=officer, json={
        **note, "restriction_exception": {"ground": "protection_of_another_person",
                                          "reason": "a sibling is at risk: the child must be traced"}})
    assert excepted.status_code == 201

    # A referral arriving while restricted is stored, not acted on; once lifted it joins the case.
    await send(stack, topics.REFERRAL_ACCEPTED, make_referral(child=child, kind="child_not_in_school_concern",
                                                              source="nhs", sex="unknown"), str(child))
    await eventually(lambda: _has(stack, child, "referral_held_restricted"))
    assert "referral_joined" not in await kinds_for_child(stack, child)
    await send(stack, topics.RIGHTS_EVENTS, RestrictionLifted(
        event_id=uuid.uuid4(), occurred_at=now(), rights_request_id=rights_request, subject_ids=[carer],
        reason="accuracy verified"), str(rights_request))
    await eventually(lambda: _has(stack, child, "referral_joined"))
    kinds = await kinds_for_child(stack, child)
    assert kinds.index("restriction_lifted") < kinds.index("referral_released") < kinds.index("referral_joined")
    assert (await stack.client.post(f"/cases/{case_id}/notes", json=note, headers=officer)).status_code == 201

    replies_topic = stack.topics(topics.replies_of("casework"))
    async with TopicReader(stack.settings.kafka_connection(), replies_topic) as replies:
        # Rectification of a fact casework holds: a new entry, and a reply saying how many records changed.
        await send(stack, topics.RIGHTS_EVENTS, FactualRectification(
            event_id=uuid.uuid4(), occurred_at=now(), rights_request_id=rights_request, subject_id=child, field="sex",
            new_value="male", decided_by="dpo-1"), str(rights_request))
        applied = await replies.wait_for(lambda rs: any(json.loads(r.value).get("kind") == "rectification_applied"
                                                        for r in rs))
        reply = next(json.loads(r.value) for r in applied if json.loads(r.value).get("kind") == "rectification_applied")
        assert (reply["service"], reply["subject_id"], reply["records_changed"]) == ("casework", str(child), 1)
        detail = (await stack.client.get(f"/cases/{case_id}", headers=officer)).json()
        assert detail["child"]["sex"] == "male"
        assert detail["history"][-1]["detail"]["previous_value"] == "unknown"

        # Subject access: more items than one message holds, so the answer spans chunks.
        await _add_notes(stack, case_id, 250)
        lookup = SubjectLookup(event_id=uuid.uuid4(), occurred_at=now(), collection_id=uuid.uuid4(),
                               person=PersonHint(first_name="A", last_name="B"))
        await send(stack, topics.DATA_COLLECTION_REQUESTS, lookup, str(rights_request))
        not_ours = DataCollectionRequest(event_id=uuid.uuid4(), occurred_at=now(), collection_id=uuid.uuid4(),
                                         rights_request_id=rights_request, subject_ids=[child], services=["intake"])
        await send(stack, topics.DATA_COLLECTION_REQUESTS, not_ours, str(rights_request))  # one partition: in order
        request = DataCollectionRequest(event_id=uuid.uuid4(), occurred_at=now(), collection_id=uuid.uuid4(),
                                        rights_request_id=rights_request, subject_ids=[child, carer])
        await send(stack, topics.DATA_COLLECTION_REQUESTS, request, str(rights_request))
        records = await replies.wait_for(lambda rs: any(_is_last(r, request.collection_id) for r in rs))
    chunks = [json.loads(r.value) for r in records
              if json.loads(r.value).get("collection_id") == str(request.collection_id)]
    answered = {json.loads(r.value).get("collection_id") for r in records}
    assert str(lookup.collection_id) not in answered and str(not_ours.collection_id) not in answered
    assert [c["chunk"] for c in chunks] == list(range(len(chunks))) and len(chunks) >= 2
    assert [c["last"] for c in chunks] == [False] * (len(chunks) - 1) + [True]
    items = [item for c in chunks for item in c["items"]]
    assert all(len(c["items"]) <= MAX_ITEMS_PER_CHUNK for c in chunks)
    assert chunks[-1]["total_items"] == len(items) > 250
    types = {item["record_type"] for item in items}
    assert {"case", "case_child_details", "case_history", "note", "case_link"} <= types
    assert all(item["category"] in set(DataCategory) and item["source"] for item in items)
    [link] = [item for item in items if item["record_type"] == "case_link"]
    assert link["subject_id"] == str(carer)
    opened = next(i for i in items if i["record_type"] == "case_history" and i["data"]["kind"] == "case_opened")
    assert opened["third_party"] == [{"path": "detail.carer_subject_ids.0", "reason": "other_carer",
                                      "subject_id": str(carer)}]
    async with stack.runtime.sessions() as session:
        dead = select(func.count()).select_from(kit.outbox).where(kit.outbox.c.aggregate_type == "dead_letter")
        assert (await session.execute(dead)).scalar_one() == 0  # the unknown kinds were ignored, not dead-lettered


async def _restricted(stack, case_id) -> bool:
    response = await stack.client.get(f"/cases/{case_id}", headers=stack.headers("manager"))
    return response.json()["restricted"]


async def _has(stack, child, kind) -> bool:
    return kind in await kinds_for_child(stack, child)


def _is_last(record, collection_id) -> bool:
    value = json.loads(record.value)
    return value.get("collection_id") == str(collection_id) and value.get("last") is True


async def _add_notes(stack, case_id, count: int) -> None:
    """Many notes in one transaction, through the same domain command and recording path as the HTTP API."""
    async with stack.unit_of_work() as uow:
        await uow.cases.lock(case_id)
        state = await uow.cases.state(case_id)
        entries = [commands.add_note(state, note_kind="fact", category=DataCategory.EDUCATION, text=f"call {n}",
                                     source=None, actor="officer:o1", today=date(2026, 11, 20)) for n in range(count)]
        await append_entries(uow, state, entries, case_id=case_id, child_subject_id=state.child_subject_id)
        await uow.commit()


async def test_a_batch_asks_once_who_is_restricted_and_holds_only_the_restricted_childs_referral(stack, make_referral):
    from sqlalchemy import event as sa_event

    from cme_shared.messaging.consumer import Delivery

    restricted_child, restricted_carer, free_child = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    await stack.referral(make_referral(child=restricted_child, carers=[restricted_carer],
                                       received_on=date(2026, 11, 2)))
    async with stack.unit_of_work() as uow:  # as the rights-events consumer records it
        await uow.cases.record_restriction([restricted_carer], uuid.uuid4(), "restricted",
                                           "the carer contests accuracy", uuid.uuid4())
        await uow.commit()
    consumer = next(c for c in stack.runtime.consumers if c.name == "referral-accepted")
    events = [make_referral(child=child) for child in (restricted_child, free_child, free_child)]
    batch = [Delivery(topic=consumer.topic, partition=0, offset=10_000 + i, key=str(e.child_subject_id).encode(),
                      value=e.model_dump_json().encode(),
                      headers=signed_headers(topics.REFERRAL_ACCEPTED, e.model_dump_json().encode(),
                                             str(e.child_subject_id).encode(), [("event_id", str(e.event_id).encode())]))
             for i, e in enumerate(events)]
    statements: list[str] = []
    engine = stack.runtime.engine.sync_engine
    listener = lambda *args: statements.append(args[2])  # noqa: E731
    sa_event.listen(engine, "before_cursor_execute", listener)
    try:
        assert await consumer.process_batch(batch) == ["handled"] * 3
    finally:
        sa_event.remove(engine, "before_cursor_execute", listener)
    # The restricted child's referral is stored, not acted on (its carer is named on the child's case only);
    # the other child's first referral opens a case and the second joins it.
    assert "referral_held_restricted" in await kinds_for_child(stack, restricted_child)
    assert "referral_joined" not in await kinds_for_child(stack, restricted_child)
    assert (await kinds_for_child(stack, free_child))[0] == "case_opened"
    assert "referral_joined" in await kinds_for_child(stack, free_child)
    assert len(await cases_of(stack, free_child)) == 1
    assert len([s for s in statements if "restriction_events" in s]) == 1  # once per batch, not per referral
