"""Rights on the real broker and database, with the other services played by scripted responders.

`Responders` reads the requests topic as intake, casework and disclosure would and answers on the
replies topic exactly as the protocol says (lookups; chunks of at most MAX_ITEMS_PER_CHUNK, the last
with total_items); a service can be told to stay silent for its first N asks, or for ever.
"""

import asyncio
import functools
import json
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.ext.asyncio import create_async_engine

import cme_rights
from cme_rights.adapters.tables import kit
from cme_rights.app import create_app
from cme_rights.domain.requests import GATHERING
from cme_rights.entrypoints.kafka import Ask
from cme_shared.clock import LONDON
from cme_rights.settings import RightsSettings
from cme_shared.contracts import topics
from cme_shared.contracts.categories import DataCategory
from cme_shared.contracts.rights import (
    MAX_ITEMS_PER_CHUNK,
    DataCollectionReply,
    DataCollectionRequest,
    DataItem,
    RectificationApplied,
    SubjectLookup,
    SubjectLookupReply,
    SubjectMatch,
)
from cme_shared.contracts.topics import TopicNames
from cme_shared.kafka_security import KafkaConnection
from cme_shared.testing.fixtures import bearer, running, service_settings
from cme_shared.testing.infra import Infra
from cme_shared.testing.kafka import eventually
from cme_shared.testing.signing import signed_headers

MIGRATIONS = Path(cme_rights.__file__).parent / "migrations"
SERVICES = ("intake", "casework", "disclosure")


def today() -> date:
    return datetime.now(LONDON).date()


def item(service: str, subject: uuid.UUID, n: int = 0, *, category: DataCategory = DataCategory.EDUCATION,
         **extra: Any) -> DataItem:
    return DataItem(service=service, record_type=extra.pop("record_type", "note"),
                    record_id=extra.pop("record_id", f"{service}-{n}"), subject_id=subject, category=category,
                    source=extra.pop("source", "CME officer"), recorded_at=datetime(2026, 3, 1, 9, tzinfo=UTC),
                    data=extra.pop("data", {"n": n}), **extra)


@dataclass
class Responders:
    """The other services, scripted. Answers are produced the moment an ask is read."""

    kafka: KafkaConnection
    names: TopicNames
    subject_matches: list[SubjectMatch] = field(default_factory=list)
    requester_matches: list[SubjectMatch] = field(default_factory=list)
    requester_first_name: str = ""
    items: dict[str, list[DataItem]] = field(default_factory=lambda: {s: [] for s in SERVICES})
    silent_for: dict[str, float] = field(default_factory=dict)  # service -> number of asks to ignore
    failing_for: dict[str, int] = field(default_factory=dict)  # service -> number of asks answered with an error
    held: bool = False  # read asks but keep the data answers until released
    asks: list[SubjectLookup | DataCollectionRequest] = field(default_factory=list)
    _pending: list[tuple[DataCollectionRequest, str]] = field(default_factory=list)
    _seen: dict[str, int] = field(default_factory=dict)
    _ready: asyncio.Event = field(default_factory=asyncio.Event)

    def asked(self, service: str) -> list[DataCollectionRequest]:
        """The data collection requests that this service would act on."""
        return [a for a in self.asks
                if isinstance(a, DataCollectionRequest) and (not a.services or service in a.services)]

    async def run(self) -> None:
        consumer = AIOKafkaConsumer(self.names(topics.DATA_COLLECTION_REQUESTS), **self.kafka.aiokafka(),
                                    auto_offset_reset="earliest", enable_auto_commit=False, group_id=None)
        self._producer = AIOKafkaProducer(**self.kafka.aiokafka(), acks="all")
        await consumer.start()
        await self._producer.start()
        self._ready.set()
        try:
            async for record in consumer:
                ask = Ask.model_validate_json(record.value).root
                self.asks.append(ask)
                if isinstance(ask, SubjectLookup):
                    await self._lookup(ask)
                    continue
                for service in SERVICES:
                    if ask.services and service not in ask.services:
                        continue
                    self._seen[service] = self._seen.get(service, 0) + 1
                    if self._seen[service] <= self.silent_for.get(service, 0):
                        continue
                    if self.held:
                        self._pending.append((ask, service))
                    else:
                        await self._answer(ask, service)
        finally:
            await consumer.stop()
            await self._producer.stop()

    async def release(self) -> None:
        self.held = False
        for ask, service in self._pending:
            await self._answer(ask, service)
        self._pending.clear()

    async def _lookup(self, ask: SubjectLookup) -> None:
        is_requester = self.requester_first_name and ask.person.first_name == self.requester_first_name
        matches = self.requester_matches if is_requester else self.subject_matches
        await self.send(SubjectLookupReply(event_id=uuid.uuid4(), occurred_at=datetime.now(UTC),
                                           collection_id=ask.collection_id, service="intake", matches=matches))

    async def _answer(self, ask: DataCollectionRequest, service: str) -> None:
        if self._seen[service] <= self.silent_for.get(service, 0) + self.failing_for.get(service, 0):
            await self.send(DataCollectionReply(
                event_id=uuid.uuid4(), occurred_at=datetime.now(UTC), collection_id=ask.collection_id,
                service=service, chunk=0, last=True, total_items=None, error="store_unavailable"))
            return
        mine = [i for i in self.items.get(service, []) if i.subject_id in ask.subject_ids]
        parts = [mine[i:i + MAX_ITEMS_PER_CHUNK] for i in range(0, len(mine), MAX_ITEMS_PER_CHUNK)] or [[]]
        for number, part in enumerate(parts):
            last = number == len(parts) - 1
            await self.send(DataCollectionReply(
                event_id=uuid.uuid4(), occurred_at=datetime.now(UTC), collection_id=ask.collection_id,
                service=service, chunk=number, last=last, total_items=len(mine) if last else None, items=part))

    async def send(self, event: BaseModel) -> None:
        """On the answering service's own replies topic, signed with its key, as that service sends it."""
        await asyncio.wait_for(self._ready.wait(), 30)
        service = event.service  # type: ignore[attr-defined]
        value, key = event.model_dump_json().encode(), str(getattr(event, "collection_id", uuid.uuid4())).encode()
        headers = signed_headers(topics.replies_of(service), value, key,
                                 [("event_id", str(event.event_id).encode())])  # type: ignore[attr-defined]
        await self._producer.send_and_wait(self.names(topics.replies_of(service)), value, key=key, headers=headers)


@dataclass
class Rights:
    client: httpx.AsyncClient
    settings: RightsSettings
    database_url: str

    def as_(self, *roles: str, sub: str = "officer-1", **claims: Any) -> dict[str, str]:
        return bearer(self.settings, *roles, sub=sub, **claims)

    @property
    def officer(self) -> dict[str, str]:
        """The Westminster officer who records the requests."""
        return self.as_("officer", sub="officer-1", borough="westminster")

    @property
    def officer2(self) -> dict[str, str]:
        """A second Westminster officer: the one who decides (never the one who recorded the request)."""
        return self.as_("officer", sub="officer-2", borough="westminster")

    @property
    def kc_officer(self) -> dict[str, str]:
        return self.as_("officer", sub="officer-k", borough="kensington_and_chelsea")

    @property
    def dpo(self) -> dict[str, str]:
        return self.as_("dpo", sub="dpo-1")

    @property
    def dpo2(self) -> dict[str, str]:
        return self.as_("dpo", sub="dpo-2")

    async def create(self, headers: dict[str, str] | None = None, **overrides: Any) -> dict[str, Any]:
        """An officer records the request; when it says identity is verified, the DPO records the evidence
        (only the DPO may), so the work starts as it would in the office."""
        body = rights_request(**overrides)
        verified = body.pop("identity_verified")
        response = await self.client.post("/requests", json=body, headers=headers or self.officer)
        assert response.status_code == 201, response.text
        created = response.json()
        if verified and body["type"] in {t.value for t in GATHERING}:
            clock = await self.client.post(f"/requests/{created['request_id']}/clock", headers=self.dpo,
                                           json={"event": "identity_received", "on": today().isoformat()})
            assert clock.status_code == 200, clock.text
            created["status"] = clock.json()["status"]
        return created

    async def get(self, request_id: str, headers: dict[str, str] | None = None) -> dict[str, Any]:
        response = await self.client.get(f"/requests/{request_id}", headers=headers or self.officer)
        assert response.status_code == 200, response.text
        return response.json()

    async def reaches(self, request_id: str, status: str, timeout: float = 40,
                      headers: dict[str, str] | None = None) -> dict[str, Any]:
        async def check() -> dict[str, Any] | None:
            current = await self.get(request_id, headers)
            return current if current["status"] == status else None
        return await eventually(check, timeout=timeout)

    async def post(self, path: str, body: Any = None, headers: dict[str, str] | None = None) -> httpx.Response:
        return await self.client.post(path, json=body, headers=headers or self.officer)

    async def consuming(self, responders: "Responders") -> None:
        """Wait until rights reads every replies topic: a probe reply on each reaches its inbox (short
        timeouts need it)."""
        probes = [RectificationApplied(event_id=uuid.uuid4(), occurred_at=datetime.now(UTC),
                                       rights_request_id=uuid.uuid4(), service=service, subject_id=uuid.uuid4(),
                                       records_changed=0) for service in topics.REPLIES]
        for probe in probes:
            await responders.send(probe)
        engine = create_async_engine(self.database_url)
        try:
            async def seen() -> bool:
                async with engine.connect() as conn:
                    return len((await conn.execute(select(kit.inbox.c.message_id).where(
                        kit.inbox.c.message_id.in_([str(p.event_id) for p in probes])))).all()) == len(probes)
            await eventually(seen, timeout=60)
        finally:
            await engine.dispose()


def rights_request(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": "access", "received_on": today().isoformat(), "channel": "email",
        "requester": {"first_name": "Maryam", "last_name": "Hassan", "email": "maryam.hassan@example.org",
                      "phone": "07700 900456", "acting_as": "parent",
                      "address": {"line1": "12 Porchester Road", "postcode": "W2 5DP"}},
        "subject": {"first_name": "Amira", "last_name": "Hassan", "date_of_birth": "2016-04-02",
                    "address": {"line1": "12 Porchester Road", "postcode": "W2 5DP"}},
        "identity_verified": True, "details": "all records about my daughter",
    }
    body.update(overrides)
    return body


@asynccontextmanager
async def rights_app(infra: Infra, names: TopicNames, url: str, **overrides: Any) -> AsyncIterator[Rights]:
    settings = service_settings(RightsSettings, infra, names, url, **{
        "collection_timeout_seconds": 30.0, "collection_max_attempts": 3, "collection_poll_seconds": 0.2,
        **overrides})
    async with running(create_app(settings)) as client:
        yield Rights(client, settings, url)


@asynccontextmanager
async def responders_running(responders: Responders) -> AsyncIterator[Responders]:
    task = asyncio.create_task(responders.run())
    try:
        yield responders
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


@pytest_asyncio.fixture
async def rights_db(databases) -> str:
    return await databases.create("rights", MIGRATIONS)


@pytest.fixture
def start_rights(infra, namespace, rights_db) -> Callable[..., Any]:
    """`async with start_rights(**settings) as rights:` runs the app on this test's database and topics."""
    return functools.partial(rights_app, infra, namespace, rights_db)


@pytest.fixture
def make_item() -> Callable[..., DataItem]:
    return item


@pytest.fixture
def request_body() -> Callable[..., dict[str, Any]]:
    """A RightsRequest body as an officer sends it (identity_verified included, as a caller may send it)."""
    return rights_request


@pytest_asyncio.fixture
async def responders(infra, namespace) -> AsyncIterator[Responders]:
    async with responders_running(Responders(infra.kafka, namespace)) as running_responders:
        yield running_responders


def decoded(records: list[Any]) -> list[dict[str, Any]]:
    return [json.loads(r.value) for r in records]
