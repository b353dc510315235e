"""Disclosure's tables: the append-only Merkle log, its purgeable payloads, and the disclosure records.

The log (CONTRACT section 4): `log_leaves` holds the exact bytes of every leaf, `log_nodes` the hash
of every complete perfect subtree, `tree_heads` every signed head. All three are append-only: they
belong to `cme_disclosure_owner`, which only the migrations use; the service's login may only INSERT
and SELECT them, and triggers refuse UPDATE, DELETE and TRUNCATE even to the owner (README, "Who can
write"). A leaf holds no personal data: it commits to the SHA-256 of a payload in `leaf_payloads`,
which retention may purge while the log still verifies.
"""

from sqlalchemy import (
    BigInteger,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    SmallInteger,
    Table,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID

from cme_shared.messaging.tables import KitTables

metadata = MetaData()
kit = KitTables(metadata)

log_leaves = Table(
    "log_leaves",
    metadata,
    Column("leaf_index", BigInteger, primary_key=True, autoincrement=False),
    Column("leaf", LargeBinary, nullable=False),  # the exact bytes hashed: SHA-256(0x00 || leaf)
    Column("appended_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

log_nodes = Table(
    "log_nodes",
    metadata,
    Column("level", SmallInteger, nullable=False),
    Column("node_index", BigInteger, nullable=False),
    Column("hash", LargeBinary, nullable=False),
    PrimaryKeyConstraint("level", "node_index"),
)

tree_heads = Table(
    "tree_heads",
    metadata,
    Column("tree_size", BigInteger, primary_key=True, autoincrement=False),
    Column("root_hash", LargeBinary, nullable=False),
    Column("timestamp_ms", BigInteger, nullable=False),
    Column("key_id", Text, nullable=False),
    Column("signature", LargeBinary, nullable=False),
)

# The same heads as C2SP signed notes (domain/checkpoint.py), and the outside witness's cosignatures
# of them; both append-only like the log.
checkpoints = Table(
    "checkpoints",
    metadata,
    Column("tree_size", BigInteger, primary_key=True, autoincrement=False),
    Column("note", Text, nullable=False),
)

witness_cosignatures = Table(
    "witness_cosignatures",
    metadata,
    Column("tree_size", BigInteger, nullable=False),
    Column("witness_key", Text, nullable=False),
    Column("signature_line", Text, nullable=False),
    Column("cosigned_at", BigInteger, nullable=False),
    PrimaryKeyConstraint("tree_size", "witness_key"),
)

signing_keys = Table(
    "signing_keys",
    metadata,
    Column("key_id", Text, primary_key=True),
    Column("public_key_pem", Text, nullable=False),  # never a private key: that lives outside this database
    Column("first_used_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

leaf_payloads = Table(
    "leaf_payloads",
    metadata,
    Column("leaf_index", BigInteger, primary_key=True, autoincrement=False),
    Column("payload", LargeBinary, nullable=True),  # NULL once purged; its digest stays in the leaf
    Column("purged_at", DateTime(timezone=True), nullable=True),
    Column("purge_reason", Text, nullable=True),
)

disclosures = Table(
    "disclosures",
    metadata,
    Column("disclosure_id", UUID(as_uuid=True), primary_key=True),
    Column("origin", Text, nullable=False),  # "request" (POST /disclosures) or the sharing service's name
    Column("share_ref", Text, nullable=True),  # the sharing service's own reference
    Column("status", Text, nullable=False),  # pending | shared | refused
    Column("recipient", JSONB, nullable=False),
    Column("recipient_type", Text, nullable=False),
    Column("purpose", Text, nullable=False),
    Column("legal_gateway", Text, nullable=False),
    Column("reference", Text, nullable=True),
    Column("authorised_officer", Text, nullable=True),
    Column("categories_requested", JSONB, nullable=False),
    Column("categories_released", JSONB, nullable=False),
    Column("fields_released", JSONB, nullable=False),
    Column("reason", Text, nullable=True),
    Column("restriction_exception", JSONB, nullable=True),
    Column("policy_findings", JSONB, nullable=False),  # refusal codes, or findings on a share made elsewhere
    Column("approval_roles", JSONB, nullable=False),
    Column("requested_by", Text, nullable=True),  # NULL once disposed of (migration 0009)
    Column("requested_by_role", Text, nullable=True),
    Column("borough", Text, nullable=True),
    Column("requested_at", DateTime(timezone=True), nullable=False),
    Column("received_on", Date, nullable=True),  # the day the council received the request (DOMAIN 4)
    Column("decision", Text, nullable=True),  # approve | refuse
    Column("decided_by", Text, nullable=True),
    Column("decider_name", Text, nullable=True),
    Column("decider_role", Text, nullable=True),
    Column("decider_title", Text, nullable=True),  # the job title the decider typed: an annotation (SEC-23)
    Column("sign_off", JSONB, nullable=True),  # police: the sign-off rank as the decider confirmed it
    Column("decision_reason", Text, nullable=True),
    Column("decided_at", DateTime(timezone=True), nullable=True),
    Column("shared_at", DateTime(timezone=True), nullable=True),
    Column("purged_at", DateTime(timezone=True), nullable=True),
    UniqueConstraint("origin", "share_ref", name="disclosures_share_ref"),
    Index("disclosures_report", "status", "requested_at"),
    Index("disclosures_requester", "requested_by", "requested_at"),  # the per-person request rate (SEC-29)
)

disclosure_subjects = Table(
    "disclosure_subjects",
    metadata,
    Column("disclosure_id", UUID(as_uuid=True), ForeignKey("disclosures.disclosure_id"), nullable=False),
    Column("subject_id", UUID(as_uuid=True), nullable=False),
    PrimaryKeyConstraint("disclosure_id", "subject_id"),
    Index("disclosure_subjects_subject", "subject_id"),
)

disclosure_leaves = Table(
    "disclosure_leaves",
    metadata,
    Column("disclosure_id", UUID(as_uuid=True), ForeignKey("disclosures.disclosure_id"), nullable=False),
    Column("leaf_index", BigInteger, nullable=False),
    Column("kind", Text, nullable=False),
    PrimaryKeyConstraint("disclosure_id", "leaf_index"),
)

sar_withholdings = Table(
    "sar_withholdings",
    metadata,
    Column("withholding_id", UUID(as_uuid=True), primary_key=True),
    Column("disclosure_id", UUID(as_uuid=True), ForeignKey("disclosures.disclosure_id"), nullable=False),
    Column("exemption", Text, nullable=False),
    Column("reason", Text, nullable=True),  # reason and decider: NULL once disposed of (migration 0009)
    Column("decided_by", Text, nullable=True),
    Column("decider_name", Text, nullable=True),
    Column("decider_role", Text, nullable=False),
    Column("decider_title", Text, nullable=True),  # the job title the DPO typed: an annotation (SEC-23)
    Column("review_date", Date, nullable=False),
    Column("recorded_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Index("sar_withholdings_disclosure", "disclosure_id"),
)

restrictions = Table(
    "restrictions",
    metadata,
    Column("subject_id", UUID(as_uuid=True), nullable=False),
    Column("rights_request_id", UUID(as_uuid=True), nullable=False),
    Column("restricted_at", DateTime(timezone=True), nullable=False),
    Column("lifted_at", DateTime(timezone=True), nullable=True),
    PrimaryKeyConstraint("subject_id", "rights_request_id"),
)

# Every RecordsDisposed read from cme.retention.disposals.v1 (migration 0009; append-only), once per event,
# with the log leaf it became: the disposal job reads a case's subjects and closure date from here.
disposal_notices = Table(
    "disposal_notices",
    metadata,
    Column("event_id", UUID(as_uuid=True), primary_key=True),
    Column("service", Text, nullable=False),
    Column("record_type", Text, nullable=False),
    Column("schedule_id", Text, nullable=False),
    Column("rule_id", Text, nullable=False),
    Column("run_id", UUID(as_uuid=True), nullable=False),
    Column("record_ids", ARRAY(Text), nullable=False),
    Column("subject_ids", ARRAY(UUID(as_uuid=True)), nullable=False),
    Column("case_ids", ARRAY(UUID(as_uuid=True)), nullable=False),
    Column("clock_started_on", Date, nullable=True),
    Column("disposed_at", DateTime(timezone=True), nullable=False),
    Column("leaf_index", BigInteger, nullable=False, unique=True),
    Column("received_at", DateTime(timezone=True), nullable=False),
    Column("record_key", LargeBinary, nullable=True),
    Column("signed_event_id", Text, nullable=False),
    Column("signer", Text, nullable=False),
    Column("signature", Text, nullable=False),
    Column("payload", LargeBinary, nullable=False),
)
