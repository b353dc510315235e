"""Intake's test fixtures: a migrated database of its own, a topic namespace, the app running in-process."""

import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

import cme_intake
from cme_intake.app import create_app
from cme_intake.settings import IntakeSettings
from cme_shared.contracts.topics import TopicNames
from cme_shared.db import create_engine
from cme_shared.testing.fixtures import bearer, running, service_settings
from cme_shared.testing.infra import SAMPLE_REFERRALS, Infra
from cme_shared.contracts import topics
from cme_shared.testing.kafka import TopicReader, produce

MIGRATIONS = Path(cme_intake.__file__).parent / "migrations"

@dataclass
class Intake:
    client: httpx.AsyncClient
    settings: IntakeSettings
    names: TopicNames
    infra: Infra
    engine: AsyncEngine

    def partner(self, org_id: str | None) -> dict[str, str]:
        return bearer(self.settings, "partner", sub=f"partner-{org_id}", org_id=org_id)

    def officer(self, borough: str | None = "westminster", sub: str = "officer-1") -> dict[str, str]:
        return bearer(self.settings, "officer", sub=sub, borough=borough)

    def dpo(self, sub: str = "dpo-1") -> dict[str, str]:
        return bearer(self.settings, "dpo", sub=sub)

    def manager(self, sub: str = "manager-1") -> dict[str, str]:
        return bearer(self.settings, "manager", sub=sub)

    async def produce(self, document: dict[str, Any] | bytes, key: bytes | None = None) -> None:
        value = document if isinstance(document, bytes) else json.dumps(document).encode()
        await produce(self.infra.kafka, self.names(topics.REFERRALS), value, key=key)

    def reader(self, topic: str) -> TopicReader:
        return TopicReader(self.infra.kafka, self.names(topic))

    async def rows(self, sql: str, **params: Any) -> list[Any]:
        async with self.engine.connect() as conn:
            return list((await conn.execute(text(sql), params)).all())

    async def scalar(self, sql: str, **params: Any) -> Any:
        async with self.engine.connect() as conn:
            return (await conn.execute(text(sql), params)).scalar()


@pytest_asyncio.fixture
async def intake_url(databases) -> str:
    return await databases.create("intake", MIGRATIONS)


@pytest.fixture
def make_settings(infra, namespace, intake_url) -> Callable[..., IntakeSettings]:
    def make(**overrides: Any) -> IntakeSettings:
        return service_settings(IntakeSettings, infra, namespace, intake_url, **overrides)

    return make


@pytest_asyncio.fixture
async def engine(intake_url) -> AsyncIterator[AsyncEngine]:
    eng = create_engine(intake_url, pool_size=2)
    yield eng
    await eng.dispose()


@asynccontextmanager
async def started(settings: IntakeSettings, infra: Infra, names: TopicNames, engine: AsyncEngine) -> AsyncIterator[Intake]:
    async with running(create_app(settings)) as client:
        yield Intake(client, settings, names, infra, engine)


@pytest_asyncio.fixture
async def intake(make_settings, infra, namespace, engine) -> AsyncIterator[Intake]:
    async with started(make_settings(), infra, namespace, engine) as running_intake:
        yield running_intake


@pytest.fixture
def sample() -> Callable[[str], dict[str, Any]]:
    """A sample referral from samples/referrals/, parsed (a fresh copy each call, to mutate freely)."""
    return lambda name: json.loads((SAMPLE_REFERRALS / name).read_bytes())


@pytest.fixture
def start_intake(make_settings, infra, namespace, engine) -> Callable[..., Any]:
    """`async with start_intake(**settings_overrides) as intake:` for a test that configures intake."""
    return lambda **overrides: started(make_settings(**overrides), infra, namespace, engine)
