"""Elective home education records and the children-not-in-school register (issue 14, items 2 and 3).

- `ehe_history`: the EHE record as it happened (append-only, like `case_history`): notices, enquiries, the
  parent's responses, assessments, the s437 / s438 notices, the order and its revocation.
- `ehe_records`: its projection, rewritten from the folded history in the same transaction (lists, clocks,
  the EHE count); at most one open record per child (a further notice is added to it).
- `cnis_register_entries`: the children-not-in-school register (Education Act 1996 ss436B-436G, not yet
  commenced; behind CME_CASEWORK_CNIS_REGISTER), kept apart: each row is a version of one child's entry
  with only the s436C fields, append-only; the entry is its latest version.

Revision ID: 0008
Revises: 0007
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB, UUID

from cme_shared.migrations import append_only, drop_append_only

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

HISTORY = ("ehe_history", "cnis_register_entries")


def upgrade() -> None:
    op.create_table(
        "ehe_history",
        sa.Column("entry_id", sa.BigInteger(), primary_key=True, autoincrement=True),
        sa.Column("ehe_id", UUID(as_uuid=True), nullable=False),
        sa.Column("child_subject_id", UUID(as_uuid=True), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("effective_on", sa.Date(), nullable=False),
        sa.Column("category", sa.Text(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("detail", JSONB(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    )
    op.create_index("ehe_history_record", "ehe_history", ["ehe_id", "entry_id"])
    op.create_index("ehe_history_child", "ehe_history", ["child_subject_id"])
    # The same referral is a notice on the record once, however often it comes.
    op.execute("CREATE UNIQUE INDEX ehe_history_notice_once ON ehe_history (ehe_id, (detail->>'intake_id')) "
               "WHERE kind = 'notice_received' AND detail ? 'intake_id'")
    op.create_table(
        "ehe_records",
        sa.Column("ehe_id", UUID(as_uuid=True), primary_key=True),
        sa.Column("child_subject_id", UUID(as_uuid=True), nullable=False),
        sa.Column("borough", sa.Text()),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("notice_on", sa.Date(), nullable=False),
        sa.Column("outcome", sa.Text()),
        sa.Column("cme_case_id", UUID(as_uuid=True)),
        sa.Column("review_due_on", sa.Date()),
        sa.Column("next_due_date", sa.Date()),
        sa.Column("next_due_kind", sa.Text()),
        sa.Column("closed_on", sa.Date()),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_entry_id", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    )
    op.create_index("ehe_records_child", "ehe_records", ["child_subject_id"])
    op.create_index("ehe_records_one_open_per_child", "ehe_records", ["child_subject_id"], unique=True,
                    postgresql_where=sa.text("status <> 'closed'"))
    op.create_index("ehe_records_due", "ehe_records", ["next_due_date"], postgresql_where=sa.text("status <> 'closed'"))
    op.create_table(
        "cnis_register_entries",
        sa.Column("version_id", sa.BigInteger(), primary_key=True, autoincrement=True),
        sa.Column("child_subject_id", UUID(as_uuid=True), nullable=False),
        sa.Column("ehe_id", UUID(as_uuid=True), nullable=False),
        sa.Column("borough", sa.Text()),
        sa.Column("content", JSONB(), nullable=False),  # only the fields s436C requires or allows
        sa.Column("entered_by", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    )
    op.create_index("cnis_register_child", "cnis_register_entries", ["child_subject_id", "version_id"])
    append_only(*HISTORY)


def downgrade() -> None:
    drop_append_only(*HISTORY)
    op.drop_table("cnis_register_entries")
    op.drop_table("ehe_records")
    op.drop_table("ehe_history")
