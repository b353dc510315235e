"""Each service runs under its own Kafka principal with exactly the ACLs the platform's table gives it
(cme_shared.contracts.access), on the real broker: its consumers join their groups, its relay sends, and
a partner's referral comes back as an outcome only the partner principal reads. A right missing from the
table would show here as a service that cannot start or cannot send, before it shows in production."""

import asyncio
import json
import secrets
from importlib import import_module
from pathlib import Path

import pytest
from cme_shared.contracts import topics
from cme_shared.contracts.access import SERVICES
from cme_shared.kafka_admin import ensure_principal, remove_principal
from cme_shared.testing.fixtures import running, service_settings
from cme_shared.testing.infra import SAMPLE_REFERRALS
from cme_shared.testing.kafka import TopicReader, eventually, produce

pytestmark = pytest.mark.integration


def _service(service: str):
    package = import_module(f"cme_{service}")
    settings_module = import_module(f"cme_{service}.settings")
    settings_cls = getattr(settings_module, f"{service.capitalize()}Settings")
    return import_module(f"cme_{service}.app").create_app, settings_cls, Path(package.__file__).parent / "migrations"


@pytest.fixture
async def principal(infra, namespace):
    if not infra.kafka.sasl:
        pytest.skip("this broker takes no SASL logins (a testcontainers broker)")
    made: list[str] = []

    async def make(role: str, name: str):
        username, password = f"{namespace.namespace}{name}", secrets.token_urlsafe(24)
        await asyncio.to_thread(ensure_principal, infra.kafka, username, password, role, name, namespace.namespace)
        made.append(username)
        return username, password

    yield make
    for username in made:
        await asyncio.to_thread(remove_principal, infra.kafka, username)


@pytest.mark.parametrize("service", SERVICES)
async def test_a_service_starts_and_is_ready_with_only_its_own_acls(infra, databases, namespace, principal, service,
                                                                     tmp_path):
    create_app, settings_cls, migrations = _service(service)
    username, password = await principal("service", service)
    url = await databases.create(service, migrations)
    extra = {"log_signing_key_file": tmp_path / "log-key.pem"} if service == "disclosure" else {}
    settings = service_settings(settings_cls, infra, namespace, url, kafka_username=username,
                                kafka_password=password, **extra)
    async with running(create_app(settings)) as client:
        async def ready() -> bool:
            return (await client.get("/readyz")).status_code == 200

        await eventually(ready, timeout=60)


async def test_a_partner_referral_reaches_intake_and_its_outcome_the_partner_under_acls(infra, databases, namespace,
                                                                                        principal):
    create_app, settings_cls, migrations = _service("intake")
    username, password = await principal("service", "intake")
    partner = infra.kafka.as_user(*await principal("partner", "school-z"))
    settings = service_settings(settings_cls, infra, namespace, await databases.create("intake", migrations),
                                kafka_username=username, kafka_password=password)
    referral = json.loads((SAMPLE_REFERRALS / "accepted-nhs-new-arrival.json").read_text())
    async with running(create_app(settings)), TopicReader(partner, namespace(topics.REFERRAL_OUTCOMES)) as outcomes:
        await produce(partner, namespace(topics.REFERRALS), json.dumps(referral).encode(), key=b"school-z")
        found = await outcomes.wait_for(lambda records: bool(records), timeout=60)
    assert json.loads(found[0].value)["status"] == "accepted"
