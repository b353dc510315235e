"""The ACL table (cme_shared.contracts.access) against what each service actually does: the topics its
consumers subscribe to and the topics its app documents sending to. A consumer or a send the table
misses would be refused by the broker in production; a right the table gives beyond them is a right too
many."""

from importlib import import_module

import pytest
from cme_shared.contracts import topics
from cme_shared.contracts.access import SERVICE_ACCESS, SERVICES, grants
from cme_shared.settings import ServiceSettings
from cme_shared.testing.signing import TEST_KEYS

pytestmark = pytest.mark.unit

def _app(service: str):
    module = import_module(f"cme_{service}.app")
    settings_cls = next(v for k, v in vars(import_module(f"cme_{service}.settings")).items()
                        if isinstance(v, type) and issubclass(v, ServiceSettings) and v is not ServiceSettings)
    settings = settings_cls(env="test", kafka_username="u", kafka_password="p",
                            database_url=f"postgresql+asyncpg://x:x@127.0.0.1:1/{service}",
                            **TEST_KEYS.settings_for(service))
    return module, module.create_app(settings)


@pytest.mark.parametrize("service", SERVICES)
def test_the_table_gives_each_service_what_it_consumes_and_sends_and_no_more(service):
    module, app = _app(service)
    consumed = {consumer.topic for consumer in app.state.runtime.consumers}
    received = {c.topic for c in module.CHANNELS if c.action == "receive"}
    sent = {c.topic for c in module.CHANNELS if c.action == "send"}
    access = SERVICE_ACCESS[service]

    assert set(access.reads) == consumed
    assert received <= set(access.reads) | set(access.reads_back)
    assert sent <= set(access.all_writes())
    # Every write the table allows is a documented send or the dead-letter queue of a consumed topic.
    assert set(access.all_writes()) == sent | {topics.dlq(t) for t in consumed}


def test_the_services_that_may_write_a_signed_topic_are_exactly_its_signers():
    writers: dict[str, set[str]] = {}
    for service, access in SERVICE_ACCESS.items():
        for topic in access.writes:
            writers.setdefault(topic, set()).add(service)
    assert set(writers) | {topics.REFERRALS} == set(topics.ALL)  # partners write referrals
    assert {topic: writers[topic] for topic in topics.SIGNERS} == topics.SIGNERS


def test_bindings_are_per_namespace_and_a_partner_gets_two_topics_and_its_groups():
    bindings = grants("partner", "police-x", "t1a2b3c4.")
    assert {(g.resource, g.name, g.operation) for g in bindings} == {
        ("topic", "t1a2b3c4.cme.referrals.v1", "write"), ("topic", "t1a2b3c4.cme.referrals.v1", "describe"),
        ("topic", "t1a2b3c4.cme.referrals.outcomes.v1", "read"),
        ("topic", "t1a2b3c4.cme.referrals.outcomes.v1", "describe"),
        ("group", "t1a2b3c4.police-x.", "read"),
    }
    assert {g.pattern for g in bindings if g.resource == "group"} == {"prefixed"}
    assert all(g.name.startswith("t1a2b3c4.") for g in grants("service", "casework", "t1a2b3c4."))


def test_the_compose_init_script_is_generated_from_the_table_and_current():
    from cme_shared.contracts.topics import TopicNames, topic_configs
    from cme_shared.kafka_admin import compose_init_script
    from cme_shared.testing.infra import REPO_ROOT

    committed = (REPO_ROOT / "deploy" / "kafka" / "compose-init.sh").read_text()
    assert committed == compose_init_script(TopicNames("").all_with_dlqs(), topic_configs), \
        "regenerate: .venv/bin/python -m cme_shared.ops kafka-compose-init > deploy/kafka/compose-init.sh"
