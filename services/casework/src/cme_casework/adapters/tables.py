"""Casework's tables. `case_history` is the record (append-only); `cases` is a projection of it.

`cases` is rewritten from the folded history in the same transaction as every entry, so it can always
be rebuilt (`repository.CaseRecords.rebuild`) and is never the only place a fact lives.
`restriction_events` is the append-only log of UK GDPR Art 18 restrictions the rights service sent.
"""

from sqlalchemy import (
    BigInteger,
    Column,
    Date,
    DateTime,
    Index,
    MetaData,
    Table,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID

from cme_shared.messaging.tables import KitTables

metadata = MetaData()
kit = KitTables(metadata)

cases = Table(
    "cases",
    metadata,
    Column("case_id", UUID(as_uuid=True), primary_key=True),
    Column("child_subject_id", UUID(as_uuid=True), nullable=False),
    Column("carer_subject_ids", ARRAY(UUID(as_uuid=True)), nullable=False, server_default=text("'{}'")),
    Column("child_upn", Text),  # education
    Column("child_sex", Text, nullable=False, server_default="unknown"),  # demographics (DfE return)
    Column("child_date_of_birth", Date),  # demographics (DfE return: year group)
    Column("borough", Text),
    Column("allocated_to", Text),  # the officer's token `sub` (migration 0007)
    Column("status", Text, nullable=False),
    Column("reason", Text, nullable=False),
    Column("risk", Text, nullable=False),
    Column("opened_at", DateTime(timezone=True), nullable=False),
    Column("period_opened_on", Date, nullable=False),
    Column("closed_on", Date),
    Column("closure_reason", Text),
    Column("next_due_date", Date),
    Column("next_due_kind", Text),
    Column("last_entry_id", BigInteger, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Index("cases_child", "child_subject_id"),
    Index("cases_upn", "child_upn"),
    Index("cases_due", "next_due_date", postgresql_where=text("status <> 'closed'")),
    Index("cases_allocated_to", "allocated_to"),
    # A child has at most one case that is not closed: a further referral joins it (DOMAIN section 2).
    Index("cases_one_active_per_child", "child_subject_id", unique=True, postgresql_where=text("status <> 'closed'")),
)

case_history = Table(
    "case_history",
    metadata,
    Column("entry_id", BigInteger, primary_key=True, autoincrement=True),
    Column("case_id", UUID(as_uuid=True)),  # null: a referral recorded without a case
    Column("child_subject_id", UUID(as_uuid=True), nullable=False),
    Column("kind", Text, nullable=False),
    Column("actor", Text, nullable=False),
    Column("reason", Text, nullable=False),
    Column("effective_on", Date, nullable=False),
    Column("category", Text, nullable=False),  # DataCategory of what the entry holds
    Column("source", Text, nullable=False),  # where the information came from (Art 15(1)(g))
    Column("detail", JSONB, nullable=False),
    Column("supersedes", BigInteger),  # an earlier entry (checked by a trigger, see migration 0001)
    Column("recorded_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Index("case_history_case", "case_id", "entry_id"),
    Index("case_history_child", "child_subject_id"),
    # A held referral is released (acted on) once, however the release and a lifted restriction race.
    Index("case_history_released_once", "supersedes", unique=True,
          postgresql_where=text("kind = 'referral_released'")),
    # A proposed share is decided once (migration 0006: a unique index on detail->>'share_id' for
    # share_made and share_refused entries).
)

restriction_events = Table(
    "restriction_events",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("subject_id", UUID(as_uuid=True), nullable=False),
    Column("rights_request_id", UUID(as_uuid=True), nullable=False),
    Column("kind", Text, nullable=False),  # restricted | lifted
    Column("reason", Text, nullable=False),
    Column("event_id", UUID(as_uuid=True), nullable=False),
    Column("recorded_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Index("restriction_events_subject", "subject_id", "id"),
)

# Elective home education (migration 0008): the record as it happened (append-only) and its projection.
ehe_history = Table(
    "ehe_history",
    metadata,
    Column("entry_id", BigInteger, primary_key=True, autoincrement=True),
    Column("ehe_id", UUID(as_uuid=True), nullable=False),
    Column("child_subject_id", UUID(as_uuid=True), nullable=False),
    Column("kind", Text, nullable=False),
    Column("actor", Text, nullable=False),
    Column("reason", Text, nullable=False),
    Column("effective_on", Date, nullable=False),
    Column("category", Text, nullable=False),
    Column("source", Text, nullable=False),
    Column("detail", JSONB, nullable=False),
    Column("recorded_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

ehe_records = Table(
    "ehe_records",
    metadata,
    Column("ehe_id", UUID(as_uuid=True), primary_key=True),
    Column("child_subject_id", UUID(as_uuid=True), nullable=False),
    Column("borough", Text),
    Column("status", Text, nullable=False),
    Column("notice_on", Date, nullable=False),
    Column("outcome", Text),
    Column("cme_case_id", UUID(as_uuid=True)),
    Column("review_due_on", Date),
    Column("next_due_date", Date),
    Column("next_due_kind", Text),
    Column("closed_on", Date),
    Column("opened_at", DateTime(timezone=True), nullable=False),
    Column("last_entry_id", BigInteger, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

# The children-not-in-school register (behind CME_CASEWORK_CNIS_REGISTER): versions, append-only.
cnis_register_entries = Table(
    "cnis_register_entries",
    metadata,
    Column("version_id", BigInteger, primary_key=True, autoincrement=True),
    Column("child_subject_id", UUID(as_uuid=True), nullable=False),
    Column("ehe_id", UUID(as_uuid=True), nullable=False),
    Column("borough", Text),
    Column("content", JSONB, nullable=False),
    Column("entered_by", Text, nullable=False),
    Column("reason", Text, nullable=False),
    Column("recorded_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)
