"""Who may do what on Kafka: the one table the broker's ACLs are made from (CONTRACT section 7).

Each service reads the topics it consumes and writes the topics it produces, plus the dead-letter queue
of every topic it consumes (its consumers dead-letter there); it uses only consumer groups named
`<namespace><service>.` (ServiceSettings.group_id). A partner writes referrals and reads outcomes; an
operator may do everything. The table follows what the services declare (`runtime.consume(...)` and the
topics their outbox writes, listed in each app's CHANNELS; tests/test_kafka_access_unit.py compares): a new
topic is one line here.

Bindings are computed per topic namespace (`""` in a real deployment, `t1a2b3c4.` in a test), as LITERAL
patterns on the namespaced topic names and a PREFIXED pattern on the namespaced group prefix.
"""

from dataclasses import dataclass
from typing import Literal

from . import topics

SERVICES = ("intake", "casework", "disclosure", "rights")
Role = Literal["service", "partner", "operator"]


@dataclass(frozen=True)
class Access:
    """What one principal may read and write (contract topic names, before any namespace)."""

    reads: tuple[str, ...]  # topics its consumers subscribe to
    writes: tuple[str, ...]
    group_prefix: str | None = None  # consumer groups it may use, without the namespace
    reads_back: tuple[str, ...] = ()  # topics it reads without a consumer (no dead letters for them)

    def all_writes(self) -> tuple[str, ...]:
        """Its own writes, then the dead-letter queue of each topic it reads (in that order, once)."""
        dlqs = tuple(topics.dlq(t) for t in self.reads if topics.dlq(t) not in self.writes)
        return self.writes + dlqs


SERVICE_ACCESS: dict[str, Access] = {
    "intake": Access(
        reads=(topics.REFERRALS, topics.DATA_COLLECTION_REQUESTS, topics.RIGHTS_EVENTS, topics.RETENTION_DISPOSALS,
               topics.LEGAL_HOLDS),
        writes=(topics.REFERRAL_OUTCOMES, topics.REFERRAL_ACCEPTED, topics.replies_of("intake"),
                topics.RETENTION_DISPOSALS, topics.LEGAL_HOLDS),
    ),
    "casework": Access(
        reads=(topics.REFERRAL_ACCEPTED, topics.RIGHTS_EVENTS, topics.DATA_COLLECTION_REQUESTS, topics.LEGAL_HOLDS),
        writes=(topics.CASE_EVENTS, topics.SHARE_EVENTS, topics.replies_of("casework"), topics.RETENTION_DISPOSALS,
                topics.LEGAL_HOLDS),
    ),
    "disclosure": Access(
        reads=(topics.SHARE_EVENTS, topics.RIGHTS_EVENTS, topics.DATA_COLLECTION_REQUESTS, topics.RETENTION_DISPOSALS,
               topics.LEGAL_HOLDS),
        writes=(topics.TREE_HEADS, topics.replies_of("disclosure"), topics.RETENTION_DISPOSALS, topics.LEGAL_HOLDS),
        reads_back=(topics.TREE_HEADS,),  # `verify-log` compares the heads it published with the database
    ),
    "rights": Access(
        reads=(*topics.REPLIES.values(), topics.LEGAL_HOLDS),
        writes=(topics.RIGHTS_EVENTS, topics.DATA_COLLECTION_REQUESTS, topics.SHARE_EVENTS,
                topics.RETENTION_DISPOSALS, topics.LEGAL_HOLDS),
    ),
}

# Partners (CONTRACT section 7): write referrals, read outcomes, nothing else (not even the DLQ, which
# holds other partners' rejected referrals in full: SEC-22).
PARTNER_ACCESS = Access(reads=(topics.REFERRAL_OUTCOMES,), writes=(topics.REFERRALS,))


def service_principal(service: str) -> str:
    """The Kafka username of a service (the local runtime's; production may name its own)."""
    if service not in SERVICE_ACCESS:
        raise ValueError(f"unknown service {service!r}")
    return f"cme-{service}"


def access_of(role: Role, name: str) -> Access | None:
    """A principal's table entry; None for an operator, who is allowed everything."""
    if role == "service":
        access = SERVICE_ACCESS[name]
        return Access(access.reads, access.writes, group_prefix=f"{name}.", reads_back=access.reads_back)
    if role == "partner":
        return Access(PARTNER_ACCESS.reads, PARTNER_ACCESS.writes, group_prefix=f"{name}.")
    return None


@dataclass(frozen=True, order=True)
class Grant:
    """One ACL binding, library-neutral: ALLOW `operation` on a resource, for any host."""

    resource: Literal["topic", "group", "cluster", "transactional_id"]
    name: str
    pattern: Literal["literal", "prefixed"]
    operation: Literal["read", "write", "describe", "all"]


def grants(role: Role, name: str, namespace: str = "") -> list[Grant]:
    """The ACL bindings for one principal under a topic namespace.

    READ and WRITE each imply DESCRIBE on Kafka; DESCRIBE is granted as well so that metadata requests
    (aiokafka's list of topics, a producer's first send) never depend on that implication. An idempotent
    producer needs WRITE on a topic only (no IDEMPOTENT_WRITE since Kafka 3.0).
    """
    access = access_of(role, name)
    if access is None:  # operator: LITERAL "*" is Kafka's wildcard
        return [Grant("topic", "*", "literal", "all"), Grant("group", "*", "literal", "all"),
                Grant("transactional_id", "*", "literal", "all"), Grant("cluster", "kafka-cluster", "literal", "all")]
    out: list[Grant] = []
    for topic in access.reads + access.reads_back:
        out += [Grant("topic", namespace + topic, "literal", "read"),
                Grant("topic", namespace + topic, "literal", "describe")]
    for topic in (access.all_writes() if role == "service" else access.writes):
        out += [Grant("topic", namespace + topic, "literal", "write"),
                Grant("topic", namespace + topic, "literal", "describe")]
    if access.group_prefix:
        out.append(Grant("group", namespace + access.group_prefix, "prefixed", "read"))
    return sorted(set(out))
