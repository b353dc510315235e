"""The broker's trust boundary on the real broker (CONTRACT section 7, SEC-02, SEC-03 g, SEC-22).

Each test makes its principals in its own topic namespace with the ACLs the platform's table gives
(cme_shared.contracts.access, through the code `make kafka-user` and set-up use) and removes them at the
end; the suite's own tooling logs in as the operator.
"""

import asyncio
import json
import os
import secrets
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import (
    GroupAuthorizationFailedError,
    KafkaConnectionError,
    TopicAuthorizationFailedError,
)
from cme_shared.contracts import topics
from cme_shared.contracts.access import SERVICE_ACCESS, SERVICES
from cme_shared.contracts.topics import TopicNames
from cme_shared.kafka_admin import (
    acls_of,
    admin_client,
    ensure_principal,
    remove_principal,
)
from cme_shared.kafka_security import KafkaConnection
from cme_shared.testing.infra import REPO_ROOT, Infra
from cme_shared.testing.kafka import produce

pytestmark = pytest.mark.integration


@pytest.fixture
def secured(infra: Infra) -> KafkaConnection:
    if not infra.kafka.sasl:
        pytest.skip("this broker takes no SASL logins (a testcontainers broker): nothing to refuse")
    return infra.kafka


class Principals:
    """Principals made for one test under its namespace, removed afterwards."""

    def __init__(self, operator: KafkaConnection, names: TopicNames) -> None:
        self._operator = operator
        self._names = names
        self.made: list[str] = []

    async def make(self, role: str, name: str) -> KafkaConnection:
        username = f"{self._names.namespace}{name}"
        password = secrets.token_urlsafe(24)
        await asyncio.to_thread(ensure_principal, self._operator, username, password, role, name,
                                self._names.namespace)
        self.made.append(username)
        return self._operator.as_user(username, password)


@pytest.fixture
async def principals(secured: KafkaConnection, namespace: TopicNames) -> AsyncIterator[Principals]:
    made = Principals(secured, namespace)
    yield made
    for username in made.made:
        await asyncio.to_thread(remove_principal, secured, username)


async def write(kafka: KafkaConnection, topic: str) -> None:
    producer = AIOKafkaProducer(**kafka.aiokafka(), acks="all", enable_idempotence=True, request_timeout_ms=10_000)
    try:
        await producer.start()
        await producer.send_and_wait(topic, b'{"synthetic": true}', key=b"k")
    finally:
        await producer.stop()


async def read_one(kafka: KafkaConnection, topic: str, group: str | None) -> bytes:
    consumer = AIOKafkaConsumer(topic, **kafka.aiokafka(), group_id=group, auto_offset_reset="earliest",
                                enable_auto_commit=False)
    try:
        await consumer.start()
        record = await asyncio.wait_for(consumer.getone(), 20)
        if group is not None:
            await consumer.commit()
        return record.value
    finally:
        await consumer.stop()


async def visible_topics(kafka: KafkaConnection, names: TopicNames) -> set[str]:
    admin = AIOKafkaAdminClient(**kafka.aiokafka())
    try:
        await admin.start()
        return {t for t in await admin.list_topics() if t.startswith(names.namespace)}
    finally:
        await admin.close()


async def test_a_client_without_credentials_or_with_a_wrong_password_is_refused(secured, namespace):
    anonymous = KafkaConnection(secured.bootstrap, security_protocol="PLAINTEXT")
    with pytest.raises(KafkaConnectionError):
        await asyncio.wait_for(write(anonymous, namespace(topics.REFERRALS)), 30)
    wrong = secured.as_user(secured.username or "operator", "not-the-password")
    with pytest.raises(KafkaConnectionError):
        await asyncio.wait_for(write(wrong, namespace(topics.REFERRALS)), 30)
    unknown = secured.as_user(f"{namespace.namespace}nobody", "whatever")
    with pytest.raises(KafkaConnectionError):
        await asyncio.wait_for(read_one(unknown, namespace(topics.REFERRAL_OUTCOMES), None), 30)


async def test_a_partner_writes_referrals_and_reads_outcomes_and_nothing_else(principals, secured, namespace):
    partner = await principals.make("partner", "police-x")

    await write(partner, namespace(topics.REFERRALS))
    await produce(secured, namespace(topics.REFERRAL_OUTCOMES), b'{"outcome": "accepted"}')
    assert await read_one(partner, namespace(topics.REFERRAL_OUTCOMES), namespace.namespace + "police-x.outcomes")

    # It sees only its two topics; it cannot read what it writes, others' rejected referrals, or anything
    # internal, nor write an internal topic such as the rights events (a forged restriction lift).
    assert await visible_topics(partner, namespace) == {namespace(topics.REFERRALS),
                                                        namespace(topics.REFERRAL_OUTCOMES)}
    for topic in (topics.REFERRALS, topics.dlq(topics.REFERRALS), topics.REFERRAL_ACCEPTED, topics.RIGHTS_EVENTS):
        with pytest.raises(TopicAuthorizationFailedError):
            await read_one(partner, namespace(topic), namespace.namespace + "police-x.snoop")
    for topic in (topics.RIGHTS_EVENTS, topics.REFERRAL_OUTCOMES, topics.SHARE_EVENTS, topics.dlq(topics.REFERRALS)):
        with pytest.raises(TopicAuthorizationFailedError):
            await write(partner, namespace(topic))
    # Nor may it use another principal's consumer group (e.g. to commit intake past the referrals).
    with pytest.raises(GroupAuthorizationFailedError):
        await read_one(partner, namespace(topics.REFERRAL_OUTCOMES), namespace.namespace + "intake.referrals")


@pytest.mark.parametrize("service", SERVICES)
async def test_a_service_writes_only_its_own_topics_and_joins_only_its_own_groups(principals, secured, namespace,
                                                                                    service):
    access = SERVICE_ACCESS[service]
    me = await principals.make("service", service)
    own = set(access.all_writes())

    for topic in sorted(own):
        await write(me, namespace(topic))
    others = [t for t in topics.ALL if t not in own] + [topics.dlq(t) for t in topics.ALL if topics.dlq(t) not in own]
    for topic in others:
        with pytest.raises(TopicAuthorizationFailedError):
            await write(me, namespace(topic))

    consumed = access.reads[0]
    await produce(secured, namespace(consumed), b'{"synthetic": true}')
    assert await read_one(me, namespace(consumed), f"{namespace.namespace}{service}.probe")
    other = next(s for s in SERVICES if s != service)
    with pytest.raises(GroupAuthorizationFailedError):
        await read_one(me, namespace(consumed), f"{namespace.namespace}{other}.probe")
    # A topic it neither reads nor writes stays hidden, even its name.
    hidden = [t for t in topics.ALL if t not in access.reads and t not in access.writes]
    assert not (await visible_topics(me, namespace)) & {namespace(t) for t in hidden}


async def test_removed_principals_lose_their_login_and_their_acls(secured, namespace):
    principals = Principals(secured, namespace)
    partner = await principals.make("partner", "school-y")
    await write(partner, namespace(topics.REFERRALS))
    await asyncio.to_thread(remove_principal, secured, partner.username)

    assert not acls_of(admin_client(secured), partner.username)
    with pytest.raises(KafkaConnectionError):
        await asyncio.wait_for(write(partner, namespace(topics.REFERRALS)), 30)


def test_make_kafka_user_is_idempotent_and_prints_the_login_as_json_on_its_last_line(secured, tmp_path):
    name = f"t{uuid.uuid4().hex[:8]}-partner"
    env = {**os.environ, "CME_KAFKA_BOOTSTRAP": secured.bootstrap, "CME_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
           "CME_KAFKA_USERNAME": secured.username or "", "CME_KAFKA_PASSWORD": secured.password.get_secret_value()}

    def run() -> dict[str, str]:
        done = subprocess.run([sys.executable, "-m", "cme_shared.ops", "kafka-user", "--name", name, "--role",
                               "partner", "--org-id", "org-police-x", "--secrets-dir", str(tmp_path),
                               "--bindings-file", str(tmp_path / "partners" / "bindings.json")],
                              env=env, cwd=REPO_ROOT, capture_output=True, text=True, timeout=120, check=True)
        return json.loads(done.stdout.strip().splitlines()[-1])

    try:
        first, second = run(), run()
        assert first == second
        assert first["username"] == name and len(first["password"]) >= 32
        assert (first["mechanism"], first["security_protocol"]) == ("SCRAM-SHA-512", "SASL_PLAINTEXT")
        assert oct((tmp_path / f"{name}.password").stat().st_mode & 0o777) == "0o600"
        # Bound to an org: the key it signs its referrals with, and intake's bindings file naming it.
        assert (first["org_id"], first["partner_header"], len(bytes.fromhex(first["mac_key"]))) == (
            "org-police-x", name, 32)
        bindings = tmp_path / "partners" / "bindings.json"
        assert json.loads(bindings.read_text()) == {"partners": {name: {"org_id": "org-police-x",
                                                                         "key": first["mac_key"],
                                                                         "require_mac": False}}}
        assert oct(bindings.stat().st_mode & 0o777) == "0o600"
        names = {(b.name, b.operation.name) for b in acls_of(admin_client(secured), name)}
        assert (topics.REFERRALS, "WRITE") in names and (topics.REFERRAL_OUTCOMES, "READ") in names
        assert {n for n, _ in names} == {topics.REFERRALS, topics.REFERRAL_OUTCOMES, f"{name}."}
    finally:
        remove_principal(secured, name)
