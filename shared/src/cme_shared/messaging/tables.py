"""The kit's own tables, added to each service's metadata and created by each service's migration.

outbox: events written in the same transaction as the domain change, published later by the relay
        (Debezium's outbox shape: aggregate type and id, event type, payload). A row the relay cannot
        send is quarantined: kept, not sent, until an operator releases or drops it (`outbox` in
        cme_shared.ops). Changes to these tables come in each service's migrations, through the
        helpers in cme_shared.migrations.
inbox:  (consumer, message_id) pairs of messages already handled, inserted in the same transaction as
        the handler's writes, so a redelivered message changes nothing.
access_log: who looked at whose record (cme_shared.access_log), append-only.
"""

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    Table,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID


def outbox_table(metadata: MetaData) -> Table:
    return Table(
        "outbox",
        metadata,
        Column("id", BigInteger, primary_key=True, autoincrement=True),
        Column("event_id", UUID(as_uuid=True), nullable=False, unique=True),
        Column("topic", Text, nullable=False),
        Column("key", LargeBinary, nullable=True),
        Column("payload", LargeBinary, nullable=False),
        Column("headers", JSONB, nullable=False, server_default=text("'[]'::jsonb")),
        Column("aggregate_type", Text, nullable=False),
        Column("aggregate_id", Text, nullable=False),
        Column("event_type", Text, nullable=False),
        Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        Column("published_at", DateTime(timezone=True), nullable=True),
        # Sends the broker refused because of the row itself (never a broker outage).
        Column("attempts", Integer, nullable=False, server_default=text("0")),
        Column("quarantined_at", DateTime(timezone=True), nullable=True),
        Column("quarantine_reason", Text, nullable=True),  # a code (too_large, refused:<error>), never content
        Column("record_bytes", Integer, nullable=True),  # the record's size on Kafka, measured when quarantined
        # What the relay claims, oldest first; and what an operator lists.
        Index("outbox_unsent", "id", postgresql_where=text("published_at IS NULL AND quarantined_at IS NULL")),
        Index("outbox_quarantined", "id", postgresql_where=text("quarantined_at IS NOT NULL")),
    )


def inbox_table(metadata: MetaData) -> Table:
    return Table(
        "inbox",
        metadata,
        Column("consumer", Text, nullable=False),
        Column("message_id", Text, nullable=False),
        Column("processed_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        PrimaryKeyConstraint("consumer", "message_id"),
    )


class KitTables:
    """The outbox, inbox and access log of one service's metadata."""

    def __init__(self, metadata: MetaData) -> None:
        from ..access_log import access_log_table

        self.outbox = outbox_table(metadata)
        self.inbox = inbox_table(metadata)
        self.access_log = access_log_table(metadata)
