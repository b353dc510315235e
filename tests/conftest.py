"""A platform stack for end-to-end tests: chosen services as real processes, each with its own fresh
database, all in one topic namespace on the real broker."""

from collections.abc import AsyncIterator, Awaitable, Callable
from importlib import import_module
from pathlib import Path

import pytest

from cme_shared.auth import issue_development_token
from cme_shared.testing.processes import ServiceProcess
from cme_shared.testing.signing import TEST_KEYS

SECRET = "e2e-secret-" + "x" * 40

StackFactory = Callable[..., Awaitable[dict[str, ServiceProcess]]]


def migrations_of(service: str) -> Path:
    return Path(import_module(f"cme_{service}").__file__).parent / "migrations"


@pytest.fixture
async def stack(infra, databases, namespace, tmp_path) -> AsyncIterator[StackFactory]:
    started: list[ServiceProcess] = []

    signing = TEST_KEYS.write(tmp_path / "signing")  # every service's event-signing key pair, as set-up makes them

    async def start(*services: str) -> dict[str, ServiceProcess]:
        processes = {}
        for service in services:
            url = await databases.create(service, migrations_of(service))
            processes[service] = ServiceProcess(service, {
                "CME_DATABASE_URL": url, **infra.kafka_env(),
                "CME_TOPIC_NAMESPACE": namespace.namespace, "CME_JWT_SECRET": SECRET,
                "CME_OUTBOX_POLL_SECONDS": "0.05", "CME_LOG_SIGNING_KEY_FILE": str(tmp_path / "log-key.pem"),
                "CME_SIGNING_KEY_FILE": str(signing / f"{service}.pem"), "CME_TRUSTED_SIGNERS_DIR": str(signing),
            }, tmp_path)
            processes[service].database_url = url  # type: ignore[attr-defined]
        for process in processes.values():
            started.append(process.start())
        return processes

    try:
        yield start
    finally:
        for process in started:
            process.stop()


def bearer(sub: str, *roles: str, **claims: str) -> dict[str, str]:
    return {"Authorization": "Bearer " + issue_development_token(SECRET, sub=sub, roles=roles, **claims)}


@pytest.fixture
def token() -> Callable[..., dict[str, str]]:
    """`token("officer-1", "officer", borough="westminster")`: headers the stack's services accept."""
    return bearer
