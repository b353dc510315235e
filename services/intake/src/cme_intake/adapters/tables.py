"""Intake's tables. A referral is kept as received (its exact bytes and parsed payload), never overwritten."""

from sqlalchemy import Column, DateTime, Index, LargeBinary, MetaData, Table, Text, func
from sqlalchemy.dialects.postgresql import JSONB, UUID

from cme_shared.messaging.tables import KitTables

metadata = MetaData()
kit = KitTables(metadata)

referrals = Table(
    "referrals",
    metadata,
    Column("intake_id", UUID(as_uuid=True), primary_key=True),
    # (source.org_id, referral_id), or a digest of the payload for anonymous referrals.
    Column("idempotency_key", Text, nullable=False, unique=True),
    Column("referral_id", Text, nullable=False),
    Column("source_type", Text, nullable=False),
    Column("source_org_id", Text, nullable=True),
    Column("borough", Text, nullable=True),
    Column("child_subject_id", UUID(as_uuid=True), nullable=False),
    Column("payload", JSONB, nullable=False),
    Column("raw", LargeBinary, nullable=False),
    Column("warnings", JSONB, nullable=False),
    Column("channel", Text, nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Index("referrals_child", "child_subject_id"),
)

# Messages that could not be understood: their bytes are in the DLQ topic; here, why and where from.
rejected_messages = Table(
    "rejected_messages",
    metadata,
    Column("message_id", Text, primary_key=True),
    Column("channel", Text, nullable=False),
    Column("errors", JSONB, nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)
