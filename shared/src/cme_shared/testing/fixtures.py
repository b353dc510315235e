"""pytest plugin: `infra`, throw-away databases per service, a topic namespace per test, running apps.

Every test that touches Kafka gets its own topic namespace and every database is created for the test
and dropped afterwards, so tests never see each other's data, nor a running `make up` stack's.
"""

import asyncio
import hashlib
import os
import secrets
import warnings
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import httpx
import pytest
import pytest_asyncio
from fastapi import FastAPI
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings

from ..contracts.topics import TopicNames
from ..migrations import upgrade
from ..ops import delete_namespace, ensure_topics
from ..settings import ServiceSettings
from .infra import Infra, provide_infra
from .signing import TEST_KEYS


@pytest.fixture(scope="session")
def infra() -> Iterator[Infra]:
    with provide_infra() as provided:
        yield provided


def migrations_fingerprint(migrations_dir: Path) -> str:
    """A digest of every file of a migrations folder and of the kit's migration helpers they call
    (cme_shared.migrations): a template migrated from other files is not reused."""
    from .. import migrations as kit_migrations

    digest = hashlib.sha256()
    for path in sorted(migrations_dir.rglob("*.py")):
        digest.update(str(path.relative_to(migrations_dir)).encode() + b"\0" + path.read_bytes() + b"\0")
    digest.update(b"kit\0" + Path(kit_migrations.__file__).read_bytes())
    return digest.hexdigest()[:12]


_template_locks: dict[str, asyncio.Lock] = {}


class Databases:
    """Creates databases owned by a service's owner role and migrated to head as it, as `make up` does;
    drops them at the end.

    Migrating is most of what a database costs a test, so each service's migrations run once, into a
    template database named after their digest (`tpl_<service>_<digest>`, kept between runs: a changed
    migration makes a new one), and each test's database is a copy of it (`CREATE DATABASE ... TEMPLATE`):
    the same tables, grants and triggers, as its own database.
    """

    def __init__(self, infra: Infra) -> None:
        self._infra = infra
        self._created: list[str] = []

    async def create(self, service: str, migrations_dir: Path) -> str:
        """A database as `service`'s migrations leave it; the URL of its runtime login role, which holds
        only what the migrations granted it."""
        template = await self._template(service, migrations_dir)
        name = f"t_{service}_{secrets.token_hex(4)}"
        conn = await asyncpg.connect(self._infra.pg_admin_dsn)
        try:
            await conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}" OWNER "cme_{service}_owner"')
            self._created.append(name)
            # Privileges on the database itself live outside it, so the copy does not have them.
            await conn.execute(f'REVOKE ALL ON DATABASE "{name}" FROM PUBLIC')
            await conn.execute(f'GRANT CONNECT ON DATABASE "{name}" TO "cme_{service}"')
            if await conn.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", f"cme_{service}_disposal"):
                await conn.execute(f'GRANT CONNECT ON DATABASE "{name}" TO "cme_{service}_disposal"')
        finally:
            await conn.close()
        return self._infra.service_url(service, name)

    async def _template(self, service: str, migrations_dir: Path) -> str:
        template = f"tpl_{service}_{migrations_fingerprint(migrations_dir)}"
        async with _template_locks.setdefault(template, asyncio.Lock()):
            conn = await asyncpg.connect(self._infra.pg_admin_dsn)
            try:
                if await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", template):
                    return template
            finally:
                await conn.close()
            owner_url = await self.create_empty(service)
            building = urlsplit(owner_url).path.lstrip("/")
            # alembic runs its own event loop
            await asyncio.to_thread(upgrade, migrations_dir, owner_url, "head", f"cme_{service}")
            owner = await asyncpg.connect(owner_url.replace("postgresql+asyncpg://", "postgresql://"))
            try:  # its owner marks it a template (the test role may then copy it) and names it when complete
                await owner.execute(f'ALTER DATABASE "{building}" IS_TEMPLATE true')
            finally:
                await owner.close()
            conn = await asyncpg.connect(self._infra.pg_admin_dsn)
            try:
                await conn.execute(f'ALTER DATABASE "{building}" RENAME TO "{template}"')
            finally:
                await conn.close()
            self._created.remove(building)  # kept for the next test and the next run
            return template

    async def create_empty(self, service: str) -> str:
        """An empty database owned by `service`'s owner role, and that role's URL: for tests that create
        their own tables (the kit's) or drive the migrations themselves. Its runtime role may not connect
        until a migration grants it."""
        name = f"t_{service}_{secrets.token_hex(4)}"
        conn = await asyncpg.connect(self._infra.pg_admin_dsn)
        try:
            await conn.execute(f'CREATE DATABASE "{name}" OWNER "cme_{service}_owner"')
            await conn.execute(f'REVOKE ALL ON DATABASE "{name}" FROM PUBLIC')
        finally:
            await conn.close()
        self._created.append(name)
        return self._infra.owner_url(service, name)

    async def drop_all(self) -> None:
        """Best effort: a database that cannot be dropped now (a backend the test role may not end)
        is left behind with a warning rather than failing the test that used it."""
        conn = await asyncpg.connect(self._infra.pg_admin_dsn)
        try:
            for name in self._created:
                for attempt in range(5):
                    try:
                        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                        break
                    except (asyncpg.InsufficientPrivilegeError, asyncpg.ObjectInUseError):
                        await asyncio.sleep(0.5 * (attempt + 1))
                else:
                    warnings.warn(f"throw-away database {name} could not be dropped; drop it by hand", stacklevel=1)
        finally:
            await conn.close()


@pytest_asyncio.fixture
async def databases(infra: Infra) -> AsyncIterator[Databases]:
    dbs = Databases(infra)
    yield dbs
    await dbs.drop_all()


@pytest_asyncio.fixture
async def namespace(infra: Infra) -> AsyncIterator[TopicNames]:
    """A fresh topic namespace with every platform topic (and DLQ) created in it; deleted afterwards."""
    names = TopicNames(f"t{secrets.token_hex(4)}.")
    await ensure_topics(infra.kafka, names.all_with_dlqs())
    yield names
    await delete_namespace(infra.kafka, names.namespace)


def service_settings(settings_cls: type[ServiceSettings], infra: Infra, names: TopicNames, database_url: str,
                     **overrides: Any) -> Any:
    # The service's event-signing key and every service's public key (testing/signing.py), unless overridden.
    # Kafka: the suite's (operator) login unless a test names the principal (kafka_username, kafka_password).
    overrides = {**infra.kafka_settings(), **TEST_KEYS.settings_for(settings_cls.model_fields["service_name"].default),
                 **overrides}
    return settings_cls(
        env="test", topic_namespace=names.namespace,
        database_url=database_url, outbox_poll_seconds=0.05, handler_backoff_seconds=0.05, **overrides,
    )


@asynccontextmanager
async def running(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """Run an app's lifespan (broker, relay) and give an HTTP client bound to it in-process."""
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client


def bearer(settings: ServiceSettings, *roles: str, **claims: Any) -> dict[str, str]:
    """Headers with a development token the service of `settings` accepts: its secret, and its issuer and
    audience when it has them (claims: `sub`, `borough`, `org_id`, `ttl_seconds`, or `issuer`/`audience` to
    override)."""
    from ..auth import issue_development_token

    claims.setdefault("issuer", settings.jwt_issuer)
    claims.setdefault("audience", settings.jwt_audience)
    token = issue_development_token(
        settings.jwt_secret.get_secret_value(), sub=claims.pop("sub", "test-user"), roles=roles, **claims
    )
    return {"Authorization": f"Bearer {token}"}


TokenFactory = Callable[..., dict[str, str]]


LAYERS = ("unit", "integration", "e2e")

# CI runs the same examples every time (a red build is reproducible) and never fails on a slow machine's
# timing; a developer's run explores new examples.
hypothesis_settings.register_profile(
    "ci", derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow], print_blob=True
)
hypothesis_settings.register_profile("dev", deadline=None, suppress_health_check=[HealthCheck.too_slow])
hypothesis_settings.load_profile("ci" if os.environ.get("CI") else "dev")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Every test belongs to exactly one layer of the pyramid, so `-m unit` and friends mean something."""
    unmarked = [item.nodeid for item in items if sum(1 for layer in LAYERS if item.get_closest_marker(layer)) != 1]
    if unmarked:
        raise pytest.UsageError("tests must carry exactly one of the markers unit/integration/e2e:\n  "
                                + "\n  ".join(unmarked[:20]))
