"""Every Kafka topic of the platform, in one place.

The first three are the external contract (CONTRACT section 3) and never change name; the rest are
internal and versioned by their suffix. Tests prefix every name with a namespace so that several
stacks can share one broker.
"""

from dataclasses import dataclass

REFERRALS = "cme.referrals.v1"
REFERRAL_OUTCOMES = "cme.referrals.outcomes.v1"
DLQ_SUFFIX = ".dlq"

REFERRAL_ACCEPTED = "cme.intake.referral-accepted.v1"
CASE_EVENTS = "cme.casework.case-events.v1"
SHARE_EVENTS = "cme.disclosure.share-events.v1"
TREE_HEADS = "cme.disclosure.tree-heads.v1"
RIGHTS_EVENTS = "cme.rights.events.v1"
DATA_COLLECTION_REQUESTS = "cme.rights.data-collection-requests.v1"
# A service disposed of records under the retention schedule (contracts/retention.py): the others dispose
# their copies, disclosure logs a leaf for each.
RETENTION_DISPOSALS = "cme.retention.disposals.v1"
# A legal hold on a subject or a case placed or lifted in one service (contracts/retention.py): the others
# keep the same hold.
LEGAL_HOLDS = "cme.retention.legal-holds.v1"
# One replies topic per answering service (lookups, data chunks, rectifications applied): rights knows
# who answered from the topic, which only that service may write and whose events only its key signs,
# never from a `service` field the sender fills in (SEC-03 d, e).
REPLIES = {
    "intake": "cme.rights.data-collection-replies.intake.v1",
    "casework": "cme.rights.data-collection-replies.casework.v1",
    "disclosure": "cme.rights.data-collection-replies.disclosure.v1",
}

ALL = (
    REFERRALS,
    REFERRAL_OUTCOMES,
    REFERRAL_ACCEPTED,
    CASE_EVENTS,
    SHARE_EVENTS,
    TREE_HEADS,
    RIGHTS_EVENTS,
    DATA_COLLECTION_REQUESTS,
    RETENTION_DISPOSALS,
    LEGAL_HOLDS,
    *REPLIES.values(),
)

# Who may write each internal topic: its events are signed by the writing service (messaging/signing.py)
# and a consumer acts only on a valid signature from one of these. Partner-facing topics (referrals and
# their outcomes) and DLQs are not signed.
SIGNERS: dict[str, frozenset[str]] = {
    REFERRAL_ACCEPTED: frozenset({"intake"}),
    CASE_EVENTS: frozenset({"casework"}),
    SHARE_EVENTS: frozenset({"casework", "rights"}),
    TREE_HEADS: frozenset({"disclosure"}),
    RIGHTS_EVENTS: frozenset({"rights"}),
    DATA_COLLECTION_REQUESTS: frozenset({"rights"}),
    RETENTION_DISPOSALS: frozenset({"casework", "intake", "disclosure", "rights"}),
    LEGAL_HOLDS: frozenset({"casework", "intake", "disclosure", "rights"}),
    **{topic: frozenset({service}) for service, topic in REPLIES.items()},
}


def replies_of(service: str) -> str:
    """The topic on which `service` answers rights."""
    return REPLIES[service]



def dlq(topic: str) -> str:
    return topic + DLQ_SUFFIX


def is_dlq(topic: str) -> bool:
    return topic.endswith(DLQ_SUFFIX)


# A dead letter is the record exactly as it came (up to Kafka's default 1 MiB) plus the kit's x-dlq-*
# headers, or a whole batch that could not be decoded: DLQ topics take records up to this size, so that a
# record which was just small enough to arrive is never too large to be dead-lettered.
DLQ_MAX_MESSAGE_BYTES = 2 * 1024 * 1024 + 65_536

# Configuration a topic is created with, beyond the broker's defaults. The tree heads are the
# disclosure log's copy outside its own database (verify-log compares them), so they are kept for ever:
# a default 7-day retention would quietly forget the heads a rewrite must still match.
TOPIC_CONFIGS: dict[str, dict[str, str]] = {
    TREE_HEADS: {"retention.ms": "-1", "retention.bytes": "-1"},
    # A disposal or a hold must reach a service that was down or dead-lettered it for longer than a week:
    # kept for ever (ids, codes and dates only, no personal data), so a service can catch up from offset 0.
    RETENTION_DISPOSALS: {"retention.ms": "-1", "retention.bytes": "-1"},
    LEGAL_HOLDS: {"retention.ms": "-1", "retention.bytes": "-1"},
}


def topic_configs(name: str) -> dict[str, str]:
    """The creation configuration of a topic, by its full (possibly namespaced) name."""
    if is_dlq(name):
        return {"max.message.bytes": str(DLQ_MAX_MESSAGE_BYTES)}
    return next((dict(config) for topic, config in TOPIC_CONFIGS.items() if name.endswith(topic)), {})


@dataclass(frozen=True)
class TopicNames:
    """Topic names under a namespace ("" in every real deployment)."""

    namespace: str = ""

    def __call__(self, topic: str) -> str:
        return f"{self.namespace}{topic}"

    def all_with_dlqs(self) -> list[str]:
        return [self(t) for t in ALL] + [self(dlq(t)) for t in ALL]
