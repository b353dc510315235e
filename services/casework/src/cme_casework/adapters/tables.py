"""Casework's tables: the case history is append-only; `cases` is the current state derived from it."""

from sqlalchemy import BigInteger, Column, Date, DateTime, Index, MetaData, Table, Text, func
from sqlalchemy.dialects.postgresql import JSONB, UUID

from cme_shared.messaging.tables import KitTables

metadata = MetaData()
kit = KitTables(metadata)

cases = Table(
    "cases",
    metadata,
    Column("case_id", UUID(as_uuid=True), primary_key=True),
    Column("child_subject_id", UUID(as_uuid=True), nullable=False),
    Column("child_upn", Text, nullable=True),
    Column("borough", Text, nullable=True),
    Column("status", Text, nullable=False),
    Column("reason", Text, nullable=False),
    Column("risk", Text, nullable=False),
    Column("opened_at", DateTime(timezone=True), nullable=False),
    Column("next_due_date", Date, nullable=True),
    Index("cases_child", "child_subject_id"),
    Index("cases_upn", "child_upn"),
)

case_history = Table(
    "case_history",
    metadata,
    Column("entry_id", BigInteger, primary_key=True, autoincrement=True),
    Column("case_id", UUID(as_uuid=True), nullable=True),
    Column("child_subject_id", UUID(as_uuid=True), nullable=False),
    Column("kind", Text, nullable=False),
    Column("actor", Text, nullable=False),
    Column("reason", Text, nullable=True),
    Column("detail", JSONB, nullable=False),
    Column("recorded_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)
