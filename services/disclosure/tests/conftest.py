"""Disclosure test fixtures: a migrated throw-away database, the app running in-process, tokens."""

from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg
import pytest
import pytest_asyncio

import cme_disclosure
from cme_disclosure.app import create_app
from cme_disclosure.settings import DisclosureSettings
from cme_shared.testing.fixtures import bearer, running, service_settings

MIGRATIONS_DIR = Path(cme_disclosure.__file__).parent / "migrations"


@pytest_asyncio.fixture
async def db_url(databases) -> str:
    return await databases.create("disclosure", MIGRATIONS_DIR)


@pytest.fixture
def settings(infra, namespace, db_url, tmp_path) -> DisclosureSettings:
    # The signing key file is made on first start, per test, outside the checkout.
    # Tests that wait for a restriction poll by asking again and again: the per-person request rate
    # (SEC-29) is tested on its own, with a small limit (test_authorisation_integration.py).
    return service_settings(DisclosureSettings, infra, namespace, db_url,
                            log_signing_key_file=tmp_path / "secrets" / "disclosure-log-ed25519.pem",
                            disclosure_requests_per_hour=100_000)


@pytest_asyncio.fixture
async def client(settings) -> AsyncIterator:
    async with running(create_app(settings)) as http:
        yield http


@pytest.fixture
def token(settings):
    def make(role: str, *more_roles: str, sub: str | None = None, **claims) -> dict[str, str]:
        return bearer(settings, role, *more_roles, sub=sub or f"{role}-1", **claims)

    return make


def superuser_dsn(infra, db_url: str) -> str:
    """The development superuser (password `postgres`) on the test's own database."""
    admin = urlsplit(infra.pg_admin_dsn)
    database = urlsplit(db_url).path.lstrip("/")
    return f"postgresql://postgres:postgres@{admin.hostname}:{admin.port or 5432}/{database}"


@pytest_asyncio.fixture
async def superuser(infra, db_url) -> AsyncIterator[asyncpg.Connection]:
    try:
        conn = await asyncpg.connect(superuser_dsn(infra, db_url), timeout=5)
    except Exception as exc:  # no development superuser here (e.g. a managed server)
        pytest.skip(f"needs the development superuser postgres/postgres to disable triggers: {type(exc).__name__}")
    try:
        yield conn
    finally:
        await conn.close()


def plain_dsn(db_url: str) -> str:
    return db_url.replace("postgresql+asyncpg://", "postgresql://")
