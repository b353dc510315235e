"""Rights's handlers on in-memory fakes of its repositories: no PostgreSQL, no broker.

Each test runs the real handlers (service_layer/) through `FakeRightsUnitOfWork`, whose fakes keep rows as
the tables would, and asserts what a DPO, an officer or another service would see: statuses, audit lines,
refusals and the events put in the outbox. The clock is frozen, on London's day.
"""

import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from cme_rights.adapters.asks import Chunk
from cme_rights.app import collection_policy
from cme_rights.domain.clock import ClockEvent, ClockEventKind, complaint_acknowledgement_due
from cme_rights.domain.collection import CollectionPolicy, Purpose
from cme_rights.service_layer import collection, decisions, requests
from cme_rights.service_layer.commands import (
    Approval,
    ClockEventIn,
    ComplaintAcknowledgement,
    ComplaintOutcome,
    ComplaintProgress,
    Correction,
    ProposalDecision,
    PublicComplaint,
    RectificationDecision,
    RestrictionDecision,
    RestrictionLift,
    RightsRequest,
)
from cme_rights.service_layer.commands import Refusal as Art12Refusal
from cme_rights.settings import RightsSettings
from cme_shared.auth import Principal, Role
from cme_shared.clock import FixedClock
from cme_shared.contracts import topics
from cme_shared.contracts.categories import DataCategory
from cme_shared.contracts.referrals import Borough
from cme_shared.contracts.rights import (
    DataCollectionReply,
    DataCollectionRequest,
    DataItem,
    RectificationApplied,
    SubjectLookup,
    SubjectLookupReply,
    SubjectMatch,
    SubjectRestricted,
)
from cme_shared.contracts.retention import RetentionSchedule
from cme_shared.refusal import Refusal
from cme_shared.retention import DEFAULT_SCHEDULE, Tombstone
from cme_shared.testing.fakes import FakeUnitOfWork

pytestmark = pytest.mark.unit

ROWS_DEFAULTS: dict[str, Any] = {
    "subject_ids": [], "requester_subject_ids": [], "possible_matches": 0, "response": None, "approved_by": None,
    "approved_at": None, "acknowledged_on": None, "pending_proposal": None, "response_pdf": None, "on_hold": None,
}


class FakeRequests:
    """`adapters/requests.py` in memory: rows by id, and the append-only tables as lists."""

    def __init__(self) -> None:
        self.rows: dict[uuid.UUID, dict[str, Any]] = {}
        self.audit_log: list[dict[str, Any]] = []
        self.decisions: list[dict[str, Any]] = []
        self.clock: list[tuple[uuid.UUID, ClockEvent]] = []
        self.rectifications: dict[uuid.UUID, dict[str, Any]] = {}

    async def add(self, request_id: uuid.UUID, **values: Any) -> None:
        self.rows[request_id] = {**ROWS_DEFAULTS, **values, "request_id": request_id}

    async def get(self, request_id: uuid.UUID, *, for_update: bool = False,
                  skip_locked: bool = False) -> Mapping[str, Any] | None:
        row = self.rows.get(request_id)
        return dict(row) if row is not None else None  # a snapshot, as a fetched row is

    async def exists(self, request_id: uuid.UUID) -> bool:
        return request_id in self.rows

    async def change(self, request_id: uuid.UUID, **values: Any) -> None:
        self.rows[request_id].update(values)

    async def keep_printed(self, request_id: uuid.UUID, content: bytes) -> None:
        row = self.rows[request_id]
        if row["status"] == "responded" and row["response_pdf"] is None:
            row["response_pdf"] = content

    async def audit(self, request_id: uuid.UUID, action: str, actor: str, *, from_status: str | None = None,
                    to_status: str | None = None, detail: dict[str, Any] | None = None) -> None:
        self.audit_log.append({"request_id": request_id, "action": action, "actor": actor,
                               "from_status": from_status, "to_status": to_status, "detail": detail or {}})

    async def add_decision(self, request_id: uuid.UUID, kind: str, decision: dict[str, Any], decided_by: str,
                           decided_role: str) -> None:
        self.decisions.append({"request_id": request_id, "kind": kind, "decision": decision,
                               "decided_by": decided_by, "decided_role": decided_role})

    async def latest_decision(self, request_id: uuid.UUID, kind: str) -> dict[str, Any] | None:
        found = [d["decision"] for d in self.decisions if d["request_id"] == request_id and d["kind"] == kind]
        return found[-1] if found else None

    async def clock_events(self, request_id: uuid.UUID) -> list[ClockEvent]:
        return [event for rid, event in self.clock if rid == request_id]

    async def add_clock_event(self, request_id: uuid.UUID, event: ClockEvent, **_: Any) -> None:
        self.clock.append((request_id, event))

    async def add_rectification_applied(self, request_id: uuid.UUID, service: str, subject_id: uuid.UUID,
                                        records_changed: int, event_id: uuid.UUID) -> None:
        self.rectifications.setdefault(event_id, {"request_id": request_id, "service": service,
                                                  "records_changed": records_changed})

    def actions(self, request_id: uuid.UUID) -> list[str]:
        return [line["action"] for line in self.audit_log if line["request_id"] == request_id]


class FakeAsks:
    """`adapters/asks.py` in memory (insertion order stands for `created_at`)."""

    def __init__(self, requests: FakeRequests) -> None:
        self._requests = requests
        self.asks: dict[uuid.UUID, dict[str, Any]] = {}
        self.targets: dict[tuple[uuid.UUID, str], dict[str, Any]] = {}
        self.chunk_rows: dict[tuple[uuid.UUID, str, int], dict[str, Any]] = {}

    async def open(self, ask_id: uuid.UUID, request_id: uuid.UUID, purpose: Purpose, message: dict[str, Any],
                   services: Sequence[str], now: datetime) -> None:
        self.asks[ask_id] = {"ask_id": ask_id, "request_id": request_id, "purpose": purpose.value, "state": "open",
                             "message": message, "created_at": now}
        for service in services:
            self.targets[(ask_id, service)] = {"ask_id": ask_id, "service": service, "state": "waiting",
                                               "attempts": 1, "last_asked_at": now, "result": None,
                                               "last_error": None}

    async def close_open(self, request_id: uuid.UUID, state: str = "superseded") -> None:
        for ask in self.asks.values():
            if ask["request_id"] == request_id and ask["state"] == "open":
                ask["state"] = state

    async def close(self, ask_id: uuid.UUID, state: str) -> None:
        self.asks[ask_id]["state"] = state

    async def request_of(self, ask_id: uuid.UUID) -> uuid.UUID | None:
        return self.asks[ask_id]["request_id"] if ask_id in self.asks else None

    async def get(self, ask_id: uuid.UUID, *, for_update: bool = False) -> Mapping[str, Any] | None:
        return dict(self.asks[ask_id]) if ask_id in self.asks else None

    async def target_state(self, ask_id: uuid.UUID, service: str) -> str | None:
        target = self.targets.get((ask_id, service))
        return target["state"] if target else None

    def _targets(self, ask_id: uuid.UUID) -> list[dict[str, Any]]:
        return sorted((dict(t) for (a, _), t in self.targets.items() if a == ask_id), key=lambda t: t["service"])

    async def current(self, request_id: uuid.UUID) -> list[dict[str, Any]]:
        return [{**ask, "targets": self._targets(ask["ask_id"])} for ask in self.asks.values()
                if ask["request_id"] == request_id and ask["state"] != "superseded"]

    async def late(self, asked_before: datetime) -> list[uuid.UUID]:
        return [ask_id for ask_id, ask in self.asks.items() if ask["state"] == "open" and any(
            t["state"] == "waiting" and t["last_asked_at"] <= asked_before for t in self._targets(ask_id))]

    async def waiting_targets(self, ask_id: uuid.UUID) -> list[Mapping[str, Any]]:
        return [t for t in self._targets(ask_id) if t["state"] == "waiting"]

    async def waiting(self, ask_id: uuid.UUID) -> int:
        return len(await self.waiting_targets(ask_id))

    async def answered(self, ask_id: uuid.UUID, service: str) -> None:
        self.targets[(ask_id, service)].update(state="answered", last_error=None)

    async def matched(self, ask_id: uuid.UUID, service: str, matches: list[dict[str, Any]]) -> None:
        self.targets[(ask_id, service)].update(state="answered", result=matches)

    def _forget_chunks(self, ask_id: uuid.UUID, service: str) -> None:
        for key in [k for k in self.chunk_rows if k[:2] == (ask_id, service)]:
            del self.chunk_rows[key]

    async def ask_again(self, ask_id: uuid.UUID, service: str, *, attempts: int, now: datetime) -> None:
        self._forget_chunks(ask_id, service)
        self.targets[(ask_id, service)].update(attempts=attempts, last_asked_at=now)

    async def failed(self, ask_id: uuid.UUID, service: str, *, error: str, last_asked_at: datetime) -> None:
        self._forget_chunks(ask_id, service)
        self.targets[(ask_id, service)].update(last_error=error, last_asked_at=last_asked_at)

    async def give_up(self, ask_id: uuid.UUID, service: str) -> None:
        self.targets[(ask_id, service)]["state"] = "no_answer"

    async def add_chunk(self, ask_id: uuid.UUID, service: str, chunk: int, *, last: bool, total_items: int | None,
                        items: list[dict[str, Any]]) -> None:
        self.chunk_rows[(ask_id, service, chunk)] = {"last": last, "total_items": total_items,
                                                     "item_count": len(items), "items": items}

    async def chunks(self, ask_id: uuid.UUID, service: str) -> list[Chunk]:
        return [Chunk(n, c["item_count"], c["last"], c["total_items"])
                for (a, s, n), c in self.chunk_rows.items() if (a, s) == (ask_id, service)]

    async def items(self, ask_id: uuid.UUID, services: Sequence[str]) -> list[DataItem]:
        return [DataItem.model_validate(item) for (a, s, _), c in sorted(self.chunk_rows.items(), key=lambda kv: kv[0][1:])
                if a == ask_id and s in services for item in c["items"]]

    async def prune_released(self, approved_before: datetime) -> int:
        released = {rid for rid, row in self._requests.rows.items()
                    if row["status"] == "responded" and row["approved_at"] <= approved_before}
        gone = [k for k in self.chunk_rows if self.asks[k[0]]["request_id"] in released]
        for key in gone:
            del self.chunk_rows[key]
        return len(gone)


class FakeAccessLog:
    def __init__(self) -> None:
        self.looked: dict[uuid.UUID, list[DataItem]] = {}

    async def items_about(self, subject_ids: Sequence[uuid.UUID]) -> list[DataItem]:
        return [item for subject in subject_ids for item in self.looked.get(subject, [])]


class FakeTombstones:
    """The kit's tombstones, in memory: what was disposed of (cme_shared.retention.Tombstones)."""

    def __init__(self) -> None:
        self.rows: list[Tombstone] = []

    async def about(self, subject_ids: Sequence[uuid.UUID] = (), digests: Sequence[str] = ()) -> list[Tombstone]:
        return [t for t in self.rows if set(t.subject_ids) & set(subject_ids)]


class FakeRightsUnitOfWork(FakeUnitOfWork[None]):
    """One database's worth of fakes, shared by every unit of work a test opens on it (`again`)."""

    def __init__(self, clock: FixedClock, policy: CollectionPolicy,
                 schedule: RetentionSchedule = DEFAULT_SCHEDULE) -> None:
        super().__init__(clock)
        self.policy = policy
        self.schedule = schedule
        self.requests = FakeRequests()
        self.asks = FakeAsks(self.requests)
        self.access_log = FakeAccessLog()
        self.tombstones = FakeTombstones()


# 23:30 UTC on 30 June is 00:30 on 1 July in London (BST): London's day has already turned.
SUMMER_NIGHT = datetime(2026, 6, 30, 23, 30, tzinfo=UTC)
LONDON_TODAY = date(2026, 7, 1)
WESTMINSTER, KC = Borough.WESTMINSTER.value, Borough.KENSINGTON_AND_CHELSEA.value
CHILD, PARENT = uuid.uuid4(), uuid.uuid4()


def officer(sub: str = "officer-1", borough: Borough = Borough.WESTMINSTER) -> Principal:
    return Principal(sub=sub, roles=frozenset({Role.OFFICER}), borough=borough, acting_role=Role.OFFICER)


def dpo(sub: str = "dpo-1") -> Principal:
    return Principal(sub=sub, roles=frozenset({Role.DPO}), acting_role=Role.DPO)


@pytest.fixture
def uow() -> FakeRightsUnitOfWork:
    settings = RightsSettings(collection_timeout_seconds=120, collection_max_attempts=2, chunk_retention_days=30)
    return FakeRightsUnitOfWork(FixedClock(SUMMER_NIGHT), collection_policy(settings))


def body(**overrides: Any) -> RightsRequest:
    fields: dict[str, Any] = {
        "type": "access", "received_on": LONDON_TODAY.isoformat(), "channel": "email",
        "requester": {"first_name": "Maryam", "last_name": "Hassan", "acting_as": "parent"},
        "subject": {"first_name": "Amira", "last_name": "Hassan", "date_of_birth": "2016-04-02"},
        "identity_verified": False,
    }
    return RightsRequest.model_validate(fields | overrides)


def item(service: str, n: int, subject: uuid.UUID = CHILD) -> DataItem:
    return DataItem(service=service, record_type="note", record_id=f"{service}-{n}", subject_id=subject,
                    category=DataCategory.EDUCATION, source="CME officer",
                    recorded_at=datetime(2026, 3, 1, 9, tzinfo=UTC), data={"n": n})


def sent(uow: FakeRightsUnitOfWork, kind: type) -> list[Any]:
    return [s.event for s in uow.outbox.sent if isinstance(s.event, kind)]


def lookups(uow: FakeRightsUnitOfWork) -> dict[str, SubjectLookup]:
    """The lookups sent, by whom they ask about (the subject, or the requester)."""
    return {uow.asks.asks[lookup.collection_id]["purpose"]: lookup for lookup in sent(uow, SubjectLookup)}


def lookup_reply(lookup: SubjectLookup, *matches: SubjectMatch) -> SubjectLookupReply:
    return SubjectLookupReply(event_id=uuid.uuid4(), occurred_at=SUMMER_NIGHT, collection_id=lookup.collection_id,
                              service="intake", matches=list(matches))


def match(subject: uuid.UUID, *boroughs: str, how: str = "exact_identifier") -> SubjectMatch:
    return SubjectMatch(subject_id=subject, subject_type="child", match=how, boroughs=list(boroughs))


def chunk(ask: DataCollectionRequest, service: str, number: int, items: list[DataItem], *, last: bool = True,
          total: int | None = None, error: str | None = None) -> DataCollectionReply:
    return DataCollectionReply(event_id=uuid.uuid4(), occurred_at=SUMMER_NIGHT, collection_id=ask.collection_id,
                               service=service, chunk=number, last=last,
                               total_items=total if total is not None else (len(items) if last else None),
                               items=items, error=error)


async def received(uow: FakeRightsUnitOfWork, by: Principal | None = None, **overrides: Any) -> uuid.UUID:
    """A request recorded by the DPO with identity verified: its collection has started."""
    async with uow:
        answer = await requests.receive(uow, body(identity_verified=True, **overrides), by or dpo())
        await uow.commit()
    return answer["request_id"]


async def identified(uow: FakeRightsUnitOfWork, *boroughs: str, **overrides: Any) -> tuple[uuid.UUID, DataCollectionRequest]:
    """A request whose subject (and requester) the identity index found: the data collection is asked."""
    request_id = await received(uow, **overrides)
    asked = lookups(uow)
    async with uow:
        await collection.on_lookup_reply(uow, lookup_reply(asked[Purpose.LOOKUP_SUBJECT], match(CHILD, *boroughs)))
        if Purpose.LOOKUP_REQUESTER in asked:
            await collection.on_lookup_reply(uow, lookup_reply(asked[Purpose.LOOKUP_REQUESTER], match(PARENT)))
        await uow.commit()
    return request_id, sent(uow, DataCollectionRequest)[-1]


async def answered(uow: FakeRightsUnitOfWork, ask: DataCollectionRequest, **items: list[DataItem]) -> None:
    async with uow:
        for service in ask.services:
            await collection.on_collection_reply(uow, chunk(ask, service, 0, items.get(service, [])))
        await uow.commit()


def status(uow: FakeRightsUnitOfWork, request_id: uuid.UUID) -> str:
    return uow.requests.rows[request_id]["status"]


async def test_an_officers_identity_verified_waits_for_the_dpo_and_asks_no_one(uow: FakeRightsUnitOfWork) -> None:
    async with uow:
        answer = await requests.receive(uow, body(identity_verified=True), officer())
        await uow.commit()
    row = uow.requests.rows[answer["request_id"]]
    assert (answer["status"], row["identity_verified"], row["borough"]) == ("received", False, WESTMINSTER)
    assert [w["code"] for w in answer["warnings"]] == ["identity_needs_dpo"]
    assert uow.requests.audit_log[0]["detail"]["identity_left_to_dpo"] is True
    assert uow.outbox.sent == []


async def test_the_dpos_request_asks_the_identity_index_about_the_child_and_the_parent(
        uow: FakeRightsUnitOfWork) -> None:
    request_id = await received(uow)
    assert status(uow, request_id) == "collecting"
    assert uow.requests.rows[request_id]["borough"] is None  # the DPO's: no borough until the records say
    asked = lookups(uow)
    assert set(asked) == {Purpose.LOOKUP_SUBJECT, Purpose.LOOKUP_REQUESTER}
    assert asked[Purpose.LOOKUP_SUBJECT].person.first_name == "Amira"
    assert uow.outbox.topics() == [topics.DATA_COLLECTION_REQUESTS] * 2
    assert all(s.aggregate_id == str(request_id) for s in uow.outbox.sent)


async def test_received_today_is_londons_today_not_utcs(uow: FakeRightsUnitOfWork) -> None:
    """At 00:30 in London on 1 July (23:30 UTC on 30 June) a request received on 1 July is not in the future;
    one received on 2 July is."""
    await received(uow, received_on=LONDON_TODAY.isoformat())
    with pytest.raises(Refusal) as refused:
        async with uow:
            await requests.receive(uow, body(received_on=(LONDON_TODAY + timedelta(days=1)).isoformat()), officer())
    assert (refused.value.status, refused.value.code, refused.value.loc) == (
        422, "received_in_future", ["body", "received_on"])
    assert uow.rolled_back and len(uow.requests.rows) == 1


async def test_only_the_dpo_records_identity_received(uow: FakeRightsUnitOfWork) -> None:
    async with uow:
        request_id = (await requests.receive(uow, body(), officer()))["request_id"]
        await uow.commit()
    event = ClockEventIn(event=ClockEventKind.IDENTITY_RECEIVED, on=LONDON_TODAY)
    with pytest.raises(Refusal) as refused:
        async with uow:
            await requests.record_clock_event(uow, request_id, event, officer("officer-2"))
    assert (refused.value.status, refused.value.code) == (403, "identity_needs_dpo")
    async with uow:
        answer = await requests.record_clock_event(uow, request_id, event, dpo())
        await uow.commit()
    assert answer["status"] == "collecting" and uow.requests.rows[request_id]["identity_verified"] is True


async def test_an_extension_without_reasons_is_unprocessable(uow: FakeRightsUnitOfWork) -> None:
    request_id = await received(uow)
    with pytest.raises(Refusal) as refused:
        async with uow:
            await requests.record_clock_event(uow, request_id, ClockEventIn(event=ClockEventKind.EXTENDED,
                                                                            on=LONDON_TODAY), dpo())
    assert (refused.value.status, refused.value.code) == (422, "extension_needs_reasons")
    assert uow.requests.clock == []


async def test_the_request_moves_to_the_borough_of_the_childs_records(uow: FakeRightsUnitOfWork) -> None:
    async with uow:
        request_id = (await requests.receive(uow, body(), officer()))["request_id"]
        await requests.record_clock_event(uow, request_id, ClockEventIn(event=ClockEventKind.IDENTITY_RECEIVED,
                                                                        on=LONDON_TODAY), dpo())
        await uow.commit()
    asked = lookups(uow)
    async with uow:
        await collection.on_lookup_reply(uow, lookup_reply(asked[Purpose.LOOKUP_SUBJECT], match(CHILD, KC)))
        assert uow.requests.rows[request_id]["borough"] == WESTMINSTER  # until every lookup is answered
        await collection.on_lookup_reply(uow, lookup_reply(asked[Purpose.LOOKUP_REQUESTER], match(PARENT)))
        await uow.commit()
    assert uow.requests.rows[request_id]["borough"] == KC
    assert [line["detail"] for line in uow.requests.audit_log if line["action"] == "borough_assigned"] == [
        {"from": WESTMINSTER, "to": KC}]
    with pytest.raises(Refusal) as refused:  # the Westminster officer who recorded it no longer sees it
        async with uow:
            await requests.collect_again(uow, request_id, officer())
    assert (refused.value.status, refused.value.code) == (404, "not_found")


async def test_records_in_both_boroughs_make_the_request_the_dpos_alone(uow: FakeRightsUnitOfWork) -> None:
    request_id, _ = await identified(uow, WESTMINSTER, KC)
    assert uow.requests.rows[request_id]["borough"] is None


async def test_the_collection_asks_every_service_for_the_certain_matches_only(uow: FakeRightsUnitOfWork) -> None:
    request_id = await received(uow, type="access")
    asked = lookups(uow)
    namesake = uuid.uuid4()
    async with uow:
        await collection.on_lookup_reply(uow, lookup_reply(asked[Purpose.LOOKUP_SUBJECT], match(CHILD, WESTMINSTER),
                                                           match(namesake, how="possible")))
        assert sent(uow, DataCollectionRequest) == []  # the requester's lookup is still open
        await collection.on_lookup_reply(uow, lookup_reply(asked[Purpose.LOOKUP_REQUESTER], match(PARENT)))
        await uow.commit()
    [ask] = sent(uow, DataCollectionRequest)
    assert (ask.subject_ids, ask.requester_subject_ids, ask.services) == (
        [CHILD], [PARENT], ["intake", "casework", "disclosure"])
    assert uow.requests.rows[request_id]["possible_matches"] == 1


async def test_a_reply_to_an_ask_no_longer_open_changes_nothing(uow: FakeRightsUnitOfWork) -> None:
    request_id = await received(uow)
    old = lookups(uow)[Purpose.LOOKUP_SUBJECT]
    async with uow:
        await requests.collect_again(uow, request_id, dpo())  # supersedes the first lookups
        await uow.commit()
    before = len(uow.outbox.sent)
    async with uow:
        await collection.on_lookup_reply(uow, lookup_reply(old, match(CHILD)))
        await uow.commit()
    assert len(uow.outbox.sent) == before and uow.requests.rows[request_id]["subject_ids"] == []


async def test_an_answer_is_whole_with_its_last_chunk_and_every_announced_item(uow: FakeRightsUnitOfWork) -> None:
    request_id, ask = await identified(uow, WESTMINSTER)
    async with uow:
        await collection.on_collection_reply(uow, chunk(ask, "casework", 1, [item("casework", 2)], total=3))
        await collection.on_collection_reply(uow, chunk(ask, "casework", 0, [item("casework", 1)], last=False))
        await uow.commit()
    assert uow.asks.targets[(ask.collection_id, "casework")]["state"] == "waiting"  # 2 of the 3 items
    async with uow:
        await collection.on_collection_reply(uow, chunk(ask, "casework", 1, [item("casework", 2), item("casework", 3)],
                                                        total=3))  # the redelivered chunk replaces its copy
        await uow.commit()
    assert uow.asks.targets[(ask.collection_id, "casework")]["state"] == "answered"
    assert status(uow, request_id) == "collecting"  # intake and disclosure still owe their answers


async def test_a_whole_collection_makes_the_access_pack_with_who_looked(uow: FakeRightsUnitOfWork) -> None:
    request_id, ask = await identified(uow, WESTMINSTER)
    looked = DataItem(service="rights", record_type="access", record_id="access:1", subject_id=CHILD,
                      category=DataCategory.EDUCATION, source="the council's rights service",
                      recorded_at=SUMMER_NIGHT, data={"action": "rights_request.read"},
                      recipient={"type": "council_staff", "org_name": "council staff (officer), rights service"})
    uow.access_log.looked[CHILD] = [looked]
    await answered(uow, ask, intake=[item("intake", 1)], casework=[item("casework", 1)])
    row = uow.requests.rows[request_id]
    assert row["status"] == "ready_for_review"
    assert row["response"]["completeness"]["complete"] is True
    assert uow.requests.actions(request_id)[-1] == "gathering_complete"
    assert "access:1" in str(row["response"])


async def test_the_pack_lists_rights_own_disposed_requests_and_says_the_schedule_in_force(
        uow: FakeRightsUnitOfWork) -> None:
    """Issue 14 (DOMAIN section 3; UK GDPR Art 15(1)(d)): an earlier request about the child, disposed of, is
    named in the pack with its day and rule; the retention statement is the schedule's in force."""
    uow.schedule = RetentionSchedule(schedule_id="council-2027", rules=tuple(
        r.model_copy(update={"years": 2, "description": "a rights request: 2 years after it was answered"})
        if r.record_type.value == "rights_request" else r for r in DEFAULT_SCHEDULE.rules))
    earlier = Tombstone(record_type="rights_request", record_id=str(uuid.uuid4()), subject_ids=[PARENT, CHILD],
                        case_ids=[], categories=["contact"], schedule_id="council-2027", rule_id="rights-request.7y",
                        clock_started_on=date(2018, 1, 5), due_on=date(2025, 1, 5), reason="schedule",
                        disposed_at=datetime(2025, 1, 6, 2, 30, tzinfo=UTC), run_id=uuid.uuid4())
    uow.tombstones.rows.append(earlier)
    request_id, ask = await identified(uow, WESTMINSTER)
    await answered(uow, ask, intake=[item("intake", 1)], casework=[item("casework", 1)])
    pack = uow.requests.rows[request_id]["response"]
    assert [(d["service"], d["record_type"], d["disposed_at"]) for d in pack["disposed_records"]] == [
        ("rights", "rights_request", "2025-01-06T02:30:00+00:00")]
    assert earlier.record_id not in str(pack["data"])
    assert "council-2027" in pack["supplementary_information"]["retention"]
    assert "2 years after it was answered" in pack["supplementary_information"]["retention"]


async def test_an_error_reply_is_asked_again_at_the_next_sweep(uow: FakeRightsUnitOfWork) -> None:
    request_id, ask = await identified(uow, WESTMINSTER)
    async with uow:
        await collection.on_collection_reply(uow, chunk(ask, "disclosure", 0, [item("disclosure", 1)], last=False))
        await collection.on_collection_reply(uow, chunk(ask, "disclosure", 0, [], error="store_unavailable"))
        await uow.commit()
    target = uow.asks.targets[(ask.collection_id, "disclosure")]
    assert target["last_error"] == "store_unavailable" and not await uow.asks.chunks(ask.collection_id, "disclosure")
    async with uow:
        moved = await collection.sweep(uow)
        await uow.commit()
    again = sent(uow, DataCollectionRequest)[-1]
    assert (moved, again.collection_id, again.services, target["attempts"]) == (1, ask.collection_id,
                                                                                 ["disclosure"], 2)


async def test_a_silent_service_is_given_up_on_after_the_last_try(uow: FakeRightsUnitOfWork) -> None:
    request_id, ask = await identified(uow, WESTMINSTER)
    async with uow:
        for service in ("intake", "casework"):
            await collection.on_collection_reply(uow, chunk(ask, service, 0, []))
        await uow.commit()
    for _ in range(2):  # the second try, then giving up (collection_max_attempts=2)
        uow.clock.advance(timedelta(seconds=121))
        async with uow:
            await collection.sweep(uow)
            await uow.commit()
    row = uow.requests.rows[request_id]
    assert row["status"] == "collection_incomplete"
    assert row["response"]["completeness"]["services_missing"] == ["disclosure"]
    assert uow.asks.asks[ask.collection_id]["state"] == "incomplete"


async def test_an_incomplete_pack_is_released_only_when_the_dpo_accepts_it_in_writing(
        uow: FakeRightsUnitOfWork) -> None:
    request_id, ask = await identified(uow, WESTMINSTER)
    async with uow:
        await collection.on_collection_reply(uow, chunk(ask, "intake", 0, []))
        for _ in range(2):
            uow.clock.advance(timedelta(seconds=121))
            await collection.sweep(uow)
        await uow.commit()
    for approval, code in ((Approval(), "collection_incomplete"), (Approval(accept_incomplete=True),
                                                                   "incomplete_needs_note")):
        with pytest.raises(Refusal) as refused:
            async with uow:
                await requests.approve(uow, request_id, approval, dpo("dpo-2"))
        assert refused.value.code == code
    async with uow:
        answer = await requests.approve(uow, request_id, Approval(accept_incomplete=True, note="casework is down"),
                                        dpo("dpo-2"))
        await uow.commit()
    assert answer["status"] == "responded" and answer["approved_at"] == uow.clock.now()
    assert uow.requests.rows[request_id]["response"]["release"]["incomplete_accepted"]["services_missing"] == [
        "casework", "disclosure"]


async def test_the_person_who_recorded_a_request_never_releases_it(uow: FakeRightsUnitOfWork) -> None:
    request_id, ask = await identified(uow, WESTMINSTER)
    await answered(uow, ask)
    with pytest.raises(Refusal) as refused:
        async with uow:
            await requests.approve(uow, request_id, Approval(), dpo())
    assert (refused.value.status, refused.value.code) == (403, "same_person")
    assert status(uow, request_id) == "ready_for_review"


async def test_an_officers_restriction_is_a_proposal_until_another_dpo_approves_it(
        uow: FakeRightsUnitOfWork) -> None:
    request_id, ask = await identified(uow, WESTMINSTER, type="restriction")
    assert ask.services == ["disclosure"]  # Art 19: the recipients
    await answered(uow, ask)
    assert status(uow, request_id) == "awaiting_decision"
    decision = RestrictionDecision(outcome="restricted", ground="accuracy_contested", reason="the parent disputes it")
    async with uow:
        answer = await decisions.decide_restriction(uow, request_id, decision, officer("officer-2"))
        await uow.commit()
    assert (answer["status"], answer["proposed"]) == ("awaiting_approval", True)
    assert sent(uow, SubjectRestricted) == []
    with pytest.raises(Refusal) as refused:  # the DPO who recorded the request
        async with uow:
            await decisions.decide_proposal(uow, request_id, ProposalDecision(outcome="approved"), dpo())
    assert refused.value.code == "same_person"
    async with uow:
        await decisions.decide_proposal(uow, request_id, ProposalDecision(outcome="approved"), dpo("dpo-2"))
        await uow.commit()
    [restricted] = sent(uow, SubjectRestricted)
    assert restricted.subject_ids == [CHILD] and restricted.reason == "UK GDPR Art 18(1): accuracy_contested"
    assert status(uow, request_id) == "ready_for_review"
    assert [d["kind"] for d in uow.requests.decisions] == ["restriction_proposed", "restriction"]


async def test_a_lift_needs_the_requester_told_already(uow: FakeRightsUnitOfWork) -> None:
    request_id, ask = await identified(uow, WESTMINSTER, type="restriction")
    await answered(uow, ask)
    async with uow:
        await decisions.decide_restriction(uow, request_id, RestrictionDecision(
            outcome="restricted", ground="unlawful_processing", reason="shared without a gateway"), dpo("dpo-2"))
        await uow.commit()
    tomorrow = RestrictionLift(reason="resolved", requester_informed_on=LONDON_TODAY + timedelta(days=1))
    with pytest.raises(Refusal) as refused:
        async with uow:
            await decisions.lift_restriction(uow, request_id, tomorrow, dpo("dpo-2"))
    assert (refused.value.status, refused.value.code) == (422, "informed_in_future")


async def test_a_correction_may_change_only_the_subjects_own_data(uow: FakeRightsUnitOfWork) -> None:
    request_id, ask = await identified(uow, WESTMINSTER, type="rectification")
    await answered(uow, ask)
    someone_else = Correction(subject_id=uuid.uuid4(), field="last_name", new_value="Khan", reason="typo")
    with pytest.raises(Refusal) as refused:
        async with uow:
            await decisions.rectify(uow, request_id, RectificationDecision(corrections=[someone_else], reason="r"),
                                    dpo("dpo-2"))
    assert (refused.value.status, refused.value.code, refused.value.loc) == (
        422, "not_the_subject", ["body", "corrections", 0, "subject_id"])


async def test_a_refusal_closes_the_open_asks(uow: FakeRightsUnitOfWork) -> None:
    request_id = await received(uow)
    async with uow:
        answer = await requests.refuse(uow, request_id, Art12Refusal(basis="manifestly_excessive",
                                                                     reason="the fifth request this month"),
                                       dpo("dpo-2"))
        await uow.commit()
    assert answer["status"] == "ready_for_review"
    assert {ask["state"] for ask in uow.asks.asks.values()} == {"superseded"}
    assert "Art 12(5)(b)" in str(uow.requests.rows[request_id]["response"])


async def test_collected_answers_go_a_retention_period_after_the_release(uow: FakeRightsUnitOfWork) -> None:
    request_id, ask = await identified(uow, WESTMINSTER)
    await answered(uow, ask, casework=[item("casework", 1)])
    async with uow:
        await requests.approve(uow, request_id, Approval(), dpo("dpo-2"))
        await uow.commit()
    uow.clock.advance(timedelta(days=29))
    async with uow:
        assert await collection.prune_chunks(uow) == 0
    uow.clock.advance(timedelta(days=2))
    async with uow:
        assert await collection.prune_chunks(uow) == 3  # one chunk from each service
        await uow.commit()
    assert uow.asks.chunk_rows == {}


async def test_a_rectification_applied_is_kept_for_a_known_request_only(uow: FakeRightsUnitOfWork) -> None:
    request_id = await received(uow)
    report = RectificationApplied(event_id=uuid.uuid4(), occurred_at=SUMMER_NIGHT, rights_request_id=request_id,
                                  service="casework", subject_id=CHILD, records_changed=2)
    stranger = report.model_copy(update={"event_id": uuid.uuid4(), "rights_request_id": uuid.uuid4()})
    async with uow:
        await collection.on_rectification_applied(uow, report)
        await collection.on_rectification_applied(uow, stranger)
        await uow.commit()
    assert uow.requests.rectifications == {report.event_id: {"request_id": request_id, "service": "casework",
                                                             "records_changed": 2}}
    assert [line["actor"] for line in uow.requests.audit_log if line["action"] == "rectification_applied"] == [
        "service:casework"]


# --- complaints the public can make (DPA 2018 s164A, from 19 June 2026) --------------------------------------

def public_complaint(**overrides: Any) -> PublicComplaint:
    fields: dict[str, Any] = {
        "complainant": {"first_name": "Maryam", "last_name": "Hassan", "email": "maryam.hassan@example.org"},
        "about": "my daughter's records were shared with the wrong school",
        "child": {"first_name": "Amira", "last_name": "Hassan", "date_of_birth": "2016-04-02"},
    }
    return PublicComplaint.model_validate(fields | overrides)


async def test_a_public_complaint_is_received_today_in_london_and_acknowledged_within_30_days(
        uow: FakeRightsUnitOfWork) -> None:
    async with uow:
        answer = await requests.receive_public_complaint(uow, public_complaint())
        await uow.commit()
    assert set(answer) == {"reference", "acknowledgement_due"}  # nothing else of what was sent
    assert answer["acknowledgement_due"] == complaint_acknowledgement_due(LONDON_TODAY) == date(2026, 7, 31)
    row = uow.requests.rows[answer["reference"]]
    assert (row["request_type"], row["channel"], row["received_on"], row["status"]) == (
        "complaint", "web", LONDON_TODAY, "received")
    assert row["borough"] is None and row["created_by"] == requests.PUBLIC_FORM  # the DPO's until given a borough
    assert row["subject"]["first_name"] == "Amira" and row["acting_as"] == "parent"
    line = uow.requests.audit_log[-1]
    assert line["action"] == "received" and "Hassan" not in str(line) and "example.org" not in str(line)


def test_a_public_complaint_needs_a_way_to_answer_and_takes_no_unknown_field() -> None:
    with pytest.raises(ValidationError):
        public_complaint(complainant={"first_name": "Maryam", "last_name": "Hassan"})
    with pytest.raises(ValidationError):
        public_complaint(priority="urgent")
    with pytest.raises(ValidationError):
        public_complaint(about="x" * 5_001)
    alone = public_complaint(child=None, complainant={"first_name": "Maryam", "last_name": "Hassan",
                                                      "address": {"line1": "12 Porchester Road"}})
    assert alone.child is None


async def test_progress_is_dated_and_recorded_on_an_open_complaint_only(uow: FakeRightsUnitOfWork) -> None:
    async with uow:
        request_id = (await requests.receive_public_complaint(uow, public_complaint()))["reference"]
        update = ComplaintProgress(on=LONDON_TODAY, text="we have asked the school for its records")
        answer = await decisions.complaint_progress(uow, request_id, update, dpo())
        await uow.commit()
    assert answer["progress"] == {"on": "2026-07-01", "text": "we have asked the school for its records"}
    kept = [d for d in uow.requests.decisions if d["kind"] == "complaint_progress"]
    assert kept[0]["decided_by"] == "dpo-1" and kept[0]["decision"]["text"].startswith("we have asked")
    assert "complaint_progress" in uow.requests.actions(request_id)
    with pytest.raises(Refusal) as future:
        await decisions.complaint_progress(uow, request_id, ComplaintProgress(
            on=LONDON_TODAY + timedelta(days=1), text="x"), dpo())
    assert future.value.status == 422
    with pytest.raises(Refusal) as elsewhere:  # the DPO's complaint: another borough's officer sees nothing
        await decisions.complaint_progress(uow, request_id, update, officer(borough=Borough.KENSINGTON_AND_CHELSEA))
    assert elsewhere.value.status == 404
    other = await received(uow)  # an access request has no complaint progress
    with pytest.raises(Refusal) as not_complaint:
        await decisions.complaint_progress(uow, other, update, dpo("dpo-2"))
    assert not_complaint.value.code == "not_under_investigation"


async def test_the_outcome_is_recorded_and_the_complainant_is_told_the_ico_route(uow: FakeRightsUnitOfWork) -> None:
    async with uow:
        request_id = (await requests.receive_public_complaint(uow, public_complaint()))["reference"]
        await decisions.acknowledge_complaint(uow, request_id, ComplaintAcknowledgement(on=LONDON_TODAY), dpo())
        await decisions.complaint_outcome(uow, request_id, ComplaintOutcome(
            outcome="upheld", findings="the records went to the wrong school", actions="retrained"), dpo())
        await uow.commit()
    row = uow.requests.rows[request_id]
    assert row["status"] == "ready_for_review" and row["acknowledged_on"] == LONDON_TODAY
    assert row["response"]["outcome"]["findings"] == "the records went to the wrong school"
    ico = row["response"]["if_not_satisfied"]["complaint_to_ico"]
    assert ico["website"] == "https://ico.org.uk/make-a-complaint/" and ico["helpline"] == "0303 123 1113"


def test_an_unacknowledged_complaint_near_its_30_days_needs_attention() -> None:
    from cme_rights.views import _complaint_needs
    row = {"request_type": "complaint", "status": "received", "due_date": LONDON_TODAY + timedelta(days=5)}
    assert _complaint_needs(row, LONDON_TODAY).startswith("attention")
    assert not _complaint_needs({**row, "due_date": LONDON_TODAY + timedelta(days=25)}, LONDON_TODAY).startswith(
        "attention")
    assert _complaint_needs({**row, "status": "investigating"}, LONDON_TODAY) is None


def test_the_public_form_is_throttled_per_client_network() -> None:
    """The complaint form has the kit's public-form limits (as intake's referral form): a /64 is one client,
    a proxy's X-Forwarded-For is read only from a trusted proxy, and a refusal says when to try again."""
    from ipaddress import ip_network

    from cme_rights.entrypoints.public import PUBLIC_REFUSALS
    from cme_shared.http.throttle import PublicFormLimits

    now = [0.0]
    limits = PublicFormLimits(per_minute=1, burst=2, max_clients=100, global_per_minute=100, counter=PUBLIC_REFUSALS,
                              noun="complaints", proxies=[ip_network("10.0.0.0/8")], clock=lambda: now[0])
    home = limits.client_of("2001:db8:1:2::10", [])
    assert limits.client_of("2001:db8:1:2::99", []) == home  # a new address in the same /64 is the same client
    assert [limits.check(home), limits.check(home)] == [None, None]
    refused = limits.check(home)
    assert refused is not None and refused.code == "rate_limited" and refused.retry_after >= 1
    assert "complaints" in refused.message
    assert limits.check(limits.client_of("192.0.2.7", [])) is None  # another client has its own bucket
    assert limits.client_of("10.1.2.3", ["192.0.2.99"]) == "192.0.2.99"  # behind the trusted proxy
    assert limits.client_of("198.51.100.1", ["192.0.2.99"]) == "198.51.100.1"  # a stranger's header is ignored
    now[0] = 60.0
    assert limits.check(home) is None
